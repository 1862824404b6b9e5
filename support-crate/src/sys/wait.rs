//! Blocking that the notebook's stop button can end.
//!
//! Every blocking call in this crate (join, acquire, get, recv, sleep, …) waits through the
//! functions here. They sleep in short slices and, between slices, look at the kernel's
//! [`ControlPage`](crate::kernel_link::ControlPage). When the student presses the stop button
//! the kernel marks the running cell as interrupted, and the waiting call panics with a message
//! that says where it was waiting. evcxr catches that panic, so variables from earlier cells
//! survive. Outside the kernel there is no page and the waits simply block.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::AtomicU32;
use std::sync::{Condvar, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::futex::{self, Woken};

/// Longest single sleep between two looks at the stop button.
pub const SLICE: Duration = Duration::from_millis(50);

/// Start of the panic message raised when the stop button ends a wait (tests match on it).
pub const INTERRUPTED_MESSAGE: &str = "Interrupted: the stop button was pressed";

/// True when the kernel asked the running cell to stop.
pub fn interrupted() -> bool {
    crate::kernel_link::control_page().is_some_and(|p| p.interrupted())
}

/// Panics with a clear message if the stop button was pressed. `what` names the blocking call.
#[track_caller]
pub fn check(what: &str) {
    if interrupted() {
        panic!("{INTERRUPTED_MESSAGE} while this cell was waiting in {what}.");
    }
}

fn slice_until(deadline: Option<Instant>) -> Option<Duration> {
    let slice = if crate::kernel_link::control_page().is_some() { Some(SLICE) } else { None };
    match (futex::remaining(deadline), slice) {
        (Some(left), Some(s)) => Some(left.min(s)),
        (Some(left), None) => Some(left),
        (None, s) => s,
    }
}

/// Sleeps while `*word == expected` until woken or `deadline`. Returns `TimedOut` only when
/// the deadline passed; `Maybe` means "look at the word again".
#[track_caller]
pub fn futex_wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>, what: &str) -> Woken {
    loop {
        check(what);
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Woken::TimedOut;
        }
        let slice = slice_until(deadline);
        match futex::wait(word, expected, slice) {
            Woken::Maybe => return Woken::Maybe,
            Woken::TimedOut => continue,
        }
    }
}

/// Waits until `fd` is readable (or hung up). Returns false if `deadline` passed first.
#[track_caller]
pub fn poll_readable(fd: BorrowedFd<'_>, deadline: Option<Instant>, what: &str) -> bool {
    poll(fd, libc::POLLIN, deadline, what)
}

/// Waits until `fd` is writable. Returns false if `deadline` passed first.
#[track_caller]
pub fn poll_writable(fd: BorrowedFd<'_>, deadline: Option<Instant>, what: &str) -> bool {
    poll(fd, libc::POLLOUT, deadline, what)
}

#[track_caller]
fn poll(fd: BorrowedFd<'_>, events: libc::c_short, deadline: Option<Instant>, what: &str) -> bool {
    loop {
        check(what);
        let slice = slice_until(deadline);
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        let ms = slice.map_or(-1, |d| d.as_millis().clamp(0, i32::MAX as u128) as i32);
        let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events, revents: 0 };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r > 0 {
            return true;
        }
        // r == 0: slice over; r < 0: EINTR; both mean look again.
    }
}

/// Sleeps for `duration`, ending early (with a panic) if the stop button is pressed.
#[track_caller]
pub fn sleep(duration: Duration, what: &str) {
    let deadline = Instant::now() + duration;
    loop {
        check(what);
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        std::thread::sleep(if crate::kernel_link::control_page().is_some() { left.min(SLICE) } else { left });
    }
}

/// Waits once on `cv` (releasing `guard` meanwhile) for at most one slice, or until `deadline`,
/// after checking the stop button. Callers loop, re-checking their condition, because a
/// condition variable can wake without a notification and a slice can end first.
/// (Used by the thread-side queues; a poisoned mutex is taken as it is, see thread_queue.rs.)
#[track_caller]
pub fn condvar_wait<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
    what: &str,
) -> MutexGuard<'a, T> {
    check(what);
    match slice_until(deadline) {
        Some(slice) => cv.wait_timeout(guard, slice).unwrap_or_else(PoisonError::into_inner).0,
        None => cv.wait(guard).unwrap_or_else(PoisonError::into_inner),
    }
}
