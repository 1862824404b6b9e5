//! # aio: async tasks and futures for the lessons, on the tokio runtime (lesson 26-AsyncTasksAndFutures)
//!
//! A crate of its own beside the support crate (`multiproc`), built into the same prebuilt
//! folder and given to cells with `--extern aio=…` (and `--extern tokio=…`): rustc loads an
//! extern crate only when a cell names it, so lessons that never write `aio::` or `tokio::`
//! do not load tokio's metadata into every cell's compile (see docs/architecture.md,
//! "Async cells").
//!
//! Python's `asyncio.run(main())` becomes [`block_on`]`(main())`: it starts a tokio runtime
//! with one thread (like asyncio's single event loop), runs the future to its end and returns
//! its value. Inside, tasks are the real tokio ones ([`spawn`] is `tokio::spawn`,
//! [`spawn_blocking`] is `tokio::task::spawn_blocking`), [`sleep`] is `tokio::time::sleep`
//! scaled by [`time_scale`](multiproc::lesson::time_scale) like [`multiproc::lesson::sleep`], and
//! [`join_all`] is `futures::future::join_all`. A cell may also name `tokio` itself
//! (`tokio::join!`, `tokio::select!`, `tokio::sync::oneshot`): the kernel links the very tokio
//! this crate was built with.
//!
//! ```
//! async fn double_later(x: u32) -> u32 {
//!     aio::sleep(0.01).await;
//!     x * 2
//! }
//!
//! let (a, b) = aio::block_on(async { tokio::join!(double_later(1), double_later(2)) });
//! assert_eq!((a, b), (2, 4));
//! ```
//!
//! Why a function and not a top-level `.await` in a cell: evcxr's top-level await compiles a
//! tokio of its own into the session (a long first compile) and then wraps every later cell
//! in a multi-threaded runtime; `block_on` keeps each cell an ordinary program whose async part
//! is visible, and costs nothing to cells that do not use it.
//!
//! The stop button: [`block_on`] looks at the kernel's stop flag every 50 ms while the future
//! waits; when it is set, the runtime is shut down (its tasks are dropped, the worker threads
//! of `spawn_blocking` get 100 ms to finish) and the call panics with the kernel's
//! "Interrupted" message, so variables of earlier cells survive and no runtime thread stays.
//! A task that blocks the thread with `std::thread::sleep` or a busy loop cannot be looked
//! at until it yields: that is the "blocking the executor" pitfall, and the kernel then ends
//! the whole cell process after its grace period.

use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Awaits every future of a list together; the results come in the list's order
/// (`futures::future::join_all`, Python's `asyncio.gather(*aws)`).
///
/// ```
/// let squares = aio::block_on(aio::join_all((1..=3u32).map(|i| async move { i * i })));
/// assert_eq!(squares, [1, 4, 9]);
/// ```
pub use futures_util::future::join_all;
/// Starts a task that runs on its own (`tokio::spawn`, Python's `asyncio.create_task`); its
/// [`JoinHandle`] is a future of the task's result, and `abort()` cancels it.
///
/// ```
/// let n = aio::block_on(async { aio::spawn(async { 40 + 2 }).await.unwrap() });
/// assert_eq!(n, 42);
/// ```
pub use tokio::spawn;
/// Runs a blocking closure on tokio's pool of threads for blocking work and gives a future of
/// its result, so the runtime's own thread stays free (`tokio::task::spawn_blocking`).
///
/// ```
/// let n = aio::block_on(async { aio::spawn_blocking(|| 6 * 7).await.unwrap() });
/// assert_eq!(n, 42);
/// ```
pub use tokio::task::spawn_blocking;
/// The handle of a spawned task (`tokio::task::JoinHandle`): await it for the task's result,
/// `abort()` it to cancel the task.
///
/// ```
/// let cancelled = aio::block_on(async {
///     let h: aio::JoinHandle<()> = aio::spawn(std::future::pending());
///     h.abort();
///     h.await.unwrap_err().is_cancelled()
/// });
/// assert!(cancelled);
/// ```
pub use tokio::task::JoinHandle;

/// How long shut-down waits for `spawn_blocking` threads before leaving them.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(100);

/// Runs `future` to its end on a new one-thread tokio runtime and returns its output
/// (Python's `asyncio.run`). Tasks it spawned and did not await are dropped when it returns.
/// In a notebook the stop button ends it (see the [module docs](self)).
///
/// ```
/// let answer = aio::block_on(async { 6 * 7 });
/// assert_eq!(answer, 42);
/// ```
#[track_caller]
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("could not start a tokio runtime (out of threads or file descriptors?)");
    let runtime = ShutDownOnDrop(Some(runtime));
    let rt = runtime.0.as_ref().expect("runtime present until drop");
    let out = rt.block_on(async {
        tokio::select! {
            biased;
            () = stop_button() => None,
            v = future => Some(v),
        }
    });
    match out {
        Some(v) => v,
        None => {
            drop(runtime);
            multiproc::sys::wait::check("aio::block_on");
            unreachable!("the stop flag is set once stop_button returned")
        }
    }
}

/// Shuts the runtime down without waiting forever for blocking threads, also when the future
/// panicked (a plain `Runtime` drop would wait for every `spawn_blocking` closure to return).
struct ShutDownOnDrop(Option<tokio::runtime::Runtime>);

impl Drop for ShutDownOnDrop {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_timeout(SHUTDOWN_GRACE);
        }
    }
}

/// Ready when the notebook's stop button was pressed; never ready outside the kernel.
async fn stop_button() {
    if multiproc::kernel_link::control_page().is_none() {
        std::future::pending::<()>().await;
    }
    while !multiproc::sys::wait::interrupted() {
        tokio::time::sleep(multiproc::sys::wait::SLICE).await;
    }
}

/// Waits `seconds` (times [`time_scale`](multiproc::lesson::time_scale)) without blocking the
/// thread: other tasks run meanwhile (Python's `await asyncio.sleep(seconds)`). Must be awaited
/// inside a tokio runtime, e.g. within [`block_on`].
///
/// ```
/// let start = std::time::Instant::now();
/// aio::block_on(aio::sleep(0.02));
/// assert!(start.elapsed().as_secs_f64() >= 0.02 * multiproc::lesson::time_scale());
/// ```
pub async fn sleep(seconds: f64) {
    assert!(seconds >= 0.0, "sleep length must be a non-negative number of seconds, not {seconds}");
    let scaled = (seconds * multiproc::lesson::time_scale()).min(1e9);
    tokio::time::sleep(Duration::from_secs_f64(scaled)).await;
}

/// A result that someone sets later, shaped like Python's `asyncio.Future`: [`set_result`]
/// once, [`done`], [`result`], [`add_done_callback`], and `.await` for the value.
/// A clone is another handle to the same future (give one to the task that sets it).
///
/// [`set_result`]: Future::set_result
/// [`done`]: Future::done
/// [`result`]: Future::result
/// [`add_done_callback`]: Future::add_done_callback
///
/// ```
///
/// let fut: aio::Future<u64> = aio::Future::new();
/// fut.add_done_callback(|v| println!("got {v}"));
/// let setter = fut.clone();
/// let got = aio::block_on(async move {
///     aio::spawn(async move { setter.set_result(55) });
///     fut.await
/// });
/// assert_eq!(got, 55);
/// ```
///
/// Hand-written (about forty lines) because the lesson is about what such a future *is*:
/// a value behind a lock plus the wakers and callbacks to run when it arrives. The
/// idiomatic tool is `tokio::sync::oneshot`, which the lesson shows next to it.
pub struct Future<T> {
    state: Arc<Mutex<State<T>>>,
}

type Callback<T> = Box<dyn FnOnce(&T) + Send>;

struct State<T> {
    result: Option<T>,
    wakers: Vec<Waker>,
    callbacks: Vec<Callback<T>>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future { state: Arc::clone(&self.state) }
    }
}

impl<T: Clone + Send + 'static> Default for Future<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + Send + 'static> Future<T> {
    /// A future with no result yet.
    ///
    /// ```
    /// let f: aio::Future<i32> = aio::Future::new();
    /// assert!(!f.done());
    /// ```
    pub fn new() -> Self {
        Future { state: Arc::new(Mutex::new(State { result: None, wakers: Vec::new(), callbacks: Vec::new() })) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // A callback that panicked never runs under the lock, so the state is whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the result, wakes every task awaiting it and runs the done-callbacks (in the
    /// order they were added, on this thread). Panics if a result was already set, as
    /// Python's raises `InvalidStateError`.
    ///
    /// ```
    /// let f = aio::Future::new();
    /// f.set_result("ready");
    /// assert_eq!(f.result(), Some("ready"));
    /// ```
    pub fn set_result(&self, value: T) {
        let (wakers, callbacks) = {
            let mut s = self.lock();
            assert!(s.result.is_none(), "set_result called twice: this future already has a result");
            s.result = Some(value.clone());
            (std::mem::take(&mut s.wakers), std::mem::take(&mut s.callbacks))
        };
        wakers.into_iter().for_each(Waker::wake);
        for callback in callbacks {
            callback(&value);
        }
    }

    /// True once [`set_result`](Future::set_result) was called.
    ///
    /// ```
    /// let f = aio::Future::new();
    /// assert!(!f.done());
    /// f.set_result(1);
    /// assert!(f.done());
    /// ```
    pub fn done(&self) -> bool {
        self.lock().result.is_some()
    }

    /// The result if it was set (`None` where Python's `result()` raises `InvalidStateError`).
    ///
    /// ```
    /// let f = aio::Future::new();
    /// assert_eq!(f.result(), None);
    /// f.set_result(3);
    /// assert_eq!(f.result(), Some(3));
    /// ```
    pub fn result(&self) -> Option<T> {
        self.lock().result.clone()
    }

    /// Runs `callback` with the result when it is set, or now if it already is.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let f = aio::Future::new();
    /// let s = seen.clone();
    /// f.add_done_callback(move |v: &i32| s.lock().unwrap().push(*v));
    /// f.set_result(7);
    /// assert_eq!(*seen.lock().unwrap(), [7]);
    /// ```
    pub fn add_done_callback(&self, callback: impl FnOnce(&T) + Send + 'static) {
        let now = {
            let mut s = self.lock();
            match &s.result {
                Some(v) => Some(v.clone()),
                None => {
                    s.callbacks.push(Box::new(callback));
                    return;
                }
            }
        };
        if let Some(v) = now {
            callback(&v);
        }
    }
}

impl<T: Clone + Send + 'static> std::future::Future for Future<T> {
    type Output = T;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.lock();
        match &s.result {
            Some(v) => Poll::Ready(v.clone()),
            None => {
                if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    s.wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}
