//! `Lock` and `RLock`: mutual exclusion between processes, shaped like Python's
//! `multiprocessing.Lock` / `RLock`.
//!
//! ```
//! use multiproc::lock::Lock;
//!
//! let lock = Lock::new();
//! lock.acquire();          // Python: lock.acquire()
//! lock.release();          // Python: lock.release()
//! {
//!     let _guard = lock.lock(); // Python: `with lock:` — released when `_guard` is dropped
//! }
//! assert!(lock.try_acquire());
//! lock.release();
//! ```
//!
//! The lock is a futex word in `MAP_SHARED` memory, so clones handed to forked children lock
//! against each other. It is hand-written (instead of `std::sync::Mutex`, which is not a
//! cross-process primitive, or a POSIX semaphore) for two reasons: the uncontended path costs
//! two atomic instructions and no system call, and the lock records *which process* holds it,
//! so a process waiting for a lock whose holder died gets a clear error naming the dead process
//! instead of hanging forever (Python hangs).

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::sys::futex::{self, Woken};
use crate::sys::shm::{ProcessShared, Shared};
use crate::sys::wait;
use crate::sys::timeline;
use crate::sys::waits::{self, Waiting};
use std::sync::Arc;

/// How often a waiter looks whether the holder of a lock is still alive.
const LIVENESS_SLICE: Duration = Duration::from_millis(20);

/// How many times a contended acquire spins before sleeping (a short critical section in
/// another process usually ends sooner than a futex sleep + wake round trip).
const SPIN: u32 = 200;

// ---------------------------------------------------------------------------------------------
// Process identity: "pid + start time", cached so the lock's fast path makes no system call.
// ---------------------------------------------------------------------------------------------

/// This process's identity key: `pid << 32 | (start time & 0xffff_ffff)`; 0 means "not known
/// yet in this process". Reset to 0 in every forked child by a `pthread_atfork` handler.
static MY_KEY: AtomicU64 = AtomicU64::new(0);

/// Registration state of the `pthread_atfork` handler: 0 not yet, 1 being registered, 2 done.
/// (Not a `std::sync::Once`: a fork while another thread is inside `call_once` would leave the
/// child's copy "running" forever, and the child's first lock would hang.)
static ATFORK: AtomicU8 = AtomicU8::new(0);

extern "C" fn forget_key_in_child() {
    MY_KEY.store(0, Ordering::Relaxed);
}

/// `(state, start time)` from `/proc/<pid>/stat`, or `None` if the process does not exist.
fn proc_stat(pid: u32) -> Option<(u8, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: parse after it.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.as_bytes().first().copied()?;
    // After the state (field 3), the start time is field 22, i.e. 19 fields further on.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// The calling process's identity key (see [`MY_KEY`]).
#[inline]
pub(crate) fn my_key() -> u64 {
    let key = MY_KEY.load(Ordering::Relaxed);
    if key != 0 { key } else { compute_my_key() }
}

#[cold]
fn compute_my_key() -> u64 {
    if ATFORK.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        // SAFETY: registers a handler that only stores to an atomic.
        unsafe { libc::pthread_atfork(None, None, Some(forget_key_in_child)) };
        ATFORK.store(2, Ordering::Release);
    }
    let pid = std::process::id();
    let start = proc_stat(pid).map_or(0, |(_, s)| s);
    let key = (u64::from(pid) << 32) | (start & 0xffff_ffff);
    // Cache only once the handler is in place, so no child can inherit a stale key.
    if ATFORK.load(Ordering::Acquire) == 2 {
        MY_KEY.store(key, Ordering::Relaxed);
    }
    key
}

/// The pid part of an identity key.
pub(crate) fn key_pid(key: u64) -> u32 {
    (key >> 32) as u32
}

/// False when the process named by `key` has exited (even if it is an unreaped zombie) or its
/// pid now belongs to a different process (the start time differs).
pub(crate) fn key_alive(key: u64) -> bool {
    let pid = key_pid(key);
    if pid == 0 {
        return true;
    }
    if let Err(nix::errno::Errno::ESRCH) = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None) {
        return false;
    }
    match proc_stat(pid) {
        // Gone since `kill` looked, unless /proc itself is unavailable (then trust `kill`).
        None => !std::path::Path::new("/proc/self/stat").exists(),
        Some((state, _)) if state == b'Z' || state == b'X' => false,
        Some((_, start)) => (key & 0xffff_ffff) == 0 || (start & 0xffff_ffff) == (key & 0xffff_ffff),
    }
}

/// Converts a Python-style timeout in seconds into a deadline (negative counts as zero).
pub(crate) fn deadline_after(seconds: f64) -> Option<Instant> {
    let secs = if seconds.is_finite() { seconds.max(0.0) } else if seconds > 0.0 { return None } else { 0.0 };
    Instant::now().checked_add(Duration::from_secs_f64(secs.min(1e9)))
}

// ---------------------------------------------------------------------------------------------
// The raw lock, usable on any LockState in shared memory.
// ---------------------------------------------------------------------------------------------

/// Why a lock could not be acquired.
///
/// ```
/// use multiproc::lock::LockError;
/// let e = LockError::HolderDied { pid: 1234 };
/// assert_eq!(e.to_string(), "Lock is held by process 1234, which has died without releasing it");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockError {
    /// The process holding the lock exited (or was killed) while holding it.
    HolderDied {
        /// The dead holder's process id.
        pid: u32,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::HolderDied { pid } => {
                write!(f, "Lock is held by process {pid}, which has died without releasing it")
            }
        }
    }
}

impl std::error::Error for LockError {}

/// The shared part of a lock: a futex word (0 free, 1 held, 2 held with sleepers) and the
/// holder's identity key.
#[doc(hidden)]
#[repr(C)]
pub struct LockState {
    word: AtomicU32,
    holder: AtomicU64,
    /// The holding thread's `pthread_self()`, for the kernel's deadlock detector (`sys::waits`).
    holder_thread: AtomicU64,
}

// SAFETY: plain atomics, valid when zeroed, no pointers, no Drop.
unsafe impl ProcessShared for LockState {}

impl LockState {
    const fn new() -> LockState {
        LockState { word: AtomicU32::new(0), holder: AtomicU64::new(0), holder_thread: AtomicU64::new(0) }
    }

    #[inline]
    fn try_acquire(&self) -> bool {
        if self.word.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            self.holder.store(my_key(), Ordering::Relaxed);
            self.holder_thread.store(waits::this_thread(), Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// Blocks until acquired, `deadline` passes (`Ok(false)`), or the holder is found dead.
    #[inline]
    fn acquire(&self, deadline: Option<Instant>, what: &str, name: &str) -> Result<bool, LockError> {
        crate::sys::perturb::point();
        if self.try_acquire() { Ok(true) } else { self.acquire_slow(deadline, what, name) }
    }

    #[cold]
    fn acquire_slow(&self, deadline: Option<Instant>, what: &str, name: &str) -> Result<bool, LockError> {
        for _ in 0..SPIN {
            std::hint::spin_loop();
            if self.word.load(Ordering::Relaxed) == 0 && self.try_acquire() {
                return Ok(true);
            }
        }
        let mut recorded: Option<Waiting> = None;
        loop {
            // Mark "held with sleepers" so the releaser knows to wake someone; if the swap
            // finds the lock free we now own it (marked 2, which only costs one extra wake).
            if self.word.swap(2, Ordering::Acquire) == 0 {
                self.holder.store(my_key(), Ordering::Relaxed);
                self.holder_thread.store(waits::this_thread(), Ordering::Relaxed);
                return Ok(true);
            }
            // About to sleep: tell the kernel's deadlock detector who waits for whom (only
            // here, never on the fast path), and refresh the holder after every slice.
            let record = recorded.get_or_insert_with(|| Waiting::begin(what, name, deadline.is_some()));
            record.other(key_pid(self.holder.load(Ordering::Relaxed)), self.holder_thread.load(Ordering::Relaxed));
            let slice_end = Instant::now() + LIVENESS_SLICE;
            let until = match deadline {
                Some(d) if d < slice_end => Some(d),
                _ => Some(slice_end),
            };
            if wait::futex_wait(&self.word, 2, until, what) == Woken::TimedOut {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(false);
                }
                self.check_holder()?;
            }
        }
    }

    /// Errors if the lock is still held by a process that no longer exists.
    fn check_holder(&self) -> Result<(), LockError> {
        let key = self.holder.load(Ordering::Relaxed);
        if key == 0 || key_alive(key) {
            return Ok(());
        }
        // Only report if nobody took the lock over meanwhile.
        if self.word.load(Ordering::Relaxed) != 0 && self.holder.load(Ordering::Relaxed) == key {
            Err(LockError::HolderDied { pid: key_pid(key) })
        } else {
            Ok(())
        }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.word.load(Ordering::Relaxed) != 0
    }

    #[inline]
    fn held_by_me(&self) -> bool {
        self.is_locked() && self.holder.load(Ordering::Relaxed) == my_key()
    }

    /// Releases; panics with `message` if the lock was not held.
    #[inline]
    #[track_caller]
    fn release(&self, message: &str) {
        if self.word.load(Ordering::Relaxed) == 0 {
            panic!("{message}");
        }
        self.holder.store(0, Ordering::Relaxed);
        self.holder_thread.store(0, Ordering::Relaxed);
        match self.word.swap(0, Ordering::Release) {
            1 => {}
            0 => panic!("{message}"),
            _ => futex::wake(&self.word, 1),
        }
    }
}

fn new_shared<T: ProcessShared>(value: T) -> Shared<T> {
    Shared::new(value).expect("could not map shared memory for a lock (mmap failed)")
}

// ---------------------------------------------------------------------------------------------
// Lock
// ---------------------------------------------------------------------------------------------

/// A lock shared between processes, like Python's `multiprocessing.Lock`.
///
/// Cloning a `Lock` gives another handle to the *same* lock; hand a clone to each process.
/// Any process may release it (as in Python), and `release` of a free lock panics.
///
/// ```
/// use multiproc::lock::Lock;
///
/// let lock = Lock::new();
/// let other = lock.clone();          // the same lock
/// assert!(lock.acquire());
/// assert!(!other.try_acquire());     // already held
/// lock.release();
/// assert!(other.try_acquire());
/// other.release();
/// ```
#[derive(Clone)]
pub struct Lock {
    state: Shared<LockState>,
    /// Its name in the deadlock detector's reports (see [`Lock::named`]).
    name: Arc<str>,
}

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let holder = self.state.holder.load(Ordering::Relaxed);
        if self.state.is_locked() {
            write!(f, "<Lock(owner={})>", key_pid(holder))
        } else {
            write!(f, "<Lock(owner=None)>")
        }
    }
}

impl Lock {
    /// Makes a new, unlocked lock in shared memory.
    ///
    /// ```
    /// let lock = multiproc::lock::Lock::new();
    /// assert!(!lock.is_locked());
    /// ```
    pub fn new() -> Lock {
        Lock { state: new_shared(LockState::new()), name: waits::default_name("Lock") }
    }

    /// Gives the lock a name, used when the notebook kernel reports a deadlock ("holds lock
    /// `fork 2` and waits for lock `fork 3`"). Without one a lock is called `Lock#N`, numbered
    /// in the order the locks were made. (Rust cannot see a variable's name at run time, so
    /// name the lock after its variable if that is what you want to read.) Name it before
    /// handing clones to other processes: each clone keeps the name it was cloned with.
    ///
    /// ```
    /// let fork = multiproc::lock::Lock::new().named("fork 2");
    /// assert_eq!(fork.name(), "fork 2");
    /// assert!(multiproc::lock::Lock::new().name().starts_with("Lock#"));
    /// ```
    pub fn named(mut self, name: impl Into<String>) -> Lock {
        self.name = name.into().into();
        self
    }

    /// The lock's name (see [`Lock::named`]).
    ///
    /// ```
    /// assert_eq!(multiproc::lock::Lock::new().named("pen").name(), "pen");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Blocks until the lock is acquired and returns `true` (Python's `lock.acquire()`).
    ///
    /// Panics with "Lock is held by process N, which has died without releasing it" if the
    /// holder died; use [`acquire_checked`](Lock::acquire_checked) to get that as an error.
    ///
    /// ```
    /// let lock = multiproc::lock::Lock::new();
    /// assert!(lock.acquire());
    /// lock.release();
    /// ```
    #[inline]
    #[track_caller]
    pub fn acquire(&self) -> bool {
        match self.state.acquire(None, "Lock::acquire", &self.name) {
            Ok(got) => self.noted(got),
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`acquire`](Lock::acquire) but returns a dead holder as an error instead of
    /// panicking.
    ///
    /// ```
    /// let lock = multiproc::lock::Lock::new();
    /// assert_eq!(lock.acquire_checked(), Ok(true));
    /// lock.release();
    /// ```
    #[track_caller]
    pub fn acquire_checked(&self) -> Result<bool, LockError> {
        self.state.acquire(None, "Lock::acquire", &self.name).map(|got| self.noted(got))
    }

    /// Waits at most `seconds` for the lock; `true` if acquired (Python's
    /// `lock.acquire(timeout=seconds)`). Panics like [`acquire`](Lock::acquire) on a dead holder.
    ///
    /// ```
    /// let lock = multiproc::lock::Lock::new();
    /// lock.acquire();
    /// assert!(!lock.acquire_timeout(0.01)); // still held: gives up after 10 ms
    /// lock.release();
    /// assert!(lock.acquire_timeout(0.01));
    /// lock.release();
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, seconds: f64) -> bool {
        match self.state.acquire(deadline_after(seconds), "Lock::acquire_timeout", &self.name) {
            Ok(got) => self.noted(got),
            Err(e) => panic!("{e}"),
        }
    }

    /// [`acquire_timeout`](Lock::acquire_timeout) returning a dead holder as an error.
    ///
    /// ```
    /// let lock = multiproc::lock::Lock::new();
    /// assert_eq!(lock.acquire_timeout_checked(0.1), Ok(true));
    /// lock.release();
    /// ```
    #[track_caller]
    pub fn acquire_timeout_checked(&self, seconds: f64) -> Result<bool, LockError> {
        self.state.acquire(deadline_after(seconds), "Lock::acquire_timeout", &self.name).map(|got| self.noted(got))
    }

    /// Acquires the lock if it is free, without waiting (Python's `acquire(block=False)`).
    ///
    /// ```
    /// let lock = multiproc::lock::Lock::new();
    /// assert!(lock.try_acquire());
    /// assert!(!lock.try_acquire());
    /// lock.release();
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> bool {
        let got = self.state.try_acquire();
        self.noted(got)
    }

    /// Releases the lock (any process may release it, as in Python).
    ///
    /// Panics with "release of an unlocked Lock" if it was not held.
    ///
    /// ```
    /// let lock = multiproc::lock::Lock::new();
    /// lock.acquire();
    /// lock.release();
    /// let again = std::panic::catch_unwind(|| lock.release());
    /// assert!(again.is_err());
    /// ```
    #[inline]
    #[track_caller]
    pub fn release(&self) {
        if timeline::on() {
            self.record(timeline::Kind::LockReleased);
        }
        self.state.release("release of an unlocked Lock");
    }

    /// The timeline's "lock taken" event (one relaxed load and a branch when it is off).
    #[inline(always)]
    fn noted(&self, got: bool) -> bool {
        if got && timeline::on() {
            self.record(timeline::Kind::LockAcquired);
        }
        got
    }

    /// Out of line, so that the fast paths stay small enough to be inlined where they are used.
    #[cold]
    #[inline(never)]
    fn record(&self, kind: timeline::Kind) {
        match kind {
            // Logged before the lock is let go (so holds never overlap in the log), and only
            // when it is held (a bad release panics next, with nothing logged).
            timeline::Kind::LockReleased if self.state.is_locked() => {
                timeline::event(kind, "Lock::release", &self.name, 0, 0)
            }
            timeline::Kind::LockReleased => {}
            _ => timeline::event(kind, "Lock::acquire", &self.name, 0, 0),
        }
    }

    /// Acquires and returns a guard that releases when dropped (Python's `with lock:`).
    ///
    /// ```
    /// let lock = multiproc::lock::Lock::new();
    /// {
    ///     let _g = lock.lock();
    ///     assert!(lock.is_locked());
    /// }
    /// assert!(!lock.is_locked());
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> LockGuard<'_> {
        self.acquire();
        LockGuard { lock: self }
    }

    /// A guard if the lock is free right now, else `None`.
    ///
    /// ```
    /// let lock = multiproc::lock::Lock::new();
    /// let g = lock.try_lock().expect("free");
    /// assert!(lock.try_lock().is_none());
    /// drop(g);
    /// ```
    pub fn try_lock(&self) -> Option<LockGuard<'_>> {
        self.try_acquire().then(|| LockGuard { lock: self })
    }

    /// A guard if the lock could be taken within `seconds`, else `None`.
    ///
    /// ```
    /// let lock = multiproc::lock::Lock::new();
    /// assert!(lock.lock_timeout(0.1).is_some());
    /// ```
    #[track_caller]
    pub fn lock_timeout(&self, seconds: f64) -> Option<LockGuard<'_>> {
        self.acquire_timeout(seconds).then(|| LockGuard { lock: self })
    }

    /// True while some process holds the lock (a snapshot: it may change right after).
    ///
    /// ```
    /// let lock = multiproc::lock::Lock::new();
    /// assert!(!lock.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.state.is_locked()
    }

    /// The pid of the process holding the lock, if it is held.
    ///
    /// ```
    /// let lock = multiproc::lock::Lock::new();
    /// let _g = lock.lock();
    /// assert_eq!(lock.holder(), Some(std::process::id()));
    /// ```
    pub fn holder(&self) -> Option<u32> {
        let key = self.state.holder.load(Ordering::Relaxed);
        (self.state.is_locked() && key != 0).then(|| key_pid(key))
    }

    /// True when the calling process holds the lock.
    pub(crate) fn held_by_me(&self) -> bool {
        self.state.held_by_me()
    }

    /// Blocking acquire with an optional deadline, for the other primitives built on `Lock`.
    #[track_caller]
    pub(crate) fn acquire_until(&self, deadline: Option<Instant>, what: &str) -> bool {
        match self.state.acquire(deadline, what, &self.name) {
            Ok(got) => self.noted(got),
            Err(e) => panic!("{e}"),
        }
    }
}

/// Holds a [`Lock`] until dropped (made by [`Lock::lock`]).
///
/// ```
/// let lock = multiproc::lock::Lock::new();
/// let guard = lock.lock();
/// drop(guard); // released here
/// assert!(!lock.is_locked());
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // While unwinding (e.g. the stop button ended a `Condition::wait`, which had let go of
        // the lock), a second panic from "release of an unlocked Lock" would abort the process.
        if std::thread::panicking() && !self.lock.held_by_me() {
            return;
        }
        self.lock.release();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LockGuard({:?})", self.lock)
    }
}

// ---------------------------------------------------------------------------------------------
// RLock
// ---------------------------------------------------------------------------------------------

#[doc(hidden)]
#[repr(C)]
pub struct RLockState {
    lock: LockState,
    owner_tid: AtomicU32,
    count: AtomicU32,
}

// SAFETY: plain atomics, valid when zeroed, no pointers, no Drop.
unsafe impl ProcessShared for RLockState {}

fn my_tid() -> u32 {
    // gettid is a (cheap) system call; the RLock is not on anybody's fast path.
    nix::unistd::gettid().as_raw() as u32
}

/// A re-entrant lock shared between processes, like Python's `multiprocessing.RLock`: the
/// process and thread holding it may acquire it again, and must release it as many times.
///
/// ```
/// use multiproc::lock::RLock;
///
/// let r = RLock::new();
/// r.acquire();
/// r.acquire();            // same owner: no deadlock
/// assert_eq!(r.count(), 2);
/// r.release();
/// r.release();
/// assert_eq!(r.count(), 0);
/// ```
#[derive(Clone)]
pub struct RLock {
    state: Shared<RLockState>,
    name: Arc<str>,
}

impl Default for RLock {
    fn default() -> Self {
        RLock::new()
    }
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.state.lock.holder.load(Ordering::Relaxed);
        if self.state.lock.is_locked() {
            write!(f, "<RLock({}, {})>", key_pid(key), self.count())
        } else {
            write!(f, "<RLock(None, 0)>")
        }
    }
}

impl RLock {
    /// Makes a new, unlocked re-entrant lock.
    ///
    /// ```
    /// let r = multiproc::lock::RLock::new();
    /// assert_eq!(r.count(), 0);
    /// ```
    pub fn new() -> RLock {
        RLock {
            state: new_shared(RLockState {
                lock: LockState::new(),
                owner_tid: AtomicU32::new(0),
                count: AtomicU32::new(0),
            }),
            name: waits::default_name("RLock"),
        }
    }

    /// Gives the lock a name for the kernel's deadlock reports (as [`Lock::named`]).
    ///
    /// ```
    /// let r = multiproc::lock::RLock::new().named("account");
    /// assert_eq!(r.name(), "account");
    /// ```
    pub fn named(mut self, name: impl Into<String>) -> RLock {
        self.name = name.into().into();
        self
    }

    /// The lock's name (see [`RLock::named`]).
    ///
    /// ```
    /// assert!(multiproc::lock::RLock::new().name().starts_with("RLock#"));
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    fn owned_here(&self) -> bool {
        self.state.lock.held_by_me() && self.state.owner_tid.load(Ordering::Relaxed) == my_tid()
    }

    fn acquire_impl(&self, deadline: Option<Instant>, what: &str) -> Result<bool, LockError> {
        if self.owned_here() {
            self.state.count.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        }
        if !self.state.lock.acquire(deadline, what, &self.name)? {
            return Ok(false);
        }
        self.taken();
        Ok(true)
    }

    /// This thread now owns the lock, once (the timeline's hold starts here).
    fn taken(&self) {
        self.state.owner_tid.store(my_tid(), Ordering::Relaxed);
        self.state.count.store(1, Ordering::Relaxed);
        timeline::note(timeline::Kind::LockAcquired, "RLock::acquire", &self.name, 0);
    }

    /// Blocks until this thread owns the lock; re-entrant. Panics on a dead holder like
    /// [`Lock::acquire`].
    ///
    /// ```
    /// let r = multiproc::lock::RLock::new();
    /// assert!(r.acquire());
    /// r.release();
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> bool {
        self.acquire_impl(None, "RLock::acquire").unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`acquire`](RLock::acquire), returning a dead holder as an error.
    ///
    /// ```
    /// let r = multiproc::lock::RLock::new();
    /// assert_eq!(r.acquire_checked(), Ok(true));
    /// r.release();
    /// ```
    #[track_caller]
    pub fn acquire_checked(&self) -> Result<bool, LockError> {
        self.acquire_impl(None, "RLock::acquire")
    }

    /// Waits at most `seconds`; `true` if acquired.
    ///
    /// ```
    /// let r = multiproc::lock::RLock::new();
    /// assert!(r.acquire_timeout(0.1));
    /// r.release();
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, seconds: f64) -> bool {
        self.acquire_impl(deadline_after(seconds), "RLock::acquire_timeout").unwrap_or_else(|e| panic!("{e}"))
    }

    /// Acquires without waiting if free or already owned by this thread.
    ///
    /// ```
    /// let r = multiproc::lock::RLock::new();
    /// assert!(r.try_acquire());
    /// assert!(r.try_acquire());
    /// r.release();
    /// r.release();
    /// ```
    pub fn try_acquire(&self) -> bool {
        if self.owned_here() {
            self.state.count.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        if self.state.lock.try_acquire() {
            self.taken();
            true
        } else {
            false
        }
    }

    /// Releases one level; panics with "cannot release un-acquired lock" unless this thread
    /// owns it (as Python does).
    ///
    /// ```
    /// let r = multiproc::lock::RLock::new();
    /// assert!(std::panic::catch_unwind(|| r.release()).is_err());
    /// ```
    #[track_caller]
    pub fn release(&self) {
        if !self.owned_here() {
            panic!("cannot release un-acquired lock");
        }
        if self.state.count.fetch_sub(1, Ordering::Relaxed) == 1 {
            // Logged before the lock is let go, as for a `Lock`.
            timeline::note(timeline::Kind::LockReleased, "RLock::release", &self.name, 0);
            self.state.owner_tid.store(0, Ordering::Relaxed);
            self.state.lock.release("cannot release un-acquired lock");
        }
    }

    /// Acquires and returns a guard releasing one level when dropped.
    ///
    /// ```
    /// let r = multiproc::lock::RLock::new();
    /// let a = r.lock();
    /// let b = r.lock();
    /// assert_eq!(r.count(), 2);
    /// drop(b);
    /// drop(a);
    /// assert_eq!(r.count(), 0);
    /// ```
    #[track_caller]
    pub fn lock(&self) -> RLockGuard<'_> {
        self.acquire();
        RLockGuard { lock: self }
    }

    /// How many times the owner has acquired it (0 when free).
    ///
    /// ```
    /// let r = multiproc::lock::RLock::new();
    /// assert_eq!(r.count(), 0);
    /// ```
    pub fn count(&self) -> u32 {
        if self.state.lock.is_locked() { self.state.count.load(Ordering::Relaxed) } else { 0 }
    }
}

/// Holds one level of an [`RLock`] until dropped.
///
/// ```
/// let r = multiproc::lock::RLock::new();
/// let g = r.lock();
/// drop(g);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        self.lock.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_key_is_alive_and_has_start_time() {
        let key = my_key();
        assert_eq!(key_pid(key), std::process::id());
        assert_ne!(key & 0xffff_ffff, 0);
        assert!(key_alive(key));
    }

    #[test]
    fn pid_reuse_is_detected_by_start_time() {
        let key = my_key();
        // Same pid, different start time: a different process.
        assert!(!key_alive(key ^ 1));
    }
}
