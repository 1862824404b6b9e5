//! Raw baselines with no support-crate code in the path: a bare `fork` + `waitpid`, and 8-byte
//! messages through a bare pipe. They show the floor the operating system sets under `Process`
//! and `Queue` on this machine (Python's `os.pipe` figure is the matching baseline).

mod common;

use common::*;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork, pipe, read, write};

fn main() {
    fork_waitpid();
    pipe_8b();
}

/// fork() a child that `_exit`s at once, and reap it.
fn fork_waitpid() {
    let n: u64 = if quick() { 300 } else { 1000 };
    let runs = repeat(|| {
        time(|| {
            for _ in 0..n {
                // SAFETY: the child only calls the async-signal-safe `_exit`.
                match unsafe { fork() }.expect("fork") {
                    ForkResult::Child => unsafe { libc::_exit(0) },
                    ForkResult::Parent { child } => {
                        waitpid(child, None).expect("waitpid");
                    }
                }
            }
        })
    });
    emit(
        "fork_waitpid_raw",
        &us_per_op(&runs, n),
        "µs/process",
        Better::Lower,
        &format!("{n} × bare fork() + _exit(0) + waitpid (no support crate)"),
    );
}

/// A child writes `n` 8-byte messages into a pipe; the parent reads 8 bytes at a time.
fn pipe_8b() {
    let n: u64 = if quick() { 200_000 } else { 1_000_000 };
    let runs = repeat(|| {
        let (r, w) = pipe().expect("pipe");
        time(|| {
            // SAFETY: the child only writes to a pipe and `_exit`s.
            match unsafe { fork() }.expect("fork") {
                ForkResult::Child => {
                    drop(r);
                    for i in 0..n {
                        let _ = write(&w, &i.to_le_bytes());
                    }
                    unsafe { libc::_exit(0) }
                }
                ForkResult::Parent { child } => {
                    drop(w);
                    let mut got = 0u64;
                    let mut buf = [0u8; 8];
                    // A pipe is a byte stream: a read may return part of a message.
                    while got < n * 8 {
                        match read(&r, &mut buf) {
                            Ok(0) => break,
                            Ok(k) => got += k as u64,
                            Err(nix::errno::Errno::EINTR) => {}
                            Err(e) => panic!("read: {e}"),
                        }
                    }
                    waitpid(child, None).expect("waitpid");
                    assert_eq!(got, n * 8, "short read");
                }
            }
        })
    });
    emit(
        "pipe_raw_8b",
        &per_second(&runs, n),
        "messages/s",
        Better::Higher,
        &format!(
            "child write()s {n} 8-byte messages, parent read(fd, 8)s them (nix, no support crate)"
        ),
    );
}
