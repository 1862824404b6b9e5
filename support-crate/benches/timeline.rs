//! What the timeline's recording (`multiproc::sys::timeline`) costs on a lock, a queue and a pipe
//! when it is on, against the same loops with it off, in one run (interleaved repetitions).
//!
//! A log is made here the way the kernel makes it (a memfd in `MULTIPROC_KERNEL_TIMELINE_FD`).
//! Off: the switch is off (one relaxed load and a branch per recording place). On: every lock
//! acquire and release, every put and get, every pipe send (which also numbers the message and
//! carries the number in it) and recv appends one event; each batch stays under the log's
//! size (the log is emptied between batches, outside the timing), so every event is written,
//! none dropped. The cost *off* against the code before the timeline is measured by
//! `benchmarks/wait_records_bench.py --base <commit>` (the lock and queue benches at both).
//!
//! `cargo bench -p multiproc --bench timeline` (add `MULTIPROC_BENCH_QUICK=1` for a smoke run).

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::*;
use multiproc::lock::Lock;
use multiproc::pipe::{Connection, Pipe};
use multiproc::queue::Queue;
use multiproc::sys::timeline;

/// Lock acquire + release per batch: two events each, under the log's 16384 entries.
const LOCK_BATCH: u64 = 8000;
/// Put + get per batch: two events each.
const QUEUE_BATCH: u64 = 8000;

fn set(log: &timeline::Log, on: bool) {
    log.set_on(false);
    log.clear();
    log.set_on(on);
    timeline::before_cell();
    assert_eq!(timeline::on(), on);
}

fn lock_ns(log: &timeline::Log, lock: &Lock, batches: u64, on: bool) -> f64 {
    let mut total = 0.0;
    for _ in 0..batches {
        set(log, on);
        let t = Instant::now();
        for _ in 0..LOCK_BATCH {
            black_box(lock.acquire());
            lock.release();
        }
        total += t.elapsed().as_nanos() as f64;
        if on {
            assert_eq!(log.dropped(), 0);
        }
    }
    total / (batches * LOCK_BATCH) as f64
}

/// Mean ns of `one(i)` over `batches` batches of `QUEUE_BATCH` calls, the log emptied and the
/// switch set before each batch.
fn round_trip_ns(log: &timeline::Log, batches: u64, on: bool, one: impl Fn(u64)) -> f64 {
    let mut total = 0.0;
    for _ in 0..batches {
        set(log, on);
        let t = Instant::now();
        for i in 0..QUEUE_BATCH {
            one(i);
        }
        total += t.elapsed().as_nanos() as f64;
    }
    total / (batches * QUEUE_BATCH) as f64
}

fn queue_ns(log: &timeline::Log, q: &Queue<u64>, batches: u64, on: bool) -> f64 {
    round_trip_ns(log, batches, on, |i| {
        q.put(i);
        black_box(q.get());
    })
}

fn pipe_ns(log: &timeline::Log, (a, b): &(Connection<u64>, Connection<u64>), batches: u64, on: bool) -> f64 {
    round_trip_ns(log, batches, on, |i| {
        a.send(i);
        black_box(b.recv().unwrap());
    })
}

fn main() {
    // SAFETY: a fresh memfd sized as the kernel sizes it, set before anything reads it.
    let fd = unsafe { libc::memfd_create(c"timeline-bench".as_ptr(), 0) };
    assert!(fd >= 0 && unsafe { libc::ftruncate(fd, timeline::LOG_BYTES as libc::off_t) } == 0);
    unsafe { std::env::set_var(timeline::TIMELINE_FD_ENV, fd.to_string()) };
    let log = timeline::log().expect("log");
    let batches: u64 = if quick() { 20 } else { 200 };
    let lock = Lock::new();
    let q: Queue<u64> = Queue::new();
    let pipe = Pipe::new::<u64>();
    let (mut lock_off, mut lock_on, mut queue_off, mut queue_on) = (vec![], vec![], vec![], vec![]);
    let (mut pipe_off, mut pipe_on) = (vec![], vec![]);
    for _ in 0..reps() {
        lock_off.push(lock_ns(&log, &lock, batches, false));
        lock_on.push(lock_ns(&log, &lock, batches, true));
        queue_off.push(queue_ns(&log, &q, batches / 4, false));
        queue_on.push(queue_ns(&log, &q, batches / 4, true));
        pipe_off.push(pipe_ns(&log, &pipe, batches / 10, false));
        pipe_on.push(pipe_ns(&log, &pipe, batches / 10, true));
    }
    let med = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        s[s.len() / 2]
    };
    emit("timeline_lock_off", &lock_off, "ns/acquire+release", Better::Lower, "timeline off");
    emit("timeline_lock_on", &lock_on, "ns/acquire+release", Better::Lower, "timeline on: two events");
    emit("timeline_queue_off", &queue_off, "ns/put+get", Better::Lower, "timeline off");
    emit("timeline_queue_on", &queue_on, "ns/put+get", Better::Lower, "timeline on: two events");
    emit("timeline_pipe_off", &pipe_off, "ns/send+recv", Better::Lower, "timeline off");
    emit("timeline_pipe_on", &pipe_on, "ns/send+recv", Better::Lower, "timeline on: two events, a numbered message");
    let (lf, ln, qf, qn) = (med(&lock_off), med(&lock_on), med(&queue_off), med(&queue_on));
    let (pf, pn) = (med(&pipe_off), med(&pipe_on));
    println!("SUMMARY lock: on {ln:.1} ns vs off {lf:.1} ns per acquire+release: {:.2}x, {:.1} ns per event", ln / lf, (ln - lf) / 2.0);
    println!("SUMMARY queue: on {qn:.1} ns vs off {qf:.1} ns per put+get: {:.2}x, {:.1} ns per event", qn / qf, (qn - qf) / 2.0);
    println!("SUMMARY pipe: on {pn:.1} ns vs off {pf:.1} ns per send+recv: {:.2}x, {:.1} ns per event", pn / pf, (pn - pf) / 2.0);
}
