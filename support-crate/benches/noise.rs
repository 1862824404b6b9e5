//! What the schedule-noise points (`multiproc::sys::perturb`, used by `Explore::seed`) cost.
//!
//! Measured in one run, so the figures are ratios against a baseline timed beside them:
//! - off: `Lock::acquire` (which passes one noise point) against `Lock::try_acquire` (the same
//!   fast path without the point), and a bare `perturb::point()` against a queue `put` + `get`
//!   (which pass two points);
//! - on: the same `acquire` loop inside an exploration run with a seed, against the off loop.
//!
//! `cargo bench -p multiproc --bench noise` (add `MULTIPROC_BENCH_QUICK=1` for a smoke run).

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::*;
use multiproc::prelude::*;
use multiproc::sys::perturb;

fn lock_loop(lock: &Lock, n: u64, with_point: bool) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        if with_point {
            black_box(lock.acquire());
        } else {
            black_box(lock.try_acquire());
        }
        lock.release();
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let n: u64 = if quick() { 3_000_000 } else { 20_000_000 };
    let lock = Lock::new();
    let mut try_ns = Vec::new();
    let mut acquire_ns = Vec::new();
    let mut point_ns = Vec::new();
    for _ in 0..reps() {
        // Interleaved, so a slow moment of the machine hits both sides.
        try_ns.push(lock_loop(&lock, n, false));
        acquire_ns.push(lock_loop(&lock, n, true));
        let t = Instant::now();
        for _ in 0..n {
            perturb::point();
            black_box(());
        }
        point_ns.push(t.elapsed().as_nanos() as f64 / n as f64);
    }
    let qn: u64 = n / 20;
    let q: Queue<u64> = Queue::new();
    let queue_ns: Vec<f64> = (0..reps())
        .map(|_| {
            let t = Instant::now();
            for i in 0..qn {
                q.put(i);
                black_box(q.get());
            }
            t.elapsed().as_nanos() as f64 / qn as f64
        })
        .collect();
    let on_n = n / 100;
    let on_ns: Vec<f64> = (0..reps())
        .map(|r| {
            let outcomes = Explore::runs(1).seed(r as u64).quiet().run(move || lock_loop(&Lock::new(), on_n, true));
            outcomes.outcomes()[0].text().parse::<f64>().expect("the run returns its ns per acquire")
        })
        .collect();
    let med = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        s[s.len() / 2]
    };
    emit("noise_lock_try_acquire", &try_ns, "ns/try_acquire+release", Better::Lower, "baseline: the fast path without a noise point");
    emit("noise_lock_acquire_off", &acquire_ns, "ns/acquire+release", Better::Lower, "one noise point, noise off");
    emit("noise_point_off", &point_ns, "ns/point", Better::Lower, "a bare perturb::point(), noise off");
    emit("noise_queue_put_get", &queue_ns, "ns/put+get", Better::Lower, "one process, put then get (two noise points, off)");
    emit("noise_lock_acquire_on", &on_ns, "ns/acquire+release", Better::Lower, "one noise point, noise on (Explore seed)");
    let (t, a, p, qg, on) = (med(&try_ns), med(&acquire_ns), med(&point_ns), med(&queue_ns), med(&on_ns));
    println!("SUMMARY lock: acquire (point, off) {a:.2} ns vs try_acquire {t:.2} ns: {:+.1}%", 100.0 * (a - t) / t);
    println!("SUMMARY queue: 2 points {:.2} ns of put+get {qg:.1} ns: {:.2}%", 2.0 * p, 100.0 * 2.0 * p / qg);
    println!("SUMMARY on: acquire with noise {on:.0} ns, {:.0}× the off cost", on / a);
}
