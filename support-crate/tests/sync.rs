//! Semaphore, BoundedSemaphore, Event, Condition and Barrier across real forked processes.

use std::time::{Duration, Instant};

use multiproc::barrier::{Barrier, BrokenBarrierError};
use multiproc::condition::Condition;
use multiproc::event::Event;
use multiproc::semaphore::{BoundedSemaphore, Semaphore};
use multiproc::shared_memory::{Array, Value};

mod common;
use common::forked;

#[test]
fn semaphore_limits_how_many_processes_are_inside() {
    let slots = Semaphore::new(2);
    let inside = Value::new(0u32);
    let max_inside = Value::new(0u32);
    forked::run_all(6, |_| {
        for _ in 0..300 {
            let _slot = slots.guard();
            let now = inside.with_lock(|n| { *n += 1; *n });
            max_inside.with_lock(|m| *m = (*m).max(now));
            inside.with_lock(|n| *n -= 1);
        }
    });
    assert!(max_inside.get() <= 2, "more than 2 inside: {}", max_inside.get());
    assert!(max_inside.get() >= 1);
    assert_eq!(slots.get_value(), 2);
}

#[test]
fn semaphore_counts_releases_from_other_processes() {
    let s = Semaphore::new(0);
    forked::run_all(5, |_| s.release());
    assert_eq!(s.get_value(), 5);
    for _ in 0..5 {
        assert!(s.try_acquire());
    }
    assert!(!s.try_acquire());
    let start = Instant::now();
    assert!(!s.acquire_timeout(0.05));
    assert!(start.elapsed() >= Duration::from_millis(50));
}

#[test]
fn semaphore_wakes_a_waiter_in_another_process() {
    let s = Semaphore::new(0);
    let done = Value::new(false);
    let child = forked::spawn(|| {
        s.acquire();
        done.set(true);
    });
    assert!(!done.get());
    s.release();
    assert_eq!(forked::join(child), 0);
    assert!(done.get());
    assert_eq!(s.get_value(), 0);
}

#[test]
fn bounded_semaphore_rejects_one_release_too_many() {
    let s = BoundedSemaphore::new(2);
    s.acquire();
    let child = forked::spawn(|| s.release());
    assert_eq!(forked::join(child), 0);
    assert_eq!(s.get_value(), 2);
    let child = forked::spawn(|| s.release());
    assert_eq!(forked::join(child), 101, "releasing beyond the initial value must panic");
    let err = std::panic::catch_unwind(|| s.release()).unwrap_err();
    assert_eq!(err.downcast_ref::<String>().map(String::as_str), Some("BoundedSemaphore released too many times"));
    assert_eq!(s.get_value(), 2);
}

#[test]
fn event_wakes_waiters_in_other_processes() {
    let go = Event::new();
    let waiting = Semaphore::new(0);
    let passed = Value::new(0u32);
    let pids: Vec<_> = (0..3)
        .map(|_| {
            forked::spawn(|| {
                waiting.release();
                assert!(go.wait());
                *passed.lock() += 1;
            })
        })
        .collect();
    for _ in 0..3 {
        waiting.acquire();
    }
    assert_eq!(passed.get(), 0, "nobody may pass before set()");
    go.set();
    for pid in pids {
        assert_eq!(forked::join(pid), 0);
    }
    assert_eq!(passed.get(), 3);
    assert!(go.is_set());
    go.clear();
    assert!(!go.wait_timeout(0.02));
}

#[test]
fn event_set_in_a_child_is_seen_by_the_parent() {
    let e = Event::new();
    let child = forked::spawn(|| e.set());
    assert!(e.wait_timeout(10.0));
    assert_eq!(forked::join(child), 0);
}

#[test]
fn condition_notify_wakes_exactly_one_then_notify_all_the_rest() {
    let cond = Condition::new();
    let arrived = Semaphore::new(0);
    let woken = Semaphore::new(0);
    let pids: Vec<_> = (0..3)
        .map(|_| {
            forked::spawn(|| {
                cond.acquire();
                arrived.release();
                cond.wait(); // releases the lock while waiting
                assert!(cond.get_lock().is_locked(), "wait returns with the lock held");
                cond.release();
                woken.release();
            })
        })
        .collect();
    for _ in 0..3 {
        arrived.acquire();
    }
    // Each child released `arrived` while holding the lock, so once we get the lock every
    // child is inside wait().
    cond.acquire();
    cond.notify();
    cond.release();
    assert!(woken.acquire_timeout(10.0));
    assert!(!woken.acquire_timeout(0.2), "notify() must wake only one waiter");
    cond.acquire();
    cond.notify_all();
    cond.release();
    for pid in pids {
        assert_eq!(forked::join(pid), 0);
    }
    assert_eq!(woken.get_value(), 2);
}

#[test]
fn condition_wait_for_a_shared_value() {
    let cond = Condition::new();
    let stage = Value::new(0u32);
    let order = Array::from_elem(0u32, 3);
    // Child i waits until stage == i, records it, then moves the stage on: the A-B-C order
    // is forced by the condition, whatever order the processes start in.
    let (cond, stage, order) = (&cond, &stage, &order);
    let pids: Vec<_> = (0..3u32)
        .rev()
        .map(|i| {
            forked::spawn(move || {
                let _g = cond.lock();
                cond.wait_for(|| stage.with_lock(|s| *s) == i);
                order.set(i as usize, stage.with_lock(|s| *s) + 10);
                stage.set(i + 1);
                cond.notify_all();
            })
        })
        .collect();
    for pid in pids {
        assert_eq!(forked::join(pid), 0);
    }
    assert_eq!(order.to_vec(), vec![10, 11, 12]);
    assert_eq!(stage.get(), 3);
}

#[test]
fn condition_wait_timeout_and_lock_rules() {
    let cond = Condition::new();
    assert!(std::panic::catch_unwind(|| cond.notify()).is_err(), "notify needs the lock");
    assert!(std::panic::catch_unwind(|| cond.wait_timeout(0.01)).is_err(), "wait needs the lock");
    let _g = cond.lock();
    let start = Instant::now();
    assert!(!cond.wait_timeout(0.05));
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert!(cond.get_lock().is_locked());
    assert!(!cond.wait_for_timeout(|| false, 0.02));
}

#[test]
fn barrier_with_four_processes_over_several_rounds() {
    const PARTIES: u32 = 4;
    const ROUNDS: u32 = 5;
    let barrier = Barrier::new(PARTIES);
    let arrivals = Value::new(0u32);
    let indices = Array::from_elem(0u32, (PARTIES * ROUNDS) as usize);
    forked::run_all(PARTIES as usize, |p| {
        for round in 0..ROUNDS {
            *arrivals.lock() += 1;
            let index = barrier.wait().expect("barrier broken");
            // Nobody gets past before everybody of this round arrived.
            assert!(arrivals.get() >= PARTIES * (round + 1));
            indices.set((round * PARTIES) as usize + p, index);
        }
    });
    let all = indices.to_vec();
    for round in all.chunks(PARTIES as usize) {
        let mut r = round.to_vec();
        r.sort();
        assert_eq!(r, (0..PARTIES).collect::<Vec<_>>(), "each round hands out each index once");
    }
    assert!(!barrier.broken());
}

#[test]
fn barrier_timeout_breaks_it_for_everybody() {
    let barrier = Barrier::new(3);
    let waiting = Semaphore::new(0);
    let child = forked::spawn(|| {
        waiting.release();
        assert_eq!(barrier.wait(), Err(BrokenBarrierError));
    });
    waiting.acquire();
    assert_eq!(barrier.wait_timeout(0.05), Err(BrokenBarrierError));
    assert_eq!(forked::join(child), 0);
    assert!(barrier.broken());
    assert_eq!(barrier.wait(), Err(BrokenBarrierError));
    barrier.reset();
    assert!(!barrier.broken());
}

#[test]
fn barrier_abort_wakes_a_waiter_in_another_process() {
    let barrier = Barrier::new(2);
    let child = forked::spawn(|| assert_eq!(barrier.wait(), Err(BrokenBarrierError)));
    barrier.abort();
    assert_eq!(forked::join(child), 0);
    barrier.reset();
    let child = forked::spawn(|| assert!(barrier.wait().is_ok()));
    assert!(barrier.wait().is_ok());
    assert_eq!(forked::join(child), 0);
}

#[test]
fn condition_wait_timeout_in_a_loop_does_not_use_up_the_condition() {
    let cond = Condition::new();
    let _g = cond.lock();
    for _ in 0..5_000 {
        assert!(!cond.wait_timeout(0.0));
    }
    cond.notify_all();
}

#[test]
fn condition_notify_skips_waiters_that_timed_out() {
    let cond = Condition::new();
    let arrived = Semaphore::new(0);
    let woken = Semaphore::new(0);
    // A waiter that gives up after a short time...
    let quitter = forked::spawn(|| {
        let _g = cond.lock();
        arrived.release();
        assert!(!cond.wait_timeout(0.05));
    });
    arrived.acquire();
    // ...is queued before a patient one.
    let patient = forked::spawn(|| {
        let _g = cond.lock();
        arrived.release();
        cond.wait();
        woken.release();
    });
    arrived.acquire();
    assert_eq!(forked::join(quitter), 0);
    // One notify must reach the patient waiter, not be wasted on the one that left.
    cond.acquire();
    cond.notify();
    cond.release();
    assert!(woken.acquire_timeout(10.0));
    assert_eq!(forked::join(patient), 0);
}

/// The notebook's stop button: inside the kernel every blocking wait of the locks and friends
/// must end with the "Interrupted" panic. This test plays the kernel: it makes a control page
/// already marked "interrupted" and the kernel's socket, then runs
/// [`sync_waits_end_when_interrupted`] in a fresh copy of this test program that sees them.
#[test]
fn stop_button_ends_every_sync_wait() {
    let (status, text) = common::run_with_stop_button_pressed("sync_waits_end_when_interrupted");
    assert!(status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
#[ignore = "run by stop_button_ends_every_sync_wait, with a kernel control page"]
fn sync_waits_end_when_interrupted() {
    use multiproc::lock::{Lock, RLock};
    use std::panic::AssertUnwindSafe;
    assert!(multiproc::sys::wait::interrupted(), "the control page says 'interrupted'");
    fn ends_with_interrupt(what: &str, f: impl FnOnce()) {
        let err = std::panic::catch_unwind(AssertUnwindSafe(f)).expect_err(what);
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.starts_with(multiproc::sys::wait::INTERRUPTED_MESSAGE), "{what}: {msg}");
        assert!(msg.contains(what), "{what}: {msg}");
    }
    // A lock held by another (live) process.
    let lock = Lock::new();
    let held = Semaphore::new(0);
    let holder = forked::spawn(|| {
        lock.acquire();
        held.release();
        unsafe { libc::pause() };
    });
    // Semaphore::acquire is interrupted too, so wait for the child's release by polling.
    while !held.try_acquire() {
        std::hint::spin_loop();
    }
    ends_with_interrupt("Lock::acquire", || {
        lock.acquire();
    });
    ends_with_interrupt("Lock::acquire_timeout", || {
        lock.acquire_timeout(60.0);
    });
    ends_with_interrupt("Lock::acquire", || drop(lock.lock()));
    nix::sys::signal::kill(holder, nix::sys::signal::Signal::SIGKILL).unwrap();
    assert_eq!(forked::join(holder), -9);

    let r = RLock::new();
    let child = forked::spawn(|| {
        r.acquire();
        unsafe { libc::_exit(0) }
    });
    assert_eq!(forked::join(child), 0);
    // A dead holder is reported even though the stop button is pressed? The interrupt wins:
    // either message is a clean end of the wait; what matters is that it does not hang.
    assert!(std::panic::catch_unwind(|| r.acquire()).is_err());

    ends_with_interrupt("Semaphore::acquire", || {
        Semaphore::new(0).acquire();
    });
    ends_with_interrupt("BoundedSemaphore::acquire_timeout", || {
        BoundedSemaphore::new(0).acquire_timeout(60.0);
    });
    ends_with_interrupt("Event::wait", || {
        Event::new().wait();
    });
    let cond = Condition::new();
    ends_with_interrupt("Condition::wait", || {
        let _g = cond.lock();
        cond.wait();
    });
    // The interrupted wait took the lock back and its guard released it: nothing is stuck.
    assert!(!cond.get_lock().is_locked());
    ends_with_interrupt("Condition::wait_for", || {
        let _g = cond.lock();
        cond.wait_for(|| false);
    });
    assert!(!cond.get_lock().is_locked());
    let b = Barrier::new(2);
    ends_with_interrupt("Barrier::wait", || {
        let _ = b.wait();
    });
    assert!(b.broken(), "a party interrupted while waiting breaks the barrier, as in Python");
    assert_eq!(b.n_waiting(), 0);
    let v = Value::new(0u8);
    let _g = v.lock();
    let v2 = v.clone();
    let child = forked::spawn(move || {
        ends_with_interrupt("Lock::acquire", || v2.set(1));
    });
    assert_eq!(forked::join(child), 0);
}
