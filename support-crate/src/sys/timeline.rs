//! The timeline's event log: what a cell's processes did, and when, for the kernel to draw.
//!
//! Inside the kernel, every process of the notebook maps one shared log (a memfd the kernel
//! made; its descriptor number is in [`TIMELINE_FD_ENV`], passed like the wait table of
//! [`super::waits`]). While the kernel records a cell (`:timeline`), the crate appends one
//! [`Entry`] per event: a process starts or exits, a thread begins or ends a wait in the crate
//! (the same places and fields as the wait records: operation, object, holder), a lock is
//! taken or let go, an item is put on or taken from a queue (with the item's number in that
//! queue, so the kernel can draw an arrow from each put to the get that took the item), and a
//! parent joins a child. Appending is one `fetch_add` on the log's counter to claim an entry,
//! plain stores into it, and a release store of its kind last; the time is `CLOCK_MONOTONIC`
//! (read through the vDSO: no system call), the clock every process and the kernel share.
//!
//! **Off costs one relaxed load and a branch.** Each loaded copy of this crate (every notebook
//! cell carries one, see `sys/one_copy.rs`) has its own switch, [`on`]: `UNKNOWN` in a copy
//! that has not looked yet, then `OFF` or `ON`. Only `UNKNOWN` and `ON` take the slow path.
//! The kernel writes its decision into the log's header before a cell runs; the runtime's
//! before-cell hook ([`before_cell`]) copies it into every loaded copy when it changed, a copy
//! loaded later reads it on first use, and a forked child inherits its parent's switches. On the
//! slow path the header is read again, so recording stops in every process as soon as the
//! kernel ends it. When the log is full (or there is no kernel) events are dropped.
//!
//! ```
//! use multiproc::sys::timeline;
//! // Outside the kernel there is no log: nothing is recorded and the switch stays off.
//! timeline::event(timeline::Kind::LockAcquired, "Lock::acquire", "pen", 0, 0);
//! assert!(!timeline::recording() || std::env::var_os(timeline::TIMELINE_FD_ENV).is_some());
//! ```

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use super::waits::{self, NAME_BYTES, OP_BYTES};

/// File descriptor number of the memfd holding the log (set by the kernel).
pub const TIMELINE_FD_ENV: &str = "MULTIPROC_KERNEL_TIMELINE_FD";
/// Entries the log holds; events past it are counted in [`Header::dropped`] and lost.
pub const ENTRIES: usize = 16384;
/// `Header::magic` once the kernel made the log.
pub const MAGIC: u32 = 0x544c_4731; // "TLG1"

const TEXT_WORDS: usize = (OP_BYTES + NAME_BYTES) / 8;

/// What happened. The numbers are the log's format (the kernel reads them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Kind {
    /// A child started by `Process::start` began (name: its name; `a`: parent pid).
    ProcessStart = 1,
    /// A child's target returned or panicked (`a`: its exit code).
    ProcessExit = 2,
    /// A thread other than a process's main thread was seen first (name: its name, if any).
    ThreadSeen = 3,
    /// A thread began to sleep in a blocking call of the crate (op, name, `a`: holder/joined pid).
    Blocked = 4,
    /// The same wait ended (op, name, `a`: last known holder/joined pid, `b`: holder thread).
    Woke = 5,
    /// A lock was taken (name: the lock).
    LockAcquired = 6,
    /// A lock was let go (name: the lock).
    LockReleased = 7,
    /// An item was put (name: the queue; `a`: the item's number in that queue, from 0).
    Put = 8,
    /// An item was taken (name: the queue; `a`: the number the put gave it).
    Get = 9,
    /// A parent called `join` (name: the child's name; `a`: the child's pid).
    JoinCalled = 10,
    /// That `join` returned (`a`: the child's pid; `b`: 1 if the child had finished).
    JoinReturned = 11,
    /// The runtime is about to run a cell's code (written by [`before_cell`]).
    CellBegins = 12,
    /// The cell's code returned (written by [`after_cell`]).
    CellEnds = 13,
    /// A message was sent on a pipe (name: `pipe`; `a`: its number, from [`sent`], carried
    /// in the message itself).
    Send = 14,
    /// A message was received (name: `pipe`; `a`: the number its sender gave it).
    Recv = 15,
    /// A thread that was seen (see [`Kind::ThreadSeen`]) ended (written by its thread-local
    /// destructor).
    ThreadExit = 16,
    /// `Process::start` forked a child, in the parent (name: the child's name; `a`: its pid):
    /// the child's row begins here, before its own first event.
    Spawned = 17,
}

impl Kind {
    /// The kind stored as `n`, if any.
    ///
    /// ```
    /// use multiproc::sys::timeline::Kind;
    /// assert_eq!(Kind::from_u32(8), Some(Kind::Put));
    /// assert_eq!(Kind::from_u32(0), None);
    /// ```
    pub fn from_u32(n: u32) -> Option<Kind> {
        use Kind::*;
        [ProcessStart, ProcessExit, ThreadSeen, Blocked, Woke, LockAcquired, LockReleased, Put, Get, JoinCalled, JoinReturned, CellBegins, CellEnds, Send, Recv,
         ThreadExit, Spawned]
            .into_iter()
            .find(|k| *k as u32 == n)
    }
}

/// The log's first 64 bytes.
#[repr(C, align(64))]
pub struct Header {
    /// [`MAGIC`] once made.
    pub magic: AtomicU32,
    /// 1 while the kernel records (read on the slow path and by [`before_cell`]).
    pub on: AtomicU32,
    /// Entries claimed so far (may pass [`ENTRIES`]: those events were dropped).
    pub next: AtomicU64,
    /// Events dropped because the log was full.
    pub dropped: AtomicU64,
    /// Pipe messages numbered so far (by [`sent`]; never reset, so a number is never reused).
    pub messages: AtomicU64,
}

/// One event (128 bytes).
#[repr(C)]
pub struct Entry {
    /// The [`Kind`]; 0 until the entry is complete (stored last, with release ordering).
    pub kind: AtomicU32,
    /// Process id of the thread that wrote it.
    pub pid: AtomicU32,
    /// Thread id (the operating system's).
    pub tid: AtomicU32,
    _pad: AtomicU32,
    /// When (`CLOCK_MONOTONIC`, nanoseconds).
    pub t_ns: AtomicU64,
    /// The writing thread's `waits::this_thread()`.
    pub thread: AtomicU64,
    /// Kind-dependent number (see [`Kind`]).
    pub a: AtomicU64,
    /// Kind-dependent number (see [`Kind`]).
    pub b: AtomicU64,
    /// Operation (first [`OP_BYTES`]) and name ([`NAME_BYTES`]), NUL-padded UTF-8.
    pub text: [AtomicU64; TEXT_WORDS],
}

// SAFETY: plain atomics, valid when zeroed.
unsafe impl super::shm::ProcessShared for Header {}
// SAFETY: plain atomics, valid when zeroed.
unsafe impl super::shm::ProcessShared for Entry {}

/// Size in bytes of the whole log (the header takes the first entry's place).
pub const LOG_BYTES: usize = (ENTRIES + 1) * std::mem::size_of::<Entry>();

/// A copy of one complete entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: Kind,
    /// Writer's process id.
    pub pid: u32,
    /// Writer's thread id.
    pub tid: u32,
    /// Writer's thread pointer.
    pub thread: u64,
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub t_ns: u64,
    /// See [`Kind`].
    pub a: u64,
    /// See [`Kind`].
    pub b: u64,
    /// Operation (`Lock::acquire`), may be empty.
    pub op: String,
    /// Object or process name.
    pub name: String,
}

/// A view of a log mapped in this process.
#[derive(Clone, Copy)]
pub struct Log {
    header: &'static Header,
    entries: &'static [Entry],
}

impl Log {
    /// Maps the log from the descriptor `fd` (the kernel's memfd), for the process lifetime.
    pub fn map(fd: i32) -> std::io::Result<Log> {
        // SAFETY: a shared mapping of a descriptor we were given, never unmapped.
        let ptr = unsafe {
            libc::mmap(std::ptr::null_mut(), LOG_BYTES, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: page-aligned, LOG_BYTES long, zero-filled atomics, lives forever; the header
        // is as large as one entry (both 64-byte aligned, the entry 128 bytes: see the tests).
        unsafe {
            let header = &*ptr.cast::<Header>();
            let entries = std::slice::from_raw_parts(ptr.cast::<Entry>().add(1), ENTRIES);
            Ok(Log { header, entries })
        }
    }

    /// The log's header.
    pub fn header(&self) -> &'static Header {
        self.header
    }

    /// Empties the log (the kernel, before a recorded cell, while recording is off).
    pub fn clear(&self) {
        let used = (self.header.next.load(Ordering::Acquire) as usize).min(ENTRIES);
        for e in &self.entries[..used] {
            e.kind.store(0, Ordering::Relaxed);
        }
        self.header.dropped.store(0, Ordering::Relaxed);
        self.header.next.store(0, Ordering::Release);
    }

    /// Turns recording on or off for every process (the kernel).
    pub fn set_on(&self, on: bool) {
        self.header.magic.store(MAGIC, Ordering::Relaxed);
        self.header.on.store(u32::from(on), Ordering::SeqCst);
    }

    /// Copies of every complete entry, in the order they were claimed.
    pub fn events(&self) -> Vec<Event> {
        let used = (self.header.next.load(Ordering::Acquire) as usize).min(ENTRIES);
        let mut out = Vec::with_capacity(used);
        for e in &self.entries[..used] {
            let Some(kind) = Kind::from_u32(e.kind.load(Ordering::Acquire)) else { continue };
            let mut words = [0u64; TEXT_WORDS];
            for (w, a) in words.iter_mut().zip(&e.text) {
                *w = a.load(Ordering::Relaxed);
            }
            let (op, name) = waits::unpack(&words);
            out.push(Event {
                kind,
                pid: e.pid.load(Ordering::Relaxed),
                tid: e.tid.load(Ordering::Relaxed),
                thread: e.thread.load(Ordering::Relaxed),
                t_ns: e.t_ns.load(Ordering::Relaxed),
                a: e.a.load(Ordering::Relaxed),
                b: e.b.load(Ordering::Relaxed),
                op,
                name,
            });
        }
        out
    }

    /// Events lost because the log was full.
    pub fn dropped(&self) -> u64 {
        self.header.dropped.load(Ordering::Relaxed)
    }

    fn append(&self, kind: Kind, op: &str, name: &str, a: u64, b: u64) {
        let i = self.header.next.fetch_add(1, Ordering::AcqRel) as usize;
        let Some(e) = self.entries.get(i) else {
            self.header.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let (pid, tid) = pid_tid();
        e.pid.store(pid, Ordering::Relaxed);
        e.tid.store(tid, Ordering::Relaxed);
        e.thread.store(waits::this_thread(), Ordering::Relaxed);
        e.t_ns.store(waits::monotonic_ns(), Ordering::Relaxed);
        e.a.store(a, Ordering::Relaxed);
        e.b.store(b, Ordering::Relaxed);
        for (slot, w) in e.text.iter().zip(waits::pack(op, name)) {
            slot.store(w, Ordering::Relaxed);
        }
        e.kind.store(kind as u32, Ordering::Release);
    }
}

/// This process's pid and the calling thread's id, without a system call after the first event
/// of a thread. (The pid comes from the lock's cached identity, which a fork handler resets;
/// a thread's cached id is renewed when the pid changed, i.e. in the child of a fork, whose
/// only thread is the one that forked.)
fn pid_tid() -> (u32, u32) {
    thread_local!(static IDS: std::cell::Cell<(u32, u32)> = const { std::cell::Cell::new((0, 0)) });
    let pid = crate::lock::key_pid(crate::lock::my_key());
    IDS.with(|ids| {
        let (cached_pid, tid) = ids.get();
        if cached_pid == pid && tid != 0 {
            return (pid, tid);
        }
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
        ids.set((pid, tid));
        (pid, tid)
    })
}

/// The log of this process, if it runs inside the kernel.
pub fn log() -> Option<Log> {
    static LOG: OnceLock<Option<Log>> = OnceLock::new();
    *LOG.get_or_init(|| {
        let fd: i32 = std::env::var(TIMELINE_FD_ENV).ok()?.parse().ok()?;
        Log::map(fd).ok()
    })
}

const UNKNOWN: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;

/// This copy's switch (see the module's text).
static SWITCH: AtomicU8 = AtomicU8::new(UNKNOWN);

/// The switch's address, exported so that [`before_cell`] can set the switch of every loaded
/// copy. (The switch itself is not exported: an exported static is read through the global
/// offset table, one more load on every fast path.)
#[unsafe(no_mangle)]
static MULTIPROC_TIMELINE_V1: &AtomicU8 = &SWITCH;

/// The last decision [`before_cell`] copied into every loaded copy (used in the first one).
#[unsafe(no_mangle)]
static MULTIPROC_TIMELINE_LAST_V1: AtomicU8 = AtomicU8::new(UNKNOWN);

/// True when this copy is recording (or has not looked yet): the one relaxed load and branch
/// that every recording place pays when the timeline is off.
///
/// ```
/// // Outside the kernel the first look finds no log and turns the switch off for good.
/// if std::env::var_os(multiproc::sys::timeline::TIMELINE_FD_ENV).is_none() {
///     let _ = multiproc::sys::timeline::recording();
///     assert!(!multiproc::sys::timeline::on());
/// }
/// ```
#[inline(always)]
pub fn on() -> bool {
    SWITCH.load(Ordering::Relaxed) != OFF
}

/// Whether the kernel records right now (reads the log's header; sets this copy's switch).
#[cold]
pub fn recording() -> bool {
    let now = log().is_some_and(|l| l.header.magic.load(Ordering::Relaxed) == MAGIC && l.header.on.load(Ordering::Relaxed) != 0);
    SWITCH.store(if now { ON } else { OFF }, Ordering::Relaxed);
    now
}

/// Appends one event if the kernel records (the slow path of every recording place).
///
/// ```
/// use multiproc::sys::timeline::{event, Kind};
/// event(Kind::Put, "Queue::put", "jobs", 0, 0); // no kernel here: nothing happens
/// ```
#[cold]
#[inline(never)]
pub fn event(kind: Kind, op: &str, name: &str, a: u64, b: u64) {
    if !recording() {
        return;
    }
    let Some(log) = log() else { return };
    if kind != Kind::ThreadSeen {
        see_thread(&log);
    }
    log.append(kind, op, name, a, b);
}

/// Numbers a pipe message about to be sent and records its [`Kind::Send`] when the kernel
/// records: returns the number (from 1) for the sender to put into the message, so that the
/// receiver's [`Kind::Recv`] names the same message; 0 when nothing is recorded. A pipe end
/// may be written by several processes at once, so the number comes from the one counter every
/// process shares (the log's header), not from the end.
///
/// ```
/// // No kernel here: nothing is recorded and the message carries no number.
/// if std::env::var_os(multiproc::sys::timeline::TIMELINE_FD_ENV).is_none() {
///     assert_eq!(multiproc::sys::timeline::sent("Connection::send"), 0);
/// }
/// ```
#[cold]
#[inline(never)]
pub fn sent(op: &str) -> u64 {
    if !recording() {
        return 0;
    }
    let Some(log) = log() else { return 0 };
    let number = log.header.messages.fetch_add(1, Ordering::Relaxed) + 1;
    see_thread(&log);
    log.append(Kind::Send, op, "pipe", number, 0);
    number
}

/// Records the calling thread's name once per thread, when it is not a process's main thread;
/// its end is then recorded too ([`Kind::ThreadExit`], when the thread's locals are dropped).
fn see_thread(log: &Log) {
    /// Set once the thread was seen; dropped when the thread ends.
    struct Seen(std::cell::Cell<bool>);
    impl Drop for Seen {
        fn drop(&mut self) {
            if self.0.get() && on() {
                event(Kind::ThreadExit, "", "", 0, 0);
            }
        }
    }
    thread_local!(static SEEN: Seen = const { Seen(std::cell::Cell::new(false)) });
    let (pid, tid) = pid_tid();
    // (While the thread ends, its locals may be gone already: then there is nothing to mark.)
    if tid == pid || SEEN.try_with(|s| s.0.replace(true)).unwrap_or(true) {
        return;
    }
    let current = std::thread::current();
    log.append(Kind::ThreadSeen, "", current.name().unwrap_or(""), 0, 0);
}

/// Records `kind` when the timeline is on: costs one relaxed load and a branch when it is off.
///
/// ```
/// multiproc::sys::timeline::note(multiproc::sys::timeline::Kind::LockReleased, "", "pen", 0);
/// ```
#[inline(always)]
pub fn note(kind: Kind, op: &str, name: &str, a: u64) {
    if on() {
        event(kind, op, name, a, 0);
    }
}

/// The runtime's before-cell hook: copies the kernel's decision into every loaded copy of the
/// crate when it changed since the last cell (the copies' switches then agree with the log).
///
/// ```
/// multiproc::sys::timeline::before_cell(); // outside the kernel: nothing to do
/// ```
pub fn before_cell() {
    // The last decision copied, kept in the first loaded copy (each cell calls this hook from
    // its own copy, whose statics are fresh).
    // SAFETY: every copy exports an `AtomicU8` under this name.
    let last = unsafe { super::one_copy::first_loaded(c"MULTIPROC_TIMELINE_LAST_V1", &MULTIPROC_TIMELINE_LAST_V1) };
    let now = if recording() { ON } else { OFF };
    if last.swap(now, Ordering::Relaxed) == now || log().is_none() {
        return;
    }
    // SAFETY: every copy of this crate exports a `&AtomicU8` under this name.
    for copy in unsafe { super::one_copy::all_loaded::<&'static AtomicU8>(c"MULTIPROC_TIMELINE_V1") } {
        copy.store(now, Ordering::Relaxed);
    }
}

/// Marks the start of the cell's code (the runtime's before-cell hook, after [`before_cell`]):
/// the timeline starts here, not when the kernel began compiling the cell.
///
/// ```
/// multiproc::sys::timeline::cell_begins(); // outside the kernel: nothing
/// ```
pub fn cell_begins() {
    note(Kind::CellBegins, "", "", 0);
}

/// Marks the end of the cell's code (the runtime's after-cell hook).
///
/// ```
/// multiproc::sys::timeline::after_cell(); // outside the kernel: nothing
/// ```
pub fn after_cell() {
    note(Kind::CellEnds, "", "", 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private_log() -> Log {
        // SAFETY: a fresh memfd, sized and mapped as the kernel does.
        let fd = unsafe { libc::memfd_create(c"timeline-test".as_ptr(), 0) };
        assert!(fd >= 0);
        assert_eq!(unsafe { libc::ftruncate(fd, LOG_BYTES as libc::off_t) }, 0);
        Log::map(fd).unwrap()
    }

    #[test]
    fn layout_is_fixed() {
        assert_eq!(std::mem::size_of::<Entry>(), 128);
        assert!(std::mem::size_of::<Header>() <= 128);
        assert_eq!(LOG_BYTES, 128 * (ENTRIES + 1));
    }

    #[test]
    fn appended_events_come_back_in_order_with_their_fields() {
        let log = private_log();
        log.set_on(true);
        log.append(Kind::Put, "Queue::put", "jobs", 0, 0);
        log.append(Kind::Get, "Queue::get", "jobs", 0, 0);
        log.append(Kind::Blocked, "Lock::acquire", "fork 2", 42, 0);
        let ev = log.events();
        assert_eq!(ev.len(), 3);
        assert_eq!((ev[0].kind, ev[0].op.as_str(), ev[0].name.as_str()), (Kind::Put, "Queue::put", "jobs"));
        assert_eq!((ev[2].kind, ev[2].a), (Kind::Blocked, 42));
        assert_eq!(ev[0].pid, std::process::id());
        assert!(ev[0].t_ns <= ev[1].t_ns && ev[1].t_ns <= ev[2].t_ns);
        log.clear();
        assert!(log.events().is_empty());
    }

    #[test]
    fn a_full_log_drops_and_counts() {
        let log = private_log();
        log.header.next.store(ENTRIES as u64, Ordering::SeqCst);
        log.append(Kind::Put, "Queue::put", "q", 0, 0);
        assert_eq!(log.dropped(), 1);
        assert_eq!(log.events().len(), 0, "entries never written are not complete");
    }

    #[test]
    fn threads_writing_at_once_lose_nothing() {
        let log = private_log();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                s.spawn(move || {
                    for i in 0..1000 {
                        log.append(Kind::Put, "Queue::put", "q", t * 1000 + i, 0);
                    }
                });
            }
        });
        let mut seen: Vec<u64> = log.events().iter().map(|e| e.a).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..4000).collect::<Vec<_>>());
    }
}
