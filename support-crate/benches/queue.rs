//! Small integers through a `Queue` from a child process to its parent, beside Python's
//! `multiprocessing.Queue` doing the same.

mod common;

use common::*;
use multiproc::prelude::*;

fn main() {
    let n: u64 = if quick() { 200_000 } else { 1_000_000 };
    let runs = repeat(|| {
        let q: Queue<u64> = Queue::new();
        let tx = q.clone();
        let mut p = Process::new(move || {
            for i in 0..n {
                tx.put(i);
            }
        });
        let mut sum = 0u64;
        let elapsed = time(|| {
            p.start();
            for _ in 0..n {
                sum += q.get();
            }
        });
        p.join();
        assert_eq!(sum, n * (n - 1) / 2, "lost or duplicated items");
        elapsed
    });
    emit(
        "queue_ints",
        &per_second(&runs, n),
        "items/s",
        Better::Higher,
        &format!("child puts 0..{n} (u64), parent gets all (includes the child's start)"),
    );
}
