//! The thread-side queues (`multiproc::thread_queue`) with real threads.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use multiproc::thread_queue::{Empty, Full, LifoQueue, PriorityQueue, Queue, SimpleQueue};

mod common;

#[test]
fn fifo_order_across_threads() {
    let q: Queue<u32> = Queue::with_maxsize(16);
    let producer = {
        let q = q.clone();
        thread::spawn(move || (0..20_000).for_each(|i| q.put(i)))
    };
    for i in 0..20_000 {
        assert_eq!(q.get(), i);
    }
    producer.join().unwrap();
    assert!(q.empty());
}

#[test]
fn lifo_hands_out_the_newest_item_first() {
    let q: LifoQueue<u32> = LifoQueue::new();
    thread::scope(|s| {
        s.spawn(|| (0..100).for_each(|i| q.put(i)));
    });
    let got: Vec<u32> = (0..100).map(|_| q.get()).collect();
    assert_eq!(got, (0..100).rev().collect::<Vec<_>>());
}

#[test]
fn priority_queue_hands_out_the_smallest_first() {
    let q: PriorityQueue<(u32, String)> = PriorityQueue::new();
    thread::scope(|s| {
        for t in 0..4u32 {
            let q = &q;
            s.spawn(move || {
                for i in 0..50u32 {
                    q.put(((i * 7 + t * 13) % 101, format!("thread {t} item {i}")));
                }
            });
        }
    });
    assert_eq!(q.qsize(), 200);
    let priorities: Vec<u32> = (0..200).map(|_| q.get().0).collect();
    let mut sorted = priorities.clone();
    sorted.sort();
    assert_eq!(priorities, sorted);
}

#[test]
fn four_producers_three_consumers_lose_and_duplicate_nothing() {
    const PRODUCERS: u64 = 4;
    const PER_PRODUCER: u64 = 25_000;
    let q: Queue<u64> = Queue::with_maxsize(100);
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || q.iter().collect::<Vec<u64>>())
        })
        .collect();
    thread::scope(|s| {
        for p in 0..PRODUCERS {
            let q = &q;
            s.spawn(move || (0..PER_PRODUCER).for_each(|i| q.put(p * PER_PRODUCER + i)));
        }
    });
    q.close(); // every producer finished: the consumers end once the queue is drained
    let mut seen = HashSet::new();
    let mut total = 0;
    for c in consumers {
        let got = c.join().unwrap();
        total += got.len();
        seen.extend(got);
    }
    assert_eq!(total as u64, PRODUCERS * PER_PRODUCER, "items lost or duplicated");
    assert_eq!(seen.len() as u64, PRODUCERS * PER_PRODUCER, "items duplicated");
}

#[test]
fn join_waits_for_every_task_done() {
    let q: Queue<u32> = Queue::new();
    let (done_tx, done_rx) = mpsc::channel();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (q, done_tx) = (q.clone(), done_tx.clone());
            thread::spawn(move || {
                while let Ok(job) = q.get_timeout(30.0) {
                    done_tx.send(job).unwrap(); // before task_done: join must see it
                    q.task_done();
                }
            })
        })
        .collect();
    for job in 0..300 {
        q.put(job);
    }
    q.join();
    // Every item was marked done, and each worker reported its item before marking it.
    let reported: HashSet<u32> = done_rx.try_iter().collect();
    assert_eq!(reported.len(), 300);
    assert!(q.join_timeout(0.0));
    q.close();
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn join_timeout_and_too_many_task_done() {
    let q: LifoQueue<u32> = LifoQueue::new();
    q.put(1);
    assert!(!q.join_timeout(0.05));
    let _ = q.get();
    q.task_done();
    assert!(q.join_timeout(0.0));
    let err = std::panic::catch_unwind(AssertUnwindSafe(|| q.task_done())).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("task_done called more times"), "{msg}");
    // A panic while the lock was held poisons nothing for the user: the queue keeps working.
    q.put(2);
    assert_eq!(q.get(), 2);
}

#[test]
fn empty_and_full_errors() {
    let q: PriorityQueue<u8> = PriorityQueue::with_maxsize(2);
    let err: Empty = q.get_nowait().unwrap_err();
    assert!(!err.closed());
    q.put(5);
    q.put(4);
    assert!(q.full());
    let Full(back) = q.put_nowait(3).unwrap_err();
    assert_eq!(back, 3);
    let Full(back) = q.put_timeout(2, 0.02).unwrap_err();
    assert_eq!(back, 2);
    assert_eq!(q.get_nowait(), Ok(4));
    assert!(q.put_nowait(1).is_ok());
    assert_eq!((q.get(), q.get()), (1, 5));
    let s: SimpleQueue<u8> = SimpleQueue::new();
    assert!(s.get_nowait().is_err());
    s.put(1);
    assert_eq!(s.get_nowait(), Ok(1));
}

#[test]
fn timeouts_wait_about_as_long_as_asked() {
    let q: Queue<u8> = Queue::with_maxsize(1);
    let start = Instant::now();
    assert!(q.get_timeout(0.2).is_err());
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    q.put(1);
    let start = Instant::now();
    assert!(q.put_timeout(2, 0.2).is_err());
    assert!(start.elapsed() >= Duration::from_millis(200));
}

#[test]
fn a_waiting_get_is_woken_by_a_put_from_another_thread() {
    let q: SimpleQueue<&str> = SimpleQueue::new();
    let (ready_tx, ready_rx) = mpsc::channel();
    let consumer = {
        let q = q.clone();
        thread::spawn(move || {
            ready_tx.send(()).unwrap();
            q.get_timeout(60.0)
        })
    };
    ready_rx.recv().unwrap();
    q.put("hello");
    assert_eq!(consumer.join().unwrap(), Ok("hello"));
}

#[test]
fn a_full_put_is_woken_by_a_get_and_close_wakes_waiting_consumers() {
    let q: Queue<u32> = Queue::with_maxsize(1);
    q.put(1);
    let producer = {
        let q = q.clone();
        thread::spawn(move || q.put(2))
    };
    assert_eq!(q.get(), 1);
    producer.join().unwrap();
    assert_eq!(q.get(), 2);

    let waiting: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || q.get_timeout(60.0))
        })
        .collect();
    q.close();
    for w in waiting {
        assert!(w.join().unwrap().unwrap_err().closed());
    }
    let err = std::panic::catch_unwind(AssertUnwindSafe(|| q.put(3))).unwrap_err();
    assert!(err.downcast_ref::<String>().unwrap().contains("closed"));
}

/// The stop button: inside the kernel a thread blocked in `get` (or `put`, `join`) must end with
/// the "Interrupted" panic. The helper below runs in a fresh copy of this program that sees a
/// kernel control page; it un-presses the button, blocks threads, then presses it.
#[test]
fn stop_button_ends_threads_blocked_in_the_queues() {
    let (status, text) = common::run_with_stop_button_pressed("blocked_threads_end_when_interrupted");
    assert!(status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
#[ignore = "run by stop_button_ends_threads_blocked_in_the_queues, with a kernel control page"]
fn blocked_threads_end_when_interrupted() {
    let page = multiproc::kernel_link::control_page().expect("a control page");
    let pressed = page.interrupt_cell.load(Ordering::SeqCst);
    page.interrupt_cell.store(0, Ordering::SeqCst); // not pressed yet

    let q: Queue<u32> = Queue::with_maxsize(1);
    let full: LifoQueue<u32> = LifoQueue::with_maxsize(1);
    full.put(0);
    let pending: PriorityQueue<u32> = PriorityQueue::new();
    pending.put(0);
    let s: SimpleQueue<u32> = SimpleQueue::new();
    let (started_tx, started_rx) = mpsc::channel();
    let mut waiters = Vec::new();
    macro_rules! blocked {
        ($what:literal, $call:expr) => {{
            let started = started_tx.clone();
            waiters.push(($what, thread::spawn(move || {
                started.send(()).unwrap();
                $call;
            })));
        }};
    }
    { let q = q.clone(); blocked!("thread_queue::Queue::get", q.get()); }
    { let q = full.clone(); blocked!("thread_queue::LifoQueue::put", q.put(1)); }
    { let q = pending.clone(); blocked!("thread_queue::PriorityQueue::join", q.join()); }
    { let q = s.clone(); blocked!("thread_queue::SimpleQueue::get", q.get()); }
    { let q = q.clone(); blocked!("thread_queue::Queue::get_timeout", { let _ = q.get_timeout(600.0); }); }
    for _ in 0..waiters.len() {
        started_rx.recv().unwrap();
    }
    // The threads are in (or about to enter) their waits; none can finish on its own.
    assert!(waiters.iter().all(|(_, h)| !h.is_finished()));
    page.interrupt_cell.store(pressed, Ordering::SeqCst); // the stop button
    for (what, h) in waiters {
        let err = h.join().expect_err(what);
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.starts_with(multiproc::sys::wait::INTERRUPTED_MESSAGE), "{what}: {msg}");
        assert!(msg.contains(what), "{what}: {msg}");
    }
    // The queues survive the panics (poisoned mutexes are taken as they are).
    page.interrupt_cell.store(0, Ordering::SeqCst);
    q.put(7);
    assert_eq!(q.get(), 7);
}
