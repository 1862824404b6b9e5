//! `EventLoop`: a small single-threaded event loop for learning the callback model of Python's
//! `asyncio` loop (`call_soon`, `call_later`, `time`, `stop`, `run_forever`).
//!
//! ```
//! use multiproc::event_loop::EventLoop;
//!
//! let lp = EventLoop::new();
//! lp.call_later(0.02, |lp| {
//!     println!("later, at {:.2} s", lp.time());
//!     lp.stop();
//! });
//! lp.call_soon(|_| println!("soon"));
//! lp.run_forever(); // prints "soon", then (0.02 s later) "later, ...", then returns
//! ```
//!
//! The whole loop is this file, written to be read. It keeps two queues: callbacks *ready* to
//! run (first in, first out) and *timers*, callbacks waiting for a time (a binary heap, the
//! earliest first). Each turn of [`run_forever`](EventLoop::run_forever):
//!
//! 1. if nothing is ready, sleep until the earliest timer is due;
//! 2. move every timer that is due to the end of the ready queue;
//! 3. run the callbacks that are ready *now*, one after the other (those they add wait for the
//!    next turn).
//!
//! A callback runs to its end before the next one starts: a callback that sleeps or computes
//! for a long time delays everything after it. Times are lesson seconds (scaled by
//! [`time_scale`](crate::lesson::time_scale), as [`sleep`](crate::lesson::sleep) is).
//! Hand-written rather than a real runtime (tokio) because the point is to see every step.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use crate::sys::wait;
use crate::timer::{lesson_duration, lesson_seconds_since};

/// What the loop calls: a closure that gets the loop, so it can schedule more callbacks.
type Callback = Box<dyn FnOnce(&EventLoop)>;

/// A single-threaded event loop: schedule callbacks, then [`run_forever`](EventLoop::run_forever)
/// until one of them calls [`stop`](EventLoop::stop).
///
/// ```
/// let lp = multiproc::event_loop::EventLoop::new();
/// lp.call_soon(|lp| lp.stop());
/// lp.run_forever();
/// ```
pub struct EventLoop {
    start: Instant,
    /// Callbacks to run at the next turn, first in, first out.
    ready: RefCell<VecDeque<Callback>>,
    /// (due, number of the timer), earliest first (`Reverse`: the heap pops the largest) ...
    timers: RefCell<BinaryHeap<Reverse<(Instant, u64)>>>,
    /// ... and the timers' callbacks, by number (a closure cannot be compared, so not in the heap).
    waiting: RefCell<HashMap<u64, Callback>>,
    scheduled: Cell<u64>,
    stopping: Cell<bool>,
    running: Cell<bool>,
}

impl Default for EventLoop {
    fn default() -> Self {
        EventLoop::new()
    }
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (ready, timers) = (self.ready.borrow().len(), self.timers.borrow().len());
        write!(f, "<EventLoop(running={}, {ready} ready, {timers} timers)>", self.running.get())
    }
}

impl EventLoop {
    /// A new loop with nothing scheduled; its clock ([`time`](EventLoop::time)) starts at 0.
    ///
    /// ```
    /// let lp = multiproc::event_loop::EventLoop::new();
    /// assert!(!lp.is_running());
    /// ```
    pub fn new() -> EventLoop {
        EventLoop {
            start: Instant::now(),
            ready: RefCell::new(VecDeque::new()),
            timers: RefCell::new(BinaryHeap::new()),
            waiting: RefCell::new(HashMap::new()),
            scheduled: Cell::new(0),
            stopping: Cell::new(false),
            running: Cell::new(false),
        }
    }

    /// The loop's clock: seconds (lesson seconds) since the loop was made (Python's `loop.time()`).
    ///
    /// ```
    /// let lp = multiproc::event_loop::EventLoop::new();
    /// assert!(lp.time() >= 0.0);
    /// ```
    pub fn time(&self) -> f64 {
        lesson_seconds_since(self.start)
    }

    /// Runs `callback` at the next turn of the loop, after the callbacks already ready.
    ///
    /// ```
    /// let lp = multiproc::event_loop::EventLoop::new();
    /// lp.call_soon(|_| println!("first"));
    /// lp.call_soon(|lp| { println!("second"); lp.stop() });
    /// lp.run_forever();
    /// ```
    pub fn call_soon(&self, callback: impl FnOnce(&EventLoop) + 'static) {
        self.ready.borrow_mut().push_back(Box::new(callback));
    }

    /// Runs `callback` once `delay` seconds have passed (not earlier; later if other callbacks
    /// keep the loop busy).
    ///
    /// ```
    /// let lp = multiproc::event_loop::EventLoop::new();
    /// lp.call_later(0.01, |lp| { assert!(lp.time() >= 0.01); lp.stop() });
    /// lp.run_forever();
    /// ```
    pub fn call_later(&self, delay: f64, callback: impl FnOnce(&EventLoop) + 'static) {
        let due = Instant::now() + lesson_duration(delay, "EventLoop::call_later");
        self.add_timer(due, Box::new(callback));
    }

    /// Runs `callback` when the loop's clock reaches `when` (Python's `call_at`).
    ///
    /// ```
    /// let lp = multiproc::event_loop::EventLoop::new();
    /// let t = lp.time();
    /// lp.call_at(t + 0.02, |lp| lp.stop());
    /// lp.call_at(t + 0.01, |_| println!("runs first"));
    /// lp.run_forever();
    /// ```
    pub fn call_at(&self, when: f64, callback: impl FnOnce(&EventLoop) + 'static) {
        let due = self.start + lesson_duration(when, "EventLoop::call_at");
        self.add_timer(due, Box::new(callback));
    }

    fn add_timer(&self, due: Instant, callback: Callback) {
        let number = self.scheduled.get();
        self.scheduled.set(number + 1);
        self.timers.borrow_mut().push(Reverse((due, number)));
        self.waiting.borrow_mut().insert(number, callback);
    }

    /// Asks [`run_forever`](EventLoop::run_forever) to return once the callbacks of the
    /// current turn have run.
    ///
    /// ```
    /// let lp = multiproc::event_loop::EventLoop::new();
    /// lp.call_soon(|lp| lp.stop());
    /// lp.call_soon(|_| println!("same turn: still runs"));
    /// lp.run_forever();
    /// ```
    pub fn stop(&self) {
        self.stopping.set(true);
    }

    /// True while [`run_forever`](EventLoop::run_forever) runs.
    ///
    /// ```
    /// let lp = multiproc::event_loop::EventLoop::new();
    /// lp.call_soon(|lp| { assert!(lp.is_running()); lp.stop() });
    /// lp.run_forever();
    /// assert!(!lp.is_running());
    /// ```
    pub fn is_running(&self) -> bool {
        self.running.get()
    }

    /// Runs turn after turn until a callback calls [`stop`](EventLoop::stop); then returns,
    /// and the loop can be run again. With nothing scheduled and no `stop` it panics: nothing
    /// could ever wake it (Python's loop would wait forever). The stop button ends it.
    ///
    /// ```
    /// let lp = multiproc::event_loop::EventLoop::new();
    /// lp.call_later(0.01, |lp| lp.stop());
    /// lp.run_forever();
    /// assert!(lp.time() >= 0.01);
    /// ```
    #[track_caller]
    pub fn run_forever(&self) {
        assert!(!self.running.get(), "EventLoop::run_forever: this loop is already running");
        struct Running<'a>(&'a EventLoop); // resets the flags however the loop ends (even a panic)
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.running.set(false);
                self.0.stopping.set(false);
            }
        }
        self.running.set(true);
        let _running = Running(self);
        loop {
            self.run_once();
            if self.stopping.get() {
                return;
            }
        }
    }

    /// One turn of the loop (steps 1–3 of the module's description).
    #[track_caller]
    fn run_once(&self) {
        // 1. Nothing ready: sleep until the earliest timer is due.
        if self.ready.borrow().is_empty() {
            let next = self.timers.borrow().peek().map(|&Reverse((due, _))| due);
            match next {
                Some(due) => wait::sleep(due.saturating_duration_since(Instant::now()), "EventLoop::run_forever"),
                None => panic!(
                    "EventLoop::run_forever: nothing is scheduled and stop() was not called, so the loop \
                     would wait forever; call lp.stop() from a callback"
                ),
            }
        }
        // 2. Timers that are due join the ready queue, earliest first.
        let now = Instant::now();
        {
            let mut timers = self.timers.borrow_mut();
            let mut ready = self.ready.borrow_mut();
            while let Some(&Reverse((due, number))) = timers.peek() {
                if due > now {
                    break;
                }
                timers.pop();
                ready.push_back(self.waiting.borrow_mut().remove(&number).expect("every timer has its callback"));
            }
        }
        // 3. Run what is ready now; callbacks added meanwhile wait for the next turn.
        let count = self.ready.borrow().len();
        for _ in 0..count {
            let callback = self.ready.borrow_mut().pop_front().expect("counted above");
            callback(self); // no queue is borrowed here: the callback may schedule more
        }
    }
}
