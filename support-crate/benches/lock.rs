//! `Lock` uncontended (one process) and contended (two processes incrementing a shared counter
//! under it), beside Python's `Lock` and `Value` doing the same.

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use multiproc::prelude::*;
use multiproc::sys::shm::Shared;

fn main() {
    uncontended();
    uncontended_guard();
    contended_counter();
}

/// `acquire(); release()` in one process: the futex fast path, no system call.
fn uncontended() {
    let n: u64 = if quick() { 3_000_000 } else { 20_000_000 };
    let lock = Lock::new();
    let runs = repeat(|| {
        time(|| {
            for _ in 0..n {
                black_box(lock.acquire());
                lock.release();
            }
        })
    });
    emit(
        "lock_uncontended",
        &ns_per_op(&runs, n),
        "ns/acquire+release",
        Better::Lower,
        &format!("{n} × acquire(); release()"),
    );
}

/// The RAII form a Rust lesson prefers: `let _g = lock.lock();`.
fn uncontended_guard() {
    let n: u64 = if quick() { 3_000_000 } else { 20_000_000 };
    let lock = Lock::new();
    let runs = repeat(|| {
        time(|| {
            for _ in 0..n {
                let guard = lock.lock();
                black_box(&guard);
                drop(guard);
            }
        })
    });
    emit(
        "lock_uncontended_guard",
        &ns_per_op(&runs, n),
        "ns/lock+drop",
        Better::Lower,
        &format!("{n} × drop(lock.lock())"),
    );
}

/// Two processes each add 1 to a shared counter `n` times, holding the lock for each increment.
/// The counter is a plain load + store (not an atomic add), so only the lock keeps the total
/// right, as with Python's `v.value += 1` under `v.get_lock()`.
fn contended_counter() {
    let n: u64 = if quick() { 200_000 } else { 1_000_000 };
    let runs = repeat(|| {
        let lock = Lock::new();
        let counter = Shared::new(AtomicU64::new(0)).expect("shared counter");
        let mut procs: Vec<Process> = (0..2)
            .map(|_| {
                let (lock, counter) = (lock.clone(), counter.clone());
                Process::new(move || {
                    for _ in 0..n {
                        let _g = lock.lock();
                        let v = counter.load(Ordering::Relaxed);
                        counter.store(v + 1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        let elapsed = start_and_join_all(&mut procs);
        assert_eq!(counter.load(Ordering::Relaxed), 2 * n, "lost increments");
        elapsed
    });
    emit(
        "lock_counter_2proc",
        &ns_per_op(&runs, 2 * n),
        "ns/increment",
        Better::Lower,
        &format!("2 processes × {n} × (lock; load; store; unlock) on a MAP_SHARED counter"),
    );
}
