//! `Barrier`: a meeting point for a fixed number of processes, like Python's
//! `multiprocessing.Barrier`.
//!
//! ```
//! use multiproc::barrier::Barrier;
//!
//! let b = Barrier::new(1); // a barrier for one party opens at once
//! assert_eq!(b.wait(), Ok(0));
//! assert_eq!(b.parties(), 1);
//! ```
//!
//! Each of the `n` parties calls `wait()`; nobody gets past until all `n` have arrived. Then
//! all are released together and the barrier is ready for the next round. A party that gives
//! up (timeout) or an `abort()` *breaks* the barrier: every waiter, and every later caller
//! until `reset()`, gets [`BrokenBarrierError`], so no process waits forever for a partner
//! that will never come.
//!
//! Built from this crate's [`Condition`] and a few counters in `MAP_SHARED` memory. After a
//! round opens, the barrier first lets the released waiters leave ("draining") before a new
//! round may fill, so a fast process cannot overtake a slow one into the next round.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::condition::Condition;
use crate::lock::deadline_after;
use crate::sys::shm::{ProcessShared, Shared};

const FILLING: u32 = 0;
const DRAINING: u32 = 1;
const RESETTING: u32 = 2;
const BROKEN: u32 = 3;

/// The error of a broken barrier (Python's `threading.BrokenBarrierError`).
///
/// ```
/// let e = multiproc::barrier::BrokenBarrierError;
/// assert_eq!(e.to_string(), "the Barrier is broken (a party timed out, or abort() or reset() was called)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenBarrierError;

impl fmt::Display for BrokenBarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the Barrier is broken (a party timed out, or abort() or reset() was called)")
    }
}

impl std::error::Error for BrokenBarrierError {}

/// Counters guarded by the condition's lock.
#[doc(hidden)]
#[repr(C)]
pub struct BarrierState {
    parties: AtomicU32,
    count: AtomicU32,
    phase: AtomicU32,
}

// SAFETY: plain atomics, no pointers, no Drop.
unsafe impl ProcessShared for BarrierState {}

/// A barrier for `parties` processes. Clones share the same barrier.
///
/// ```
/// let b = multiproc::barrier::Barrier::new(3);
/// assert_eq!(b.n_waiting(), 0);
/// assert!(!b.broken());
/// ```
#[derive(Clone)]
pub struct Barrier {
    cond: Condition,
    state: Shared<BarrierState>,
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Barrier(parties={}, waiting={}, broken={})>", self.parties(), self.n_waiting(), self.broken())
    }
}

impl Barrier {
    /// Makes a barrier that opens when `parties` processes are waiting. Panics if `parties`
    /// is 0.
    ///
    /// ```
    /// let b = multiproc::barrier::Barrier::new(4);
    /// assert_eq!(b.parties(), 4);
    /// ```
    pub fn new(parties: u32) -> Barrier {
        assert!(parties > 0, "a Barrier needs at least one party");
        let state = Shared::new(BarrierState {
            parties: AtomicU32::new(parties),
            count: AtomicU32::new(0),
            phase: AtomicU32::new(FILLING),
        })
        .expect("could not map shared memory for a Barrier (mmap failed)");
        Barrier { cond: Condition::new().named(crate::sys::waits::default_name("Barrier").to_string()), state }
    }

    fn phase(&self) -> u32 {
        self.state.phase.load(Ordering::Relaxed)
    }

    fn set_phase(&self, p: u32) {
        self.state.phase.store(p, Ordering::Relaxed);
    }

    /// Waits until all parties have called `wait`. Returns this party's arrival index,
    /// `0..parties` (exactly one process gets `parties - 1`, the last to arrive), or
    /// `Err(BrokenBarrierError)` if the barrier is or becomes broken.
    ///
    /// ```
    /// let b = multiproc::barrier::Barrier::new(1);
    /// assert_eq!(b.wait(), Ok(0));
    /// assert_eq!(b.wait(), Ok(0)); // reusable
    /// ```
    #[track_caller]
    pub fn wait(&self) -> Result<u32, BrokenBarrierError> {
        self.wait_until(None)
    }

    /// Like [`wait`](Barrier::wait), but if the barrier has not opened after `seconds` this
    /// party gives up and breaks it (all waiters get the error, as in Python).
    ///
    /// ```
    /// let b = multiproc::barrier::Barrier::new(2);
    /// assert!(b.wait_timeout(0.01).is_err()); // nobody else came
    /// assert!(b.broken());
    /// b.reset();
    /// assert!(!b.broken());
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, seconds: f64) -> Result<u32, BrokenBarrierError> {
        self.wait_until(deadline_after(seconds))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<u32, BrokenBarrierError> {
        let _g = self.cond.lock();
        // Wait for the previous round's waiters to leave (or a reset to finish).
        self.cond.wait_for_until(|| !matches!(self.phase(), DRAINING | RESETTING), None, "Barrier::wait");
        if self.phase() == BROKEN {
            return Err(BrokenBarrierError);
        }
        let index = self.state.count.fetch_add(1, Ordering::Relaxed);
        let result = if index + 1 == self.parties() {
            // Last to arrive: open the barrier.
            self.set_phase(DRAINING);
            self.cond.notify_all();
            Ok(index)
        } else {
            let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.cond.wait_for_until(|| self.phase() != FILLING, deadline, "Barrier::wait")
            }));
            let left = match waited {
                Ok(left) => left,
                Err(stop) => {
                    // Interrupted (stop button): as in Python, a party that leaves abnormally
                    // breaks the barrier, so its partners are not left waiting for it.
                    if self.cond.get_lock().held_by_me() {
                        self.break_locked();
                        self.state.count.fetch_sub(1, Ordering::Relaxed);
                    }
                    std::panic::resume_unwind(stop);
                }
            };
            if !left {
                self.break_locked();
                Err(BrokenBarrierError)
            } else if matches!(self.phase(), BROKEN | RESETTING) {
                Err(BrokenBarrierError)
            } else {
                Ok(index)
            }
        };
        // Leave; the last one out lets the next round start.
        if self.state.count.fetch_sub(1, Ordering::Relaxed) == 1 && matches!(self.phase(), DRAINING | RESETTING) {
            self.set_phase(FILLING);
            self.cond.notify_all();
        }
        result
    }

    fn break_locked(&self) {
        self.set_phase(BROKEN);
        self.cond.notify_all();
    }

    /// Breaks the barrier: every current and future waiter gets [`BrokenBarrierError`] until
    /// [`reset`](Barrier::reset). Use it when a party cannot come (Python's `abort()`).
    ///
    /// ```
    /// let b = multiproc::barrier::Barrier::new(2);
    /// b.abort();
    /// assert_eq!(b.wait(), Err(multiproc::barrier::BrokenBarrierError));
    /// ```
    #[track_caller]
    pub fn abort(&self) {
        let _g = self.cond.lock();
        self.break_locked();
    }

    /// Returns the barrier to its initial state; processes waiting in it get
    /// [`BrokenBarrierError`].
    ///
    /// ```
    /// let b = multiproc::barrier::Barrier::new(1);
    /// b.abort();
    /// b.reset();
    /// assert_eq!(b.wait(), Ok(0));
    /// ```
    #[track_caller]
    pub fn reset(&self) {
        let _g = self.cond.lock();
        if self.state.count.load(Ordering::Relaxed) > 0 {
            match self.phase() {
                FILLING => self.set_phase(RESETTING),
                BROKEN => self.set_phase(RESETTING),
                _ => {}
            }
        } else {
            self.set_phase(FILLING);
        }
        self.cond.notify_all();
    }

    /// Number of parties needed to open the barrier.
    ///
    /// ```
    /// assert_eq!(multiproc::barrier::Barrier::new(2).parties(), 2);
    /// ```
    pub fn parties(&self) -> u32 {
        self.state.parties.load(Ordering::Relaxed)
    }

    /// Number of processes waiting right now (a snapshot).
    ///
    /// ```
    /// assert_eq!(multiproc::barrier::Barrier::new(2).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> u32 {
        if self.phase() == FILLING { self.state.count.load(Ordering::Relaxed) } else { 0 }
    }

    /// True if the barrier is broken.
    ///
    /// ```
    /// let b = multiproc::barrier::Barrier::new(2);
    /// b.abort();
    /// assert!(b.broken());
    /// ```
    pub fn broken(&self) -> bool {
        self.phase() == BROKEN
    }
}
