//! `Event`: a flag that processes can wait for, like Python's `multiprocessing.Event`.
//!
//! ```
//! use multiproc::event::Event;
//!
//! let go = Event::new();
//! assert!(!go.is_set());
//! go.set();           // wakes every process waiting in go.wait()
//! go.wait();          // returns at once: the flag is set
//! go.clear();
//! assert!(!go.wait_timeout(0.01));
//! ```
//!
//! The flag is a futex word in `MAP_SHARED` memory; `set` wakes every sleeper at once.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::lock::deadline_after;
use crate::sys::futex::{self, Woken};
use crate::sys::shm::{ProcessShared, Shared};
use crate::sys::wait;

#[doc(hidden)]
#[repr(C)]
pub struct EventState {
    flag: AtomicU32,
    sleepers: AtomicU32,
}

// SAFETY: plain atomics, no pointers, no Drop.
unsafe impl ProcessShared for EventState {}

/// A flag shared between processes: `set`, `clear`, `is_set`, and `wait` until it is set.
///
/// ```
/// let e = multiproc::event::Event::new();
/// let same = e.clone();
/// same.set();
/// assert!(e.is_set());
/// ```
///
/// An event is a *state*, not a message: a waiter that looks after `set(); clear();` has
/// missed it. It works between threads too (std has no event):
///
/// ```
/// let go = multiproc::event::Event::new();
/// std::thread::scope(|s| {
///     let waiter = s.spawn(|| go.wait_timeout(30.0));
///     go.set();
///     assert!(waiter.join().unwrap());
/// });
/// ```
#[derive(Clone)]
pub struct Event {
    state: Shared<EventState>,
    name: std::sync::Arc<str>,
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Event({})>", if self.is_set() { "set" } else { "unset" })
    }
}

impl Event {
    /// Makes a new event, initially not set.
    ///
    /// ```
    /// assert!(!multiproc::event::Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event {
            state: Shared::new(EventState { flag: AtomicU32::new(0), sleepers: AtomicU32::new(0) })
                .expect("could not map shared memory for an Event (mmap failed)"),
            name: crate::sys::waits::default_name("Event"),
        }
    }

    /// Gives it a name for the notebook kernel's deadlock reports (default `Event#N`, numbered
    /// in the order such objects are made; see [`Lock::named`](crate::lock::Lock::named)).
    ///
    /// ```
    /// let x = multiproc::event::Event::new().named("go");
    /// assert_eq!(x.name(), "go");
    /// ```
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into().into();
        self
    }

    /// Its name (see `named`).
    ///
    /// ```
    /// assert!(multiproc::event::Event::new().name().starts_with("Event#"));
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True if the flag is set.
    ///
    /// ```
    /// let e = multiproc::event::Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.state.flag.load(Ordering::Acquire) != 0
    }

    /// Sets the flag and wakes every waiting process.
    ///
    /// ```
    /// let e = multiproc::event::Event::new();
    /// e.set();
    /// e.set(); // setting twice is fine
    /// assert!(e.is_set());
    /// ```
    pub fn set(&self) {
        self.state.flag.store(1, Ordering::SeqCst);
        if self.state.sleepers.load(Ordering::SeqCst) > 0 {
            futex::wake(&self.state.flag, i32::MAX);
        }
    }

    /// Clears the flag; later `wait` calls block until the next `set`.
    ///
    /// ```
    /// let e = multiproc::event::Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    pub fn clear(&self) {
        self.state.flag.store(0, Ordering::SeqCst);
    }

    fn wait_until(&self, deadline: Option<Instant>, what: &str) -> bool {
        let mut recorded: Option<crate::sys::waits::Waiting> = None;
        loop {
            if self.is_set() {
                return true;
            }
            recorded.get_or_insert_with(|| crate::sys::waits::Waiting::begin(what, &self.name, deadline.is_some()));
            self.state.sleepers.fetch_add(1, Ordering::SeqCst);
            let woke = wait::futex_wait(&self.state.flag, 0, deadline, what);
            self.state.sleepers.fetch_sub(1, Ordering::SeqCst);
            if woke == Woken::TimedOut {
                return self.is_set();
            }
        }
    }

    /// Blocks until the flag is set; returns `true` (as Python's `wait()`).
    ///
    /// ```
    /// let e = multiproc::event::Event::new();
    /// e.set();
    /// assert!(e.wait());
    /// ```
    #[track_caller]
    pub fn wait(&self) -> bool {
        self.wait_until(None, "Event::wait")
    }

    /// Blocks at most `seconds`; returns whether the flag is set.
    ///
    /// ```
    /// let e = multiproc::event::Event::new();
    /// assert!(!e.wait_timeout(0.01));
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, seconds: f64) -> bool {
        self.wait_until(deadline_after(seconds), "Event::wait_timeout")
    }
}
