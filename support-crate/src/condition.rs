//! `Condition`: wait until another process says something changed, like Python's
//! `multiprocessing.Condition`.
//!
//! ```
//! use multiproc::condition::Condition;
//!
//! let cond = Condition::new();
//! cond.acquire();
//! // Nobody will notify in this single-process example, so wait with a timeout:
//! assert!(!cond.wait_timeout(0.01));
//! cond.notify_all(); // nobody is waiting: nothing happens
//! cond.release();
//! ```
//!
//! A condition is a [`Lock`] plus a waiting room in `MAP_SHARED` memory. `wait` must be called
//! with the lock held: it releases the lock, sleeps until notified, and takes the lock back
//! before returning. Notifications are counted, so `notify()` wakes exactly one waiter that was
//! waiting when it was called (a waiter never misses a notification, and there are no spurious
//! wakeups), as in Python.
//!
//! Still, wait in a loop that re-checks the shared data (or use [`Condition::wait_for`]): being
//! woken means "something may have changed", not "what you wait for is true". When
//! `notify_all` wakes two consumers for one item, the one that gets the lock back second finds
//! the shelf empty again; a consumer that checked with `if` before waiting would not notice.
//!
//! # A plain `Lock`, not an `RLock`
//!
//! Python's `Condition()` makes itself an `RLock`, which the process holding it may acquire
//! again. [`Condition::new`] makes a plain [`Lock`]: acquiring it a second time from the same
//! process waits for itself (forever, or until a timeout), like `std::sync::Mutex` with
//! `std::sync::Condvar`. We chose not to offer a reentrant condition: it is needed only by code
//! that locks twice, which Rust writes differently, by handing the guard to the helper that
//! expects the lock held (as the lessons do), and none of the lessons needs one. Python's
//! `Condition(lock)` is [`Condition::with_lock`], which also lets two conditions share one lock.
//!
//! ```
//! use multiproc::condition::Condition;
//! use multiproc::lock::LockGuard;
//! use multiproc::shared_memory::RawValue;
//!
//! let cond = Condition::new();
//! let held = cond.lock();
//! assert!(!cond.acquire_timeout(0.01)); // not reentrant: a second acquire would wait for itself
//! drop(held);
//!
//! // Instead of locking again, a helper takes the guard as proof that the lock is held.
//! struct Counter {
//!     cond: Condition,
//!     n: RawValue<u32>, // changed only with cond's lock held
//! }
//! impl Counter {
//!     fn add_twice(&self) {
//!         let held = self.cond.lock();
//!         self.add_locked(&held);
//!         self.add_locked(&held);
//!     }
//!     fn add_locked(&self, _held: &LockGuard<'_>) {
//!         self.n.set(self.n.get() + 1);
//!         self.cond.notify_all();
//!     }
//! }
//! let c = Counter { cond: Condition::new(), n: RawValue::new(0) };
//! c.add_twice();
//! assert_eq!(c.n.get(), 2);
//! ```

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::lock::{Lock, LockGuard, deadline_after};
use crate::sys::futex::{self, Woken};
use crate::sys::shm::{ProcessShared, Shared};
use crate::sys::wait;

/// The waiting room, changed only with the condition's lock held (sleepers read `signaled`
/// without it). Every `wait` takes the next ticket; `signaled` is the first ticket *not* yet
/// notified, so a waiter with ticket `t` has been notified once `signaled` has moved past `t`.
/// Tickets are served in order (oldest waiter first, as in Python), and a notification can
/// never be taken by a process that started waiting after it. A waiter that timed out marks
/// its ticket in `cancelled` so that later notifications skip it instead of being wasted.
/// `signaled` is also the futex word the sleepers wait on.
#[doc(hidden)]
#[repr(C)]
pub struct CondState {
    next_ticket: AtomicU32,
    signaled: AtomicU32,
    cancelled: [AtomicU32; CANCEL_WORDS],
}

// SAFETY: plain atomics, no pointers, no Drop.
unsafe impl ProcessShared for CondState {}

/// Tickets are remembered as cancelled in a ring of this many bits, which bounds how many
/// processes may be waiting on one condition at the same time.
const CANCEL_BITS: u32 = 4096;
const CANCEL_WORDS: usize = (CANCEL_BITS / 32) as usize;

/// True when ticket `t` comes before `signaled` (wrapping arithmetic).
fn notified(signaled: u32, t: u32) -> bool {
    (signaled.wrapping_sub(t) as i32) > 0
}

impl CondState {
    /// Forgets cancelled tickets at either end of the queue (lock held), so a process that
    /// keeps calling `wait_timeout` with nobody notifying does not use up tickets.
    fn drop_cancelled_ends(&self) {
        loop {
            let (s, n) = (self.signaled.load(Ordering::SeqCst), self.next_ticket.load(Ordering::SeqCst));
            if s == n {
                return;
            }
            let (word, bit) = self.cancel_bit(s);
            if word.load(Ordering::SeqCst) & bit != 0 {
                word.fetch_and(!bit, Ordering::SeqCst);
                self.signaled.store(s.wrapping_add(1), Ordering::SeqCst);
                continue;
            }
            let last = n.wrapping_sub(1);
            let (word, bit) = self.cancel_bit(last);
            if word.load(Ordering::SeqCst) & bit != 0 {
                word.fetch_and(!bit, Ordering::SeqCst);
                self.next_ticket.store(last, Ordering::SeqCst);
                continue;
            }
            return;
        }
    }

    fn cancel_bit(&self, t: u32) -> (&AtomicU32, u32) {
        let slot = t % CANCEL_BITS;
        (&self.cancelled[(slot / 32) as usize], 1 << (slot % 32))
    }
}

/// A condition variable shared between processes.
///
/// Clones share the same condition and the same lock.
///
/// ```
/// use multiproc::condition::Condition;
/// use multiproc::lock::Lock;
///
/// let lock = Lock::new();
/// let cond = Condition::with_lock(lock.clone()); // Python: Condition(lock)
/// let g = cond.lock();
/// assert!(lock.is_locked());
/// drop(g);
/// ```
#[derive(Clone)]
pub struct Condition {
    lock: Lock,
    state: Shared<CondState>,
    name: std::sync::Arc<str>,
    /// The lock was made by [`Condition::new`] (not given): it is named after the condition.
    own_lock: bool,
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Condition({:?})>", self.lock)
    }
}

impl Condition {
    /// Makes a condition with its own new [`Lock`]. Python's default lock here is an `RLock`;
    /// ours is a plain `Lock`, so do not acquire it twice (why: see the
    /// [module documentation](crate::condition#a-plain-lock-not-an-rlock)).
    ///
    /// ```
    /// let c = multiproc::condition::Condition::new();
    /// assert!(!c.get_lock().is_locked());
    /// ```
    pub fn new() -> Condition {
        let mut c = Condition::with_lock(Lock::new());
        c.own_lock = true;
        let name = c.name.clone();
        c.named(name.to_string())
    }

    /// Makes a condition that uses `lock` (Python's `Condition(lock)`). Several conditions may
    /// share one lock, e.g. "not empty" and "not full" of one buffer: a process holding the lock
    /// may wait on either and notify either.
    ///
    /// ```
    /// let lock = multiproc::lock::Lock::new();
    /// let c = multiproc::condition::Condition::with_lock(lock.clone());
    /// c.acquire();
    /// assert!(lock.is_locked());
    /// c.release();
    ///
    /// let not_empty = multiproc::condition::Condition::with_lock(lock.clone());
    /// let not_full = multiproc::condition::Condition::with_lock(lock.clone());
    /// let _g = lock.lock();
    /// not_empty.notify(); // both need the one lock, and it is held
    /// assert!(!not_full.wait_timeout(0.01));
    /// ```
    pub fn with_lock(lock: Lock) -> Condition {
        let state = Shared::new(CondState {
            next_ticket: AtomicU32::new(0),
            signaled: AtomicU32::new(0),
            cancelled: std::array::from_fn(|_| AtomicU32::new(0)),
        })
            .expect("could not map shared memory for a Condition (mmap failed)");
        Condition { lock, state, name: crate::sys::waits::default_name("Condition"), own_lock: false }
    }

    /// Gives it a name for the notebook kernel's deadlock reports and timeline (default
    /// `Condition#N`, numbered in the order such objects are made; see
    /// [`Lock::named`](crate::lock::Lock::named)). A lock that [`Condition::new`] made is named
    /// after it, `lock of <name>`; a lock given to [`Condition::with_lock`] keeps its own name.
    ///
    /// ```
    /// let x = multiproc::condition::Condition::new().named("not empty");
    /// assert_eq!(x.name(), "not empty");
    /// assert_eq!(x.get_lock().name(), "lock of not empty");
    /// let pen = multiproc::lock::Lock::new().named("pen");
    /// let y = multiproc::condition::Condition::with_lock(pen).named("ready");
    /// assert_eq!(y.get_lock().name(), "pen");
    /// ```
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into().into();
        if self.own_lock {
            self.lock = self.lock.clone().named(format!("lock of {}", self.name));
        }
        self
    }

    /// Its name (see `named`).
    ///
    /// ```
    /// assert!(multiproc::condition::Condition::new().name().starts_with("Condition#"));
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The condition's lock.
    ///
    /// ```
    /// let c = multiproc::condition::Condition::new();
    /// let l = c.get_lock();
    /// assert!(!l.is_locked());
    /// ```
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }

    /// Acquires the underlying lock (blocks).
    ///
    /// ```
    /// let c = multiproc::condition::Condition::new();
    /// assert!(c.acquire());
    /// c.release();
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> bool {
        self.lock.acquire()
    }

    /// Acquires the underlying lock, waiting at most `seconds`.
    ///
    /// ```
    /// let c = multiproc::condition::Condition::new();
    /// assert!(c.acquire_timeout(0.1));
    /// c.release();
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, seconds: f64) -> bool {
        self.lock.acquire_timeout(seconds)
    }

    /// Releases the underlying lock.
    ///
    /// ```
    /// let c = multiproc::condition::Condition::new();
    /// c.acquire();
    /// c.release();
    /// ```
    #[track_caller]
    pub fn release(&self) {
        self.lock.release()
    }

    /// Acquires the lock and returns a guard (Python's `with cond:`).
    ///
    /// ```
    /// let c = multiproc::condition::Condition::new();
    /// let g = c.lock();
    /// c.notify();
    /// drop(g);
    /// ```
    #[track_caller]
    pub fn lock(&self) -> LockGuard<'_> {
        self.lock.lock()
    }

    #[track_caller]
    fn require_lock(&self, what: &str) {
        if !self.lock.held_by_me() {
            panic!("cannot {what} on un-acquired lock: acquire the Condition (or its Lock) first");
        }
    }

    fn wait_until(&self, deadline: Option<Instant>, what: &str) -> bool {
        self.require_lock("wait");
        let st = &*self.state;
        let ticket = st.next_ticket.fetch_add(1, Ordering::SeqCst);
        if ticket.wrapping_sub(st.signaled.load(Ordering::SeqCst)) >= CANCEL_BITS {
            st.next_ticket.fetch_sub(1, Ordering::SeqCst);
            panic!("too many processes waiting on one Condition (at most {CANCEL_BITS})");
        }
        self.lock.release();
        let mut recorded: Option<crate::sys::waits::Waiting> = None;
        let waited = std::panic::catch_unwind(AssertUnwindSafe(|| loop {
            let s = st.signaled.load(Ordering::SeqCst);
            if notified(s, ticket) {
                return true;
            }
            recorded.get_or_insert_with(|| crate::sys::waits::Waiting::begin(what, &self.name, deadline.is_some()));
            if wait::futex_wait(&st.signaled, s, deadline, what) == Woken::TimedOut {
                return false;
            }
        }));
        let mut was_notified = match waited {
            Ok(n) => n,
            Err(stop) => {
                // The stop button: take the lock back if it is free, so the caller's guard
                // stays balanced, leave the queue, and let the interrupt continue.
                if self.lock.try_acquire() {
                    let (word, bit) = st.cancel_bit(ticket);
                    word.fetch_or(bit, Ordering::SeqCst);
                    st.drop_cancelled_ends();
                }
                std::panic::resume_unwind(stop);
            }
        };
        drop(recorded);
        self.lock.acquire_until(None, what);
        if !was_notified {
            // Timed out. With the lock held, nobody can notify meanwhile: either a notify got
            // to our ticket just now (then count it), or we leave and later notifies skip us.
            if notified(st.signaled.load(Ordering::SeqCst), ticket) {
                was_notified = true;
            } else {
                let (word, bit) = st.cancel_bit(ticket);
                word.fetch_or(bit, Ordering::SeqCst);
                st.drop_cancelled_ends();
            }
        }
        was_notified
    }

    /// Releases the lock, sleeps until notified, and re-acquires the lock. Must be called with
    /// the lock held (panics otherwise).
    ///
    /// ```no_run
    /// let c = multiproc::condition::Condition::new();
    /// let _g = c.lock();
    /// c.wait(); // returns after another process calls c.notify()
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        self.wait_until(None, "Condition::wait");
    }

    /// Like [`wait`](Condition::wait) but gives up after `seconds`; `true` if notified,
    /// `false` on timeout. The lock is held again either way.
    ///
    /// ```
    /// let c = multiproc::condition::Condition::new();
    /// let _g = c.lock();
    /// assert!(!c.wait_timeout(0.01));
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, seconds: f64) -> bool {
        self.wait_until(deadline_after(seconds), "Condition::wait_timeout")
    }

    /// Waits until `predicate()` is true (checked with the lock held, first before waiting,
    /// then after every notification). Returns `true`. The loop is exactly what protects
    /// against "the condition changed again before I got the lock back".
    ///
    /// ```
    /// let c = multiproc::condition::Condition::new();
    /// let _g = c.lock();
    /// assert!(c.wait_for(|| true)); // already true: no waiting
    /// ```
    #[track_caller]
    pub fn wait_for(&self, mut predicate: impl FnMut() -> bool) -> bool {
        while !predicate() {
            self.wait_until(None, "Condition::wait_for");
        }
        true
    }

    /// [`wait_for`](Condition::wait_for) with an overall time limit; returns the predicate's
    /// last value (as Python does).
    ///
    /// ```
    /// let c = multiproc::condition::Condition::new();
    /// let _g = c.lock();
    /// assert!(!c.wait_for_timeout(|| false, 0.01));
    /// ```
    #[track_caller]
    pub fn wait_for_timeout(&self, predicate: impl FnMut() -> bool, seconds: f64) -> bool {
        self.wait_for_until(predicate, deadline_after(seconds), "Condition::wait_for_timeout")
    }

    /// `wait_for` with an optional deadline and the name of the calling primitive (used in the
    /// stop-button message), for the primitives built on `Condition`.
    pub(crate) fn wait_for_until(&self, mut predicate: impl FnMut() -> bool, deadline: Option<Instant>, what: &str) -> bool {
        loop {
            if predicate() {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            self.wait_until(deadline, what);
        }
    }

    /// Wakes one waiting process. Must be called with the lock held (panics otherwise).
    ///
    /// ```
    /// let c = multiproc::condition::Condition::new();
    /// let _g = c.lock();
    /// c.notify(); // no waiter: does nothing
    /// ```
    #[track_caller]
    pub fn notify(&self) {
        self.notify_n(1);
    }

    /// Wakes up to `n` waiting processes (Python's `notify(n)`).
    ///
    /// ```
    /// let c = multiproc::condition::Condition::new();
    /// let _g = c.lock();
    /// c.notify_n(3);
    /// ```
    #[track_caller]
    pub fn notify_n(&self, n: u32) {
        self.require_lock("notify");
        let st = &*self.state;
        let next = st.next_ticket.load(Ordering::SeqCst);
        let mut signaled = st.signaled.load(Ordering::SeqCst);
        let mut woken = 0;
        while woken < n && signaled != next {
            let (word, bit) = st.cancel_bit(signaled);
            if word.load(Ordering::SeqCst) & bit != 0 {
                word.fetch_and(!bit, Ordering::SeqCst); // a waiter that timed out: skip it
            } else {
                woken += 1;
            }
            signaled = signaled.wrapping_add(1);
        }
        if woken > 0 || st.signaled.load(Ordering::SeqCst) != signaled {
            st.signaled.store(signaled, Ordering::SeqCst);
            // Sleepers cannot be woken by ticket, so wake them all; those whose ticket has not
            // come yet go back to sleep.
            futex::wake(&st.signaled, i32::MAX);
        }
    }

    /// Wakes every waiting process.
    ///
    /// ```
    /// let c = multiproc::condition::Condition::new();
    /// let _g = c.lock();
    /// c.notify_all();
    /// ```
    #[track_caller]
    pub fn notify_all(&self) {
        self.notify_n(u32::MAX);
    }
}
