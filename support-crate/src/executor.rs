//! Executors and futures: Python's `concurrent.futures`.
//!
//! ```
//! use multiproc::prelude::*;
//!
//! let executor = ThreadPoolExecutor::new(4);
//! let futures: Vec<_> = (1..=3u64).map(|n| executor.submit(move || n * 100)).collect();
//! let mut got: Vec<u64> = as_completed(&futures).map(|f| f.result()).collect();
//! got.sort(); // completion order is not input order
//! assert_eq!(got, [100, 200, 300]);
//! ```
//!
//! [`ThreadPoolExecutor`] runs each task on one of its worker threads (plumbing:
//! `crossbeam-channel`). [`ProcessPoolExecutor`] has the same worker threads, but each task runs
//! in a process that its worker thread forks for it and waits for: the task's code is always the
//! code of the cell that submitted it (see [`crate::pool`] for why a notebook needs that), and
//! its result comes back through a [`Pipe`](crate::pipe::Pipe), so it must be a serde type.
//!
//! Both give a [`FutureResult`]: [`done`](FutureResult::done), [`result`](FutureResult::result),
//! [`result_timeout`](FutureResult::result_timeout), [`add_done_callback`](FutureResult::add_done_callback).
//! A task that panics makes `result` panic with the task's message (Python re-raises the
//! exception). Dropping an executor is [`shutdown(true)`](ThreadPoolExecutor::shutdown), the
//! end of Python's `with` block. The stop button ends every wait on a future; a process task's
//! worker process is killed then.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::pool::{Outcome, fork_task, kill_and_reap, run_catching};
use crate::sys::wait;

type Callback<R> = Box<dyn FnOnce(&FutureResult<R>) + Send>;

struct State<R> {
    /// The task's value, or the message of its panic, once finished.
    outcome: Option<Result<R, String>>,
    callbacks: Vec<Callback<R>>,
}

struct Shared<R> {
    state: Mutex<State<R>>,
    finished: Condvar,
}

/// The result of a task given to an executor, available once the task has finished (Python's
/// `concurrent.futures.Future`). Clones are handles to the same result.
///
/// ```
/// use multiproc::prelude::*;
/// let executor = ThreadPoolExecutor::new(1);
/// let f = executor.submit(|| "ready".to_string());
/// assert_eq!(f.result(), "ready");
/// assert!(f.done());
/// ```
pub struct FutureResult<R> {
    shared: Arc<Shared<R>>,
}

impl<R> Clone for FutureResult<R> {
    fn clone(&self) -> Self {
        FutureResult { shared: self.shared.clone() }
    }
}

impl<R> std::fmt::Debug for FutureResult<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FutureResult").field("done", &self.done()).finish()
    }
}

impl<R> FutureResult<R> {
    fn pending() -> Self {
        FutureResult {
            shared: Arc::new(Shared {
                state: Mutex::new(State { outcome: None, callbacks: Vec::new() }),
                finished: Condvar::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<R>> {
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the outcome, wakes the waiters and runs the callbacks (in this thread, without
    /// the lock held, so a callback may look at the future).
    fn finish(&self, outcome: Result<R, String>) {
        let callbacks = {
            let mut st = self.lock();
            st.outcome = Some(outcome);
            std::mem::take(&mut st.callbacks)
        };
        self.shared.finished.notify_all();
        for cb in callbacks {
            cb(self);
        }
    }

    /// True once the task has finished, successfully or not (Python's `done()`). Never waits.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let executor = ThreadPoolExecutor::new(1);
    /// let f = executor.submit(|| 1);
    /// f.result();
    /// assert!(f.done());
    /// ```
    pub fn done(&self) -> bool {
        self.lock().outcome.is_some()
    }

    /// Waits until finished or `deadline`; true if finished.
    #[track_caller]
    fn wait_until(&self, deadline: Option<Instant>, what: &str) -> bool {
        let mut st = self.lock();
        while st.outcome.is_none() {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            st = wait::condvar_wait(&self.shared.finished, st, deadline, what);
        }
        true
    }

    /// Waits for the task and takes its outcome out (for `map`, which needs no `Clone`).
    #[track_caller]
    fn take(&self, what: &str) -> R {
        self.wait_until(None, what);
        match self.lock().outcome.take().expect("finished") {
            Ok(v) => v,
            Err(message) => fail(&message, what),
        }
    }

    /// Waits until the task has finished and returns (a copy of) its value (Python's
    /// `result()`). Panics with the task's panic message if it panicked.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let executor = ThreadPoolExecutor::new(2);
    /// let f = executor.submit(|| vec![1, 2, 3]);
    /// assert_eq!(f.result(), [1, 2, 3]);
    /// assert_eq!(f.result(), [1, 2, 3]); // as often as you like
    /// ```
    #[track_caller]
    pub fn result(&self) -> R
    where
        R: Clone,
    {
        self.wait_until(None, "FutureResult::result");
        self.value()
    }

    /// Waits at most `seconds` for the value; `None` if the task is not finished by then
    /// (Python's `result(timeout)` raises `TimeoutError` instead).
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let executor = ThreadPoolExecutor::new(1);
    /// let slow = executor.submit(|| multiproc::lesson::sleep(0.5));
    /// assert_eq!(slow.result_timeout(0.01), None);
    /// assert_eq!(slow.result_timeout(60.0), Some(()));
    /// ```
    #[track_caller]
    pub fn result_timeout(&self, seconds: f64) -> Option<R>
    where
        R: Clone,
    {
        let deadline = Instant::now() + Duration::from_secs_f64(seconds.clamp(0.0, 1e9));
        if !self.wait_until(Some(deadline), "FutureResult::result_timeout") {
            return None;
        }
        Some(self.value())
    }

    #[track_caller]
    fn value(&self) -> R
    where
        R: Clone,
    {
        let failed = match self.lock().outcome.as_ref().expect("finished") {
            Ok(v) => return v.clone(),
            Err(message) => message.clone(),
        };
        fail(&failed, "FutureResult::result")
    }

    /// Waits until the task has finished; the message of its panic, or `None` if it succeeded
    /// (Python's `exception()`).
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let executor = ThreadPoolExecutor::new(1);
    /// let f = executor.submit(|| -> u8 { panic!("bad input") });
    /// assert!(f.exception().unwrap().contains("bad input"));
    /// ```
    #[track_caller]
    pub fn exception(&self) -> Option<String> {
        self.wait_until(None, "FutureResult::exception");
        self.lock().outcome.as_ref().expect("finished").as_ref().err().cloned()
    }

    /// Calls `callback` with this future once the task has finished (Python's
    /// `add_done_callback`): in the thread that finishes it, or at once, here, if it is
    /// already finished.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let executor = ThreadPoolExecutor::new(1);
    /// let (tx, rx) = crossbeam_channel::unbounded();
    /// let f = executor.submit(|| 21 * 2);
    /// f.add_done_callback(move |f| tx.send(f.result()).unwrap());
    /// assert_eq!(rx.recv().unwrap(), 42);
    /// ```
    pub fn add_done_callback(&self, callback: impl FnOnce(&FutureResult<R>) + Send + 'static) {
        {
            let mut st = self.lock();
            if st.outcome.is_none() {
                st.callbacks.push(Box::new(callback));
                return;
            }
        }
        callback(self);
    }
}

/// Panics with a failed task's message, or with the stop button's if it was pressed (then the
/// task most likely failed *because* of it).
#[track_caller]
fn fail(message: &str, what: &str) -> ! {
    wait::check(what);
    panic!("{message}")
}

/// The futures of `futures` one by one **in the order they finish** (Python's
/// `concurrent.futures.as_completed`). Waiting for the next one ends with the stop button.
///
/// ```
/// use multiproc::prelude::*;
/// let executor = ThreadPoolExecutor::new(3);
/// let futures: Vec<_> = ["a", "bb", "ccc"].map(|s| executor.submit(move || s.len())).into();
/// let mut lengths: Vec<usize> = as_completed(&futures).map(|f| f.result()).collect();
/// lengths.sort();
/// assert_eq!(lengths, [1, 2, 3]);
/// ```
pub fn as_completed<R: Send + 'static>(futures: &[FutureResult<R>]) -> impl Iterator<Item = FutureResult<R>> + use<R> {
    let (tx, rx) = unbounded::<FutureResult<R>>();
    for f in futures {
        let tx = tx.clone();
        f.add_done_callback(move |f| {
            let _ = tx.send(f.clone());
        });
    }
    let mut left = futures.len();
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        loop {
            wait::check("as_completed");
            if let Ok(f) = rx.recv_timeout(wait::SLICE) {
                left -= 1;
                return Some(f);
            }
        }
    })
}

type Job = Box<dyn FnOnce() + Send>;

/// The worker threads and the channel that hands them jobs; shared by both executors.
struct Workers {
    what: &'static str,
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    fn new(what: &'static str, n: usize, name: &str) -> Workers {
        let n = if n == 0 { crate::process::cpu_count() } else { n };
        let (tx, rx): (Sender<Job>, Receiver<Job>) = unbounded();
        let threads = (0..n)
            .map(|i| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("{name}_{i}"))
                    .spawn(move || {
                        for job in rx {
                            job();
                        }
                    })
                    .unwrap_or_else(|e| panic!("{what}: cannot start a worker thread: {e}"))
            })
            .collect();
        Workers { what, jobs: Some(tx), threads }
    }

    #[track_caller]
    fn send(&self, job: Job) {
        let Some(jobs) = &self.jobs else {
            panic!("{}: cannot schedule new futures after shutdown", self.what);
        };
        jobs.send(job).expect("the worker threads outlive the channel");
    }

    fn shutdown(&mut self, wait: bool) {
        self.jobs = None; // the threads finish the queued jobs, then their loop ends
        if wait {
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        } else {
            self.threads.clear(); // detached
        }
    }
}

type Task<R> = Box<dyn FnOnce() -> R + Send>;

/// `map` for both executors: submits `f` on every input, then collects the values in input order.
#[track_caller]
fn map_with<T, R, F>(
    f: F,
    inputs: impl IntoIterator<Item = T>,
    what: &str,
    submit: impl Fn(Task<R>) -> FutureResult<R>,
) -> Vec<R>
where
    T: Send + 'static,
    R: 'static,
    F: Fn(T) -> R + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let futures: Vec<FutureResult<R>> = inputs
        .into_iter()
        .map(|x| {
            let f = f.clone();
            submit(Box::new(move || f(x)))
        })
        .collect();
    futures.iter().map(|f| f.take(what)).collect()
}

/// A pool of `n` threads that run submitted tasks (Python's
/// `concurrent.futures.ThreadPoolExecutor(max_workers=n)`).
///
/// ```
/// use multiproc::prelude::*;
/// let executor = ThreadPoolExecutor::new(2);
/// let squares = executor.map(|x: u32| x * x, 1..=4);
/// assert_eq!(squares, [1, 4, 9, 16]);
/// ```
pub struct ThreadPoolExecutor {
    workers: Workers,
}

impl std::fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPoolExecutor").field("threads", &self.workers.threads.len()).finish()
    }
}

impl ThreadPoolExecutor {
    /// Starts `n` worker threads named `ThreadPoolExecutor_0`, … (0 means
    /// [`cpu_count`](crate::process::cpu_count)).
    ///
    /// ```
    /// let executor = multiproc::executor::ThreadPoolExecutor::new(3);
    /// ```
    pub fn new(n: usize) -> ThreadPoolExecutor {
        ThreadPoolExecutor { workers: Workers::new("ThreadPoolExecutor", n, "ThreadPoolExecutor") }
    }

    /// Queues `task` for the next free thread and returns its [`FutureResult`] at once
    /// (Python's `submit(f, args)`; the closure's captures are the arguments). Panics after
    /// [`shutdown`](ThreadPoolExecutor::shutdown).
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let executor = ThreadPoolExecutor::new(2);
    /// let f = executor.submit(|| std::thread::current().name().unwrap().to_string());
    /// assert!(f.result().starts_with("ThreadPoolExecutor_"));
    /// ```
    #[track_caller]
    pub fn submit<R, F>(&self, task: F) -> FutureResult<R>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let future = FutureResult::pending();
        let done = future.clone();
        self.workers.send(Box::new(move || {
            done.finish(match run_catching(task) {
                Outcome::Ok(v) => Ok(v),
                Outcome::Panicked(m) => Err(format!(
                    "task in thread {} panicked: {m}",
                    std::thread::current().name().unwrap_or("?")
                )),
            })
        }));
        future
    }

    /// Runs `f` on every input and returns the values in input order (Python's `map`, which
    /// gives an iterator; here a `Vec`). Panics if `f` panics on an input.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let executor = ThreadPoolExecutor::new(3);
    /// assert_eq!(executor.map(|s: &str| s.to_uppercase(), ["a", "b"]), ["A", "B"]);
    /// ```
    #[track_caller]
    pub fn map<T, R, F>(&self, f: F, inputs: impl IntoIterator<Item = T>) -> Vec<R>
    where
        T: Send + 'static,
        R: Send + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
    {
        map_with(f, inputs, "ThreadPoolExecutor::map", |task| self.submit(task))
    }

    /// No new tasks; the queued ones still run (Python's `shutdown(wait)`). With `wait`, returns
    /// once every task has finished and the threads have ended. Dropping the executor is
    /// `shutdown(true)`.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let mut executor = ThreadPoolExecutor::new(2);
    /// let f = executor.submit(|| 5);
    /// executor.shutdown(true);
    /// assert!(f.done());
    /// ```
    pub fn shutdown(&mut self, wait: bool) {
        self.workers.shutdown(wait);
    }
}

impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(true);
    }
}

/// A pool that runs each submitted task in its own worker process, at most `n` at a time
/// (Python's `concurrent.futures.ProcessPoolExecutor(max_workers=n)`). The task's result is
/// sent back serialized, so it must be a serde type.
///
/// ```
/// use multiproc::prelude::*;
/// let executor = ProcessPoolExecutor::new(2);
/// let pids = executor.map(|_: u8| current_process().pid(), [0, 1]);
/// assert!(pids.iter().all(|&pid| pid != current_process().pid())); // other processes
/// ```
pub struct ProcessPoolExecutor {
    workers: Workers,
    started: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessPoolExecutor").field("workers", &self.workers.threads.len()).finish()
    }
}

impl ProcessPoolExecutor {
    /// An executor running at most `n` worker processes at a time (0 means
    /// [`cpu_count`](crate::process::cpu_count)). No process starts until a task is submitted.
    ///
    /// ```
    /// let executor = multiproc::executor::ProcessPoolExecutor::new(4);
    /// ```
    pub fn new(n: usize) -> ProcessPoolExecutor {
        ProcessPoolExecutor {
            workers: Workers::new("ProcessPoolExecutor", n, "ProcessPoolExecutor"),
            started: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Queues `task`; a worker process named `ProcessPoolWorker-N` runs it as soon as fewer
    /// than `n` are running. Returns its [`FutureResult`] at once. Panics after
    /// [`shutdown`](ProcessPoolExecutor::shutdown).
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let executor = ProcessPoolExecutor::new(2);
    /// let f = executor.submit(|| current_process().name().to_string());
    /// assert!(f.result().starts_with("ProcessPoolWorker-"));
    /// ```
    #[track_caller]
    pub fn submit<R, F>(&self, task: F) -> FutureResult<R>
    where
        R: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let number = self.started.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let future = FutureResult::pending();
        let done = future.clone();
        self.workers.send(Box::new(move || {
            // Forked from this worker thread, which waits for the process before its next job
            // (a process started from a thread is killed when that thread ends).
            let outcome = run_catching(|| {
                let (process, receiver) = fork_task(format!("ProcessPoolWorker-{number}"), task);
                let _guard = KillOnUnwind(&process);
                let answer = receiver.recv();
                process.join();
                let who = format!("{} (pid {})", process.get_name(), process.pid().unwrap_or(0));
                match answer {
                    Ok(Outcome::Ok(v)) => Ok(v),
                    Ok(Outcome::Panicked(m)) => Err(format!("task in process {who} panicked: {m}")),
                    Err(_) => Err(format!(
                        "process {who} ended (exit code {}) without a result",
                        process.exitcode().unwrap_or(0)
                    )),
                }
            });
            done.finish(match outcome {
                Outcome::Ok(result) => result,
                // The wait itself ended: the stop button (or a failed fork).
                Outcome::Panicked(m) => Err(m),
            })
        }));
        future
    }

    /// Runs `f` on every input, each in a worker process, and returns the values in input
    /// order. Panics if `f` panics on an input.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let executor = ProcessPoolExecutor::new(2);
    /// assert_eq!(executor.map(|x: u64| x + 1, [1, 2, 3]), [2, 3, 4]);
    /// ```
    #[track_caller]
    pub fn map<T, R, F>(&self, f: F, inputs: impl IntoIterator<Item = T>) -> Vec<R>
    where
        T: Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
    {
        map_with(f, inputs, "ProcessPoolExecutor::map", |task| self.submit(task))
    }

    /// No new tasks; the queued ones still run. With `wait`, returns once every task has
    /// finished. Dropping the executor is `shutdown(true)`.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let mut executor = ProcessPoolExecutor::new(1);
    /// let f = executor.submit(|| 5);
    /// executor.shutdown(true);
    /// assert_eq!(f.result(), 5);
    /// ```
    pub fn shutdown(&mut self, wait: bool) {
        self.workers.shutdown(wait);
    }
}

impl Drop for ProcessPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(true);
    }
}

/// Kills and reaps a task's process if the wait for it ends with a panic (the stop button);
/// after a normal end there is nothing left to kill.
struct KillOnUnwind<'a>(&'a crate::process::Process);

impl Drop for KillOnUnwind<'_> {
    fn drop(&mut self) {
        kill_and_reap([self.0]);
    }
}
