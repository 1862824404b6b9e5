//! Queues between real forked processes.
//!
//! The children here are made with a plain `fork` (a small helper below) so that these tests
//! depend only on the queue itself; lessons use `Process`.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use multiproc::queue::{Full, JoinableQueue, Queue, SimpleQueue};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

mod common;
use common::{child, exit_code, serial};

#[test]
fn fifo_order_with_one_producer_and_one_consumer() {
    let _s = serial();
    let q: Queue<u32> = Queue::new();
    let producer = child(|| {
        for i in 0..20_000 {
            q.put(i);
        }
    });
    for i in 0..20_000 {
        assert_eq!(q.get(), i);
    }
    assert_eq!(exit_code(producer), 0);
    assert!(q.empty());
}

#[test]
fn four_producers_two_consumers_move_100_000_items_without_loss_or_duplicates() {
    let _s = serial();
    const PRODUCERS: u64 = 4;
    const PER_PRODUCER: u64 = 25_000;
    let q: Queue<u64> = Queue::with_maxsize(1000);
    let results: Queue<Vec<u64>> = Queue::with_buffer(8 << 20);

    let consumers: Vec<Pid> = (0..2)
        .map(|_| {
            child(|| {
                // Until the parent closes the queue after every producer finished.
                let got: Vec<u64> = q.iter().collect();
                results.put(got);
            })
        })
        .collect();
    let producers: Vec<Pid> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            child(move || {
                for i in 0..PER_PRODUCER {
                    q.put(p * PER_PRODUCER + i);
                }
            })
        })
        .collect();
    for p in producers {
        assert_eq!(exit_code(p), 0);
    }
    q.close();
    let lists = [results.get(), results.get()];
    for c in consumers {
        assert_eq!(exit_code(c), 0);
    }

    let mut seen = HashSet::new();
    for list in &lists {
        // The queue is first-in first-out, so each consumer sees each producer's items in order.
        for p in 0..PRODUCERS {
            let mine: Vec<u64> = list
                .iter()
                .copied()
                .filter(|v| v / PER_PRODUCER == p)
                .collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "producer {p}'s items out of order"
            );
        }
        for &v in list {
            assert!(seen.insert(v), "item {v} delivered twice");
        }
    }
    assert_eq!(seen.len() as u64, PRODUCERS * PER_PRODUCER, "items lost");
    assert!(seen.iter().all(|&v| v < PRODUCERS * PER_PRODUCER));
}

#[test]
fn bounded_queue_blocks_the_producer_and_put_nowait_reports_full() {
    let _s = serial();
    let q: Queue<u32> = Queue::with_maxsize(2);
    let done: Queue<String> = Queue::new();
    let producer = child(|| {
        for i in 1..=5 {
            q.put(i);
        }
        done.put("all five put".to_string());
    });
    assert_eq!(q.get(), 1);
    assert_eq!(q.get(), 2);
    // Item 5 can only go in once at most one item is waiting, i.e. after we take item 3.
    assert!(
        done.empty(),
        "the producer put 5 items into a queue of 2 without waiting"
    );
    assert_eq!(q.get(), 3);
    assert_eq!(q.get(), 4);
    assert_eq!(q.get(), 5);
    assert_eq!(done.get(), "all five put");
    assert_eq!(exit_code(producer), 0);

    q.put(6);
    q.put(7);
    assert!(q.full());
    assert_eq!(q.put_nowait(8), Err(Full(8)));
    let start = Instant::now();
    assert_eq!(q.put_timeout(9, 0.1), Err(Full(9)));
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(q.qsize(), 2);
}

#[test]
fn get_timeout_and_get_nowait_report_empty() {
    let _s = serial();
    let q: Queue<String> = Queue::new();
    assert!(q.get_nowait().is_err());
    let start = Instant::now();
    let err = q.get_timeout(0.1).unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert!(!err.closed());
    // An item put by another process before the timeout ends the wait.
    let producer = child(|| q.put("late".to_string()));
    assert_eq!(q.get_timeout(30.0).unwrap(), "late");
    assert_eq!(exit_code(producer), 0);
}

#[test]
fn close_wakes_a_waiting_consumer_and_refuses_puts() {
    let _s = serial();
    let q: Queue<u8> = Queue::new();
    let answers: Queue<String> = Queue::new();
    let consumer = child(|| {
        let items: Vec<u8> = q.iter().collect();
        answers.put(format!("{items:?}"));
        // `get` on a closed, drained queue panics: this child then exits with 1.
        q.get();
    });
    q.put(1);
    q.put(2);
    q.close();
    assert_eq!(answers.get(), "[1, 2]");
    assert_eq!(exit_code(consumer), 1);
    let put_after_close = std::panic::catch_unwind(|| q.put(3));
    assert!(put_after_close.is_err());
}

#[test]
fn joinable_queue_join_waits_for_every_task_done() {
    let _s = serial();
    let jobs: JoinableQueue<u32> = JoinableQueue::new();
    let log: Queue<String> = Queue::new();
    let worker = child(|| {
        loop {
            let job = jobs.get();
            log.put(format!("processed {job}"));
            jobs.task_done();
        }
    });
    for j in 0..3 {
        jobs.put(j);
    }
    jobs.join();
    // join returned, so all three task_done calls happened, each after its log line.
    assert_eq!(log.qsize(), 3);
    let lines: Vec<String> = (0..3).map(|_| log.get()).collect();
    assert_eq!(lines, ["processed 0", "processed 1", "processed 2"]);
    nix::sys::signal::kill(worker, nix::sys::signal::Signal::SIGKILL).unwrap();
    waitpid(worker, None).unwrap();

    assert!(
        std::panic::catch_unwind(|| jobs.task_done()).is_err(),
        "task_done without an item"
    );
    jobs.put(9);
    assert!(!jobs.join_timeout(0.05));
}

#[test]
fn simple_queue_between_processes() {
    let _s = serial();
    let q: SimpleQueue<(u32, String)> = SimpleQueue::new();
    let producer = child(|| q.put((7, "seven".to_string())));
    assert_eq!(q.get(), (7, "seven".to_string()));
    assert_eq!(exit_code(producer), 0);
    assert!(q.empty());
}

#[test]
fn items_larger_than_the_buffer_are_refused_clearly() {
    let _s = serial();
    let q: Queue<Vec<u8>> = Queue::with_buffer(1024);
    let err = std::panic::catch_unwind(|| q.put(vec![0; 4096])).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("Queue::with_buffer"), "{msg}");
    // Items that fit still travel, also when they wrap around the end of the buffer.
    for round in 0..50u8 {
        q.put(vec![round; 300]);
        q.put(vec![round; 300]);
        assert_eq!(q.get(), vec![round; 300]);
        assert_eq!(q.get(), vec![round; 300]);
    }
}

#[test]
fn a_consumer_killed_while_waiting_does_not_stop_the_others() {
    let _s = serial();
    let q: Queue<u32> = Queue::new();
    let victim = child(|| {
        q.get();
    });
    nix::sys::signal::kill(victim, nix::sys::signal::Signal::SIGKILL).unwrap();
    waitpid(victim, None).unwrap();
    let producer = child(|| q.put(5));
    assert_eq!(q.get(), 5);
    assert_eq!(exit_code(producer), 0);
}

#[test]
fn items_of_mixed_sizes_through_a_tiny_buffer_arrive_intact() {
    let _s = serial();
    // A 64-byte buffer: items and their length prefixes wrap around its end all the time, and
    // producers and consumers keep waiting for each other.
    let q: Queue<(u32, Vec<u8>)> = Queue::with_buffer(64);
    let results: Queue<Vec<u32>> = Queue::with_buffer(1 << 20);
    let consumers: Vec<Pid> = (0..2)
        .map(|_| {
            child(|| {
                let mut ids = Vec::new();
                for (id, bytes) in q.iter() {
                    assert_eq!(
                        bytes.len(),
                        (id % 40) as usize,
                        "item {id} has the wrong length"
                    );
                    assert!(
                        bytes.iter().all(|&b| b == id as u8),
                        "item {id} was corrupted"
                    );
                    ids.push(id);
                }
                results.put(ids);
            })
        })
        .collect();
    let producers: Vec<Pid> = (0..3u32)
        .map(|p| {
            let q = q.clone();
            child(move || {
                for i in 0..5000u32 {
                    let id = p * 5000 + i;
                    q.put((id, vec![id as u8; (id % 40) as usize]));
                }
            })
        })
        .collect();
    for p in producers {
        assert_eq!(exit_code(p), 0);
    }
    q.close();
    let mut all: Vec<u32> = results.get();
    all.extend(results.get());
    for c in consumers {
        assert_eq!(exit_code(c), 0);
    }
    all.sort_unstable();
    assert_eq!(all, (0..15_000).collect::<Vec<u32>>());
}

/// The notebook's stop button: inside the kernel, every blocking queue and pipe call must end
/// with the "Interrupted" panic instead of waiting forever. This test plays the kernel: it makes
/// the control page (already marked "interrupted") and the kernel's socket, then runs
/// [`blocking_calls_end_when_interrupted`] in a fresh copy of this test program that sees them.
#[test]
fn stop_button_ends_every_blocking_wait() {
    let _s = serial();
    let (status, text) = common::run_with_stop_button_pressed("blocking_calls_end_when_interrupted");
    assert!(status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
#[ignore = "run by stop_button_ends_every_blocking_wait, with a kernel control page"]
fn blocking_calls_end_when_interrupted() {
    assert!(
        multiproc::sys::wait::interrupted(),
        "the control page says 'interrupted'"
    );
    fn ends_with_interrupt(what: &str, f: impl FnOnce()) {
        let err = std::panic::catch_unwind(AssertUnwindSafe(f)).expect_err(what);
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            msg.starts_with(multiproc::sys::wait::INTERRUPTED_MESSAGE),
            "{what}: {msg}"
        );
        assert!(msg.contains(what), "{what}: {msg}");
    }
    let q: Queue<u32> = Queue::with_maxsize(1);
    ends_with_interrupt("Queue::get", || {
        q.get();
    });
    q.put(1);
    ends_with_interrupt("Queue::put", || q.put(2));
    let jq: JoinableQueue<u32> = JoinableQueue::new();
    jq.put(1);
    ends_with_interrupt("JoinableQueue::join", || jq.join());
    let (a, _b) = multiproc::pipe::Pipe::new::<u32>();
    ends_with_interrupt("Connection::recv", || {
        let _ = a.recv();
    });
    // Waits with a deadline end the same way.
    ends_with_interrupt("Queue::get_timeout", || {
        let _ = q.get_timeout(60.0);
        let _ = q.get_timeout(60.0);
    });
    ends_with_interrupt("Connection::poll", || {
        a.poll(60.0);
    });
}
