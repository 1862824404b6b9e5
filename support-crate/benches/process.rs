//! `Process` start + join, beside Python's fork-context `Process(target=noop).start(); join()`.

mod common;

use common::*;
use multiproc::prelude::*;

fn main() {
    let n: u64 = if quick() { 300 } else { 1000 };
    let runs = repeat(|| {
        time(|| {
            for _ in 0..n {
                let mut p = Process::new(|| {});
                p.start();
                p.join();
            }
        })
    });
    emit(
        "process_start_join",
        &us_per_op(&runs, n),
        "µs/process",
        Better::Lower,
        &format!("{n} × Process::new(|| {{}}).start(); join()"),
    );
}
