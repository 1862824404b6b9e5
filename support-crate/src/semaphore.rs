//! `Semaphore` and `BoundedSemaphore`: counters that processes take from and give back to,
//! like Python's `multiprocessing.Semaphore` / `BoundedSemaphore`.
//!
//! ```
//! use multiproc::semaphore::Semaphore;
//!
//! let slots = Semaphore::new(2); // at most two holders at a time
//! slots.acquire();
//! slots.acquire();
//! assert!(!slots.try_acquire()); // a third would have to wait
//! slots.release();
//! slots.release();
//! assert_eq!(slots.get_value(), 2);
//! ```
//!
//! The count is a futex word in `MAP_SHARED` memory (std has no semaphore, and a POSIX
//! `sem_t` cannot be waited on in the short, interruptible slices the notebook's stop button
//! needs).

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;
use std::sync::Arc;

use crate::sys::waits::{self, Waiting};

use crate::lock::deadline_after;
use crate::sys::futex::{self, Woken};
use crate::sys::shm::{ProcessShared, Shared};
use crate::sys::wait;

#[doc(hidden)]
#[repr(C)]
pub struct SemState {
    count: AtomicU32,
    sleepers: AtomicU32,
    /// Upper bound for a bounded semaphore, `u32::MAX` otherwise.
    max: AtomicU32,
}

// SAFETY: plain atomics, no pointers, no Drop.
unsafe impl ProcessShared for SemState {}

impl SemState {
    fn try_acquire(&self) -> bool {
        let mut c = self.count.load(Ordering::Relaxed);
        while c > 0 {
            match self.count.compare_exchange_weak(c, c - 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
        false
    }

    fn acquire(&self, deadline: Option<Instant>, what: &str, name: &str) -> bool {
        let mut recorded: Option<Waiting> = None;
        loop {
            if self.try_acquire() {
                return true;
            }
            recorded.get_or_insert_with(|| Waiting::begin(what, name, deadline.is_some()));
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            let woke = wait::futex_wait(&self.count, 0, deadline, what);
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            if woke == Woken::TimedOut {
                // One last look: a release may have come in just as the time ran out.
                return self.try_acquire();
            }
        }
    }

    fn release(&self, n: u32, too_many: &str) {
        let mut c = self.count.load(Ordering::Relaxed);
        let max = self.max.load(Ordering::Relaxed);
        loop {
            let new = match c.checked_add(n) {
                Some(v) if v <= max => v,
                _ => panic!("{too_many}"),
            };
            match self.count.compare_exchange_weak(c, new, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => c = now,
            }
        }
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            futex::wake(&self.count, n.min(i32::MAX as u32) as i32);
        }
    }
}

fn new_state(value: u32, max: u32) -> Shared<SemState> {
    Shared::new(SemState { count: AtomicU32::new(value), sleepers: AtomicU32::new(0), max: AtomicU32::new(max) })
        .expect("could not map shared memory for a semaphore (mmap failed)")
}

/// A counting semaphore shared between processes (Python's `multiprocessing.Semaphore`).
///
/// `acquire` takes one unit (waiting while the count is 0), `release` gives one back. Clones
/// share the same counter.
///
/// ```
/// use multiproc::semaphore::Semaphore;
///
/// let ready = Semaphore::new(0);
/// assert!(!ready.acquire_timeout(0.01)); // nothing released yet
/// ready.release();
/// assert!(ready.acquire());
/// ```
///
/// std has no semaphore; this one works between the threads of one process as well:
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use multiproc::semaphore::Semaphore;
///
/// let slots = Semaphore::new(2);
/// let (inside, most) = (AtomicU32::new(0), AtomicU32::new(0));
/// std::thread::scope(|s| {
///     for _ in 0..6 {
///         s.spawn(|| {
///             let _slot = slots.guard();
///             most.fetch_max(inside.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
///             std::thread::sleep(std::time::Duration::from_millis(5));
///             inside.fetch_sub(1, Ordering::SeqCst);
///         });
///     }
/// });
/// assert!(most.load(Ordering::SeqCst) <= 2);
/// assert_eq!(slots.get_value(), 2);
/// ```
#[derive(Clone)]
pub struct Semaphore {
    state: Shared<SemState>,
    name: Arc<str>,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Semaphore(value={})>", self.get_value())
    }
}

impl Default for Semaphore {
    /// A semaphore with value 1, as Python's `Semaphore()`.
    fn default() -> Self {
        Semaphore::new(1)
    }
}

impl Semaphore {
    /// Makes a semaphore with initial count `value`.
    ///
    /// ```
    /// let s = multiproc::semaphore::Semaphore::new(3);
    /// assert_eq!(s.get_value(), 3);
    /// ```
    pub fn new(value: u32) -> Semaphore {
        Semaphore { state: new_state(value, u32::MAX), name: waits::default_name("Semaphore") }
    }

    /// Gives it a name for the notebook kernel's deadlock reports (default `Semaphore#N`, numbered
    /// in the order such objects are made; see [`Lock::named`](crate::lock::Lock::named)).
    ///
    /// ```
    /// let x = multiproc::semaphore::Semaphore::new(1).named("chairs");
    /// assert_eq!(x.name(), "chairs");
    /// ```
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into().into();
        self
    }

    /// Its name (see `named`).
    ///
    /// ```
    /// assert!(multiproc::semaphore::Semaphore::new(1).name().starts_with("Semaphore#"));
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes one unit, waiting while the count is 0. Always returns `true` (as Python).
    ///
    /// ```
    /// let s = multiproc::semaphore::Semaphore::new(1);
    /// assert!(s.acquire());
    /// assert_eq!(s.get_value(), 0);
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> bool {
        self.state.acquire(None, "Semaphore::acquire", &self.name)
    }

    /// Takes one unit, waiting at most `seconds`; `false` if none became available.
    ///
    /// ```
    /// let s = multiproc::semaphore::Semaphore::new(0);
    /// assert!(!s.acquire_timeout(0.01));
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, seconds: f64) -> bool {
        self.state.acquire(deadline_after(seconds), "Semaphore::acquire_timeout", &self.name)
    }

    /// Takes one unit only if available right now.
    ///
    /// ```
    /// let s = multiproc::semaphore::Semaphore::new(1);
    /// assert!(s.try_acquire());
    /// assert!(!s.try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        self.state.try_acquire()
    }

    /// Gives one unit back, waking one waiter.
    ///
    /// ```
    /// let s = multiproc::semaphore::Semaphore::new(0);
    /// s.release();
    /// assert_eq!(s.get_value(), 1);
    /// ```
    pub fn release(&self) {
        self.state.release(1, "Semaphore released too many times");
    }

    /// Gives `n` units back at once (Python 3.9's `release(n)`).
    ///
    /// ```
    /// let s = multiproc::semaphore::Semaphore::new(0);
    /// s.release_n(3);
    /// assert_eq!(s.get_value(), 3);
    /// ```
    pub fn release_n(&self, n: u32) {
        self.state.release(n, "Semaphore released too many times");
    }

    /// The current count (a snapshot).
    ///
    /// ```
    /// assert_eq!(multiproc::semaphore::Semaphore::new(5).get_value(), 5);
    /// ```
    pub fn get_value(&self) -> u32 {
        self.state.count.load(Ordering::Relaxed)
    }

    /// Takes a unit and returns a guard that gives it back when dropped (Python's `with sem:`).
    ///
    /// ```
    /// let s = multiproc::semaphore::Semaphore::new(1);
    /// {
    ///     let _g = s.guard();
    ///     assert_eq!(s.get_value(), 0);
    /// }
    /// assert_eq!(s.get_value(), 1);
    /// ```
    #[track_caller]
    pub fn guard(&self) -> SemaphoreGuard<'_> {
        self.acquire();
        SemaphoreGuard { state: &self.state, too_many: "Semaphore released too many times" }
    }
}

/// A semaphore whose count may never exceed its initial value (Python's
/// `multiprocessing.BoundedSemaphore`): one `release` too many panics with
/// "BoundedSemaphore released too many times", which catches unbalanced code early.
///
/// ```
/// use multiproc::semaphore::BoundedSemaphore;
///
/// let s = BoundedSemaphore::new(1);
/// s.acquire();
/// s.release();
/// let err = std::panic::catch_unwind(|| s.release()).unwrap_err();
/// assert_eq!(err.downcast_ref::<String>().unwrap(), "BoundedSemaphore released too many times");
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    state: Shared<SemState>,
    name: Arc<str>,
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<BoundedSemaphore(value={}, maxvalue={})>", self.get_value(), self.state.max.load(Ordering::Relaxed))
    }
}

const BOUNDED_TOO_MANY: &str = "BoundedSemaphore released too many times";

impl BoundedSemaphore {
    /// Makes a bounded semaphore with initial (and maximum) count `value`.
    ///
    /// ```
    /// let s = multiproc::semaphore::BoundedSemaphore::new(2);
    /// assert_eq!(s.get_value(), 2);
    /// ```
    pub fn new(value: u32) -> BoundedSemaphore {
        BoundedSemaphore { state: new_state(value, value), name: waits::default_name("BoundedSemaphore") }
    }

    /// Gives it a name for the notebook kernel's deadlock reports (default `BoundedSemaphore#N`, numbered
    /// in the order such objects are made; see [`Lock::named`](crate::lock::Lock::named)).
    ///
    /// ```
    /// let x = multiproc::semaphore::BoundedSemaphore::new(1).named("slots");
    /// assert_eq!(x.name(), "slots");
    /// ```
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into().into();
        self
    }

    /// Its name (see `named`).
    ///
    /// ```
    /// assert!(multiproc::semaphore::BoundedSemaphore::new(1).name().starts_with("BoundedSemaphore#"));
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes one unit, waiting while the count is 0.
    ///
    /// ```
    /// let s = multiproc::semaphore::BoundedSemaphore::new(1);
    /// assert!(s.acquire());
    /// s.release();
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> bool {
        self.state.acquire(None, "BoundedSemaphore::acquire", &self.name)
    }

    /// Takes one unit, waiting at most `seconds`.
    ///
    /// ```
    /// let s = multiproc::semaphore::BoundedSemaphore::new(1);
    /// assert!(s.acquire_timeout(0.1));
    /// assert!(!s.acquire_timeout(0.01));
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, seconds: f64) -> bool {
        self.state.acquire(deadline_after(seconds), "BoundedSemaphore::acquire_timeout", &self.name)
    }

    /// Takes one unit only if available right now.
    ///
    /// ```
    /// let s = multiproc::semaphore::BoundedSemaphore::new(1);
    /// assert!(s.try_acquire());
    /// assert!(!s.try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        self.state.try_acquire()
    }

    /// Gives one unit back; panics with "BoundedSemaphore released too many times" if the
    /// count is already at its initial value.
    ///
    /// ```
    /// let s = multiproc::semaphore::BoundedSemaphore::new(1);
    /// s.acquire();
    /// s.release();
    /// assert!(std::panic::catch_unwind(|| s.release()).is_err());
    /// ```
    #[track_caller]
    pub fn release(&self) {
        self.state.release(1, BOUNDED_TOO_MANY);
    }

    /// The current count (a snapshot).
    ///
    /// ```
    /// assert_eq!(multiproc::semaphore::BoundedSemaphore::new(4).get_value(), 4);
    /// ```
    pub fn get_value(&self) -> u32 {
        self.state.count.load(Ordering::Relaxed)
    }

    /// Takes a unit and returns a guard that gives it back when dropped.
    ///
    /// ```
    /// let s = multiproc::semaphore::BoundedSemaphore::new(1);
    /// drop(s.guard());
    /// assert_eq!(s.get_value(), 1);
    /// ```
    #[track_caller]
    pub fn guard(&self) -> SemaphoreGuard<'_> {
        self.acquire();
        SemaphoreGuard { state: &self.state, too_many: BOUNDED_TOO_MANY }
    }
}

/// Gives a unit back to its semaphore when dropped (made by `guard()`).
///
/// ```
/// let s = multiproc::semaphore::Semaphore::new(1);
/// let g = s.guard();
/// drop(g);
/// ```
#[must_use = "the unit is given back as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    state: &'a Shared<SemState>,
    too_many: &'static str,
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        self.state.release(1, self.too_many);
    }
}
