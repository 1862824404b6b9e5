//! A byte ring buffer in `MAP_SHARED` memory, shared by every process forked after it was made:
//! the transport under [`crate::queue`].
//!
//! Why hand-written: the crates that offer cross-process queues either need a broker process,
//! named files, or `exec`-style spawning; none works on anonymous memory inherited through `fork`,
//! with waits that the notebook's stop button can end. The pieces are small:
//!
//! - a futex mutex whose word holds the holder's pid, so that a waiter can notice a holder that
//!   died (`kill -9` while inside `get`) and take the lock over instead of hanging (Python hangs);
//! - two futex "sequence" words: `put_seq` changes whenever an item arrives (or the queue
//!   closes), `get_seq` whenever one leaves; waiters sleep on them while the value they saw holds;
//! - the ring itself: each item is a 4-byte little-endian length followed by its bytes, wrapping
//!   around the end of the buffer.
//!
//! Every change of the ring's state is *one* 64-bit store (`tail` for producers, `head` for
//! consumers: item counter in the high half, byte offset in the low half). A process killed at
//! any moment therefore leaves either the whole item or nothing, so taking over a dead holder's
//! lock is safe.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::futex::{self, Woken};
use super::shm::Region;
use super::wait;

/// Bit set in the lock word when some process may be sleeping on it.
const CONTENDED: u32 = 1 << 31;
/// How long a waiter sleeps on the lock before checking whether its holder is still alive.
const HOLDER_CHECK: Duration = Duration::from_millis(100);

/// Default ring capacity in bytes.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// The producers' side: only `put` writes here (its own cache line).
#[repr(C, align(64))]
struct ProducerSide {
    lock: AtomicU32,
    /// Changes on every put and on close: the "not empty" condition word.
    put_seq: AtomicU32,
    /// Consumers sleeping on `put_seq`.
    get_waiters: AtomicU32,
    /// Items ever put (high 32 bits, wrapping) and write offset (low 32 bits).
    tail: AtomicU64,
}

/// The consumers' side: only `get` writes here.
#[repr(C, align(64))]
struct ConsumerSide {
    lock: AtomicU32,
    /// Changes on every get and on close: the "not full" condition word.
    get_seq: AtomicU32,
    /// Producers sleeping on `get_seq`.
    put_waiters: AtomicU32,
    /// Items ever taken (high 32 bits, wrapping) and read offset (low 32 bits).
    head: AtomicU64,
}

#[repr(C, align(64))]
struct Header {
    producer: ProducerSide,
    consumer: ConsumerSide,
    closed: AtomicU32,
    /// Items put and not yet marked done (`JoinableQueue`); also the futex word of `join`.
    unfinished: AtomicU32,
    capacity: AtomicU32,
    maxsize: AtomicU32,
}

/// Outcome of a non-blocking attempt.
pub enum Try<T> {
    /// Done.
    Ok(T),
    /// Nothing to take / no room; try again later.
    WouldBlock,
    /// The queue was closed (and, for takes, is empty).
    Closed,
}

/// The shared ring. Clones share the same memory.
#[derive(Clone)]
pub struct Ring {
    region: Arc<Region>,
}

fn split(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

fn join(count: u32, off: u32) -> u64 {
    (u64::from(count) << 32) | u64::from(off)
}

/// This process's pid, cached: `getpid` is a real system call (glibc stopped caching it), and
/// it would otherwise be the most expensive part of taking an uncontended lock.
static PID: AtomicU32 = AtomicU32::new(0);

extern "C" fn forget_pid_in_child() {
    PID.store(0, Ordering::Relaxed);
}

fn my_pid() -> u32 {
    let pid = PID.load(Ordering::Relaxed);
    if pid != 0 {
        return pid;
    }
    static REGISTER: std::sync::Once = std::sync::Once::new();
    // A forked child must not keep its parent's pid: clear the cache in every child. Registered
    // before the first caching, so no fork can slip in between.
    REGISTER.call_once(|| {
        // SAFETY: registering a plain extern "C" function that only stores to an atomic.
        unsafe { libc::pthread_atfork(None, None, Some(forget_pid_in_child)) };
    });
    let pid = std::process::id();
    PID.store(pid, Ordering::Relaxed);
    pid
}

/// True if `pid` no longer runs (gone, or a zombie that nobody reaped yet).
fn holder_dead(pid: u32) -> bool {
    if pid == 0 || pid == my_pid() {
        return false;
    }
    // SAFETY: signal 0 only checks for existence.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    if r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        return true;
    }
    // A killed process stays a zombie until its parent reaps it; kill(pid, 0) still succeeds.
    !super::proc_state::running(pid)
}

/// Decrements a waiter counter when dropped (also when a stop-button panic unwinds).
struct Waiting<'a>(&'a AtomicU32);

impl<'a> Waiting<'a> {
    fn new(counter: &'a AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Waiting(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Holds one of the ring's two locks; releases it when dropped.
struct Guard<'a> {
    word: &'a AtomicU32,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let prev = self.word.swap(0, Ordering::Release);
        if prev & CONTENDED != 0 {
            futex::wake(self.word, 1);
        }
    }
}

/// Takes the lock in `word` (0 = free, else the holder's pid, plus [`CONTENDED`]).
fn lock<'a>(word: &'a AtomicU32, what: &str) -> Guard<'a> {
    let me = my_pid();
    if word
        .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        return Guard { word };
    }
    // Holders keep the lock for well under a microsecond: spin briefly before sleeping.
    for _ in 0..200 {
        std::hint::spin_loop();
        if word.load(Ordering::Relaxed) == 0
            && word
                .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return Guard { word };
        }
    }
    loop {
        let seen = word.load(Ordering::Relaxed);
        if seen == 0 {
            // Others may be asleep: keep the CONTENDED bit so that our unlock wakes one.
            if word
                .compare_exchange(0, me | CONTENDED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Guard { word };
            }
            continue;
        }
        if seen & CONTENDED == 0
            && word
                .compare_exchange(seen, seen | CONTENDED, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            continue;
        }
        let expected = seen | CONTENDED;
        let slice = Some(Instant::now() + HOLDER_CHECK);
        if wait::futex_wait(word, expected, slice, what) == Woken::TimedOut {
            let holder = expected & !CONTENDED;
            if holder_dead(holder)
                && word
                    .compare_exchange(
                        expected,
                        me | CONTENDED,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            {
                eprintln!(
                    "note: process {holder} died while holding the lock inside {what}; \
                     process {me} took it over (the queue's contents are intact)."
                );
                return Guard { word };
            }
        }
    }
}

/// Spins (then yields) until `word` differs from `seen`; false if it never did.
///
/// The other side is usually about to act (a producer putting the next item, a consumer taking
/// one): watching briefly is much cheaper than a futex sleep plus wake-up (two system calls).
fn spin_until_changed(word: &AtomicU32, seen: u32) -> bool {
    for i in 0..2000u32 {
        if word.load(Ordering::Acquire) != seen {
            return true;
        }
        if i % 256 == 255 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    false
}

impl Ring {
    /// Maps a ring of `capacity` bytes (at least 16, at most 1 GiB); `maxsize` items at most
    /// (0 = no item limit).
    pub fn new(capacity: usize, maxsize: u32) -> io::Result<Ring> {
        let capacity = capacity.clamp(16, 1 << 30);
        let region = Region::new(std::mem::size_of::<Header>() + capacity)?;
        let ring = Ring {
            region: Arc::new(region),
        };
        // The mapping is zeroed: every atomic starts at 0, which is the right initial state.
        ring.header()
            .capacity
            .store(capacity as u32, Ordering::Relaxed);
        ring.header().maxsize.store(maxsize, Ordering::Relaxed);
        Ok(ring)
    }

    fn header(&self) -> &Header {
        // SAFETY: the region starts with a zero-initialised (valid) Header; page-aligned.
        unsafe { &*self.region.as_ptr().cast::<Header>() }
    }

    fn data(&self) -> *mut u8 {
        // SAFETY: the data area follows the header inside the mapping.
        unsafe { self.region.as_ptr().add(std::mem::size_of::<Header>()) }
    }

    /// Capacity of the ring in bytes.
    pub fn capacity(&self) -> usize {
        self.header().capacity.load(Ordering::Relaxed) as usize
    }

    /// Largest item (in serialized bytes) that fits.
    pub fn max_item(&self) -> usize {
        self.capacity() - 4
    }

    /// Item limit (0 = none).
    pub fn maxsize(&self) -> u32 {
        self.header().maxsize.load(Ordering::Relaxed)
    }

    /// Number of items in the ring right now (a snapshot; others may change it at once).
    pub fn len(&self) -> u32 {
        let h = self.header();
        // Read head first: tail only grows past it, so the difference never underflows.
        let (taken, _) = split(h.consumer.head.load(Ordering::Acquire));
        let (put, _) = split(h.producer.tail.load(Ordering::Acquire));
        put.wrapping_sub(taken)
    }

    /// True if no item is in the ring right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once [`Ring::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.header().closed.load(Ordering::Acquire) != 0
    }

    /// Items put and not yet marked done.
    pub fn unfinished(&self) -> u32 {
        self.header().unfinished.load(Ordering::Acquire)
    }

    fn used_bytes(&self, tail: u64, head: u64) -> usize {
        let (put, woff) = split(tail);
        let (taken, roff) = split(head);
        if put == taken {
            0
        } else if woff == roff {
            self.capacity()
        } else {
            (woff as usize + self.capacity() - roff as usize) % self.capacity()
        }
    }

    fn copy_in(&self, off: usize, bytes: &[u8]) -> usize {
        let cap = self.capacity();
        let first = bytes.len().min(cap - off);
        // SAFETY: both ranges lie inside the data area, in free space that only the holder of
        // the producers' lock writes and no consumer reads before the commit.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.data().add(off), first);
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr().add(first),
                self.data(),
                bytes.len() - first,
            );
        }
        (off + bytes.len()) % cap
    }

    fn copy_out(&self, off: usize, out: &mut [u8]) -> usize {
        let cap = self.capacity();
        let first = out.len().min(cap - off);
        // SAFETY: as in copy_in; the bytes were committed, and no producer overwrites them
        // before the consumers' commit frees them.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data().add(off), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(
                self.data(),
                out.as_mut_ptr().add(first),
                out.len() - first,
            );
        }
        (off + out.len()) % cap
    }

    /// Puts one item without waiting. `bytes.len()` must be at most [`Ring::max_item`].
    ///
    /// Producers and consumers have separate locks (a "two-lock" queue): a producer only moves
    /// `tail` and reads `head`, a consumer the reverse, so one producer and one consumer never
    /// wait for each other. A stale `head` only under-estimates the free space.
    /// On success the item's number in this ring (items ever put before it, wrapping), which
    /// the `get` that takes it returns too: the timeline's arrow from put to get.
    pub fn try_put(&self, bytes: &[u8], what: &str) -> Try<u32> {
        debug_assert!(bytes.len() <= self.max_item());
        let h = self.header();
        let p = &h.producer;
        let wake;
        let number;
        {
            let _g = lock(&p.lock, what);
            if self.is_closed() {
                return Try::Closed;
            }
            let tail = p.tail.load(Ordering::Relaxed);
            let head = h.consumer.head.load(Ordering::Acquire);
            let (put, woff) = split(tail);
            number = put;
            let (taken, _) = split(head);
            let maxsize = self.maxsize();
            if maxsize != 0 && put.wrapping_sub(taken) >= maxsize {
                return Try::WouldBlock;
            }
            if self.capacity() - self.used_bytes(tail, head) < 4 + bytes.len() {
                return Try::WouldBlock;
            }
            let off = self.copy_in(woff as usize, &(bytes.len() as u32).to_le_bytes());
            let off = self.copy_in(off, bytes);
            h.unfinished.fetch_add(1, Ordering::AcqRel);
            // The commit: one store publishes the whole item.
            p.tail
                .store(join(put.wrapping_add(1), off as u32), Ordering::Release);
            p.put_seq.fetch_add(1, Ordering::SeqCst);
            wake = p.get_waiters.load(Ordering::SeqCst) != 0;
        }
        if wake {
            futex::wake(&p.put_seq, 1);
        }
        Try::Ok(number)
    }

    /// Takes one item into `out` (cleared first) without waiting.
    /// On success the number the item's `put` gave it.
    pub fn try_get(&self, out: &mut Vec<u8>, what: &str) -> Try<u32> {
        let h = self.header();
        let c = &h.consumer;
        // Cheap look without the lock: nothing there and not closed → would block.
        if self.is_empty() && !self.is_closed() {
            return Try::WouldBlock;
        }
        let wake;
        let number;
        {
            let _g = lock(&c.lock, what);
            // `closed` before `tail`: close() sets it under the producers' lock, so once we see
            // it every item ever put is visible in `tail`.
            let closed = self.is_closed();
            let head = c.head.load(Ordering::Relaxed);
            let tail = h.producer.tail.load(Ordering::Acquire);
            let (taken, roff) = split(head);
            number = taken;
            let (put, _) = split(tail);
            if put == taken {
                return if closed { Try::Closed } else { Try::WouldBlock };
            }
            let mut len = [0u8; 4];
            let off = self.copy_out(roff as usize, &mut len);
            let len = u32::from_le_bytes(len) as usize;
            out.clear();
            out.resize(len, 0);
            let off = self.copy_out(off, out);
            c.head
                .store(join(taken.wrapping_add(1), off as u32), Ordering::Release);
            c.get_seq.fetch_add(1, Ordering::SeqCst);
            wake = c.put_waiters.load(Ordering::SeqCst) != 0;
        }
        if wake {
            futex::wake(&c.get_seq, 1);
        }
        Try::Ok(number)
    }

    /// Puts one item, waiting for room until `deadline`. Returns `WouldBlock` on timeout.
    pub fn put(&self, bytes: &[u8], deadline: Option<Instant>, what: &str, name: &str) -> Try<u32> {
        let c = &self.header().consumer;
        let mut recorded: Option<super::waits::Waiting> = None;
        loop {
            let seq = c.get_seq.load(Ordering::Acquire);
            match self.try_put(bytes, what) {
                Try::WouldBlock => {}
                other => return other,
            }
            if spin_until_changed(&c.get_seq, seq) {
                continue;
            }
            let _w = Waiting::new(&c.put_waiters);
            // Re-check after announcing ourselves, so a get that ran in between is not missed.
            if c.get_seq.load(Ordering::SeqCst) != seq {
                continue;
            }
            recorded.get_or_insert_with(|| super::waits::Waiting::begin(what, name, deadline.is_some()));
            if wait::futex_wait(&c.get_seq, seq, deadline, what) == Woken::TimedOut {
                return self.try_put(bytes, what);
            }
        }
    }

    /// Takes one item into `out`, waiting until `deadline`. `WouldBlock` means timed out.
    pub fn get(&self, out: &mut Vec<u8>, deadline: Option<Instant>, what: &str, name: &str) -> Try<u32> {
        let p = &self.header().producer;
        let mut recorded: Option<super::waits::Waiting> = None;
        loop {
            let seq = p.put_seq.load(Ordering::Acquire);
            match self.try_get(out, what) {
                Try::WouldBlock => {}
                other => return other,
            }
            if spin_until_changed(&p.put_seq, seq) {
                continue;
            }
            let _w = Waiting::new(&p.get_waiters);
            if p.put_seq.load(Ordering::SeqCst) != seq {
                continue;
            }
            recorded.get_or_insert_with(|| super::waits::Waiting::begin(what, name, deadline.is_some()));
            if wait::futex_wait(&p.put_seq, seq, deadline, what) == Woken::TimedOut {
                return self.try_get(out, what);
            }
        }
    }

    /// Marks the ring closed and wakes every waiter.
    pub fn close(&self) {
        let h = self.header();
        {
            // Under the producers' lock: no put is half-way when `closed` becomes visible.
            let _g = lock(&h.producer.lock, "Queue::close");
            h.closed.store(1, Ordering::Release);
        }
        h.producer.put_seq.fetch_add(1, Ordering::SeqCst);
        h.consumer.get_seq.fetch_add(1, Ordering::SeqCst);
        futex::wake(&h.producer.put_seq, i32::MAX);
        futex::wake(&h.consumer.get_seq, i32::MAX);
    }

    /// One item was processed (`JoinableQueue::task_done`). False if none was outstanding.
    pub fn task_done(&self) -> bool {
        let h = self.header();
        let mut cur = h.unfinished.load(Ordering::Acquire);
        loop {
            if cur == 0 {
                return false;
            }
            match h
                .unfinished
                .compare_exchange(cur, cur - 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        if cur == 1 {
            futex::wake(&h.unfinished, i32::MAX);
        }
        true
    }

    /// Waits until every item put was marked done. False on timeout.
    pub fn join(&self, deadline: Option<Instant>, what: &str, name: &str) -> bool {
        let h = self.header();
        let mut recorded: Option<super::waits::Waiting> = None;
        loop {
            let n = h.unfinished.load(Ordering::Acquire);
            if n == 0 {
                return true;
            }
            recorded.get_or_insert_with(|| super::waits::Waiting::begin(what, name, deadline.is_some()));
            if wait::futex_wait(&h.unfinished, n, deadline, what) == Woken::TimedOut {
                return h.unfinished.load(Ordering::Acquire) == 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_killed_inside_the_lock_does_not_hang_the_next_process() {
        let ring = Ring::new(1024, 0).unwrap();
        assert!(matches!(ring.try_put(b"before", "test"), Try::Ok(_)));
        // SAFETY: the child only takes the lock and kills itself.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let _p = lock(&ring.header().producer.lock, "test");
                let _c = lock(&ring.header().consumer.lock, "test");
                // SAFETY: plain signal to ourselves; the guard is never released.
                unsafe { libc::raise(libc::SIGKILL) };
                unsafe { libc::_exit(3) };
            }
            nix::unistd::ForkResult::Parent { child } => {
                // Wait for the death but leave a zombie (WNOWAIT): kill(pid, 0) still succeeds.
                let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
                // SAFETY: valid siginfo buffer.
                let r = unsafe {
                    libc::waitid(
                        libc::P_PID,
                        child.as_raw() as libc::id_t,
                        &mut info,
                        libc::WEXITED | libc::WNOWAIT,
                    )
                };
                assert_eq!(r, 0);
                for word in [&ring.header().producer.lock, &ring.header().consumer.lock] {
                    let holder = word.load(Ordering::SeqCst) & !CONTENDED;
                    assert_eq!(
                        holder,
                        child.as_raw() as u32,
                        "the child died holding the lock"
                    );
                }
                assert!(matches!(ring.try_put(b"after", "test"), Try::Ok(_)));
                let mut out = Vec::new();
                assert!(matches!(ring.try_get(&mut out, "test"), Try::Ok(_)));
                assert_eq!(out, b"before");
                assert!(matches!(ring.try_get(&mut out, "test"), Try::Ok(_)));
                assert_eq!(out, b"after");
                nix::sys::wait::waitpid(child, None).unwrap();
            }
        }
    }

    #[test]
    fn used_bytes_and_wrapping() {
        let ring = Ring::new(16, 0).unwrap();
        let mut out = Vec::new();
        for round in 0..20u8 {
            assert!(matches!(ring.try_put(&[round; 5], "t"), Try::Ok(_)));
            // 9 bytes used of 16: a second 9-byte record does not fit.
            assert!(matches!(ring.try_put(&[round; 5], "t"), Try::WouldBlock));
            assert!(matches!(ring.try_get(&mut out, "t"), Try::Ok(_)));
            assert_eq!(out, [round; 5]);
        }
        // Exactly full: 12 + 4 bytes.
        assert!(matches!(ring.try_put(&[1; 12], "t"), Try::Ok(_)));
        assert_eq!(
            ring.used_bytes(
                ring.header().producer.tail.load(Ordering::SeqCst),
                ring.header().consumer.head.load(Ordering::SeqCst)
            ),
            16
        );
        assert!(matches!(ring.try_put(&[], "t"), Try::WouldBlock));
        assert!(matches!(ring.try_get(&mut out, "t"), Try::Ok(_)));
        assert_eq!(out, [1; 12]);
        assert_eq!(ring.len(), 0);
    }
}

#[cfg(test)]
mod pid_tests {
    use super::*;

    #[test]
    fn the_cached_pid_is_the_childs_own_after_fork() {
        assert_eq!(my_pid(), std::process::id());
        // SAFETY: the child only compares pids and leaves with _exit.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let ok = my_pid() == std::process::id();
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
