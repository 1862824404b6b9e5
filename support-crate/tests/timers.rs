//! `Timer`, `Scheduler` and the teaching `EventLoop` (lessons 24–25), with real threads and
//! real clocks. Times are asserted only as lower bounds and orders the design forces.

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use multiproc::event_loop::EventLoop;
use multiproc::sched::Scheduler;
use multiproc::timer::Timer;

mod common;

/// A list the callbacks of one thread append to (the scheduler and the loop are single-threaded).
fn log() -> Rc<RefCell<Vec<String>>> {
    Rc::new(RefCell::new(Vec::new()))
}

/// The text of a caught panic (`panic!("...")` gives a `&str`, formatted messages a `String`).
fn panic_text(err: Box<dyn std::any::Any + Send>) -> String {
    err.downcast_ref::<String>().cloned().or(err.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

/// `seconds` lesson seconds in real time (the tests run unscaled unless MULTIPROC_TIME_SCALE is set).
fn real(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds * multiproc::lesson::time_scale())
}

fn push(log: &Rc<RefCell<Vec<String>>>, what: &str) -> impl FnOnce(&Scheduler) + 'static {
    let log = log.clone();
    let what = what.to_string();
    move |_| log.borrow_mut().push(what)
}

#[test]
fn timer_runs_its_function_once_after_the_pause() {
    let ran = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let mut t = {
        let ran = ran.clone();
        Timer::new(0.05, move || {
            ran.fetch_add(1, Ordering::SeqCst);
        })
    };
    t.start();
    assert!(t.join());
    assert!(started.elapsed() >= real(0.05));
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert!(t.join(), "a second join gives the same answer");
}

#[test]
fn cancelled_timer_never_runs_and_join_returns_at_once() {
    let ran = Arc::new(AtomicBool::new(false));
    let mut t = {
        let ran = ran.clone();
        Timer::new(600.0, move || ran.store(true, Ordering::SeqCst))
    };
    let started = Instant::now();
    t.start();
    t.cancel();
    t.cancel(); // twice is fine
    assert!(!t.join());
    assert!(started.elapsed() < Duration::from_secs(60), "cancel woke the timer's thread");
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn timer_cancelled_before_start_does_not_run() {
    let mut t = Timer::new(0.0, || panic!("must not run"));
    t.cancel();
    t.start();
    assert!(!t.join());
}

#[test]
fn dropped_timer_still_goes_off() {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let mut t = Timer::new(0.01, move || tx.send(()).unwrap());
    t.start();
    drop(t);
    rx.recv_timeout(Duration::from_secs(60)).expect("the timer ran although its handle was dropped");
}

#[test]
fn timer_starts_only_once_and_join_needs_a_start() {
    let mut t = Timer::new(0.0, || ());
    let err = std::panic::catch_unwind(AssertUnwindSafe(|| t.join())).unwrap_err();
    assert!(panic_text(err).contains("start the timer first"));
    t.start();
    let err = std::panic::catch_unwind(AssertUnwindSafe(|| t.start())).unwrap_err();
    assert!(panic_text(err).contains("already started"));
    assert!(t.join());
}

#[test]
fn timer_whose_function_panics_makes_join_say_so() {
    let mut t = Timer::new(0.0, || panic!("boom in the timer"));
    t.start();
    let err = std::panic::catch_unwind(AssertUnwindSafe(|| t.join())).unwrap_err();
    assert!(panic_text(err).contains("function panicked"));
}

#[test]
fn negative_delays_are_refused() {
    assert!(std::panic::catch_unwind(|| Timer::new(-1.0, || ())).is_err());
    assert!(std::panic::catch_unwind(|| Scheduler::new().enter(f64::NAN, 1, |_| ())).is_err());
    assert!(std::panic::catch_unwind(|| EventLoop::new().call_later(-0.5, |_| ())).is_err());
}

#[test]
fn scheduler_orders_by_deadline_then_priority_then_entry() {
    let started = Instant::now(); // before the scheduler's clock starts
    let s = Scheduler::new();
    let got = log();
    let t = s.time();
    s.enterabs(t + 0.03, 2, push(&got, "0.03 p2"));
    s.enterabs(t + 0.03, 1, push(&got, "0.03 p1 (a)"));
    s.enterabs(t + 0.03, 1, push(&got, "0.03 p1 (b)"));
    s.enterabs(t + 0.01, 5, push(&got, "0.01 p5"));
    s.enter(0.02, 9, push(&got, "0.02 p9"));
    s.run();
    assert!(started.elapsed() >= real(0.03), "run slept until the last deadline");
    assert_eq!(*got.borrow(), ["0.01 p5", "0.02 p9", "0.03 p1 (a)", "0.03 p1 (b)", "0.03 p2"]);
    assert!(s.empty());
}

#[test]
fn scheduler_cancel_removes_only_that_event() {
    let s = Scheduler::new();
    let got = log();
    let a = s.enter(0.01, 1, push(&got, "a"));
    let b = s.enter(0.01, 1, push(&got, "b"));
    assert!(s.cancel(&a));
    assert!(!s.cancel(&a), "already cancelled");
    s.run();
    assert_eq!(*got.borrow(), ["b"]);
    assert!(!s.cancel(&b), "already run");
}

#[test]
fn scheduler_actions_can_enter_more_events_and_a_slow_one_delays_the_rest() {
    let s = Scheduler::new();
    let got = log();
    let late = got.clone();
    s.enter(0.0, 1, move |s| {
        std::thread::sleep(Duration::from_millis(60)); // a blocking action
        let late = late.clone();
        s.enter(0.0, 1, move |s| late.borrow_mut().push(format!("entered, ran at {:.3}", s.time())));
    });
    let seen = got.clone();
    s.enter(0.01, 1, move |s| seen.borrow_mut().push(format!("due at 0.01, ran at {:.3}", s.time())));
    s.run();
    let got = got.borrow();
    assert_eq!(got.len(), 2);
    // The 0.01 event was due long before the sleep ended, so it runs first, but late.
    assert!(got[0].starts_with("due at 0.01"), "{got:?}");
    let ran_at: f64 = got[0].rsplit(' ').next().unwrap().parse().unwrap();
    assert!(ran_at >= 0.06, "{got:?}");
}

#[test]
fn event_loop_runs_soon_callbacks_in_order_then_timers_by_deadline() {
    let started = Instant::now(); // before any delay is counted
    let lp = EventLoop::new();
    let got = log();
    let g = got.clone();
    let note = move |what: &'static str| {
        let g = g.clone();
        move |_: &EventLoop| g.borrow_mut().push(what.to_string())
    };
    lp.call_later(0.03, note("later 0.03"));
    lp.call_later(0.01, note("later 0.01"));
    lp.call_soon(note("soon 1"));
    let again = note("soon 3, added by soon 2");
    let n2 = note("soon 2");
    lp.call_soon(move |lp| {
        n2(lp);
        lp.call_soon(again);
    });
    lp.call_later(0.04, |lp| lp.stop());
    lp.run_forever();
    assert!(started.elapsed() >= real(0.04));
    assert_eq!(*got.borrow(), ["soon 1", "soon 2", "soon 3, added by soon 2", "later 0.01", "later 0.03"]);
    assert!(!lp.is_running());
}

#[test]
fn stop_ends_the_turn_and_the_loop_can_run_again() {
    let lp = EventLoop::new();
    let got = log();
    let (a, b, c) = (got.clone(), got.clone(), got.clone());
    lp.call_soon(move |lp| {
        a.borrow_mut().push("stopper".into());
        lp.stop();
        lp.call_soon(move |_| c.borrow_mut().push("next run".into()));
    });
    lp.call_soon(move |_| b.borrow_mut().push("same turn".into()));
    lp.run_forever();
    assert_eq!(*got.borrow(), ["stopper", "same turn"]);
    lp.call_soon(|lp| lp.stop());
    lp.run_forever();
    assert_eq!(*got.borrow(), ["stopper", "same turn", "next run"]);
}

#[test]
fn a_blocking_callback_delays_the_timers_after_it() {
    let lp = EventLoop::new();
    let ran_at = Rc::new(RefCell::new(None));
    lp.call_soon(|_| std::thread::sleep(Duration::from_millis(80)));
    let r = ran_at.clone();
    lp.call_later(0.01, move |lp| {
        *r.borrow_mut() = Some(lp.time());
        lp.stop();
    });
    lp.run_forever();
    let t = ran_at.borrow().expect("the timer ran");
    assert!(t >= 0.08, "due at 0.01 but the loop was busy until 0.08; ran at {t}");
}

#[test]
fn call_at_uses_the_loop_clock() {
    let lp = EventLoop::new();
    let got = log();
    let (a, b) = (got.clone(), got.clone());
    lp.call_at(0.02, move |lp| {
        a.borrow_mut().push(format!("{}", lp.time() >= 0.02));
        lp.stop();
    });
    lp.call_at(0.01, move |_| b.borrow_mut().push("first".into()));
    lp.run_forever();
    assert_eq!(*got.borrow(), ["first", "true"]);
}

#[test]
fn run_forever_with_nothing_scheduled_says_why_instead_of_hanging() {
    let lp = EventLoop::new();
    let msg = panic_text(std::panic::catch_unwind(AssertUnwindSafe(|| lp.run_forever())).unwrap_err());
    assert!(msg.contains("would wait forever"), "{msg}");
    assert!(!lp.is_running(), "the flags are reset after a panic");
    lp.call_soon(|lp| lp.stop());
    lp.run_forever();
}

#[test]
fn loop_and_scheduler_times_are_scaled_like_sleep() {
    // A helper program with MULTIPROC_TIME_SCALE=0.01: 5 lesson seconds take 50 ms.
    let out = common::helper_command("scaled_clocks", &[("MULTIPROC_TIME_SCALE", "0.01")]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
#[ignore = "run by loop_and_scheduler_times_are_scaled_like_sleep, with MULTIPROC_TIME_SCALE=0.01"]
fn scaled_clocks() {
    assert_eq!(multiproc::lesson::time_scale(), 0.01);
    let started = Instant::now();
    let lp = EventLoop::new();
    lp.call_later(5.0, |lp| {
        assert!(lp.time() >= 5.0, "{}", lp.time());
        lp.stop();
    });
    lp.run_forever();
    let s = Scheduler::new();
    s.enter(5.0, 1, |s| assert!(s.time() >= 5.0));
    s.run();
    let mut t = Timer::new(5.0, || ());
    t.start();
    assert!(t.join());
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(150), "{took:?}");
    assert!(took < Duration::from_secs(5), "scaled, not 15 real seconds: {took:?}");
}

/// The stop button ends `run_forever`, `Scheduler::run` and `Timer::join` while they wait,
/// and a timer waiting for its time is cancelled by it.
#[test]
fn stop_button_ends_the_waits() {
    let (status, text) = common::run_with_stop_button_pressed("waits_end_when_interrupted");
    assert!(status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
#[ignore = "run by stop_button_ends_the_waits, with a kernel control page"]
fn waits_end_when_interrupted() {
    assert!(multiproc::sys::wait::interrupted());
    fn ends_with_interrupt(what: &str, f: impl FnOnce()) {
        let msg = panic_text(std::panic::catch_unwind(AssertUnwindSafe(f)).expect_err(what));
        assert!(msg.starts_with(multiproc::sys::wait::INTERRUPTED_MESSAGE), "{what}: {msg}");
        assert!(msg.contains(what), "{what}: {msg}");
    }
    let lp = EventLoop::new();
    lp.call_later(3600.0, |_| ());
    ends_with_interrupt("EventLoop::run_forever", || lp.run_forever());
    let s = Scheduler::new();
    s.enter(3600.0, 1, |_| ());
    ends_with_interrupt("Scheduler::run", || s.run());
    // The function is dropped by the timer's thread when it ends, run or not: `Dropped` says when.
    struct Dropped(crossbeam_channel::Sender<()>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    let (gone_tx, gone) = crossbeam_channel::bounded(1);
    let ran = Arc::new(AtomicBool::new(false));
    let mut t = {
        let (ran, dropped) = (ran.clone(), Dropped(gone_tx));
        Timer::new(0.05, move || {
            let _dropped = dropped;
            ran.store(true, Ordering::SeqCst);
        })
    };
    t.start();
    ends_with_interrupt("Timer::join", || {
        t.join();
    });
    // The timer's thread saw the stop button too and gave up without running the function.
    gone.recv_timeout(Duration::from_secs(60)).expect("the timer's thread ended");
    assert!(!ran.load(Ordering::SeqCst));
}
