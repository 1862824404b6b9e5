//! Two processes incrementing a shared `Value` under its own lock, beside Python's
//! `with v.get_lock(): v.value += 1`.

mod common;

use common::*;
use multiproc::prelude::*;

fn main() {
    let n: u64 = if quick() { 200_000 } else { 1_000_000 };
    let runs = repeat(|| {
        let v = Value::new(0u64);
        let mut procs: Vec<Process> = (0..2)
            .map(|_| {
                let v = v.clone();
                Process::new(move || {
                    for _ in 0..n {
                        *v.lock() += 1;
                    }
                })
            })
            .collect();
        let elapsed = start_and_join_all(&mut procs);
        assert_eq!(v.get(), 2 * n, "lost increments");
        elapsed
    });
    emit(
        "value_lock_2proc",
        &ns_per_op(&runs, 2 * n),
        "ns/increment",
        Better::Lower,
        &format!("2 processes × {n} × (*v.lock() += 1) on a Value<u64>"),
    );
}
