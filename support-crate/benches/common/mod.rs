//! Shared helpers for the bench binaries (plain `harness = false` programs).
//!
//! Why hand-written rather than criterion: the figures must sit beside Python's in one table made
//! by `benchmarks/run.py`, so each binary simply times a fixed amount of work with
//! `std::time::Instant`, repeats it, and prints the median as one `BENCH {json}` line, the same
//! format `benchmarks/py_baselines.py` prints. That keeps the Rust and Python measurements shaped
//! alike (same work per repetition, same statistic) and adds no dependency.

#![allow(dead_code)]

use std::time::{Duration, Instant};

/// True for a smoke run with fewer iterations: `--quick` on the command line or
/// `MULTIPROC_BENCH_QUICK=1` in the environment (run.py uses the variable, because arguments
/// after `cargo bench --` also reach the library's libtest harness, which rejects them).
pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
        || std::env::var("MULTIPROC_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Repetitions of each measurement (the median is reported).
pub fn reps() -> usize {
    if quick() { 3 } else { 5 }
}

/// Runs `f` `reps()` times and returns each run's elapsed time.
pub fn repeat(mut f: impl FnMut() -> Duration) -> Vec<Duration> {
    (0..reps()).map(|_| f()).collect()
}

/// Times one call of `f`.
pub fn time(f: impl FnOnce()) -> Duration {
    let t0 = Instant::now();
    f();
    t0.elapsed()
}

/// Starts every process of `procs`, waits for all of them, and returns how long that took
/// (the two-process counter benchmarks); every process must have exited with status 0.
pub fn start_and_join_all(procs: &mut [multiproc::prelude::Process]) -> Duration {
    let elapsed = time(|| {
        for p in procs.iter_mut() {
            p.start();
        }
        for p in procs.iter() {
            p.join();
        }
    });
    for p in procs.iter() {
        assert_eq!(p.exitcode(), Some(0), "an incrementing process failed");
    }
    elapsed
}

/// Which direction is good for a figure.
#[derive(Clone, Copy)]
pub enum Better {
    Lower,
    Higher,
}

/// Prints one result line: the median of `values` plus min/max, in the format run.py parses.
pub fn emit(key: &str, values: &[f64], unit: &str, better: Better, note: &str) {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    let line = serde_json::json!({
        "key": key,
        "impl": "rust",
        "value": median,
        "min": sorted[0],
        "max": sorted[n - 1],
        "reps": n,
        "unit": unit,
        "better": match better { Better::Lower => "lower", Better::Higher => "higher" },
        "note": note,
    });
    println!("BENCH {line}");
}

/// Per-operation nanoseconds for each run of `ops` operations.
pub fn ns_per_op(runs: &[Duration], ops: u64) -> Vec<f64> {
    runs.iter()
        .map(|d| d.as_nanos() as f64 / ops as f64)
        .collect()
}

/// Per-operation microseconds for each run of `ops` operations.
pub fn us_per_op(runs: &[Duration], ops: u64) -> Vec<f64> {
    runs.iter()
        .map(|d| d.as_nanos() as f64 / 1e3 / ops as f64)
        .collect()
}

/// Operations per second for each run of `ops` operations.
pub fn per_second(runs: &[Duration], ops: u64) -> Vec<f64> {
    runs.iter().map(|d| ops as f64 / d.as_secs_f64()).collect()
}
