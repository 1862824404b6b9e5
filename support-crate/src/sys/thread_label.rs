//! The name the notebook kernel gives a thread's late output: `'worker'` for a thread named
//! `worker`, `ThreadId(3)` for one without a name (as `{:?}` of its id prints it).
//!
//! The kernel's runtime asks for it through [`multiproc_thread_label`], which every cell's
//! library exports: only code linked against the cells' `libstd` knows the names their
//! `std::thread::Builder::name` gave (the operating system keeps the first 15 bytes only).

/// The label of the calling thread.
///
/// ```
/// let named = std::thread::Builder::new().name("worker".into()).spawn(multiproc::sys::thread_label::label);
/// assert_eq!(named.unwrap().join().unwrap(), "'worker'");
/// let unnamed = std::thread::spawn(|| (multiproc::sys::thread_label::label(), std::thread::current().id()));
/// let (label, id) = unnamed.join().unwrap();
/// assert_eq!(label, format!("{id:?}"));
/// ```
pub fn label() -> String {
    let me = std::thread::current();
    match me.name() {
        Some(name) => format!("'{name}'"),
        None => format!("{:?}", me.id()),
    }
}

/// Writes the calling thread's [`label`] (UTF-8, cut at `cap` bytes) into `buf`; returns the
/// number of bytes written. For the kernel's runtime, which calls it when a thread other than
/// the cell's first writes to standard output or standard error.
///
/// # Safety
/// `buf` must be valid for `cap` bytes of writing.
///
/// ```
/// let mut buf = [0u8; 64];
/// let n = std::thread::Builder::new()
///     .name("worker".into())
///     .spawn(move || unsafe { multiproc::sys::thread_label::multiproc_thread_label(buf.as_mut_ptr(), buf.len()) })
///     .unwrap()
///     .join()
///     .unwrap();
/// assert_eq!(n, "'worker'".len());
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn multiproc_thread_label(buf: *mut u8, cap: usize) -> usize {
    let text = std::panic::catch_unwind(label).unwrap_or_default();
    let mut n = text.len().min(cap);
    while !text.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: the caller's buffer holds at least `cap >= n` bytes.
    unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), buf, n) };
    n
}
