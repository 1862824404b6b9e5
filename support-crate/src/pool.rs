//! A pool of worker processes: Python's `multiprocessing.Pool`.
//!
//! ```
//! use multiproc::prelude::*;
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! let pool = Pool::new(4);
//! assert_eq!(pool.map(square, 0..8), [0, 1, 4, 9, 16, 25, 36, 49]); // input order kept
//! ```
//!
//! How it works, and how it differs from Python:
//! - The workers are forked *for each call* ([`map`](Pool::map), [`imap_unordered`](Pool::imap_unordered),
//!   [`apply_async`](Pool::apply_async), …) and end when the call's work is done. Python keeps
//!   its workers alive between calls and sends them the function by name; in a notebook each
//!   cell's code is loaded into the kernel's process after the previous cells', so a worker
//!   forked earlier would not have a later cell's function at all. A worker forked by the call
//!   has everything: the function, the inputs (no need to serialize them) and every earlier
//!   cell's code.
//! - The *results* come back through this crate's own [`Queue`](crate::queue::Queue) and
//!   [`Pipe`](crate::pipe::Pipe), so they must be serde types (numbers, strings, vectors,
//!   tuples, your `#[derive(Serialize, Deserialize)]` structs).
//! - A worker whose function panics does not hang the pool: the call panics in the parent with
//!   a message naming the worker, the input and the panic (Python re-raises the exception).
//!   A worker killed outside the function is noticed too.
//! - The notebook's stop button ends a waiting call with a panic, and the call's workers are
//!   killed and reaped before the panic leaves it: no worker is left behind.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::pipe::{Connection, Pipe};
use crate::process::Process;
use crate::queue::Queue;
use crate::shared_memory::Value;

/// What a worker sends back for one task: the value, or the message of its panic.
#[derive(Serialize, Deserialize)]
#[serde(bound = "R: Serialize + DeserializeOwned")]
pub(crate) enum Outcome<R> {
    Ok(R),
    Panicked(String),
}

/// The text of a panic's payload (a `&str` or a `String`; anything else has no text).
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}

/// Runs `f`, catching a panic as its message.
pub(crate) fn run_catching<R>(f: impl FnOnce() -> R) -> Outcome<R> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Outcome::Ok(v),
        Err(payload) => Outcome::Panicked(panic_text(&*payload)),
    }
}

/// Forks one process named `name` that runs `f` and sends its [`Outcome`] back; returns the
/// started process and the receiving end (the parent's sending end is already closed, so the
/// receiver reads end of file if the process dies without an answer).
pub(crate) fn fork_task<R, F>(name: String, f: F) -> (Process, Connection<Outcome<R>>)
where
    R: Serialize + DeserializeOwned + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    let (receiver, sender) = Pipe::one_way::<Outcome<R>>();
    let (child_receiver, child_sender) = (receiver.clone(), sender.clone());
    let mut p = Process::new(move || {
        child_receiver.close();
        child_sender.send(run_catching(f));
    })
    .name(name);
    p.start();
    sender.close();
    (p, receiver)
}

/// Kills and reaps `workers` without waiting through the stop button (this runs while a
/// "stop" panic unwinds, when another panic would abort the kernel's runtime).
pub(crate) fn kill_and_reap<'a>(workers: impl IntoIterator<Item = &'a Process>) {
    let workers: Vec<&Process> = workers.into_iter().collect();
    for p in &workers {
        p.kill();
    }
    for p in workers {
        // A SIGKILLed process ends within microseconds; the bound only guards against a
        // process stuck in the kernel (uninterruptible I/O).
        let give_up = Instant::now() + Duration::from_secs(5);
        while p.exitcode().is_none() && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// How one forked worker is described in error messages.
fn describe(p: &Process) -> String {
    match p.pid() {
        Some(pid) => format!("{} (pid {pid})", p.get_name()),
        None => p.get_name().to_string(),
    }
}

/// A message from a `map` worker to the parent.
#[derive(Serialize, Deserialize)]
#[serde(bound = "R: Serialize + DeserializeOwned")]
enum Msg<R> {
    /// Worker `worker` started on chunk `chunk` (so a worker that dies can be blamed).
    Took { worker: usize, chunk: usize },
    Done { worker: usize, chunk: usize, items: Vec<R> },
    Failed { worker: usize, index: usize, input: String, message: String },
}

/// One `map`-like call: its workers, the queue they answer on and what is still missing.
struct Batch<R> {
    what: &'static str,
    workers: Vec<Process>,
    results: Queue<Msg<R>>,
    chunks: usize,
    done: usize,
    /// The chunk each worker is working on, for the message when a worker dies.
    working_on: Vec<Option<usize>>,
    chunksize: usize,
    inputs_debug: Box<dyn Fn(usize) -> String>,
}

/// Serialized results of one chunk must fit in the result queue's buffer.
const RESULT_BUFFER: usize = 8 << 20;

impl<R: Serialize + DeserializeOwned + 'static> Batch<R> {
    fn start<T, F>(what: &'static str, processes: usize, f: F, inputs: Vec<T>, chunksize: usize) -> Batch<R>
    where
        T: Clone + Debug + Send + Sync + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
    {
        let chunksize = chunksize.max(1);
        let chunks = inputs.len().div_ceil(chunksize);
        let inputs = Arc::new(inputs);
        let f = Arc::new(f);
        let results: Queue<Msg<R>> = Queue::with_buffer(RESULT_BUFFER);
        let next_chunk = Value::new(0u64);
        let n = processes.min(chunks);
        let debug_inputs = inputs.clone();
        let mut batch = Batch {
            what,
            workers: Vec::with_capacity(n),
            results: results.clone(),
            chunks,
            done: 0,
            working_on: vec![None; n],
            chunksize,
            inputs_debug: Box::new(move |i| format!("{:?}", debug_inputs[i])),
        };
        for w in 0..n {
            let (inputs, f, results, next_chunk) = (inputs.clone(), f.clone(), results.clone(), next_chunk.clone());
            let mut p = Process::new(move || {
                loop {
                    let chunk = next_chunk.with_lock(|c| {
                        *c += 1;
                        *c - 1
                    }) as usize;
                    if chunk >= chunks {
                        return;
                    }
                    results.put(Msg::Took { worker: w, chunk });
                    let range = chunk * chunksize..((chunk + 1) * chunksize).min(inputs.len());
                    let mut items = Vec::with_capacity(range.len());
                    for index in range {
                        let input = inputs[index].clone();
                        match run_catching(|| f(input)) {
                            Outcome::Ok(r) => items.push(r),
                            Outcome::Panicked(message) => {
                                let input = format!("{:?}", inputs[index]);
                                results.put(Msg::Failed { worker: w, index, input, message });
                                return;
                            }
                        }
                    }
                    results.put(Msg::Done { worker: w, chunk, items });
                }
            })
            .name(format!("PoolWorker-{}", w + 1));
            p.start();
            batch.workers.push(p);
        }
        batch
    }

    /// The next finished chunk, or `None` once every chunk came back. Panics when a worker
    /// failed (naming it and the input), with the workers killed first.
    #[track_caller]
    fn next_chunk(&mut self) -> Option<(usize, Vec<R>)> {
        while self.done < self.chunks {
            crate::sys::wait::check(self.what);
            let msg = match self.results.get_timeout(0.1) {
                Ok(msg) => msg,
                Err(_) => {
                    self.check_workers();
                    continue;
                }
            };
            match msg {
                Msg::Took { worker, chunk } => self.working_on[worker] = Some(chunk),
                Msg::Done { worker, chunk, items } => {
                    self.working_on[worker] = None;
                    self.done += 1;
                    return Some((chunk, items));
                }
                Msg::Failed { worker, index, input, message } => {
                    // A worker's wait ended by the stop button is the stop, not the worker's
                    // failure: report it as every stopped wait is reported.
                    crate::sys::wait::check(self.what);
                    let who = describe(&self.workers[worker]);
                    kill_and_reap(&self.workers);
                    panic!("{}: worker {who} panicked on input #{index} ({input}): {message}", self.what);
                }
            }
        }
        self.join_workers();
        None
    }

    /// Nothing came for a while: a worker that ended with a failure exit code while holding a
    /// chunk will never answer for it.
    #[track_caller]
    fn check_workers(&mut self) {
        let mut ended = 0;
        for (w, p) in self.workers.iter().enumerate() {
            if p.exitcode().is_some() {
                ended += 1;
            }
            let Some(code) = p.exitcode() else { continue };
            let Some(chunk) = self.working_on[w] else { continue };
            if code == 0 {
                continue;
            }
            // Its last messages may still be waiting in the queue: look once more first.
            if !self.results.empty() {
                return;
            }
            let first = chunk * self.chunksize;
            let who = describe(p);
            let input = (self.inputs_debug)(first);
            kill_and_reap(&self.workers);
            panic!(
                "{}: worker {who} died (exit code {code}) while working on input #{first} ({input}) \
                 without sending its results",
                self.what
            );
        }
        if ended == self.workers.len() && self.results.empty() {
            panic!(
                "{}: every worker ended with {} of {} chunks of inputs still missing",
                self.what,
                self.chunks - self.done,
                self.chunks
            );
        }
    }

    #[track_caller]
    fn join_workers(&mut self) {
        for p in &self.workers {
            p.join();
        }
    }
}

impl<R> Drop for Batch<R> {
    fn drop(&mut self) {
        // Normal end: the workers have been joined and this reaps nothing. Early end (a panic,
        // the stop button, an iterator dropped half-way): no worker is left running.
        kill_and_reap(&self.workers);
    }
}

/// Python's `chunksize` rule for `map`: about four chunks per worker.
fn map_chunksize(len: usize, processes: usize) -> usize {
    len.div_ceil(processes * 4).max(1)
}

/// A pool of `n` worker processes (Python's `multiprocessing.Pool(n)`).
///
/// ```
/// use multiproc::prelude::*;
///
/// let pool = Pool::new(2);
/// let lengths = pool.map(|s: &str| s.len(), ["a", "bb", "ccc"]);
/// assert_eq!(lengths, [1, 2, 3]);
/// ```
pub struct Pool {
    processes: usize,
    closed: bool,
    /// Tasks of `apply_async` not yet known to be finished.
    tasks: RefCell<Vec<Rc<dyn Task>>>,
    started: std::cell::Cell<usize>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("processes", &self.processes).field("closed", &self.closed).finish()
    }
}

impl Pool {
    /// A pool that runs at most `processes` workers at a time (0 means [`cpu_count`](crate::process::cpu_count)).
    /// No process starts yet: each call forks its own workers.
    ///
    /// ```
    /// let pool = multiproc::pool::Pool::new(4);
    /// assert_eq!(pool.processes(), 4);
    /// ```
    pub fn new(processes: usize) -> Pool {
        let processes = if processes == 0 { crate::process::cpu_count() } else { processes };
        Pool { processes, closed: false, tasks: RefCell::new(Vec::new()), started: std::cell::Cell::new(0) }
    }

    /// The number of workers (Python's `pool._processes`).
    ///
    /// ```
    /// assert_eq!(multiproc::pool::Pool::new(3).processes(), 3);
    /// ```
    pub fn processes(&self) -> usize {
        self.processes
    }

    #[track_caller]
    fn open(&self, what: &str) {
        assert!(!self.closed, "{what}: the pool is closed (Pool::close or Pool::terminate was called)");
    }

    /// Calls `f` on every input in the workers and returns the results **in input order**
    /// (Python's `pool.map(f, inputs)`). The inputs are cut into chunks, about four per worker,
    /// and each worker takes the next chunk when it is done with one.
    ///
    /// Panics if `f` panics on an input, naming the worker and the input.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let pool = Pool::new(3);
    /// let words = pool.map(|n: u32| format!("#{n}"), 1..=4);
    /// assert_eq!(words, ["#1", "#2", "#3", "#4"]);
    /// ```
    #[track_caller]
    pub fn map<T, R, F>(&self, f: F, inputs: impl IntoIterator<Item = T>) -> Vec<R>
    where
        T: Clone + Debug + Send + Sync + 'static,
        R: Serialize + DeserializeOwned + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
    {
        self.open("Pool::map");
        let inputs: Vec<T> = inputs.into_iter().collect();
        let chunksize = map_chunksize(inputs.len(), self.processes);
        let mut batch = Batch::start("Pool::map", self.processes, f, inputs, chunksize);
        let mut slots: Vec<Option<Vec<R>>> = (0..batch.chunks).map(|_| None).collect();
        while let Some((chunk, items)) = batch.next_chunk() {
            slots[chunk] = Some(items);
        }
        slots.into_iter().flat_map(|s| s.expect("every chunk came back")).collect()
    }

    /// [`map`](Pool::map) for a function of two arguments, each input a pair
    /// (Python's `pool.starmap(f, [(a, b), …])`).
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// fn power(base: u64, exp: u32) -> u64 { base.pow(exp) }
    /// let pool = Pool::new(2);
    /// assert_eq!(pool.starmap(power, [(2, 3), (10, 2)]), [8, 100]);
    /// ```
    #[track_caller]
    pub fn starmap<A, B, R, F>(&self, f: F, inputs: impl IntoIterator<Item = (A, B)>) -> Vec<R>
    where
        A: Clone + Debug + Send + Sync + 'static,
        B: Clone + Debug + Send + Sync + 'static,
        R: Serialize + DeserializeOwned + 'static,
        F: Fn(A, B) -> R + Send + Sync + 'static,
    {
        self.map(move |(a, b)| f(a, b), inputs)
    }

    /// Like [`map`](Pool::map), but gives the results one by one as an iterator, in input
    /// order, each as soon as it and all before it are back (Python's `pool.imap`).
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let pool = Pool::new(2);
    /// let mut it = pool.imap(|x: i32| -x, [1, 2, 3]);
    /// assert_eq!(it.next(), Some(-1));
    /// assert_eq!(it.collect::<Vec<_>>(), [-2, -3]);
    /// ```
    #[track_caller]
    pub fn imap<T, R, F>(&self, f: F, inputs: impl IntoIterator<Item = T>) -> PoolIter<R>
    where
        T: Clone + Debug + Send + Sync + 'static,
        R: Serialize + DeserializeOwned + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
    {
        self.open("Pool::imap");
        PoolIter::new(Batch::start("Pool::imap", self.processes, f, inputs.into_iter().collect(), 1), true)
    }

    /// Like [`imap`](Pool::imap), but gives each result as soon as it is back, **in the order
    /// the workers finish** (Python's `pool.imap_unordered`). Compare the results as a set or
    /// sort them; never expect an order.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let pool = Pool::new(4);
    /// let mut got: Vec<u64> = pool.imap_unordered(|x: u64| x * 10, 1..=5).collect();
    /// got.sort();
    /// assert_eq!(got, [10, 20, 30, 40, 50]);
    /// ```
    #[track_caller]
    pub fn imap_unordered<T, R, F>(&self, f: F, inputs: impl IntoIterator<Item = T>) -> PoolIter<R>
    where
        T: Clone + Debug + Send + Sync + 'static,
        R: Serialize + DeserializeOwned + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
    {
        self.open("Pool::imap_unordered");
        let batch = Batch::start("Pool::imap_unordered", self.processes, f, inputs.into_iter().collect(), 1);
        PoolIter::new(batch, false)
    }

    /// Runs `f` in one worker and waits for its result (Python's `pool.apply(f, args)`; the
    /// closure's captures are the arguments). Panics if `f` panics.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let pool = Pool::new(1);
    /// let x = 6;
    /// assert_eq!(pool.apply(move || x * 7), 42);
    /// ```
    #[track_caller]
    pub fn apply<R, F>(&self, f: F) -> R
    where
        R: Serialize + DeserializeOwned + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        self.apply_async(f).get()
    }

    /// Starts `f` in a worker and returns at once with an [`AsyncResult`] to collect the
    /// result later (Python's `pool.apply_async`). At most [`processes`](Pool::processes) tasks
    /// run at a time: when that many are running, this first waits for the oldest to finish
    /// (Python queues the task instead and returns at once).
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let pool = Pool::new(2);
    /// let r = pool.apply_async(|| (1..=10u64).product::<u64>());
    /// r.wait();
    /// assert!(r.ready() && r.successful());
    /// assert_eq!(r.get(), 3628800);
    /// ```
    #[track_caller]
    pub fn apply_async<R, F>(&self, f: F) -> AsyncResult<R>
    where
        R: Serialize + DeserializeOwned + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        self.open("Pool::apply_async");
        loop {
            let oldest = {
                let mut tasks = self.tasks.borrow_mut();
                tasks.retain(|t| !t.finished());
                if tasks.len() < self.processes {
                    break;
                }
                tasks[0].clone()
            };
            oldest.wait_finished();
        }
        self.started.set(self.started.get() + 1);
        let number = self.started.get();
        let (process, receiver) = fork_task(format!("PoolWorker-task{number}"), f);
        let inner = Rc::new(TaskInner { number, process, receiver, outcome: RefCell::new(None) });
        self.tasks.borrow_mut().push(inner.clone());
        AsyncResult { inner }
    }

    /// No new work may be given to the pool (Python's `close`); running tasks go on.
    /// Follow with [`join`](Pool::join).
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let mut pool = Pool::new(2);
    /// let r = pool.apply_async(|| 1 + 1);
    /// pool.close();
    /// pool.join();
    /// assert!(r.ready());
    /// ```
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Waits until every task given with [`apply_async`](Pool::apply_async) has finished
    /// (Python's `join`). Panics unless [`close`](Pool::close) or [`terminate`](Pool::terminate)
    /// was called first, as Python does. `map` and the iterators need no `join`: their workers
    /// have ended when they return.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let mut pool = Pool::new(2);
    /// let results: Vec<_> = (0..4).map(|i| pool.apply_async(move || i * i)).collect();
    /// pool.close();
    /// pool.join();
    /// assert!(results.iter().all(|r| r.ready()));
    /// ```
    #[track_caller]
    pub fn join(&self) {
        assert!(self.closed, "Pool::join: call close() or terminate() first (the pool is still running)");
        let tasks: Vec<_> = self.tasks.borrow_mut().drain(..).collect();
        for t in tasks {
            t.wait_finished();
        }
    }

    /// Stops every running task at once (Python's `terminate`): its worker is killed and its
    /// [`AsyncResult::get`] panics. The pool is closed. Dropping a pool does the same (Python's
    /// `with Pool(…) as pool:` block ends with `terminate`).
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let mut pool = Pool::new(1);
    /// let r = pool.apply_async(|| -> u8 { loop { multiproc::lesson::sleep(1.0) } });
    /// pool.terminate();
    /// pool.join();
    /// assert!(r.ready() && !r.successful());
    /// ```
    pub fn terminate(&mut self) {
        self.closed = true;
        let tasks = self.tasks.borrow();
        kill_and_reap(tasks.iter().map(|t| t.process()));
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// A started `apply_async` task, seen by the pool whatever its result type.
trait Task {
    fn finished(&self) -> bool;
    fn wait_finished(&self);
    fn process(&self) -> &Process;
}

struct TaskInner<R> {
    number: usize,
    process: Process,
    receiver: Connection<Outcome<R>>,
    /// The outcome once received (or the message saying why none came).
    outcome: RefCell<Option<Result<R, String>>>,
}

impl<R: Serialize + DeserializeOwned + 'static> TaskInner<R> {
    /// Receives the outcome if it is there (`block`: waiting for it) and reaps the worker.
    #[track_caller]
    fn fill(&self, block: bool) {
        if self.outcome.borrow().is_some() {
            return;
        }
        if !block && !self.receiver.poll(0.0) {
            return;
        }
        let outcome = match self.receiver.recv() {
            Ok(Outcome::Ok(v)) => Ok(v),
            Ok(Outcome::Panicked(message)) => Err(format!(
                "Pool::apply_async: task {} in worker {} panicked: {message}",
                self.number,
                describe(&self.process)
            )),
            Err(_) => {
                self.process.join();
                Err(format!(
                    "Pool::apply_async: task {} in worker {} ended (exit code {}) without a result",
                    self.number,
                    describe(&self.process),
                    self.process.exitcode().unwrap_or(0)
                ))
            }
        };
        self.process.join();
        *self.outcome.borrow_mut() = Some(outcome);
    }
}

impl<R: Serialize + DeserializeOwned + 'static> Task for TaskInner<R> {
    fn finished(&self) -> bool {
        self.fill(false);
        self.outcome.borrow().is_some()
    }
    fn wait_finished(&self) {
        self.fill(true);
    }
    fn process(&self) -> &Process {
        &self.process
    }
}

/// The result of [`Pool::apply_async`], to collect later (Python's `AsyncResult`).
///
/// ```
/// use multiproc::prelude::*;
/// let pool = Pool::new(1);
/// let r = pool.apply_async(|| "done".to_string());
/// assert!(r.wait_timeout(30.0));
/// assert_eq!(r.get(), "done");
/// ```
pub struct AsyncResult<R> {
    inner: Rc<TaskInner<R>>,
}

impl<R> std::fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult").field("task", &self.inner.number).finish()
    }
}

impl<R: Serialize + DeserializeOwned + 'static> AsyncResult<R> {
    /// Waits for the result and returns it (Python's `get()`). Panics with the worker's panic
    /// message if the task panicked, or if its worker was terminated.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let pool = Pool::new(1);
    /// assert_eq!(pool.apply_async(|| 2 + 2).get(), 4);
    /// ```
    #[track_caller]
    pub fn get(self) -> R {
        self.inner.fill(true);
        match self.inner.outcome.borrow_mut().take().expect("filled") {
            Ok(v) => v,
            Err(message) => {
                // A task ended by the stop button is the stop, not the task's failure.
                crate::sys::wait::check("AsyncResult::get");
                panic!("{message}")
            }
        }
    }

    /// Waits until the task has finished (Python's `wait()`).
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let pool = Pool::new(1);
    /// let r = pool.apply_async(|| 1);
    /// r.wait();
    /// assert!(r.ready());
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        self.inner.fill(true);
    }

    /// Waits at most `seconds`; true if the task has finished (Python's `wait(timeout)`,
    /// followed by `ready()`).
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let pool = Pool::new(1);
    /// let r = pool.apply_async(|| -> u8 { loop { multiproc::lesson::sleep(1.0) } });
    /// assert!(!r.wait_timeout(0.05));
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, seconds: f64) -> bool {
        if self.inner.receiver.poll(seconds) {
            self.inner.fill(true);
        }
        self.ready()
    }

    /// True once the task has finished, successfully or not (Python's `ready()`). Never waits.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let pool = Pool::new(1);
    /// let r = pool.apply_async(|| -> u8 { loop { multiproc::lesson::sleep(1.0) } });
    /// assert!(!r.ready());
    /// ```
    #[track_caller]
    pub fn ready(&self) -> bool {
        self.inner.finished()
    }

    /// True if the task finished without panicking (Python's `successful()`). Panics if the
    /// task has not finished yet (Python raises `ValueError`).
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let pool = Pool::new(2);
    /// let good = pool.apply_async(|| 1);
    /// let bad = pool.apply_async(|| -> i32 { panic!("no luck") });
    /// good.wait();
    /// bad.wait();
    /// assert!(good.successful());
    /// assert!(!bad.successful());
    /// ```
    #[track_caller]
    pub fn successful(&self) -> bool {
        assert!(self.ready(), "AsyncResult::successful: the task has not finished yet");
        matches!(*self.inner.outcome.borrow(), Some(Ok(_)))
    }
}

/// The iterator of [`Pool::imap`] and [`Pool::imap_unordered`]. Dropping it before the end
/// kills the workers still running.
///
/// ```
/// use multiproc::prelude::*;
/// let pool = Pool::new(2);
/// let total: u64 = pool.imap_unordered(|x: u64| x, 1..=4).sum();
/// assert_eq!(total, 10);
/// ```
pub struct PoolIter<R> {
    batch: Batch<R>,
    ordered: bool,
    /// Chunks that came back early (ordered iteration only).
    early: BTreeMap<usize, Vec<R>>,
    next_chunk: usize,
    ready: VecDeque<R>,
}

impl<R> std::fmt::Debug for PoolIter<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolIter").field("ordered", &self.ordered).finish()
    }
}

impl<R: Serialize + DeserializeOwned + 'static> PoolIter<R> {
    fn new(batch: Batch<R>, ordered: bool) -> Self {
        PoolIter { batch, ordered, early: BTreeMap::new(), next_chunk: 0, ready: VecDeque::new() }
    }
}

impl<R: Serialize + DeserializeOwned + 'static> Iterator for PoolIter<R> {
    type Item = R;

    #[track_caller]
    fn next(&mut self) -> Option<R> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Some(r);
            }
            let (chunk, items) = self.batch.next_chunk()?;
            if !self.ordered {
                self.ready.extend(items);
                continue;
            }
            self.early.insert(chunk, items);
            while let Some(items) = self.early.remove(&self.next_chunk) {
                self.ready.extend(items);
                self.next_chunk += 1;
            }
        }
    }
}
