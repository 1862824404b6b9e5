//! Lock and RLock across real forked processes.

use std::time::{Duration, Instant};

use multiproc::lock::{Lock, LockError, RLock};
use multiproc::semaphore::Semaphore;
use multiproc::shared_memory::{RawValue, Value};

mod common;
use common::forked;

#[test]
fn lock_gives_mutual_exclusion_across_processes() {
    const N: usize = 4;
    const EACH: u64 = 10_000;
    let lock = Lock::new();
    let total = RawValue::new(0u64);
    forked::run_all(N, |_| {
        for _ in 0..EACH {
            lock.acquire();
            total.set(total.get() + 1); // a racy read-modify-write, made safe by the lock
            lock.release();
        }
    });
    assert_eq!(total.get(), N as u64 * EACH);
    assert!(!lock.is_locked());
}

#[test]
fn guard_gives_mutual_exclusion_across_processes() {
    let lock = Lock::new();
    let total = RawValue::new(0i64);
    forked::run_all(3, |_| {
        for _ in 0..10_000 {
            let _g = lock.lock();
            total.set(total.get() + 1);
        }
    });
    assert_eq!(total.get(), 30_000);
}

#[test]
fn a_lock_held_in_one_process_blocks_another() {
    let lock = Lock::new();
    let held = Semaphore::new(0);
    let may_release = Semaphore::new(0);
    let child = forked::spawn(|| {
        lock.acquire();
        held.release();
        may_release.acquire();
        lock.release();
    });
    held.acquire();
    assert!(lock.is_locked());
    assert!(!lock.try_acquire());
    assert!(lock.try_lock().is_none());
    assert_eq!(lock.holder(), Some(child.as_raw() as u32));
    let start = Instant::now();
    assert!(!lock.acquire_timeout(0.05));
    assert!(start.elapsed() >= Duration::from_millis(50));
    may_release.release();
    assert!(lock.acquire_timeout(10.0));
    lock.release();
    assert_eq!(forked::join(child), 0);
}

#[test]
fn a_blocked_acquire_is_woken_by_release_in_another_process() {
    let lock = Lock::new();
    let got_it = RawValue::new(0u32);
    lock.acquire();
    let child = forked::spawn(|| {
        lock.acquire(); // sleeps until the parent releases
        got_it.set(1);
        lock.release();
    });
    assert_eq!(got_it.get(), 0);
    lock.release();
    assert_eq!(forked::join(child), 0);
    assert_eq!(got_it.get(), 1);
}

#[test]
fn any_process_may_release() {
    let lock = Lock::new();
    lock.acquire();
    let child = forked::spawn(|| lock.release());
    assert_eq!(forked::join(child), 0);
    assert!(!lock.is_locked());
}

#[test]
fn release_of_unlocked_lock_panics() {
    let lock = Lock::new();
    let err = std::panic::catch_unwind(|| lock.release()).unwrap_err();
    assert_eq!(err.downcast_ref::<String>().map(String::as_str), Some("release of an unlocked Lock"));
}

#[test]
fn dead_holder_is_reported_not_waited_for() {
    let lock = Lock::new();
    let child = forked::spawn(|| {
        lock.acquire();
        unsafe { libc::_exit(0) }; // dies holding the lock
    });
    assert_eq!(forked::join(child), 0);
    let pid = child.as_raw() as u32;
    assert_eq!(lock.acquire_timeout_checked(10.0), Err(LockError::HolderDied { pid }));
    assert_eq!(lock.acquire_checked(), Err(LockError::HolderDied { pid }));
    let err = std::panic::catch_unwind(|| lock.acquire()).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert_eq!(msg, &format!("Lock is held by process {pid}, which has died without releasing it"));
}

#[test]
fn dead_holder_is_reported_even_before_it_is_reaped() {
    let lock = Lock::new();
    let child = forked::spawn(|| {
        lock.acquire();
        unsafe { libc::_exit(0) };
    });
    // Wait until the child has exited but leave it a zombie (WNOWAIT): kill(pid, 0) still
    // succeeds for a zombie, so the lock must look at the process state too.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::waitid(libc::P_PID, child.as_raw() as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT) };
    assert_eq!(r, 0);
    let pid = child.as_raw() as u32;
    assert_eq!(lock.acquire_timeout_checked(10.0), Err(LockError::HolderDied { pid }));
    assert_eq!(forked::join(child), 0);
}

#[test]
fn a_holder_killed_by_a_signal_is_reported() {
    let lock = Lock::new();
    let held = Semaphore::new(0);
    let child = forked::spawn(|| {
        lock.acquire();
        held.release();
        Semaphore::new(0).acquire(); // blocks forever
    });
    held.acquire();
    nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL).unwrap();
    assert_eq!(forked::join(child), -9);
    assert_eq!(lock.acquire_checked(), Err(LockError::HolderDied { pid: child.as_raw() as u32 }));
}

#[test]
fn waiters_in_other_processes_see_the_dead_holder() {
    let lock = Lock::new();
    let held = Semaphore::new(0);
    let may_die = Semaphore::new(0);
    let holder = forked::spawn(|| {
        lock.acquire();
        held.release();
        may_die.acquire();
        unsafe { libc::_exit(0) };
    });
    held.acquire();
    let holder_pid = holder.as_raw() as u32;
    // The waiter starts waiting while the holder is alive, and must notice its death.
    let waiter = forked::spawn(move || {
        assert_eq!(lock.acquire_timeout_checked(10.0), Err(LockError::HolderDied { pid: holder_pid }));
    });
    may_die.release();
    assert_eq!(forked::join(holder), 0);
    assert_eq!(forked::join(waiter), 0);
}

#[test]
fn value_lock_counts_exactly() {
    let v = Value::new(0u64);
    forked::run_all(4, |_| {
        for _ in 0..10_000 {
            *v.lock() += 1;
        }
    });
    assert_eq!(v.get(), 40_000);
}

#[test]
fn rlock_is_reentrant_and_excludes_other_processes() {
    let r = RLock::new();
    assert!(r.acquire());
    assert!(r.acquire());
    assert_eq!(r.count(), 2);
    let child = forked::spawn(|| {
        assert!(!r.try_acquire());
        assert!(!r.acquire_timeout(0.02));
        // Not the owner: release must refuse.
        assert!(std::panic::catch_unwind(|| r.release()).is_err());
    });
    assert_eq!(forked::join(child), 0);
    r.release();
    assert_eq!(r.count(), 1);
    r.release();
    assert_eq!(r.count(), 0);
    let child = forked::spawn(|| {
        let _a = r.lock();
        let _b = r.lock();
        assert_eq!(r.count(), 2);
    });
    assert_eq!(forked::join(child), 0);
    assert_eq!(r.count(), 0);
}

#[test]
fn rlock_excludes_other_threads_of_the_same_process() {
    let r = RLock::new();
    let _g = r.lock();
    let r2 = r.clone();
    let got = std::thread::spawn(move || r2.try_acquire()).join().unwrap();
    assert!(!got);
}

#[test]
fn rlock_counts_exactly_across_processes() {
    let r = RLock::new();
    let total = RawValue::new(0u64);
    forked::run_all(3, |_| {
        for _ in 0..5_000 {
            let _a = r.lock();
            let _b = r.lock();
            total.set(total.get() + 1);
        }
    });
    assert_eq!(total.get(), 15_000);
}

#[test]
fn process_killed_while_holding_the_lock() {
    use multiproc::event::Event;
    use multiproc::process::Process;
    let lock = Lock::new();
    let held = Semaphore::new(0);
    let (l, h) = (lock.clone(), held.clone());
    let mut p = Process::new(move || {
        let _g = l.lock();
        h.release();
        Event::new().wait(); // never set: waits until killed
    });
    p.start();
    held.acquire();
    p.kill();
    p.join();
    assert_eq!(p.exitcode(), Some(-9));
    let pid = p.pid().unwrap() as u32;
    assert_eq!(lock.acquire_checked(), Err(LockError::HolderDied { pid }));
}
