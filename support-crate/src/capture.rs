//! Collecting what a piece of code prints, for the lesson notebooks' "check your answer" cells.
//!
//! A check cell has to look at what a student's function *prints*, and that function usually
//! starts processes of its own whose output goes straight to the notebook. [`capture_output`]
//! runs the function in a child process whose standard output and standard error are the write
//! end of a pipe: every process it starts inherits that pipe, so the text of all of them is
//! collected, and the pipe reports end-of-file only when the last of them has exited.
//!
//! Hand-written because no crate does "run this closure in a forked child with its output
//! redirected, including its descendants' output": `std::process::Command` runs programs, not
//! closures, and the fork itself must go through [`Process`](crate::process::Process) so that
//! the kernel's bookkeeping and the fork-safety rules apply.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::process::Process;

/// Set in the capturing child (and inherited by every process it forks), so that writers that
/// normally bypass file descriptor 1 inside the kernel (`pyprint!` uses the kernel's raw channel)
/// write to file descriptor 1 instead and are captured too.
static CAPTURING: AtomicBool = AtomicBool::new(false);

/// Whether this process runs inside [`capture_output`] (its standard output is the capture pipe).
///
/// ```
/// use multiproc::prelude::*;
/// assert!(!is_capturing());
/// assert_eq!(capture_output(|| println!("{}", is_capturing())), "true\n");
/// ```
pub fn is_capturing() -> bool {
    CAPTURING.load(Ordering::Relaxed)
}

/// Marks this process (a freshly forked child whose standard output is a pipe) as capturing,
/// as [`capture_output`] does (`explore`'s runs).
pub(crate) fn set_capturing() {
    CAPTURING.store(true, Ordering::Relaxed);
}

/// Runs `f` in a child process and returns everything it and the processes it starts printed
/// on standard output and standard error, once all of them have exited.
///
/// The order of the text is the order in which the writes reached the pipe. A process that
/// never exits (a child looping forever) keeps this call waiting; the notebook's stop button
/// ends it, because the kernel terminates the processes the cell started.
///
/// ```
/// use multiproc::prelude::*;
///
/// fn say_hi() {
///     println!("Hi from process {}", current_process().pid());
/// }
///
/// let text = capture_output(|| {
///     let mut p = Process::new(say_hi);
///     p.start();
///     p.join();
/// });
/// assert!(text.starts_with("Hi from process "));
/// assert_eq!(text.lines().count(), 1);
/// ```
pub fn capture_output<F: FnOnce() + Send + 'static>(f: F) -> String {
    let (mut reader, writer) = std::io::pipe().expect("capture_output: could not create a pipe");
    // Only the descriptor numbers go into the closure, so the parent's copies are closed right
    // after `start` no matter how long the `Process` handle keeps its closure.
    let write_fd = writer.as_raw_fd();
    let read_fd = reader.as_raw_fd();
    let mut child = Process::new(move || {
        // SAFETY: plain descriptor juggling in the freshly forked, single-threaded child; the
        // descriptors are valid (inherited from the parent, which still holds them).
        unsafe {
            libc::dup2(write_fd, 1);
            libc::dup2(write_fd, 2);
            libc::close(write_fd);
            libc::close(read_fd);
        }
        CAPTURING.store(true, Ordering::Relaxed);
        f();
    })
    .name("checker");
    child.start();
    drop(writer);
    let mut bytes = Vec::new();
    // End-of-file arrives when every process holding the write end has exited.
    let _ = reader.read_to_end(&mut bytes);
    let _ = child.join();
    String::from_utf8_lossy(&bytes).into_owned()
}
