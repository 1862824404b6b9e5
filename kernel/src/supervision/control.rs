//! The kernel's side of the shared [`ControlPage`]: a memfd the runtime and every user process
//! inherit (its descriptor number is in `MULTIPROC_KERNEL_CONTROL_FD`).

use std::sync::atomic::Ordering;

use multiproc::kernel_link::{self, ControlPage};

/// Creates the page, initialises it and publishes its descriptor in this process's
/// environment, so that the runtime evcxr starts later inherits both.
///
/// ```no_run
/// let page = rust_concurrency_kernel::supervision::control::create().unwrap();
/// assert_eq!(page.current_cell.load(std::sync::atomic::Ordering::SeqCst), 0);
/// ```
pub fn create() -> std::io::Result<&'static ControlPage> {
    // No MFD_CLOEXEC: the descriptor must survive the exec of the runtime.
    // SAFETY: memfd_create with a NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"rust-concurrency-control".as_ptr(), 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let len = 4096usize.max(std::mem::size_of::<ControlPage>());
    // SAFETY: sizing our own fresh memfd.
    if unsafe { libc::ftruncate(fd, len as libc::off_t) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a shared mapping of our memfd, never unmapped (lives as long as the kernel).
    let ptr = unsafe {
        libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
    };
    if ptr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: page-aligned, zero-filled (valid atomics), lives forever.
    let page: &'static ControlPage = unsafe { &*ptr.cast::<ControlPage>() };
    let max = std::env::var(kernel_link::MAX_PROCESSES_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(kernel_link::DEFAULT_MAX_PROCESSES);
    page.max_processes.store(max, Ordering::SeqCst);
    page.magic.store(ControlPage::MAGIC, Ordering::SeqCst);
    // SAFETY: the kernel sets its environment before starting any other thread that reads it
    // (the evaluator is created first).
    unsafe { std::env::set_var(kernel_link::CONTROL_FD_ENV, fd.to_string()) };
    Ok(page)
}
