//! Queues between the threads of one process: [`Queue`] (first in, first out), [`LifoQueue`]
//! (last in, first out), [`PriorityQueue`] (smallest first) and [`SimpleQueue`], with the names
//! and behaviour of Python's `queue` module.
//!
//! A lesson writes `thread_queue::Queue` (the prelude exports the module, not its types): the
//! bare name `Queue` already means the queue *between processes* ([`crate::queue::Queue`]), as
//! in Python where `queue.Queue` is for threads and `multiprocessing.Queue` for processes.
//! `thread_queue::Queue` reads like Python's `queue.Queue` and says which world it belongs to.
//!
//! ```
//! use multiproc::prelude::*;
//! use std::thread;
//!
//! let q: thread_queue::Queue<u32> = thread_queue::Queue::new();
//! let producer = {
//!     let q = q.clone(); // the same queue, for the thread's closure
//!     thread::spawn(move || {
//!         for i in 1..=3 {
//!             q.put(i * 10);
//!         }
//!     })
//! };
//! let got: Vec<u32> = (0..3).map(|_| q.get()).collect();
//! assert_eq!(got, [10, 20, 30]); // one producer: its order is kept
//! producer.join().unwrap();
//! ```
//!
//! Items are moved into the queue as they are (no serialization: threads share memory), so any
//! type that can be sent to another thread (`Send`) can travel. A clone is another handle to the
//! same queue, like the process queue's clones.
//!
//! How it works: a `std::sync::Mutex` around the items (a `VecDeque`, a `Vec` or a
//! `BinaryHeap`) and three `Condvar`s (an item came, room came, every item was done). std is used
//! rather than crossbeam-channel because channels are only first-in first-out and have no
//! `task_done`/`join`; the LIFO and priority orders need the container under a lock anyway.
//! Every wait goes through `sys::wait::condvar_wait`, which sleeps in short slices and panics
//! when the notebook's stop button is pressed, so a thread blocked in `get` stops too.
//! A thread that panics (for example because of that button) never leaves the items half
//! changed, so a poisoned mutex is taken as it is and the queue stays usable.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub use crate::queue::{Empty, Full};
use crate::sys::wait;

/// The order a queue hands its items out in (private: each public queue fixes one).
trait Store: Default {
    type Item;
    fn push(&mut self, item: Self::Item);
    fn pop(&mut self) -> Option<Self::Item>;
    fn len(&self) -> usize;
}

struct Fifo<T>(VecDeque<T>);
struct Lifo<T>(Vec<T>);
struct Smallest<T: Ord>(BinaryHeap<Reverse<T>>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}
impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}
impl<T: Ord> Default for Smallest<T> {
    fn default() -> Self {
        Smallest(BinaryHeap::new())
    }
}

impl<T> Store for Fifo<T> {
    type Item = T;
    fn push(&mut self, item: T) {
        self.0.push_back(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}
impl<T> Store for Lifo<T> {
    type Item = T;
    fn push(&mut self, item: T) {
        self.0.push(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}
impl<T: Ord> Store for Smallest<T> {
    type Item = T;
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item))
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

struct State<S> {
    items: S,
    /// Items put and not yet marked done with `task_done`.
    unfinished: usize,
    closed: bool,
}

/// What every queue kind shares: the items under a lock and the three wake-up signals.
struct Shared<S> {
    state: Mutex<State<S>>,
    item_came: Condvar,
    room_came: Condvar,
    all_done: Condvar,
    /// 0 = no limit.
    maxsize: usize,
}

fn deadline_after(seconds: f64) -> Option<Instant> {
    let secs = if seconds.is_finite() { seconds.clamp(0.0, 1e9) } else { 1e9 };
    Some(Instant::now() + Duration::from_secs_f64(secs))
}

fn passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

impl<S: Store> Shared<S> {
    fn new(maxsize: usize) -> Arc<Self> {
        Arc::new(Shared {
            state: Mutex::new(State { items: S::default(), unfinished: 0, closed: false }),
            item_came: Condvar::new(),
            room_came: Condvar::new(),
            all_done: Condvar::new(),
            maxsize,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<S>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_full(&self, state: &State<S>) -> bool {
        self.maxsize != 0 && state.items.len() >= self.maxsize
    }

    #[track_caller]
    fn put_until(&self, item: S::Item, deadline: Option<Instant>, what: &str) -> Result<(), Full<S::Item>> {
        let mut recorded: Option<crate::sys::waits::Waiting> = None;
        let mut state = self.lock();
        loop {
            if state.closed {
                panic!("{what}: the queue is closed (close was called)");
            }
            if !self.is_full(&state) {
                break;
            }
            if passed(deadline) {
                return Err(Full(item));
            }
            recorded.get_or_insert_with(|| crate::sys::waits::Waiting::begin(what, "thread queue", deadline.is_some()));
            state = wait::condvar_wait(&self.room_came, state, deadline, what);
        }
        state.items.push(item);
        state.unfinished += 1;
        drop(state);
        self.item_came.notify_one();
        Ok(())
    }

    #[track_caller]
    fn get_until(&self, deadline: Option<Instant>, what: &str) -> Result<S::Item, Empty> {
        let mut recorded: Option<crate::sys::waits::Waiting> = None;
        let mut state = self.lock();
        loop {
            if let Some(item) = state.items.pop() {
                drop(state);
                self.room_came.notify_one();
                return Ok(item);
            }
            if state.closed {
                return Err(Empty { closed: true });
            }
            if passed(deadline) {
                return Err(Empty { closed: false });
            }
            recorded.get_or_insert_with(|| crate::sys::waits::Waiting::begin(what, "thread queue", deadline.is_some()));
            state = wait::condvar_wait(&self.item_came, state, deadline, what);
        }
    }

    #[track_caller]
    fn get(&self, what: &str) -> S::Item {
        match self.get_until(None, what) {
            Ok(item) => item,
            Err(_) => panic!("{what}: the queue is closed and empty, no item will ever come"),
        }
    }

    #[track_caller]
    fn task_done(&self, what: &str) {
        let mut state = self.lock();
        if state.unfinished == 0 {
            panic!("{what} called more times than there were items put");
        }
        state.unfinished -= 1;
        if state.unfinished == 0 {
            self.all_done.notify_all();
        }
    }

    #[track_caller]
    fn join_until(&self, deadline: Option<Instant>, what: &str) -> bool {
        let mut recorded: Option<crate::sys::waits::Waiting> = None;
        let mut state = self.lock();
        while state.unfinished > 0 {
            if passed(deadline) {
                return false;
            }
            recorded.get_or_insert_with(|| crate::sys::waits::Waiting::begin(what, "thread queue", deadline.is_some()));
            state = wait::condvar_wait(&self.all_done, state, deadline, what);
        }
        true
    }

    fn close(&self) {
        self.lock().closed = true;
        self.item_came.notify_all();
        self.room_came.notify_all();
    }
}

/// The methods Python's `Queue`, `LifoQueue` and `PriorityQueue` share, written once for the
/// three types (each example uses the type it documents).
macro_rules! queue_type {
    (
        $(#[$doc:meta])*
        $name:ident<T $(: $bound:ident)?>, $store:ident
    ) => {
        $(#[$doc])*
        pub struct $name<T $(: $bound)?> {
            shared: Arc<Shared<$store<T>>>,
        }

        impl<T $(: $bound)?> Clone for $name<T> {
            #[doc = concat!("Another handle to the *same* queue (for another thread's closure).\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = ", stringify!($name), "::new();\n",
                "q.clone().put(1);\n",
                "assert_eq!(q.qsize(), 1);\n```")]
            fn clone(&self) -> Self {
                $name { shared: Arc::clone(&self.shared) }
            }
        }

        impl<T $(: $bound)?> Default for $name<T> {
            #[doc = concat!("Same as [`", stringify!($name), "::new`].\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = Default::default();\n",
                "assert!(q.empty());\n```")]
            fn default() -> Self {
                Self::new()
            }
        }

        impl<T $(: $bound)?> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let state = self.shared.lock();
                f.debug_struct(stringify!($name))
                    .field("qsize", &state.items.len())
                    .field("maxsize", &self.shared.maxsize)
                    .field("unfinished", &state.unfinished)
                    .field("closed", &state.closed)
                    .finish()
            }
        }

        impl<T $(: $bound)?> $name<T> {
            #[doc = concat!("A queue without an item limit.\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<u8> = ", stringify!($name), "::new();\n",
                "assert!(q.empty() && !q.full());\n```")]
            pub fn new() -> Self {
                Self::with_maxsize(0)
            }

            #[doc = concat!("A queue holding at most `maxsize` items: `put` waits while it is full ",
                "(Python's `", stringify!($name), "(maxsize)`; 0 means no limit).\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<u8> = ", stringify!($name), "::with_maxsize(2);\n",
                "q.put(1);\nq.put(2);\nassert!(q.full());\nassert_eq!(q.maxsize(), 2);\n```")]
            pub fn with_maxsize(maxsize: usize) -> Self {
                $name { shared: Shared::new(maxsize) }
            }

            #[doc = concat!("The limit given to [`with_maxsize`](", stringify!($name),
                "::with_maxsize) (0: none).\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "assert_eq!(", stringify!($name), "::<u8>::new().maxsize(), 0);\n```")]
            pub fn maxsize(&self) -> usize {
                self.shared.maxsize
            }

            #[doc = concat!("Adds `item`, waiting while the queue is full. The stop button ends ",
                "the wait (with a panic).\n\nPanics if the queue was [closed](", stringify!($name),
                "::close).\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<String> = ", stringify!($name), "::new();\n",
                "q.put(\"hello\".to_string());\n",
                "assert_eq!(q.get(), \"hello\");\n```")]
            #[track_caller]
            pub fn put(&self, item: T) {
                let what = concat!("thread_queue::", stringify!($name), "::put");
                if self.shared.put_until(item, None, what).is_err() {
                    unreachable!("a put without deadline only returns once the item is in");
                }
            }

            #[doc = concat!("Like [`put`](", stringify!($name), "::put), but gives up after ",
                "`seconds` and hands the item back in [`Full`].\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = ", stringify!($name), "::with_maxsize(1);\n",
                "assert!(q.put_timeout(1, 0.01).is_ok());\n",
                "assert_eq!(q.put_timeout(2, 0.01).unwrap_err().0, 2); // still full after 10 ms\n```")]
            #[track_caller]
            pub fn put_timeout(&self, item: T, seconds: f64) -> Result<(), Full<T>> {
                self.shared.put_until(item, deadline_after(seconds), concat!("thread_queue::", stringify!($name), "::put_timeout"))
            }

            #[doc = concat!("Adds `item` only if there is room right now; otherwise hands it back ",
                "in [`Full`] (Python raises `queue.Full`).\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = ", stringify!($name), "::with_maxsize(1);\n",
                "assert!(q.put_nowait(1).is_ok());\nassert!(q.put_nowait(2).is_err());\n```")]
            #[track_caller]
            pub fn put_nowait(&self, item: T) -> Result<(), Full<T>> {
                self.shared.put_until(item, Some(Instant::now()), concat!("thread_queue::", stringify!($name), "::put_nowait"))
            }

            #[doc = concat!("Removes and returns the next item, waiting until there is one. ",
                "The stop button ends the wait (with a panic), in any thread.\n\n",
                "Panics if the queue is closed and empty (no item can come any more).\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = ", stringify!($name), "::new();\n",
                "q.put(7);\nassert_eq!(q.get(), 7);\n```")]
            #[track_caller]
            pub fn get(&self) -> T {
                self.shared.get(concat!("thread_queue::", stringify!($name), "::get"))
            }

            #[doc = concat!("Like [`get`](", stringify!($name), "::get), but gives up after ",
                "`seconds` with [`Empty`].\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = ", stringify!($name), "::new();\n",
                "assert!(q.get_timeout(0.01).is_err());\n",
                "q.put(3);\nassert_eq!(q.get_timeout(0.01), Ok(3));\n```")]
            #[track_caller]
            pub fn get_timeout(&self, seconds: f64) -> Result<T, Empty> {
                self.shared.get_until(deadline_after(seconds), concat!("thread_queue::", stringify!($name), "::get_timeout"))
            }

            #[doc = concat!("Returns the next item if there is one right now, else [`Empty`] ",
                "(Python raises `queue.Empty`).\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = ", stringify!($name), "::new();\n",
                "assert!(q.get_nowait().is_err());\n",
                "q.put(4);\nassert_eq!(q.get_nowait(), Ok(4));\n```")]
            #[track_caller]
            pub fn get_nowait(&self) -> Result<T, Empty> {
                self.shared.get_until(Some(Instant::now()), concat!("thread_queue::", stringify!($name), "::get_nowait"))
            }

            #[doc = concat!("Items waiting now. Only a snapshot: another thread may change it at once.\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = ", stringify!($name), "::new();\n",
                "q.put(1);\nassert_eq!(q.qsize(), 1);\n```")]
            pub fn qsize(&self) -> usize {
                self.shared.lock().items.len()
            }

            #[doc = concat!("True if no item is waiting (a snapshot, like [`qsize`](", stringify!($name),
                "::qsize): a consumer should not stop on it, another thread may be about to put).\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = ", stringify!($name), "::new();\n",
                "assert!(q.empty());\n```")]
            pub fn empty(&self) -> bool {
                self.qsize() == 0
            }

            #[doc = concat!("True if the queue holds `maxsize` items (always false without a limit).\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = ", stringify!($name), "::with_maxsize(1);\n",
                "q.put(1);\nassert!(q.full());\n```")]
            pub fn full(&self) -> bool {
                self.shared.is_full(&self.shared.lock())
            }

            #[doc = concat!("Says that one item taken from the queue was processed; [`join`](",
                stringify!($name), "::join) returns once every item put was done.\n\n",
                "Panics when called more times than items were put (Python raises `ValueError`).\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = ", stringify!($name), "::new();\n",
                "q.put(1);\nlet _job = q.get();\nq.task_done();\nq.join(); // returns at once\n```")]
            #[track_caller]
            pub fn task_done(&self) {
                self.shared.task_done(concat!("thread_queue::", stringify!($name), "::task_done"))
            }

            #[doc = concat!("Waits until every item ever put was marked done with [`task_done`](",
                stringify!($name), "::task_done). The stop button ends the wait (with a panic).\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = ", stringify!($name), "::new();\n",
                "let worker = {\n    let q = q.clone();\n    std::thread::spawn(move || {\n",
                "        for _ in 0..3 {\n            let _job = q.get();\n            q.task_done();\n        }\n    })\n};\n",
                "for job in 0..3 {\n    q.put(job);\n}\nq.join(); // all three were processed\nworker.join().unwrap();\n```")]
            #[track_caller]
            pub fn join(&self) {
                self.shared.join_until(None, concat!("thread_queue::", stringify!($name), "::join"));
            }

            #[doc = concat!("Like [`join`](", stringify!($name), "::join), but gives up after ",
                "`seconds`; true if every item was done.\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = ", stringify!($name), "::new();\n",
                "q.put(1);\nassert!(!q.join_timeout(0.01)); // the item was never marked done\n```")]
            #[track_caller]
            pub fn join_timeout(&self, seconds: f64) -> bool {
                self.shared.join_until(deadline_after(seconds), concat!("thread_queue::", stringify!($name), "::join_timeout"))
            }

            #[doc = concat!("Closes the queue for every handle: later puts panic; once the remaining ",
                "items are taken, `get` panics and `get_timeout`/`get_nowait` return an [`Empty`] whose ",
                "[`closed`](Empty::closed) is true. Waiting threads wake up. (Python 3.13's ",
                "`shutdown()`; like dropping every sender of a channel.)\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = ", stringify!($name), "::new();\n",
                "q.put(1);\nq.close();\nassert_eq!(q.get(), 1); // items already in are still delivered\n",
                "assert!(q.get_nowait().unwrap_err().closed());\nassert!(q.is_closed());\n```")]
            pub fn close(&self) {
                self.shared.close()
            }

            #[doc = concat!("True once [`close`](", stringify!($name), "::close) was called.\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = ", stringify!($name), "::new();\n",
                "assert!(!q.is_closed());\n```")]
            pub fn is_closed(&self) -> bool {
                self.shared.lock().closed
            }

            #[doc = concat!("The items, one `get` at a time, until the queue is closed and drained.\n\n```\n",
                "# use multiproc::thread_queue::", stringify!($name), ";\n",
                "let q: ", stringify!($name), "<i32> = ", stringify!($name), "::new();\n",
                "q.put(5);\nq.close();\nassert_eq!(q.iter().collect::<Vec<_>>(), [5]);\n```")]
            pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
                std::iter::from_fn(move || self.shared.get_until(None, concat!("thread_queue::", stringify!($name), "::iter")).ok())
            }
        }
    };
}

queue_type! {
    /// First in, first out, between threads (Python's `queue.Queue`): many producers, many
    /// consumers; items come out in the order they went in.
    ///
    /// ```
    /// use multiproc::thread_queue::Queue;
    ///
    /// let q: Queue<&str> = Queue::new();
    /// for word in ["one", "two", "three"] {
    ///     q.put(word);
    /// }
    /// assert_eq!([q.get(), q.get(), q.get()], ["one", "two", "three"]);
    /// ```
    Queue<T>, Fifo
}

queue_type! {
    /// Last in, first out, between threads (Python's `queue.LifoQueue`): a stack that threads
    /// share; `get` returns the item put most recently.
    ///
    /// ```
    /// use multiproc::thread_queue::LifoQueue;
    ///
    /// let q: LifoQueue<&str> = LifoQueue::new();
    /// for word in ["one", "two", "three"] {
    ///     q.put(word);
    /// }
    /// assert_eq!([q.get(), q.get(), q.get()], ["three", "two", "one"]);
    /// ```
    LifoQueue<T>, Lifo
}

queue_type! {
    /// Smallest item first, between threads (Python's `queue.PriorityQueue`). Items are
    /// compared with `Ord`; the usual item is a `(priority, data)` tuple, where tuples compare
    /// by their first field, then the next. Items that compare equal come out in no set order.
    /// (To get the *largest* first, put `std::cmp::Reverse(x)`.)
    ///
    /// ```
    /// use multiproc::thread_queue::PriorityQueue;
    ///
    /// let q: PriorityQueue<(u32, &str)> = PriorityQueue::new();
    /// q.put((3, "tidy up"));
    /// q.put((1, "fix the bug"));
    /// q.put((2, "write the test"));
    /// assert_eq!(q.get(), (1, "fix the bug"));
    /// assert_eq!(q.get(), (2, "write the test"));
    /// assert_eq!(q.get(), (3, "tidy up"));
    /// ```
    PriorityQueue<T: Ord>, Smallest
}

/// The simplest queue between threads (Python's `queue.SimpleQueue`): first in, first out, no
/// size limit, no `task_done`/`join`.
///
/// ```
/// use multiproc::thread_queue::SimpleQueue;
///
/// let q: SimpleQueue<String> = SimpleQueue::new();
/// let q2 = q.clone();
/// std::thread::spawn(move || q2.put("job".to_string())).join().unwrap();
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
    /// # use multiproc::thread_queue::SimpleQueue;
    /// let q: SimpleQueue<i32> = SimpleQueue::new();
    /// q.clone().put(1);
    /// assert_eq!(q.get(), 1);
    /// ```
    fn clone(&self) -> Self {
        SimpleQueue { queue: self.queue.clone() }
    }
}

impl<T> Default for SimpleQueue<T> {
    /// Same as [`SimpleQueue::new`].
    ///
    /// ```
    /// # use multiproc::thread_queue::SimpleQueue;
    /// let q: SimpleQueue<i32> = Default::default();
    /// assert!(q.empty());
    /// ```
    fn default() -> Self {
        SimpleQueue::new()
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue").field("qsize", &self.queue.qsize()).finish()
    }
}

impl<T> SimpleQueue<T> {
    /// An empty queue.
    ///
    /// ```
    /// # use multiproc::thread_queue::SimpleQueue;
    /// let q: SimpleQueue<u64> = SimpleQueue::new();
    /// assert_eq!(q.qsize(), 0);
    /// ```
    pub fn new() -> Self {
        SimpleQueue { queue: Queue::new() }
    }

    /// Adds an item at the end (never waits: there is no size limit).
    ///
    /// ```
    /// # use multiproc::thread_queue::SimpleQueue;
    /// let q: SimpleQueue<u64> = SimpleQueue::new();
    /// q.put(1);
    /// assert!(!q.empty());
    /// ```
    #[track_caller]
    pub fn put(&self, item: T) {
        self.queue.put(item)
    }

    /// Removes and returns the first item, waiting until there is one (the stop button ends
    /// the wait with a panic).
    ///
    /// ```
    /// # use multiproc::thread_queue::SimpleQueue;
    /// let q: SimpleQueue<u64> = SimpleQueue::new();
    /// q.put(9);
    /// assert_eq!(q.get(), 9);
    /// ```
    #[track_caller]
    pub fn get(&self) -> T {
        self.queue.shared.get("thread_queue::SimpleQueue::get")
    }

    /// Like [`get`](SimpleQueue::get), but gives up after `seconds` with [`Empty`].
    ///
    /// ```
    /// # use multiproc::thread_queue::SimpleQueue;
    /// let q: SimpleQueue<u64> = SimpleQueue::new();
    /// assert!(q.get_timeout(0.01).is_err());
    /// ```
    #[track_caller]
    pub fn get_timeout(&self, seconds: f64) -> Result<T, Empty> {
        self.queue.shared.get_until(deadline_after(seconds), "thread_queue::SimpleQueue::get_timeout")
    }

    /// The first item if there is one right now, else [`Empty`].
    ///
    /// ```
    /// # use multiproc::thread_queue::SimpleQueue;
    /// let q: SimpleQueue<u64> = SimpleQueue::new();
    /// assert!(q.get_nowait().is_err());
    /// q.put(2);
    /// assert_eq!(q.get_nowait(), Ok(2));
    /// ```
    #[track_caller]
    pub fn get_nowait(&self) -> Result<T, Empty> {
        self.queue.shared.get_until(Some(Instant::now()), "thread_queue::SimpleQueue::get_nowait")
    }

    /// Items waiting now (a snapshot).
    ///
    /// ```
    /// # use multiproc::thread_queue::SimpleQueue;
    /// let q: SimpleQueue<u64> = SimpleQueue::new();
    /// q.put(1);
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        self.queue.qsize()
    }

    /// True if no item is waiting right now (a snapshot).
    ///
    /// ```
    /// # use multiproc::thread_queue::SimpleQueue;
    /// let q: SimpleQueue<u64> = SimpleQueue::new();
    /// assert!(q.empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.queue.empty()
    }
}
