//! Small integers through a `Queue` from one process to another: prints items per second.
//!
//! Run with `cargo run --release -p multiproc --example queue_speed [items]`
//! (default 2,000,000 items). Python's `multiprocessing.Queue` moves about 225,000 per second
//! on the same 2-core machine.

use std::time::Instant;

use multiproc::queue::Queue;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};

fn main() {
    let items: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    for round in 1..=3 {
        let q: Queue<u64> = Queue::new();
        let start = Instant::now();
        // SAFETY: the child only puts into the queue and leaves through _exit.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                for i in 0..items {
                    q.put(i);
                }
                unsafe { libc::_exit(0) };
            }
            ForkResult::Parent { child } => {
                let mut sum = 0u64;
                for _ in 0..items {
                    sum = sum.wrapping_add(q.get());
                }
                let secs = start.elapsed().as_secs_f64();
                waitpid(child, None).expect("waitpid");
                assert_eq!(sum, items * (items - 1) / 2);
                println!(
                    "round {round}: {items} small ints through a Queue between two processes in {secs:.3} s: {:.0} items/s",
                    items as f64 / secs
                );
            }
        }
    }
}
