//! `Scheduler`: run actions at given times, in one thread, like Python's `sched.scheduler`.
//!
//! ```
//! use multiproc::sched::Scheduler;
//!
//! let s = Scheduler::new();
//! s.enter(0.02, 1, |_| println!("second"));
//! s.enter(0.01, 1, |_| println!("first"));
//! let now = s.time();
//! s.enterabs(now + 0.03, 2, |_| println!("fourth: same time, lower priority"));
//! s.enterabs(now + 0.03, 1, |_| println!("third"));
//! s.run(); // sleeps until each deadline, runs the action, until the queue is empty
//! assert!(s.empty());
//! ```
//!
//! Events wait in a binary heap ordered by (deadline, priority, order of entry): the earliest
//! deadline runs first; at equal deadlines the smaller priority number; then the one entered
//! first. Times are lesson seconds (scaled by [`time_scale`](crate::lesson::time_scale), as
//! [`sleep`](crate::lesson::sleep) is). An action gets the scheduler, so it can enter more
//! events. Single-threaded on purpose: one thread calls `run` and everything happens in it.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use crate::sys::wait;
use crate::timer::{lesson_duration, lesson_seconds_since};

type Action = Box<dyn FnOnce(&Scheduler)>;

/// What [`Scheduler::enter`] returns: the event's place in the queue, to [`cancel`](Scheduler::cancel) it.
///
/// ```
/// let s = multiproc::sched::Scheduler::new();
/// let e = s.enter(5.0, 3, |_| ());
/// assert_eq!(e.priority(), 3);
/// assert!(e.time() >= 5.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScheduledEvent {
    time: f64,
    priority: i64,
    sequence: u64,
}

impl ScheduledEvent {
    /// When the event is due, in seconds on the scheduler's clock ([`Scheduler::time`]).
    ///
    /// ```
    /// let s = multiproc::sched::Scheduler::new();
    /// assert_eq!(s.enterabs(2.5, 1, |_| ()).time(), 2.5);
    /// ```
    pub fn time(&self) -> f64 {
        self.time
    }

    /// The event's priority: among events due at the same time, the smallest number runs first.
    ///
    /// ```
    /// let s = multiproc::sched::Scheduler::new();
    /// assert_eq!(s.enter(1.0, -2, |_| ()).priority(), -2);
    /// ```
    pub fn priority(&self) -> i64 {
        self.priority
    }
}

/// A queue of actions, each due at a time with a priority; [`run`](Scheduler::run) runs them.
///
/// ```
/// use multiproc::sched::Scheduler;
/// let s = Scheduler::new();
/// s.enter(0.01, 1, |s| {
///     println!("at {:.2}", s.time());
///     s.enter(0.01, 1, |_| println!("entered by the first action"));
/// });
/// s.run();
/// ```
pub struct Scheduler {
    start: Instant,
    /// (due, priority, number of the event), earliest first (`Reverse`: the heap pops the largest).
    queue: RefCell<BinaryHeap<Reverse<(Instant, i64, u64)>>>,
    /// The actions, by event number. A cancelled event leaves the map; its heap entry is skipped.
    actions: RefCell<HashMap<u64, Action>>,
    entered: Cell<u64>,
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler::new()
    }
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Scheduler({} events waiting)>", self.actions.borrow().len())
    }
}

impl Scheduler {
    /// An empty scheduler whose clock ([`time`](Scheduler::time)) starts at 0 now.
    ///
    /// ```
    /// let s = multiproc::sched::Scheduler::new();
    /// assert!(s.empty());
    /// ```
    pub fn new() -> Scheduler {
        Scheduler {
            start: Instant::now(),
            queue: RefCell::new(BinaryHeap::new()),
            actions: RefCell::new(HashMap::new()),
            entered: Cell::new(0),
        }
    }

    /// Seconds (lesson seconds) since the scheduler was made.
    ///
    /// ```
    /// let s = multiproc::sched::Scheduler::new();
    /// assert!(s.time() >= 0.0);
    /// ```
    pub fn time(&self) -> f64 {
        lesson_seconds_since(self.start)
    }

    /// Schedules `action` to run `delay` seconds from now (Python's `enter(delay, priority,
    /// action)`). Returns the event, for [`cancel`](Scheduler::cancel).
    ///
    /// ```
    /// let s = multiproc::sched::Scheduler::new();
    /// s.enter(0.01, 1, |_| println!("done"));
    /// s.run();
    /// ```
    pub fn enter(&self, delay: f64, priority: i64, action: impl FnOnce(&Scheduler) + 'static) -> ScheduledEvent {
        let when = Instant::now() + lesson_duration(delay, "Scheduler::enter");
        self.push(when, self.time() + delay, priority, Box::new(action))
    }

    /// Schedules `action` at `time` on the scheduler's clock (Python's `enterabs`). Two
    /// events entered for the same `time` are ordered by priority.
    ///
    /// ```
    /// let s = multiproc::sched::Scheduler::new();
    /// let t = s.time() + 0.01;
    /// s.enterabs(t, 2, |_| println!("then me"));
    /// s.enterabs(t, 1, |_| println!("me first"));
    /// s.run();
    /// ```
    pub fn enterabs(&self, time: f64, priority: i64, action: impl FnOnce(&Scheduler) + 'static) -> ScheduledEvent {
        let when = self.start + lesson_duration(time, "Scheduler::enterabs");
        self.push(when, time, priority, Box::new(action))
    }

    fn push(&self, when: Instant, time: f64, priority: i64, action: Action) -> ScheduledEvent {
        let sequence = self.entered.get();
        self.entered.set(sequence + 1);
        self.queue.borrow_mut().push(Reverse((when, priority, sequence)));
        self.actions.borrow_mut().insert(sequence, action);
        ScheduledEvent { time, priority, sequence }
    }

    /// Removes `event` from the queue. Returns `false` if it was not there (already run or
    /// cancelled); Python raises `ValueError` then.
    ///
    /// ```
    /// let s = multiproc::sched::Scheduler::new();
    /// let e = s.enter(10.0, 1, |_| println!("never"));
    /// assert!(s.cancel(&e));
    /// assert!(!s.cancel(&e));
    /// s.run(); // nothing left: returns at once
    /// ```
    pub fn cancel(&self, event: &ScheduledEvent) -> bool {
        self.actions.borrow_mut().remove(&event.sequence).is_some()
    }

    /// True when no event is waiting.
    ///
    /// ```
    /// let s = multiproc::sched::Scheduler::new();
    /// s.enter(0.0, 1, |_| ());
    /// assert!(!s.empty());
    /// s.run();
    /// assert!(s.empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.actions.borrow().is_empty()
    }

    /// Runs the events in order, sleeping until each is due, until none is left. An action
    /// that takes long delays every event after it. The stop button ends the wait.
    ///
    /// ```
    /// let s = multiproc::sched::Scheduler::new();
    /// for i in 0..3 {
    ///     s.enter(0.01 * i as f64, 1, move |_| println!("event {i}"));
    /// }
    /// s.run();
    /// ```
    #[track_caller]
    pub fn run(&self) {
        loop {
            let Some(&Reverse((due, _, sequence))) = self.queue.borrow().peek() else { return };
            if !self.actions.borrow().contains_key(&sequence) {
                self.queue.borrow_mut().pop(); // cancelled
                continue;
            }
            let now = Instant::now();
            if due > now {
                wait::sleep(due - now, "Scheduler::run");
                continue; // an earlier event cannot appear meanwhile (one thread), but look again
            }
            self.queue.borrow_mut().pop();
            let action = self.actions.borrow_mut().remove(&sequence).expect("looked above");
            action(self); // nothing is borrowed here: the action may enter or cancel events
        }
    }
}
