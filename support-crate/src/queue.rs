//! Queues that many processes put into and get from: [`Queue`], [`JoinableQueue`], [`SimpleQueue`].
//!
//! Like Python's `multiprocessing.Queue`, a queue is made *before* the processes that use it are
//! started; every process that inherits it (a clone moved into the process's closure) talks to
//! the same queue. Any type that serde can serialize can travel: numbers, strings, tuples,
//! vectors, your own `#[derive(Serialize, Deserialize)]` structs.
//!
//! ```
//! use multiproc::queue::Queue;
//!
//! let q: Queue<String> = Queue::new();
//! let q2 = q.clone(); // same queue, e.g. for a child process's closure
//! q2.put("Jimmy".to_string());
//! assert_eq!(q.get(), "Jimmy");
//! ```
//!
//! Across processes:
//!
//! ```
//! use multiproc::prelude::*;
//!
//! let q: Queue<u64> = Queue::new();
//! let child_q = q.clone(); // moved into the child's closure
//! let mut producer = Process::new(move || {
//!     for i in 1..=3 {
//!         child_q.put(i * 10);
//!     }
//! });
//! producer.start();
//! let got: Vec<u64> = (0..3).map(|_| q.get()).collect();
//! assert_eq!(got, [10, 20, 30]); // one producer: its order is kept
//! producer.join();
//! ```
//!
//! To tell consumers that no more items will come, put a sentinel (`None` in a
//! `Queue<Option<T>>`) per consumer, or [`close`](Queue::close) the queue and let them read
//! with [`iter`](Queue::iter), which ends once the queue is closed and drained.
//!
//! How it works: the items (serialized with `postcard`, a compact binary format) sit in a ring
//! buffer in memory shared by all processes (see `sys::ring`), guarded by a small lock that
//! notices when the process holding it was killed. Unlike Python there is no feeder thread: `put`
//! has copied the item into the queue when it returns. The buffer holds 1 MiB of serialized
//! items by default ([`Queue::with_buffer`] changes it); a single item must fit in it.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::sys::ring::{DEFAULT_CAPACITY, Ring, Try};

/// Serializes `item` and hands the bytes to `f` (small items without allocating).
pub(crate) fn with_encoded<T: Serialize, R>(item: &T, f: impl FnOnce(&[u8]) -> R) -> R {
    let mut small = [0u8; 256];
    match postcard::to_slice(item, &mut small) {
        Ok(bytes) => f(bytes),
        Err(postcard::Error::SerializeBufferFull) => {
            let bytes = postcard::to_allocvec(item)
                .unwrap_or_else(|e| panic!("cannot serialize the item: {e}"));
            f(&bytes)
        }
        Err(e) => panic!("cannot serialize the item: {e}"),
    }
}

/// Deserializes bytes that a matching `with_encoded` produced.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> T {
    postcard::from_bytes(bytes).unwrap_or_else(|e| {
        panic!(
            "{what}: the received bytes are not a {}: {e}",
            std::any::type_name::<T>()
        )
    })
}

thread_local! {
    /// Receive buffer reused by every `get` of this thread (saves an allocation per item).
    static RECV_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The timeline's put/get event with the item's number (out of line: the fast path only tests
/// the switch).
#[cold]
#[inline(never)]
fn record(kind: crate::sys::timeline::Kind, what: &str, name: &str, number: u32) {
    crate::sys::timeline::event(kind, what, name, u64::from(number), 0);
}

fn deadline_after(secs: f64) -> Option<Instant> {
    let secs = if secs.is_finite() { secs.max(0.0) } else { 1e9 };
    Some(Instant::now() + Duration::from_secs_f64(secs.min(1e9)))
}

/// The error of [`Queue::get_timeout`] and [`Queue::get_nowait`]: there was no item
/// (Python's `queue.Empty`).
///
/// ```
/// use multiproc::queue::{Empty, Queue};
///
/// let q: Queue<i32> = Queue::new();
/// let err: Empty = q.get_nowait().unwrap_err();
/// assert!(!err.closed());
/// q.close();
/// assert!(q.get_nowait().unwrap_err().closed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Empty {
    // pub(crate): the thread-side queues (thread_queue.rs) share this error type.
    pub(crate) closed: bool,
}

impl Empty {
    /// True when the queue is closed as well as empty: no item will ever come.
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Queue::new();
    /// assert!(!q.get_timeout(0.01).unwrap_err().closed());
    /// ```
    pub fn closed(&self) -> bool {
        self.closed
    }
}

impl fmt::Display for Empty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.closed {
            f.write_str("Empty: the queue is closed and has no items left")
        } else {
            f.write_str("Empty: no item arrived in time")
        }
    }
}

impl std::error::Error for Empty {}

/// The error of [`Queue::put_nowait`] and [`Queue::put_timeout`]: the queue had no room
/// (Python's `queue.Full`). It gives the item back.
///
/// ```
/// use multiproc::queue::{Full, Queue};
///
/// let q: Queue<String> = Queue::with_maxsize(1);
/// q.put("first".to_string());
/// let Full(item) = q.put_nowait("second".to_string()).unwrap_err();
/// assert_eq!(item, "second");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Full<T>(pub T);

impl<T> fmt::Debug for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Full(..)")
    }
}

impl<T> fmt::Display for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Full: the queue has no room for the item")
    }
}

impl<T> std::error::Error for Full<T> {}

/// A first-in first-out queue shared by processes: many producers, many consumers
/// (Python's `multiprocessing.Queue`).
///
/// Make it before starting the processes and give each process a clone.
///
/// ```
/// use multiproc::queue::Queue;
///
/// let q: Queue<(String, u32)> = Queue::new();
/// q.put(("Alice".to_string(), 3));
/// q.put(("Bob".to_string(), 5));
/// assert_eq!(q.qsize(), 2);
/// assert_eq!(q.get(), ("Alice".to_string(), 3));
/// ```
pub struct Queue<T> {
    ring: Ring,
    name: std::sync::Arc<str>,
    _items: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Queue<T> {
    /// Another handle to the *same* queue.
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Queue::new();
    /// q.clone().put(1);
    /// assert_eq!(q.get(), 1);
    /// ```
    fn clone(&self) -> Self {
        Queue {
            ring: self.ring.clone(),
            name: self.name.clone(),
            _items: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Default for Queue<T> {
    /// Same as [`Queue::new`].
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Default::default();
    /// assert!(q.empty());
    /// ```
    fn default() -> Self {
        Queue::new()
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.ring.len())
            .field("maxsize", &self.ring.maxsize())
            .field("closed", &self.ring.is_closed())
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A queue without an item limit (only the 1 MiB buffer limits it).
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<u8> = Queue::new();
    /// assert!(q.empty() && !q.full());
    /// ```
    pub fn new() -> Self {
        Self::build(DEFAULT_CAPACITY, 0)
    }

    /// A queue holding at most `maxsize` items: `put` waits while it is full
    /// (Python's `Queue(maxsize)`; 0 means no limit).
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<u8> = Queue::with_maxsize(2);
    /// q.put(1);
    /// q.put(2);
    /// assert!(q.full());
    /// ```
    pub fn with_maxsize(maxsize: usize) -> Self {
        Self::build(DEFAULT_CAPACITY, maxsize.min(u32::MAX as usize) as u32)
    }

    /// A queue whose shared buffer holds `bytes` bytes of serialized items (default 1 MiB).
    /// Each item takes its serialized size plus 4 bytes; one item must fit in the buffer.
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<Vec<u8>> = Queue::with_buffer(16 << 20);
    /// q.put(vec![7; 4 << 20]); // a 4 MiB item
    /// assert_eq!(q.get().len(), 4 << 20);
    /// ```
    pub fn with_buffer(bytes: usize) -> Self {
        Self::build(bytes, 0)
    }

    /// Gives the queue a name for the notebook kernel's deadlock reports ("waits for an item
    /// from queue `jobs`"); default `Queue#N`, numbered in the order queues are made. Name it
    /// before handing clones to other processes.
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Queue::new().named("jobs");
    /// assert_eq!(q.name(), "jobs");
    /// ```
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into().into();
        self
    }

    /// The queue's name (see [`named`](Queue::named)).
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Queue::new();
    /// assert!(q.name().starts_with("Queue#"));
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    fn build(capacity: usize, maxsize: u32) -> Self {
        let ring = Ring::new(capacity, maxsize)
            .unwrap_or_else(|e| panic!("cannot create the queue's shared memory: {e}"));
        Queue {
            ring,
            name: crate::sys::waits::default_name("Queue"),
            _items: PhantomData,
        }
    }

    #[track_caller]
    fn put_until(&self, item: T, deadline: Option<Instant>, what: &str) -> Result<(), Full<T>> {
        crate::sys::perturb::point();
        let result = with_encoded(&item, |bytes| {
            if bytes.len() > self.ring.max_item() {
                panic!(
                    "{what}: the item takes {} bytes, more than the queue's buffer holds ({} bytes); \
                     make the queue with Queue::with_buffer(bytes)",
                    bytes.len(),
                    self.ring.max_item()
                );
            }
            match deadline {
                Some(d) if d <= Instant::now() => self.ring.try_put(bytes, what),
                _ => self.ring.put(bytes, deadline, what, &self.name),
            }
        });
        match result {
            Try::Ok(number) => {
                if crate::sys::timeline::on() {
                    record(crate::sys::timeline::Kind::Put, what, &self.name, number);
                }
                Ok(())
            }
            Try::WouldBlock => Err(Full(item)),
            Try::Closed => panic!("{what}: the queue is closed (Queue::close was called)"),
        }
    }

    /// Adds `item` at the end, waiting while the queue is full.
    ///
    /// Panics if the queue was closed, or if the item is bigger than the queue's buffer.
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<String> = Queue::new();
    /// q.put("hello".to_string());
    /// assert_eq!(q.get(), "hello");
    /// ```
    #[track_caller]
    pub fn put(&self, item: T) {
        if self.put_until(item, None, "Queue::put").is_err() {
            unreachable!("a put without deadline only returns once the item is in");
        }
    }

    /// Like [`put`](Queue::put), but gives up after `seconds` and returns the item in [`Full`].
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Queue::with_maxsize(1);
    /// assert!(q.put_timeout(1, 0.01).is_ok());
    /// assert!(q.put_timeout(2, 0.01).is_err()); // still full after 10 ms
    /// ```
    #[track_caller]
    pub fn put_timeout(&self, item: T, seconds: f64) -> Result<(), Full<T>> {
        self.put_until(item, deadline_after(seconds), "Queue::put_timeout")
    }

    /// Adds `item` only if there is room right now; otherwise returns it in [`Full`].
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Queue::with_maxsize(1);
    /// assert!(q.put_nowait(1).is_ok());
    /// assert!(q.put_nowait(2).is_err());
    /// ```
    #[track_caller]
    pub fn put_nowait(&self, item: T) -> Result<(), Full<T>> {
        self.put_until(item, Some(Instant::now()), "Queue::put_nowait")
    }

    fn get_until(&self, deadline: Option<Instant>, what: &str) -> Result<T, Empty> {
        crate::sys::perturb::point();
        RECV_BUF.with_borrow_mut(|buf| {
            let r = match deadline {
                Some(d) if d <= Instant::now() => self.ring.try_get(buf, what),
                _ => self.ring.get(buf, deadline, what, &self.name),
            };
            match r {
                Try::Ok(number) => {
                    if crate::sys::timeline::on() {
                        record(crate::sys::timeline::Kind::Get, what, &self.name, number);
                    }
                    Ok(decode(buf, what))
                }
                Try::WouldBlock => Err(Empty { closed: false }),
                Try::Closed => Err(Empty { closed: true }),
            }
        })
    }

    /// Removes and returns the first item, waiting until there is one.
    ///
    /// Panics if the queue is closed and empty (no item can come any more); use
    /// [`iter`](Queue::iter) to read until the queue is closed.
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Queue::new();
    /// q.put(1);
    /// q.put(2);
    /// assert_eq!((q.get(), q.get()), (1, 2));
    /// ```
    #[track_caller]
    pub fn get(&self) -> T {
        match self.get_until(None, "Queue::get") {
            Ok(item) => item,
            Err(_) => panic!("Queue::get: the queue is closed and empty, no item will ever come"),
        }
    }

    /// Like [`get`](Queue::get), but gives up after `seconds` with [`Empty`].
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Queue::new();
    /// assert!(q.get_timeout(0.05).is_err());
    /// q.put(3);
    /// assert_eq!(q.get_timeout(0.05), Ok(3));
    /// ```
    pub fn get_timeout(&self, seconds: f64) -> Result<T, Empty> {
        self.get_until(deadline_after(seconds), "Queue::get_timeout")
    }

    /// Returns the first item if there is one right now, else [`Empty`].
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Queue::new();
    /// assert!(q.get_nowait().is_err());
    /// q.put(4);
    /// assert_eq!(q.get_nowait(), Ok(4));
    /// ```
    pub fn get_nowait(&self) -> Result<T, Empty> {
        self.get_until(Some(Instant::now()), "Queue::get_nowait")
    }

    /// Items waiting in the queue. Only a snapshot: other processes may change it at once.
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Queue::new();
    /// q.put(1);
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        self.ring.len() as usize
    }

    /// True if no item is waiting (a snapshot, like [`qsize`](Queue::qsize): "empty" can be
    /// out of date by the time you act on it, which is why consumers should not stop on it).
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Queue::new();
    /// assert!(q.empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// True if the queue holds `maxsize` items (always false without a limit).
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Queue::with_maxsize(1);
    /// q.put(1);
    /// assert!(q.full());
    /// ```
    pub fn full(&self) -> bool {
        let max = self.ring.maxsize();
        max != 0 && self.ring.len() >= max
    }

    /// Closes the queue for *every* process: later puts panic, and once the remaining items
    /// are taken, `get` panics and `get_timeout`/`get_nowait` return an [`Empty`] whose
    /// [`closed`](Empty::closed) is true. Waiting consumers wake up.
    ///
    /// (Python's `Queue.close()` only concerns the calling process; here closing is the way to
    /// tell consumers "no more items", like dropping every sender of a Rust channel.)
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Queue::new();
    /// q.put(1);
    /// q.close();
    /// assert_eq!(q.get(), 1); // items already in the queue are still delivered
    /// assert!(q.get_nowait().unwrap_err().closed());
    /// ```
    pub fn close(&self) {
        self.ring.close();
    }

    /// True once [`close`](Queue::close) was called (by any process).
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Queue::new();
    /// q.close();
    /// assert!(q.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.ring.is_closed()
    }

    /// The items, one `get` at a time, until the queue is closed and drained.
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<i32> = Queue::new();
    /// for i in 0..3 { q.put(i); }
    /// q.close();
    /// assert_eq!(q.iter().collect::<Vec<_>>(), [0, 1, 2]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(move || self.get_until(None, "Queue::iter").ok())
    }
}

impl<'a, T: Serialize + DeserializeOwned> IntoIterator for &'a Queue<T> {
    type Item = T;
    type IntoIter = Box<dyn Iterator<Item = T> + 'a>;

    /// `for item in &queue { … }`: the same as [`Queue::iter`], ending once the queue is closed
    /// and drained.
    ///
    /// ```
    /// # use multiproc::queue::Queue;
    /// let q: Queue<char> = Queue::new();
    /// q.put('a');
    /// q.put('b');
    /// q.close();
    /// let mut seen = String::new();
    /// for c in &q {
    ///     seen.push(c);
    /// }
    /// assert_eq!(seen, "ab");
    /// ```
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// A [`Queue`] that also counts unfinished items: consumers call
/// [`task_done`](JoinableQueue::task_done) for each item they processed, and
/// [`join`](JoinableQueue::join) waits until every item put was done
/// (Python's `multiprocessing.JoinableQueue`). All [`Queue`] methods are available.
///
/// ```
/// use multiproc::queue::JoinableQueue;
///
/// let q: JoinableQueue<u32> = JoinableQueue::new();
/// q.put(1);
/// q.put(2);
/// while let Ok(_job) = q.get_nowait() {
///     q.task_done();
/// }
/// q.join(); // returns at once: both items are done
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T> Clone for JoinableQueue<T> {
    /// Another handle to the same queue.
    ///
    /// ```
    /// # use multiproc::queue::JoinableQueue;
    /// let q: JoinableQueue<i32> = JoinableQueue::new();
    /// q.clone().put(1);
    /// assert_eq!(q.get(), 1);
    /// ```
    fn clone(&self) -> Self {
        JoinableQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> std::ops::Deref for JoinableQueue<T> {
    type Target = Queue<T>;
    /// The underlying [`Queue`], so that `put`, `get`, … work directly.
    ///
    /// ```
    /// # use multiproc::queue::JoinableQueue;
    /// let q: JoinableQueue<i32> = JoinableQueue::new();
    /// assert!(q.empty());
    /// ```
    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.queue)
            .field("unfinished", &self.queue.ring.unfinished())
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> Default for JoinableQueue<T> {
    /// Same as [`JoinableQueue::new`].
    ///
    /// ```
    /// # use multiproc::queue::JoinableQueue;
    /// let q: JoinableQueue<i32> = Default::default();
    /// q.join();
    /// ```
    fn default() -> Self {
        JoinableQueue::new()
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// A joinable queue without an item limit.
    ///
    /// ```
    /// # use multiproc::queue::JoinableQueue;
    /// let q: JoinableQueue<String> = JoinableQueue::new();
    /// assert!(q.empty());
    /// ```
    pub fn new() -> Self {
        JoinableQueue {
            queue: Queue::new(),
        }
    }

    /// A joinable queue holding at most `maxsize` items.
    ///
    /// ```
    /// # use multiproc::queue::JoinableQueue;
    /// let q: JoinableQueue<i32> = JoinableQueue::with_maxsize(1);
    /// q.put(1);
    /// assert!(q.full());
    /// ```
    pub fn with_maxsize(maxsize: usize) -> Self {
        JoinableQueue {
            queue: Queue::with_maxsize(maxsize),
        }
    }

    /// Says that one item taken from the queue was processed.
    ///
    /// Panics when called more times than items were put (Python raises `ValueError`).
    ///
    /// ```
    /// # use multiproc::queue::JoinableQueue;
    /// let q: JoinableQueue<i32> = JoinableQueue::new();
    /// q.put(1);
    /// let _ = q.get();
    /// q.task_done();
    /// ```
    #[track_caller]
    pub fn task_done(&self) {
        if !self.queue.ring.task_done() {
            panic!("JoinableQueue::task_done called more times than there were items put");
        }
    }

    /// Waits until every item ever put was marked done with [`task_done`](JoinableQueue::task_done).
    ///
    /// ```
    /// # use multiproc::queue::JoinableQueue;
    /// let q: JoinableQueue<i32> = JoinableQueue::new();
    /// q.join(); // nothing was put: returns at once
    /// ```
    pub fn join(&self) {
        self.queue.ring.join(None, "JoinableQueue::join", &self.queue.name);
    }

    /// Like [`join`](JoinableQueue::join), but gives up after `seconds`; true if all items were done.
    ///
    /// ```
    /// # use multiproc::queue::JoinableQueue;
    /// let q: JoinableQueue<i32> = JoinableQueue::new();
    /// q.put(1);
    /// assert!(!q.join_timeout(0.01)); // the item was never marked done
    /// ```
    pub fn join_timeout(&self, seconds: f64) -> bool {
        self.queue
            .ring
            .join(deadline_after(seconds), "JoinableQueue::join_timeout", &self.queue.name)
    }
}

/// The simplest shared queue: `put`, `get`, `empty`, `close`; no size limit, no timeouts
/// (Python's `multiprocessing.SimpleQueue`).
///
/// ```
/// use multiproc::queue::SimpleQueue;
///
/// let q: SimpleQueue<String> = SimpleQueue::new();
/// q.put("job".to_string());
/// assert_eq!(q.get(), "job");
/// assert!(q.empty());
/// ```
pub struct SimpleQueue<T> {
    queue: Queue<T>,
}

impl<T> Clone for SimpleQueue<T> {
    /// Another handle to the same queue.
    ///
    /// ```
    /// # use multiproc::queue::SimpleQueue;
    /// let q: SimpleQueue<i32> = SimpleQueue::new();
    /// q.clone().put(1);
    /// assert_eq!(q.get(), 1);
    /// ```
    fn clone(&self) -> Self {
        SimpleQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("len", &self.queue.ring.len())
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> Default for SimpleQueue<T> {
    /// Same as [`SimpleQueue::new`].
    ///
    /// ```
    /// # use multiproc::queue::SimpleQueue;
    /// let q: SimpleQueue<i32> = Default::default();
    /// assert!(q.empty());
    /// ```
    fn default() -> Self {
        SimpleQueue::new()
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// An empty queue.
    ///
    /// ```
    /// # use multiproc::queue::SimpleQueue;
    /// let q: SimpleQueue<u64> = SimpleQueue::new();
    /// assert!(q.empty());
    /// ```
    pub fn new() -> Self {
        SimpleQueue {
            queue: Queue::new(),
        }
    }

    /// Adds an item at the end (panics if the queue was closed).
    ///
    /// ```
    /// # use multiproc::queue::SimpleQueue;
    /// let q: SimpleQueue<u64> = SimpleQueue::new();
    /// q.put(1);
    /// assert!(!q.empty());
    /// ```
    #[track_caller]
    pub fn put(&self, item: T) {
        self.queue.put(item)
    }

    /// Removes and returns the first item, waiting until there is one
    /// (panics if the queue is closed and empty).
    ///
    /// ```
    /// # use multiproc::queue::SimpleQueue;
    /// let q: SimpleQueue<u64> = SimpleQueue::new();
    /// q.put(9);
    /// assert_eq!(q.get(), 9);
    /// ```
    #[track_caller]
    pub fn get(&self) -> T {
        self.queue.get()
    }

    /// True if no item is waiting right now.
    ///
    /// ```
    /// # use multiproc::queue::SimpleQueue;
    /// let q: SimpleQueue<u64> = SimpleQueue::new();
    /// assert!(q.empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.queue.empty()
    }

    /// Closes the queue for every process (see [`Queue::close`]).
    ///
    /// ```
    /// # use multiproc::queue::SimpleQueue;
    /// let q: SimpleQueue<u64> = SimpleQueue::new();
    /// q.close();
    /// ```
    pub fn close(&self) {
        self.queue.close()
    }
}
