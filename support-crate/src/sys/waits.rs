//! Who waits for what: the wait-for records the notebook kernel's deadlock detector reads.
//!
//! Inside the kernel, every process of the notebook maps one shared table (a memfd the kernel
//! made; its descriptor number is in [`WAITS_FD_ENV`]). A thread that is about to *sleep* in a
//! blocking call of this crate (a contended `Lock::acquire`, a `Queue::get` on an empty queue,
//! `Process::join`, …) claims a [`Slot`] and writes one record: its pid and thread id, the
//! operation (`"Lock::acquire"`), the object's name (`"fork 2"`), for a lock the process and
//! thread holding it, for a join the pid it waits for, whether the wait has a timeout, and
//! since when it waits. It clears the slot when it wakes. Nothing is written on a fast path
//! (a lock taken at once, an item already there): only just before a thread would sleep.
//! A Manager's server idle in `accept` writes a record marked [`SERVES`] ([`Waiting::serving`]):
//! it is stuck only while no client's `Manager::call` record names its pid.
//!
//! Each record is written under a sequence counter (odd while it is being written), so a
//! reader can take a consistent copy without a lock. The kernel samples the table a few
//! times a second (`kernel/src/supervision/lens/deadlock.rs`); a later timeline can sample or
//! log the same records: `since_ns` is `CLOCK_MONOTONIC`, the clock every process shares.
//!
//! Outside the kernel there is no table, and [`Waiting::begin`] does nothing.
//!
//! ```
//! use multiproc::sys::waits::Waiting;
//! // In a plain program (no kernel) a record is a no-op.
//! let w = Waiting::begin("Lock::acquire", "fork 1", false);
//! assert!(!w.is_recorded() || std::env::var_os(multiproc::sys::waits::WAITS_FD_ENV).is_some());
//! ```

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// File descriptor number of the memfd holding the wait table (set by the kernel).
pub const WAITS_FD_ENV: &str = "MULTIPROC_KERNEL_WAITS_FD";
/// Number of slots in the table: threads that may sleep in this crate at once.
pub const SLOTS: usize = 1024;
/// Bytes of the operation text in a record (`"Lock::acquire"`).
pub const OP_BYTES: usize = 24;
/// Bytes of the object's name in a record (longer names are cut).
pub const NAME_BYTES: usize = 56;
/// Flag: the wait has a timeout (it ends by itself).
pub const TIMED: u32 = 1;
/// Flag: a server idle between requests (a Manager's server in `accept`): only a client's
/// request can wake it, so it counts as stuck unless some client waits for its answer.
///
/// ```
/// use multiproc::sys::waits::{SERVES, TIMED};
/// assert_eq!(SERVES & TIMED, 0); // two separate bits of a record's flags
/// ```
pub const SERVES: u32 = 2;

pub(crate) const TEXT_WORDS: usize = (OP_BYTES + NAME_BYTES) / 8;

/// One record of the table (128 bytes). `tid == 0`: free.
#[repr(C)]
pub struct Slot {
    /// Thread id (the operating system's) of the waiting thread; 0 while the slot is free.
    pub tid: AtomicU32,
    /// Even when the fields below are consistent, odd while being written.
    pub seq: AtomicU32,
    /// Process id of the waiting thread.
    pub pid: AtomicU32,
    /// [`TIMED`] or 0.
    pub flags: AtomicU32,
    /// For a lock: the holder's pid (0 if unknown); for a join: the pid waited for.
    pub other_pid: AtomicU32,
    _pad: AtomicU32,
    /// For a lock: the holder thread's [`this_thread`] (matches [`Slot::thread`]).
    pub other_thread: AtomicU64,
    /// The waiting thread's [`this_thread`].
    pub thread: AtomicU64,
    /// When the wait began (`CLOCK_MONOTONIC`, nanoseconds).
    pub since_ns: AtomicU64,
    /// Operation (first [`OP_BYTES`]) and name ([`NAME_BYTES`]), NUL-padded UTF-8.
    pub text: [AtomicU64; TEXT_WORDS],
}

// SAFETY: plain atomics, valid when zeroed.
unsafe impl crate::sys::shm::ProcessShared for Slot {}

/// Size in bytes of the whole table.
pub const TABLE_BYTES: usize = SLOTS * std::mem::size_of::<Slot>();

/// A consistent copy of one record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// Slot index.
    pub slot: usize,
    /// Waiting process.
    pub pid: u32,
    /// Waiting thread (OS id).
    pub tid: u32,
    /// Waiting thread's `pthread_self()`.
    pub thread: u64,
    /// Operation, e.g. `Lock::acquire`.
    pub op: String,
    /// The object's name.
    pub name: String,
    /// Lock holder's pid / joined pid, 0 if none.
    pub other_pid: u32,
    /// Lock holder's `pthread_self()`, 0 if none.
    pub other_thread: u64,
    /// The wait has a timeout.
    pub timed: bool,
    /// A server idle between requests ([`SERVES`]).
    pub serves: bool,
    /// Start of the wait, `CLOCK_MONOTONIC` nanoseconds.
    pub since_ns: u64,
}

/// Nanoseconds on `CLOCK_MONOTONIC`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A number that names the calling thread among the live threads of its process: its thread
/// pointer (what `pthread_self()` returns with glibc and musl), read with one instruction on
/// x86-64 and AArch64 so that a lock's fast path can store it without a call.
#[inline(always)]
pub fn this_thread() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        let tp: u64;
        // SAFETY: reads the first word of the thread control block, which points at itself.
        unsafe { std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags)) };
        tp
    }
    #[cfg(target_arch = "aarch64")]
    {
        let tp: u64;
        // SAFETY: reads the thread pointer register.
        unsafe { std::arch::asm!("mrs {}, tpidr_el0", out(reg) tp, options(nostack, nomem, preserves_flags)) };
        tp
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        // SAFETY: always valid.
        unsafe { libc::pthread_self() as u64 }
    }
}

pub(crate) fn pack(op: &str, name: &str) -> [u64; TEXT_WORDS] {
    let mut bytes = [0u8; OP_BYTES + NAME_BYTES];
    let cut = |s: &str, n: usize| {
        let mut end = s.len().min(n);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        end
    };
    let o = cut(op, OP_BYTES);
    bytes[..o].copy_from_slice(&op.as_bytes()[..o]);
    let n = cut(name, NAME_BYTES);
    bytes[OP_BYTES..OP_BYTES + n].copy_from_slice(&name.as_bytes()[..n]);
    let mut words = [0u64; TEXT_WORDS];
    for (i, w) in words.iter_mut().enumerate() {
        *w = u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    }
    words
}

pub(crate) fn unpack(words: &[u64; TEXT_WORDS]) -> (String, String) {
    let mut bytes = Vec::with_capacity(OP_BYTES + NAME_BYTES);
    for w in words {
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    let text = |b: &[u8]| {
        let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    };
    (text(&bytes[..OP_BYTES]), text(&bytes[OP_BYTES..]))
}

/// A view of a table mapped in this process.
#[derive(Clone, Copy)]
pub struct Table {
    slots: &'static [Slot],
}

impl Table {
    /// Maps the table from the descriptor `fd` (the kernel's memfd), for the process lifetime.
    pub fn map(fd: i32) -> std::io::Result<Table> {
        // SAFETY: a shared mapping of a descriptor we were given, never unmapped.
        let ptr = unsafe {
            libc::mmap(std::ptr::null_mut(), TABLE_BYTES, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: page-aligned, TABLE_BYTES long, zero-filled atomics, lives forever.
        Ok(Table { slots: unsafe { std::slice::from_raw_parts(ptr.cast::<Slot>(), SLOTS) } })
    }

    /// Consistent copies of every record in use.
    pub fn records(&self) -> Vec<Record> {
        let mut out = Vec::new();
        for (i, s) in self.slots.iter().enumerate() {
            if s.tid.load(Ordering::Acquire) == 0 {
                continue;
            }
            for _ in 0..4 {
                let s1 = s.seq.load(Ordering::Acquire);
                if s1 % 2 == 1 {
                    std::hint::spin_loop();
                    continue;
                }
                let mut words = [0u64; TEXT_WORDS];
                for (w, a) in words.iter_mut().zip(&s.text) {
                    *w = a.load(Ordering::Relaxed);
                }
                let (op, name) = unpack(&words);
                let r = Record {
                    slot: i,
                    pid: s.pid.load(Ordering::Relaxed),
                    tid: s.tid.load(Ordering::Relaxed),
                    thread: s.thread.load(Ordering::Relaxed),
                    op,
                    name,
                    other_pid: s.other_pid.load(Ordering::Relaxed),
                    other_thread: s.other_thread.load(Ordering::Relaxed),
                    timed: s.flags.load(Ordering::Relaxed) & TIMED != 0,
                    serves: s.flags.load(Ordering::Relaxed) & SERVES != 0,
                    since_ns: s.since_ns.load(Ordering::Relaxed),
                };
                std::sync::atomic::fence(Ordering::Acquire);
                if s.seq.load(Ordering::Relaxed) == s1 && r.tid != 0 {
                    out.push(r);
                }
                break;
            }
        }
        out
    }

    /// Frees the slot of a record whose thread no longer exists (the kernel's clean-up).
    pub fn free_if(&self, slot: usize, tid: u32) {
        if let Some(s) = self.slots.get(slot) {
            let _ = s.tid.compare_exchange(tid, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
    }
}

/// The table of this process, if it runs inside the kernel.
pub fn table() -> Option<Table> {
    static TABLE: OnceLock<Option<Table>> = OnceLock::new();
    *TABLE.get_or_init(|| {
        let fd: i32 = std::env::var(WAITS_FD_ENV).ok()?.parse().ok()?;
        Table::map(fd).ok()
    })
}

fn gettid() -> u32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

/// One published wait; the record is cleared when it is dropped.
///
/// Made by the crate's blocking calls just before they sleep (never on a fast path).
pub struct Waiting {
    slot: Option<&'static Slot>,
    /// While the timeline records: the operation, the name and the last holder/joined pid and
    /// thread, for the "woke" event of [`super::timeline`] (`None` when it is off).
    timeline: Option<Box<TimelineWait>>,
}

struct TimelineWait {
    op: String,
    name: String,
    other: std::cell::Cell<(u32, u64)>,
}

impl Waiting {
    /// Publishes "this thread waits in `op` for `name`" (`timed`: the wait has a timeout).
    ///
    /// ```
    /// let w = multiproc::sys::waits::Waiting::begin("Queue::get", "jobs", false);
    /// drop(w); // cleared
    /// ```
    pub fn begin(op: &str, name: &str, timed: bool) -> Waiting {
        Waiting::with_flags(op, name, if timed { TIMED } else { 0 })
    }

    /// Publishes "this server waits for its next request" (a record with [`SERVES`]): the
    /// detector counts it as stuck only while no client waits for an answer from this process
    /// (a record whose `other_pid` is this process and whose operation starts like `op`'s
    /// type, e.g. `Manager::call` for `Manager::serve`).
    ///
    /// ```
    /// let idle = multiproc::sys::waits::Waiting::serving("Manager::serve", "Manager-1");
    /// drop(idle); // a request came
    /// ```
    pub fn serving(op: &str, name: &str) -> Waiting {
        Waiting::with_flags(op, name, SERVES)
    }

    fn with_flags(op: &str, name: &str, flags: u32) -> Waiting {
        let timeline = super::timeline::on().then(|| {
            super::timeline::event(super::timeline::Kind::Blocked, op, name, 0, 0);
            Box::new(TimelineWait { op: op.to_string(), name: name.to_string(), other: std::cell::Cell::new((0, 0)) })
        });
        Waiting { slot: Self::claim(op, name, flags), timeline }
    }

    fn claim(op: &str, name: &str, flags: u32) -> Option<&'static Slot> {
        let table = table()?;
        let tid = gettid();
        let start = tid as usize % SLOTS;
        for k in 0..SLOTS {
            let s = &table.slots[(start + k) % SLOTS];
            if s.tid.compare_exchange(0, tid, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                let seq = s.seq.load(Ordering::Relaxed);
                s.seq.store(seq.wrapping_add(1) | 1, Ordering::Relaxed);
                std::sync::atomic::fence(Ordering::Release);
                s.pid.store(std::process::id(), Ordering::Relaxed);
                s.flags.store(flags, Ordering::Relaxed);
                s.other_pid.store(0, Ordering::Relaxed);
                s.other_thread.store(0, Ordering::Relaxed);
                s.thread.store(this_thread(), Ordering::Relaxed);
                s.since_ns.store(monotonic_ns(), Ordering::Relaxed);
                for (a, w) in s.text.iter().zip(pack(op, name)) {
                    a.store(w, Ordering::Relaxed);
                }
                s.seq.store((seq.wrapping_add(1) | 1).wrapping_add(1), Ordering::Release);
                return Some(s);
            }
        }
        // Table full: this wait goes unrecorded (the detector then never reports a deadlock
        // that involves it, which errs on the safe side).
        None
    }

    /// True when the wait is in the kernel's table.
    pub fn is_recorded(&self) -> bool {
        self.slot.is_some()
    }

    /// Sets who the wait depends on: a lock's holder (pid and `pthread_self()`), or the pid a
    /// join waits for (`thread` 0). Rewrites the record only when the values changed.
    pub fn other(&self, pid: u32, thread: u64) {
        if let Some(t) = &self.timeline {
            t.other.set((pid, thread));
        }
        let Some(s) = self.slot else { return };
        if s.other_pid.load(Ordering::Relaxed) == pid && s.other_thread.load(Ordering::Relaxed) == thread {
            return;
        }
        let seq = s.seq.load(Ordering::Relaxed);
        s.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        s.other_pid.store(pid, Ordering::Relaxed);
        s.other_thread.store(thread, Ordering::Relaxed);
        s.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(s) = self.slot {
            s.tid.store(0, Ordering::Release);
        }
        if let Some(t) = &self.timeline {
            let (pid, thread) = t.other.get();
            super::timeline::event(super::timeline::Kind::Woke, &t.op, &t.name, u64::from(pid), thread);
        }
    }
}

/// Numbers default names (`Lock#1`, `Queue#2`, …) in the order objects are made.
pub(crate) fn default_name(kind: &str) -> std::sync::Arc<str> {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    format!("{kind}#{}", NEXT.fetch_add(1, Ordering::Relaxed)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_thread_differs_between_threads_and_is_pthread_self_here() {
        let me = this_thread();
        assert_eq!(me, this_thread());
        #[cfg(all(target_env = "gnu", any(target_arch = "x86_64", target_arch = "aarch64")))]
        assert_eq!(me, unsafe { libc::pthread_self() } as u64);
        let other = std::thread::spawn(this_thread).join().unwrap();
        assert_ne!(me, other);
    }

    #[test]
    fn a_slot_is_128_bytes() {
        // Two slots per cache line pair; TABLE_BYTES (and the benchmark's copy) rely on it.
        assert_eq!(std::mem::size_of::<Slot>(), 128);
        assert_eq!(TABLE_BYTES, 1024 * 128);
    }

    #[test]
    fn text_round_trips_and_is_cut_at_a_char_boundary() {
        let words = pack("Lock::acquire", "fork 2");
        assert_eq!(unpack(&words), ("Lock::acquire".to_string(), "fork 2".to_string()));
        let long = "é".repeat(50);
        let (_, name) = unpack(&pack("x", &long));
        assert_eq!(name, "é".repeat(NAME_BYTES / 2));
    }

    #[test]
    fn a_table_records_and_clears() {
        // A private table, mapped from a memfd as the kernel does.
        let fd = unsafe { libc::memfd_create(c"waits-test".as_ptr(), 0) };
        assert!(fd >= 0);
        assert_eq!(unsafe { libc::ftruncate(fd, TABLE_BYTES as libc::off_t) }, 0);
        let table = Table::map(fd).unwrap();
        let s = &table.slots[3];
        s.tid.store(77, Ordering::SeqCst);
        s.pid.store(5, Ordering::SeqCst);
        for (a, w) in s.text.iter().zip(pack("Queue::get", "jobs")) {
            a.store(w, Ordering::SeqCst);
        }
        let r = table.records();
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].slot, r[0].pid, r[0].tid, r[0].op.as_str(), r[0].name.as_str()), (3, 5, 77, "Queue::get", "jobs"));
        table.free_if(3, 77);
        assert!(table.records().is_empty());
    }
}
