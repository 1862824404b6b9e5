//! The runtime's half of thread routing: every write the runtime process makes to fd 1 or fd 2
//! goes out as a frame naming the writing thread and its cell (`frames.rs`).
//!
//! Cells' code prints through the cells' own `libstd` (a shared library the runtime loads with
//! the first cell), which calls the C library's `write` (and `writev`), and starts threads with
//! its `pthread_create`. This binary defines those functions itself (and `dup2`, `dup3`,
//! `close`, to notice a cell pointing fd 1 or fd 2 elsewhere) and exports them (`kernel/build.rs`:
//! `--export-dynamic-symbol`), so the dynamic linker binds the cells' calls to them: the
//! executable comes first in the lookup order, as with `LD_PRELOAD`.
//! - `pthread_create` starts the new thread through a trampoline that records the cell the
//!   creating thread belongs to (inherited: a thread started by a thread belongs to its parent's
//!   cell), sends a [`BORN`] frame, runs the thread, and sends [`ENDED`] when it returns.
//! - `write` and `writev` to fd 1 / fd 2 send a [`LABEL`] frame before a thread's first data on
//!   each stream, then the bytes in [`DATA`] frames (header and bytes in one `writev`), under
//!   one process-wide lock: two threads' frames never interleave. A signal handler that writes
//!   while its thread is inside a frame writes plain bytes (it must not wait for the lock its
//!   own thread holds); the kernel shows them in the current cell.
//!
//! Everything passes straight through until [`activate`] ran, in any other process (the kernel
//! itself; a process the runtime forks clears the flag in a `pthread_atfork` handler and writes
//! plain bytes, attributed by pid), for other descriptors, and while fd 1 or fd 2 is not the
//! kernel's stream (checked after each `dup2`, `dup3` or `close` of fd 1 / fd 2). The cost per
//! write is one `writev` instead of one `write`, an uncontended lock and a few atomics. Why not std: Rust has no stable way to capture a
//! thread's output (`std::io::set_output_capture` is internal) nor a hook on thread spawn, and
//! the kernel cannot tell threads apart from the socket's credentials (they carry the process
//! id). Hand-written because no crate interposes libc calls from inside an executable.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::sync::Mutex;
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, Ordering};

use super::frames::{BORN, DATA, ENDED, LABEL, MAX_LABEL, header};

/// The runtime's pid once [`activate`] ran; 0 in every other process (a forked child clears it).
static RUNTIME: AtomicI32 = AtomicI32::new(0);
/// Device and inode of fd 1 and fd 2 (the kernel's streams) when activated.
static STREAMS: [[AtomicU64; 2]; 2] = [const { [const { AtomicU64::new(0) }; 2] }; 2];
/// fd 1 / fd 2 still is the kernel's stream.
static STREAM_OK: [AtomicBool; 2] = [const { AtomicBool::new(false) }; 2];
/// Held while one frame is written: the frames of two threads never interleave.
static LOCK: Mutex<()> = Mutex::new(());
/// The support crate's `multiproc_thread_label` (from the first cell that exports it).
static LABEL_SOURCE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
/// The C library's `pthread_create`, `dup2`, `dup3`, `close` (looked up on first use).
static REAL_PTHREAD_CREATE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static REAL_DUP2: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static REAL_DUP3: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static REAL_CLOSE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
/// Most payload bytes in one frame.
const MAX_FRAME: usize = 1 << 30;
/// Most pieces of one `writev` in one frame (the header takes one more).
const MAX_PARTS: usize = 63;

/// The support crate's label function: writes the calling thread's label, returns its length.
pub type LabelSource = unsafe extern "C" fn(*mut u8, usize) -> usize;
type PthreadCreate = unsafe extern "C" fn(
    *mut libc::pthread_t,
    *const libc::pthread_attr_t,
    extern "C" fn(*mut c_void) -> *mut c_void,
    *mut c_void,
) -> c_int;

thread_local! {
    /// The cell this thread belongs to (0: unknown).
    static CELL: Cell<u32> = const { Cell::new(0) };
    /// The thread's OS id, once asked.
    static TID: Cell<i32> = const { Cell::new(0) };
    /// Between the trampoline's start and end: std's data for the thread exists, so the
    /// support crate may be asked for its name.
    static RUNNING: Cell<bool> = const { Cell::new(false) };
    /// Label sent: bit 0 on stdout, bit 1 on stderr.
    static LABELLED: Cell<u8> = const { Cell::new(0) };
    /// Inside the label function (a write from there goes without a label).
    static IN_LABEL: Cell<bool> = const { Cell::new(false) };
    /// Inside a frame (or waiting for the lock): a signal handler's write goes out plain.
    static IN_FRAME: Cell<bool> = const { Cell::new(false) };
}

fn file_id(fd: c_int) -> Option<(u64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills the buffer when it returns 0.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: initialised by the successful fstat.
    let st = unsafe { st.assume_init() };
    Some((st.st_dev, st.st_ino))
}

/// Turns framing on in this process (the runtime, still single-threaded, right after it made
/// fd 1 and fd 2 the kernel's streams).
pub fn activate() {
    for fd in [1, 2] {
        if let Some((dev, ino)) = file_id(fd) {
            let slot = &STREAMS[(fd - 1) as usize];
            slot[0].store(dev, Ordering::Relaxed);
            slot[1].store(ino, Ordering::Relaxed);
            STREAM_OK[(fd - 1) as usize].store(true, Ordering::Relaxed);
        }
    }
    extern "C" fn in_the_child() {
        RUNTIME.store(0, Ordering::Release);
    }
    // SAFETY: registers a handler that only stores to an atomic.
    unsafe { libc::pthread_atfork(None, None, Some(in_the_child)) };
    // SAFETY: getpid cannot fail.
    RUNTIME.store(unsafe { libc::getpid() }, Ordering::Release);
}

/// After `fd` was changed: is it still the kernel's stream?
fn recheck(fd: c_int) {
    if (fd == 1 || fd == 2) && in_runtime() {
        let slot = &STREAMS[(fd - 1) as usize];
        let same = file_id(fd) == Some((slot[0].load(Ordering::Relaxed), slot[1].load(Ordering::Relaxed)));
        STREAM_OK[(fd - 1) as usize].store(same, Ordering::Release);
    }
}

/// The calling thread (the runtime's main thread, before a cell's code) now runs `cell`.
pub fn set_cell(cell: u32) {
    CELL.set(cell);
}

/// Where thread labels come from (kept: the first cell's library is never unloaded).
pub fn set_label_source(source: LabelSource) {
    let _ = LABEL_SOURCE.compare_exchange(std::ptr::null_mut(), source as *mut c_void, Ordering::AcqRel, Ordering::Acquire);
}

/// A label source was set.
pub fn has_label_source() -> bool {
    !LABEL_SOURCE.load(Ordering::Acquire).is_null()
}

fn in_runtime() -> bool {
    RUNTIME.load(Ordering::Acquire) != 0
}

/// `fd` is fd 1 or fd 2 of the runtime and still the kernel's stream.
fn routed(fd: c_int) -> bool {
    (fd == 1 || fd == 2) && in_runtime() && STREAM_OK[(fd - 1) as usize].load(Ordering::Acquire)
}

fn tid() -> i32 {
    let t = TID.get();
    if t != 0 {
        return t;
    }
    // SAFETY: gettid cannot fail.
    let t = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
    TID.set(t);
    t
}

fn errno() -> c_int {
    // SAFETY: the calling thread's errno.
    unsafe { *libc::__errno_location() }
}

fn iov(bytes: &[u8]) -> libc::iovec {
    libc::iovec { iov_base: bytes.as_ptr() as *mut c_void, iov_len: bytes.len() }
}

/// Writes all of `parts` to `fd` (a blocking stream: waits when the kernel is behind).
///
/// # Safety
/// Every part must point to readable memory of its length.
unsafe fn send_all(fd: c_int, parts: &mut [libc::iovec]) -> Result<(), c_int> {
    let mut first = 0;
    while first < parts.len() {
        if parts[first].iov_len == 0 {
            first += 1;
            continue;
        }
        let rest = &parts[first..];
        // SAFETY: the caller's parts, as a raw writev.
        let n = unsafe { libc::syscall(libc::SYS_writev, fd, rest.as_ptr(), rest.len() as c_int) };
        if n < 0 {
            match errno() {
                libc::EINTR => continue,
                libc::EAGAIN => {
                    // A cell made the stream non-blocking: wait until it takes more.
                    let mut p = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
                    // SAFETY: poll on one descriptor.
                    unsafe { libc::poll(&mut p, 1, -1) };
                    continue;
                }
                e => return Err(e),
            }
        }
        let mut n = n as usize;
        while n > 0 {
            let part = &mut parts[first];
            let k = n.min(part.iov_len);
            // SAFETY: advancing inside the part's own buffer.
            part.iov_base = unsafe { part.iov_base.cast::<u8>().add(k) }.cast();
            part.iov_len -= k;
            n -= k;
            if part.iov_len == 0 {
                first += 1;
            }
        }
    }
    Ok(())
}

/// Writes `parts` to `fd` as frames of the calling thread; returns what `write` returns.
///
/// # Safety
/// As [`send_all`].
unsafe fn framed(fd: c_int, parts: &[libc::iovec]) -> isize {
    let total: usize = parts.iter().map(|p| p.iov_len).sum();
    if total == 0 {
        return 0;
    }
    let (tid, cell) = (tid(), CELL.get());
    let bit = 1u8 << (fd - 1);
    // The label is asked for outside the lock: the support crate's function runs std code.
    let mut label = [0u8; MAX_LABEL];
    let mut label_len = None;
    let source = LABEL_SOURCE.load(Ordering::Acquire);
    if tid != RUNTIME.load(Ordering::Relaxed) && RUNNING.get() && LABELLED.get() & bit == 0 && !IN_LABEL.get() && !source.is_null() {
        IN_LABEL.set(true);
        // SAFETY: `source` is the support crate's `multiproc_thread_label`, in a library that
        // stays loaded; it writes at most `len` bytes.
        let n = unsafe { std::mem::transmute::<*mut c_void, LabelSource>(source)(label.as_mut_ptr(), label.len()) };
        IN_LABEL.set(false);
        label_len = Some(n.min(label.len()));
    }
    if IN_FRAME.replace(true) {
        // A signal handler interrupted this thread inside a frame: plain bytes.
        return plain_writev(fd, parts);
    }
    let one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let result = (|| {
        if let Some(n) = label_len {
            let h = header(LABEL, cell, tid, n as u32);
            // SAFETY: local buffers.
            unsafe { send_all(fd, &mut [iov(&h), iov(&label[..n])])? };
            LABELLED.set(LABELLED.get() | bit);
        }
        // Frames of at most MAX_PARTS pieces and MAX_FRAME bytes.
        let mut group = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; MAX_PARTS + 1];
        let (mut count, mut len) = (0, 0);
        let mut pieces = parts.iter().flat_map(|p| {
            (0..p.iov_len).step_by(MAX_FRAME).map(move |at| libc::iovec {
                // SAFETY: inside the caller's buffer.
                iov_base: unsafe { p.iov_base.cast::<u8>().add(at) }.cast(),
                iov_len: (p.iov_len - at).min(MAX_FRAME),
            })
        });
        loop {
            let next = pieces.next();
            let full = next.is_some_and(|p| count == MAX_PARTS || len + p.iov_len > MAX_FRAME);
            if (next.is_none() || full) && count > 0 {
                let h = header(DATA, cell, tid, len as u32);
                group[0] = iov(&h);
                // SAFETY: the header and the caller's buffers.
                unsafe { send_all(fd, &mut group[..count + 1])? };
                (count, len) = (0, 0);
            }
            let Some(p) = next else { break };
            count += 1;
            len += p.iov_len;
            group[count] = p;
        }
        Ok(())
    })();
    drop(one);
    IN_FRAME.set(false);
    match result {
        Ok(()) => total as isize,
        Err(e) => {
            // SAFETY: the calling thread's errno.
            unsafe { *libc::__errno_location() = e };
            -1
        }
    }
}

/// A frame without payload on stdout (thread born or ended).
fn announce(kind: u8) {
    if !routed(1) {
        return;
    }
    let h = header(kind, CELL.get(), tid(), 0);
    if IN_FRAME.replace(true) {
        return;
    }
    let one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: a local buffer.
    let _ = unsafe { send_all(1, &mut [iov(&h)]) };
    drop(one);
    IN_FRAME.set(false);
}

fn plain_writev(fd: c_int, parts: &[libc::iovec]) -> isize {
    // SAFETY: the caller's pieces, as the system call.
    unsafe { libc::syscall(libc::SYS_writev, fd, parts.as_ptr(), parts.len() as c_int) as isize }
}

/// Looks the C library's functions up before `main`, while the process has one thread: a process
/// forked later (`std::process::Command` may fork, then calls `dup2` and `close` before `exec`)
/// must not call `dlsym`, which is not async-signal-safe, between `fork` and `exec`.
#[used]
#[unsafe(link_section = ".init_array")]
static RESOLVE_BEFORE_MAIN: extern "C" fn() = resolve_all;

extern "C" fn resolve_all() {
    real(&REAL_PTHREAD_CREATE, c"pthread_create");
    real(&REAL_DUP2, c"dup2");
    real(&REAL_DUP3, c"dup3");
    real(&REAL_CLOSE, c"close");
}

/// The next definition of `name` (the C library's), cached in `slot`.
fn real(slot: &AtomicPtr<c_void>, name: &CStr) -> *mut c_void {
    let mut f = slot.load(Ordering::Acquire);
    if f.is_null() {
        // SAFETY: looks up a NUL-terminated name in the objects loaded after this one.
        f = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
        slot.store(f, Ordering::Release);
    }
    f
}

/// The C library's `write`, for the cells' `libstd` (and this binary's own).
///
/// # Safety
/// As the C function: `buf` points to `count` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: usize) -> isize {
    if count == 0 || !routed(fd) {
        // SAFETY: the caller's arguments, as the system call.
        return unsafe { libc::syscall(libc::SYS_write, fd, buf, count) } as isize;
    }
    // SAFETY: the caller's buffer.
    unsafe { framed(fd, &[libc::iovec { iov_base: buf as *mut c_void, iov_len: count }]) }
}

/// The C library's `writev`, as [`write`].
///
/// # Safety
/// As the C function: `iov` points to `iovcnt` valid pieces.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const libc::iovec, iovcnt: c_int) -> isize {
    if iovcnt <= 0 || !routed(fd) {
        // SAFETY: the caller's arguments, as the system call.
        return unsafe { libc::syscall(libc::SYS_writev, fd, iov, iovcnt) } as isize;
    }
    // SAFETY: the caller's pieces.
    unsafe { framed(fd, std::slice::from_raw_parts(iov, iovcnt as usize)) }
}

struct Birth {
    start: extern "C" fn(*mut c_void) -> *mut c_void,
    arg: *mut c_void,
    cell: u32,
}

extern "C" fn trampoline(birth: *mut c_void) -> *mut c_void {
    // SAFETY: made by `pthread_create` below for this thread alone.
    let Birth { start, arg, cell } = *unsafe { Box::from_raw(birth.cast::<Birth>()) };
    CELL.set(cell);
    RUNNING.set(true);
    announce(BORN);
    let result = start(arg);
    RUNNING.set(false);
    announce(ENDED);
    result
}

/// The C library's `pthread_create`; in the runtime the new thread inherits its creator's cell.
///
/// # Safety
/// As the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_create(
    thread: *mut libc::pthread_t,
    attr: *const libc::pthread_attr_t,
    start: extern "C" fn(*mut c_void) -> *mut c_void,
    arg: *mut c_void,
) -> c_int {
    let real = real(&REAL_PTHREAD_CREATE, c"pthread_create");
    if real.is_null() {
        return libc::EAGAIN;
    }
    // SAFETY: the C library's pthread_create has this signature.
    let real = unsafe { std::mem::transmute::<*mut c_void, PthreadCreate>(real) };
    if !in_runtime() {
        // SAFETY: the caller's arguments.
        return unsafe { real(thread, attr, start, arg) };
    }
    let birth = Box::into_raw(Box::new(Birth { start, arg, cell: CELL.get() }));
    // SAFETY: the trampoline takes `birth` back in the new thread.
    let rc = unsafe { real(thread, attr, trampoline, birth.cast()) };
    if rc != 0 {
        // SAFETY: no thread was started, so `birth` is still ours.
        drop(unsafe { Box::from_raw(birth) });
    }
    rc
}

/// The C library's `dup2`; afterwards fd 1 / fd 2 is checked again.
///
/// # Safety
/// As the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    let f = real(&REAL_DUP2, c"dup2");
    if f.is_null() {
        return -1;
    }
    // SAFETY: the C library's dup2 has this signature.
    let rc = unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn(c_int, c_int) -> c_int>(f)(old, new) };
    recheck(new);
    rc
}

/// The C library's `dup3`, as [`dup2`].
///
/// # Safety
/// As the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    let f = real(&REAL_DUP3, c"dup3");
    if f.is_null() {
        return -1;
    }
    // SAFETY: the C library's dup3 has this signature.
    let rc = unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn(c_int, c_int, c_int) -> c_int>(f)(old, new, flags) };
    recheck(new);
    rc
}

/// The C library's `close`, as [`dup2`].
///
/// # Safety
/// As the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    let f = real(&REAL_CLOSE, c"close");
    if f.is_null() {
        return -1;
    }
    // SAFETY: the C library's close has this signature.
    let rc = unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn(c_int) -> c_int>(f)(fd) };
    recheck(fd);
    rc
}
