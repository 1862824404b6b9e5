//! `Timer`: call a function once, after a pause, in a thread of its own, like Python's
//! `threading.Timer(t, f).start()`; `cancel()` before the pause is over and it never runs.
//!
//! ```
//! use multiproc::timer::Timer;
//!
//! let mut alarm = Timer::new(0.05, || println!("ding"));
//! alarm.start();
//! assert!(alarm.join()); // waited for the pause, then "ding"
//!
//! let mut never = Timer::new(60.0, || println!("never printed"));
//! never.start();
//! never.cancel();
//! assert!(!never.join()); // cancelled: the function did not run
//! ```
//!
//! The pause is in lesson seconds: multiplied by [`time_scale`](crate::lesson::time_scale),
//! as [`sleep`](crate::lesson::sleep) is. The timer's thread waits on a channel with
//! `recv_timeout` (crossbeam-channel), so `cancel` wakes it at once. Pressing the notebook's
//! stop button while the timer waits cancels it too.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::sys::wait;

/// A lesson pause as a real duration: `seconds` (not negative, finite) times
/// [`time_scale`](crate::lesson::time_scale). Shared by the timer, the scheduler and the
/// event loop so all three count time as [`sleep`](crate::lesson::sleep) does.
pub(crate) fn lesson_duration(seconds: f64, what: &str) -> Duration {
    assert!(
        seconds.is_finite() && seconds >= 0.0,
        "{what}: the delay must be a non-negative number of seconds, not {seconds}"
    );
    Duration::from_secs_f64((seconds * crate::lesson::time_scale()).min(1e9))
}

/// Real time elapsed since `start`, in lesson seconds (divided by the time scale).
pub(crate) fn lesson_seconds_since(start: Instant) -> f64 {
    let real = start.elapsed().as_secs_f64();
    let scale = crate::lesson::time_scale();
    if scale > 0.0 { real / scale } else { real }
}

type Action = Box<dyn FnOnce() + Send + 'static>;

/// A function that runs once, after `seconds`, in its own thread; cancellable until then.
///
/// ```
/// use multiproc::timer::Timer;
/// let mut t = Timer::new(0.01, || println!("hello from the timer's thread"));
/// t.start();
/// t.join();
/// ```
pub struct Timer {
    seconds: f64,
    action: Option<Action>,
    cancel_tx: Sender<()>,
    cancel_rx: Receiver<()>,
    done_rx: Option<Receiver<bool>>,
    outcome: Option<bool>,
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match (&self.action, self.outcome) {
            (Some(_), _) => "not started",
            (None, None) => "started",
            (None, Some(true)) => "ran",
            (None, Some(false)) => "cancelled",
        };
        write!(f, "<Timer({} s, {state})>", self.seconds)
    }
}

impl Timer {
    /// A timer that will call `f` once, `seconds` after [`start`](Timer::start). Nothing runs yet.
    ///
    /// ```
    /// let t = multiproc::timer::Timer::new(1.5, || println!("later"));
    /// assert_eq!(format!("{t:?}"), "<Timer(1.5 s, not started)>");
    /// ```
    pub fn new(seconds: f64, f: impl FnOnce() + Send + 'static) -> Timer {
        lesson_duration(seconds, "Timer::new"); // refuse a bad delay now, not in the thread
        let (cancel_tx, cancel_rx) = crossbeam_channel::bounded(1);
        Timer { seconds, action: Some(Box::new(f)), cancel_tx, cancel_rx, done_rx: None, outcome: None }
    }

    /// Starts the timer's thread, which waits and then calls the function (unless cancelled).
    /// A timer starts only once (a second `start` panics, as Python's raises `RuntimeError`).
    ///
    /// ```
    /// let mut t = multiproc::timer::Timer::new(0.01, || println!("tick"));
    /// t.start();
    /// t.join();
    /// ```
    pub fn start(&mut self) {
        let action = self.action.take().expect("Timer::start: this timer was already started (a timer runs only once)");
        let deadline = Instant::now() + lesson_duration(self.seconds, "Timer::start");
        let cancelled = self.cancel_rx.clone();
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        self.done_rx = Some(done_rx);
        std::thread::Builder::new()
            .name("Timer".to_string())
            .spawn(move || {
                let ran = if wait_or_cancel(&cancelled, deadline) {
                    action();
                    true
                } else {
                    false
                };
                // Nobody may be listening (the Timer was dropped): that is fine.
                let _ = done_tx.send(ran);
            })
            .expect("Timer::start: the operating system refused a new thread");
    }

    /// Stops the timer if it is still waiting: its function will not run. Does nothing if the
    /// function already ran or is running. May be called before `start`.
    ///
    /// ```
    /// let mut t = multiproc::timer::Timer::new(30.0, || println!("not printed"));
    /// t.start();
    /// t.cancel();
    /// assert!(!t.join());
    /// ```
    pub fn cancel(&self) {
        let _ = self.cancel_tx.try_send(()); // full: already cancelled
    }

    /// Waits until the timer's thread is over. Returns `true` if the function ran, `false` if
    /// the timer was cancelled. The notebook's stop button ends the wait.
    ///
    /// ```
    /// let mut t = multiproc::timer::Timer::new(0.01, || ());
    /// t.start();
    /// assert!(t.join());
    /// assert!(t.join()); // joining again gives the same answer
    /// ```
    #[track_caller]
    pub fn join(&mut self) -> bool {
        if let Some(outcome) = self.outcome {
            return outcome;
        }
        let done = self.done_rx.as_ref().expect("Timer::join: start the timer first");
        loop {
            wait::check("Timer::join");
            match done.recv_timeout(wait::SLICE) {
                Ok(ran) => {
                    self.outcome = Some(ran);
                    return ran;
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => panic!("Timer::join: the timer's function panicked"),
            }
        }
    }
}

/// Waits until `deadline`: true if it came, false if the timer was cancelled (or the stop
/// button was pressed) first. Waits in slices so that the stop button is seen.
fn wait_or_cancel(cancelled: &Receiver<()>, deadline: Instant) -> bool {
    loop {
        if cancelled.try_recv().is_ok() || wait::interrupted() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        match cancelled.recv_timeout((deadline - now).min(wait::SLICE)) {
            Ok(()) => return false,
            Err(RecvTimeoutError::Timeout) => continue,
            // The Timer was dropped without cancel: the alarm still goes off, as in Python.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep((deadline - now).min(wait::SLICE)),
        }
    }
}
