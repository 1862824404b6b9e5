//! How fast is `multiproc::lock::Lock`? Prints nanoseconds per uncontended acquire+release and
//! per increment of a shared `Value` when two processes fight over its lock.
//!
//! Run with: `cargo run --release -p multiproc --example lock_speed`

use std::hint::black_box;
use std::time::Instant;

use multiproc::lock::Lock;
use multiproc::shared_memory::Value;

fn per_op_ns(start: Instant, ops: u64) -> f64 {
    start.elapsed().as_nanos() as f64 / ops as f64
}

fn main() {
    const UNCONTENDED: u64 = 20_000_000;
    let lock = Lock::new();
    lock.acquire(); // warm up (computes the cached process identity once)
    lock.release();
    let start = Instant::now();
    for _ in 0..UNCONTENDED {
        black_box(&lock).acquire();
        black_box(&lock).release();
    }
    println!("uncontended Lock acquire+release: {:.1} ns", per_op_ns(start, UNCONTENDED));

    let start = Instant::now();
    for _ in 0..UNCONTENDED {
        drop(black_box(&lock).lock());
    }
    println!("uncontended Lock guard (lock + drop): {:.1} ns", per_op_ns(start, UNCONTENDED));

    for procs in [1u64, 2] {
        const EACH: u64 = 2_000_000;
        let counter = Value::new(0u64);
        let start = Instant::now();
        let children: Vec<_> = (0..procs)
            .map(|_| {
                // SAFETY: the child only increments the shared counter and leaves with _exit.
                match unsafe { nix::unistd::fork() }.expect("fork") {
                    nix::unistd::ForkResult::Child => {
                        for _ in 0..EACH {
                            *counter.lock() += 1;
                        }
                        unsafe { libc::_exit(0) }
                    }
                    nix::unistd::ForkResult::Parent { child } => child,
                }
            })
            .collect();
        for child in children {
            nix::sys::wait::waitpid(child, None).expect("waitpid");
        }
        assert_eq!(counter.get(), procs * EACH);
        println!(
            "{procs} process(es) incrementing a Value under its lock: {:.1} ns per increment",
            per_op_ns(start, procs * EACH)
        );
    }
}
