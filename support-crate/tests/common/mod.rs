//! Helpers shared by the support crate's integration tests (each test file includes this
//! module with `mod common;`).
//!
//! The lock, queue, pipe and shared-memory tests fork with these plain helpers rather than
//! `Process`, so that each of those tests depends only on the thing it tests.
#![allow(dead_code)]

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

// `spawn` runs `f` in a child that always leaves through `_exit` (status 0, or 101 if `f` panicked) and
// `join` waits for it and returns its exit status (negative signal number if killed).
pub mod forked {
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, Pid, fork};

    pub fn spawn(f: impl FnOnce()) -> Pid {
        // SAFETY: the child runs only `f` and leaves through `_exit`, never returning into the
        // test harness.
        match unsafe { fork() }.expect("fork failed") {
            ForkResult::Child => {
                // Die with the test process, so a failing test leaves no blocked children.
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
                let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
                unsafe { libc::_exit(if ok { 0 } else { 101 }) }
            }
            ForkResult::Parent { child } => child,
        }
    }

    pub fn join(pid: Pid) -> i32 {
        match waitpid(pid, None).expect("waitpid failed") {
            WaitStatus::Exited(_, code) => code,
            WaitStatus::Signaled(_, sig, _) => -(sig as i32),
            other => panic!("unexpected wait status {other:?}"),
        }
    }

    /// Spawns `n` children running `f(i)` and asserts they all exit with status 0.
    pub fn run_all(n: usize, f: impl Fn(usize) + Clone) {
        let pids: Vec<Pid> = (0..n).map(|i| { let f = f.clone(); spawn(move || f(i)) }).collect();
        for pid in pids {
            assert_eq!(join(pid), 0, "child {pid} failed");
        }
    }
}

/// Forks in parallel test threads would hand each other's children copies of descriptors and
/// locks; one test at a time keeps every test's processes its own.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` in a forked child that exits with 0, or 1 if `f` panicked.
pub fn child(f: impl FnOnce()) -> Pid {
    // SAFETY: the child runs `f` and leaves through `_exit`, never returning into the harness.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = match std::panic::catch_unwind(AssertUnwindSafe(f)) {
                Ok(()) => 0,
                Err(_) => 1,
            };
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    }
}

/// Waits for `pid` and returns its exit status (panics if a signal killed it).
pub fn exit_code(pid: Pid) -> i32 {
    match waitpid(pid, None).expect("waitpid") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("child {pid} ended with {other:?}"),
    }
}

