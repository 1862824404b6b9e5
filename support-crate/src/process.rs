//! Processes: Python's `multiprocessing.Process`, built on `fork()`.
//!
//! ```
//! use multiproc::prelude::*;
//!
//! fn say_hi() {
//!     println!("Hi from process {}", current_process().pid());
//! }
//!
//! let mut p = Process::new(say_hi);
//! p.start();
//! p.join();
//! assert_eq!(p.exitcode(), Some(0));
//! ```
//!
//! A [`Process`] is a real operating-system process: `start` forks this process, the child runs
//! the closure and exits, the parent gets the handle back at once. A closure that captures
//! values replaces Python's `args=(...)`; the child sees a snapshot of the parent's memory taken
//! at `start`.
//!
//! What every start does, and why (each is a real bug when missed):
//! - stdout and stderr are flushed and their locks held across `fork()`, so the child neither
//!   prints the parent's buffered text a second time nor inherits a lock another thread held;
//! - the child runs the closure under `catch_unwind`; a panic prints one line naming the
//!   process's pid and name and gives exit code 1; the child always leaves through `_exit`, so it
//!   never returns into the caller's code (inside the notebook kernel that would corrupt the
//!   kernel's runtime);
//! - before it exits, a child joins its own children (Python does the same), terminating its
//!   daemon children first;
//! - the child's standard input is `/dev/null` (as in Python), the child dies with its parent
//!   (`PR_SET_PDEATHSIG`), and `SIGINT` gets its default action back;
//! - only our own children are reaped, with `waitpid` on their pids, and finished ones are
//!   reaped at the next `start`, [`active_children`] or [`reap_finished`] (the kernel calls it
//!   after every cell), so no zombies pile up while their exit codes wait for a `join`;
//! - every wait ends with a panic when the notebook's stop button is pressed
//!   ([`crate::sys::wait`]).
//!
//! One Linux detail to know: "dies with its parent" is tied to the *thread* that called
//! `start`. A process started from a short-lived thread is killed when that thread ends.

use crate::sys::timeline;
use std::cell::Cell;
use std::io::Write;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use crate::kernel_link::{self, DEFAULT_MAX_PROCESSES, MAX_PROCESSES_ENV, ToKernel};

type Target = Box<dyn FnOnce() + Send + 'static>;

/// A child started by this process and not yet forgotten.
struct Child {
    /// Which `start` made this entry (a pid can come back once its child was reaped, so the
    /// registry and the handles find an entry by this number, never by pid alone).
    id: u64,
    pid: i32,
    name: String,
    daemon: bool,
    /// Known once reaped (Python's convention: negative signal number when killed).
    exitcode: Option<i32>,
    /// False once the `Process` handle was dropped (the child is detached).
    has_handle: bool,
}

/// Per-process bookkeeping. Reset in every child right after `fork()`.
struct State {
    /// This process's name; empty means "MainProcess".
    name: String,
    daemon: bool,
    /// Python's `_identity`: the numbers along the chain of parents, e.g. `[1, 2]` = "Process-1:2".
    identity: Vec<u32>,
    /// Number given to the last `Process` created here.
    counter: u32,
    parent: Option<ProcessInfo>,
    children: Vec<Child>,
    /// The `id` given to the last entry of `children`.
    last_child_id: u64,
    atexit_registered: bool,
}

/// This copy's bookkeeping. Exported under a fixed name so that, in the notebook kernel, where
/// every cell links its own copy of this crate, all cells share the first cell's (see
/// [`crate::sys::one_copy`]): a process started in one cell is joined and reaped in another.
#[unsafe(no_mangle)]
static MULTIPROC_PROCESS_STATE_V1: Mutex<State> = Mutex::new(State {
    name: String::new(),
    daemon: false,
    identity: Vec::new(),
    counter: 0,
    parent: None,
    children: Vec::new(),
    last_child_id: 0,
    atexit_registered: false,
});

fn state() -> MutexGuard<'static, State> {
    static SHARED: std::sync::OnceLock<&'static Mutex<State>> = std::sync::OnceLock::new();
    // SAFETY: every copy of this crate exports a `Mutex<State>` under this name.
    let shared = SHARED.get_or_init(|| unsafe {
        crate::sys::one_copy::first_loaded(c"MULTIPROC_PROCESS_STATE_V1", &MULTIPROC_PROCESS_STATE_V1)
    });
    // A panic while the lock was held leaves the bookkeeping consistent (every change is a
    // single push/remove/assignment), so a poisoned lock is still usable.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

fn getpid() -> i32 {
    std::process::id() as i32
}

fn own_name(st: &State) -> String {
    if st.name.is_empty() { "MainProcess".to_string() } else { st.name.clone() }
}

/// The pid, name and daemon flag of a process, as returned by [`current_process`],
/// [`parent_process`] and [`active_children`].
///
/// ```
/// use multiproc::prelude::*;
/// let me = current_process();
/// assert_eq!(me.pid(), std::process::id() as i32);
/// println!("{me}"); // e.g. "MainProcess (pid 1234)"
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pid: i32,
    name: String,
    daemon: bool,
}

impl ProcessInfo {
    /// The operating system's process id.
    ///
    /// ```
    /// assert!(multiproc::prelude::current_process().pid() > 0);
    /// ```
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The name: "MainProcess" for the first process, else the name given with
    /// [`Process::name`] or a default such as "Process-3" (or "Process-1:2" for the second
    /// child of "Process-1", as in Python).
    ///
    /// ```
    /// # if std::env::var_os(multiproc::kernel_link::SOCKET_ENV).is_none() {
    /// assert_eq!(multiproc::prelude::current_process().name(), "MainProcess");
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the process was started as a daemon.
    ///
    /// ```
    /// assert!(!multiproc::prelude::current_process().daemon());
    /// ```
    pub fn daemon(&self) -> bool {
        self.daemon
    }
}

impl std::fmt::Display for ProcessInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {})", self.name, self.pid)
    }
}

/// The process this code runs in: its pid and its name.
///
/// ```
/// use multiproc::prelude::*;
/// let mut p = Process::new(|| {
///     let me = current_process();
///     println!("I am {} with pid {}", me.name(), me.pid());
/// })
/// .name("worker");
/// p.start();
/// p.join();
/// ```
pub fn current_process() -> ProcessInfo {
    let st = state();
    ProcessInfo { pid: getpid(), name: own_name(&st), daemon: st.daemon }
}

/// The process that started this one, or `None` in the first process ("MainProcess").
///
/// ```
/// use multiproc::prelude::*;
/// assert!(parent_process().is_none());
/// let mut p = Process::new(|| {
///     let parent = parent_process().expect("a child has a parent");
///     println!("my parent is {parent}");
/// });
/// p.start();
/// p.join();
/// assert_eq!(p.exitcode(), Some(0));
/// ```
pub fn parent_process() -> Option<ProcessInfo> {
    state().parent.clone()
}

/// The children of this process that are still running. Like Python, it also reaps (collects
/// the exit status of) children that have finished, so no zombie processes pile up.
///
/// ```
/// use multiproc::prelude::*;
/// let mut p = Process::new(|| {});
/// p.start();
/// p.join();
/// assert!(active_children().iter().all(|c| Some(c.pid()) != p.pid()));
/// ```
pub fn active_children() -> Vec<ProcessInfo> {
    let mut st = state();
    reap_and_forget(&mut st);
    st.children
        .iter()
        .filter(|c| c.exitcode.is_none())
        .map(|c| ProcessInfo { pid: c.pid, name: c.name.clone(), daemon: c.daemon })
        .collect()
}

/// Collects the exit status of every child of this process that has finished, so none stays
/// behind as a zombie (Python does this whenever a process starts and in `active_children`).
///
/// [`Process::start`] and [`active_children`] call it, and the notebook kernel calls it after
/// every cell, so a student never needs to. A child whose [`Process`] handle still exists keeps
/// its exit code for a later [`join`](Process::join) or [`exitcode`](Process::exitcode); only
/// children started by [`Process::start`] are touched (never those of `std::process::Command`).
///
/// ```
/// use multiproc::prelude::*;
/// let mut p = Process::new(|| panic!("done"));
/// p.start();
/// reap_finished(); // reaps `p` if it has finished already, else leaves it running
/// p.join(); // the exit code is kept either way
/// assert_eq!(p.exitcode(), Some(1));
/// ```
pub fn reap_finished() {
    reap_and_forget(&mut state());
}

/// How many CPUs this process may run on (at least 1).
///
/// ```
/// assert!(multiproc::prelude::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A process that runs a closure, like Python's `multiprocessing.Process`.
///
/// Create it with [`Process::new`], optionally set [`name`](Process::name) and
/// [`daemon`](Process::daemon), then [`start`](Process::start) it and later
/// [`join`](Process::join) it.
///
/// Dropping a handle whose process was started but not joined *detaches* it, like Python's
/// `Process(target=f).start()` without keeping the object: the process keeps running, nothing
/// blocks, and it is reaped later (by [`active_children`], or when this process exits).
///
/// ```
/// use multiproc::prelude::*;
///
/// let person = String::from("Jimmy");
/// let mut workers = Vec::new();
/// for i in 0..3 {
///     let person = person.clone();
///     let mut p = Process::new(move || println!("Hi {person} from {}", current_process().name()))
///         .name(format!("worker {i}"));
///     p.start();
///     workers.push(p);
/// }
/// for p in &workers {
///     p.join();
///     assert_eq!(p.exitcode(), Some(0));
/// }
/// ```
pub struct Process {
    target: Option<Target>,
    name: String,
    daemon: bool,
    pid: Option<i32>,
    /// Python's `_identity` (numbers behind the default name), fixed when created.
    identity: Vec<u32>,
    /// The pid of the process that called `start` (only it can wait for the child).
    started_by: i32,
    /// The registry entry of the started child (`Child::id`).
    child_id: u64,
    exitcode: Cell<Option<i32>>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("pid", &self.pid)
            .field("exitcode", &self.exitcode.get())
            .finish()
    }
}

impl Process {
    /// A process that will run `target` once started. Nothing runs until [`start`](Process::start).
    ///
    /// The default name is "Process-N", N counting the processes created by this process
    /// (Python's rule; in a child the names continue as "Process-1:1", "Process-1:2", …).
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let p = Process::new(|| println!("hello"));
    /// assert!(p.get_name().starts_with("Process-"));
    /// assert_eq!(p.pid(), None); // not started
    /// ```
    pub fn new<F: FnOnce() + Send + 'static>(target: F) -> Process {
        let mut st = state();
        st.counter += 1;
        let mut identity = st.identity.clone();
        identity.push(st.counter);
        let numbers: Vec<String> = identity.iter().map(u32::to_string).collect();
        Process {
            target: Some(Box::new(target)),
            name: format!("Process-{}", numbers.join(":")),
            daemon: false,
            pid: None,
            identity,
            started_by: 0,
            child_id: 0,
            exitcode: Cell::new(None),
        }
    }

    /// Builder: gives the process a name (Python's `name=` argument). Read it back with
    /// [`get_name`](Process::get_name), or in the child with `current_process().name()`.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let p = Process::new(|| {}).name("digger A");
    /// assert_eq!(p.get_name(), "digger A");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Process {
        self.name = name.into();
        self
    }

    /// Builder: marks the process as a daemon (Python's `daemon=True`). A daemon process is
    /// terminated, not waited for, when the process that started it finishes, and the notebook
    /// kernel does not wait for it at the end of a cell.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let p = Process::new(|| {}).daemon(true);
    /// assert!(p.is_daemon());
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Process {
        assert!(self.pid.is_none(), "daemon() must be set before start(): the process has already started");
        self.daemon = daemon;
        self
    }

    /// The process's name (Python's `p.name`).
    ///
    /// ```
    /// let p = multiproc::prelude::Process::new(|| {}).name("foo_process");
    /// assert_eq!(p.get_name(), "foo_process");
    /// ```
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// Whether the process is a daemon (Python's `p.daemon`).
    ///
    /// ```
    /// assert!(!multiproc::prelude::Process::new(|| {}).is_daemon());
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// The child's pid once started (Python's `p.pid`), `None` before.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let mut p = Process::new(|| {});
    /// assert_eq!(p.pid(), None);
    /// p.start();
    /// assert!(p.pid().unwrap() > 0);
    /// p.join();
    /// ```
    pub fn pid(&self) -> Option<i32> {
        self.pid
    }

    /// Starts the process: forks, runs the closure in the child, returns at once in the parent.
    ///
    /// Panics if the process was already started, or when too many processes are running
    /// (64 by default; the limit keeps a runaway loop from filling the machine). Outside the
    /// notebook kernel the limit is on this process's running children and is set with the
    /// `MULTIPROC_MAX_PROCESSES` environment variable.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let mut p = Process::new(|| println!("child"));
    /// p.start();
    /// p.join();
    /// ```
    #[track_caller]
    pub fn start(&mut self) {
        let Some(target) = self.target.take() else {
            panic!("a process can only be started once ({} was already started)", self.name);
        };
        crate::sys::perturb::point();
        install_panic_hook();
        // Initialise the kernel link before forking so parent and child share one, set up once.
        let link = kernel_link::link();
        let mut st = state();
        reap_all(&mut st);
        let slot = match reserve_slot(&st) {
            Ok(slot) => slot,
            Err(message) => {
                drop(st);
                panic!("{message}");
            }
        };
        if !st.atexit_registered && kernel_link::control_page().is_none() {
            // Python joins a program's non-daemon children when the program ends. A plain Rust
            // program gets the same from this exit hook (the kernel waits for them itself).
            // SAFETY: registering a plain extern "C" function.
            unsafe { libc::atexit(join_children_at_exit) };
            st.atexit_registered = true;
        }
        let parent = ProcessInfo { pid: getpid(), name: own_name(&st), daemon: st.daemon };

        // Flush, then hold the stdout/stderr locks across fork(): buffered text is written once
        // (by the parent), and no other thread owns these locks at the moment of the fork.
        let mut out = std::io::stdout().lock();
        let _ = out.flush();
        let mut err = std::io::stderr().lock();
        let _ = err.flush();

        // SAFETY: the child only touches state this thread holds locked (ours, stdout, stderr),
        // runs the target, and leaves through `_exit`.
        match unsafe { fork() } {
            Err(e) => {
                slot.release();
                drop(err);
                drop(out);
                drop(st);
                panic!("could not start process {}: fork failed: {e}", self.name);
            }
            Ok(ForkResult::Child) => {
                st.name = self.name.clone();
                st.daemon = self.daemon;
                st.identity = std::mem::take(&mut self.identity);
                st.counter = 0;
                st.parent = Some(parent.clone());
                st.children.clear();
                drop(st);
                drop(err);
                drop(out);
                run_child(target, &self.name, parent.pid)
            }
            Ok(ForkResult::Parent { child }) => {
                let pid = child.as_raw();
                crate::sys::timeline::note(crate::sys::timeline::Kind::Spawned, "Process::start", &self.name, pid as u64);
                st.last_child_id += 1;
                let id = st.last_child_id;
                st.children.push(Child {
                    id,
                    pid,
                    name: self.name.clone(),
                    daemon: self.daemon,
                    exitcode: None,
                    has_handle: true,
                });
                drop(st);
                drop(err);
                drop(out);
                self.pid = Some(pid);
                self.started_by = getpid();
                self.child_id = id;
                if let Some(link) = link {
                    // The kernel learns about the process before start() returns, so output
                    // and the end-of-cell wait are attributed to the right cell.
                    let _ =
                        link.send(&ToKernel::Started { pid, name: self.name.clone(), daemon: self.daemon });
                }
            }
        }
    }

    /// Waits until the process has finished (Python's `p.join()`).
    ///
    /// The notebook's stop button ends the wait with a panic.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let mut p = Process::new(|| multiproc::lesson::sleep(0.01));
    /// p.start();
    /// p.join();
    /// assert!(!p.is_alive());
    /// ```
    #[track_caller]
    pub fn join(&self) {
        self.own_pid("join");
        self.noted_join(timeline::Kind::JoinCalled, "Process::join");
        if self.exitcode.get().is_none() {
            let code = wait_child(self.child_id, None, "Process::join");
            self.learn(code);
        }
        self.noted_join(timeline::Kind::JoinReturned, "Process::join");
    }

    /// The timeline's join events (one relaxed load and a branch when it is off).
    #[inline(always)]
    fn noted_join(&self, kind: timeline::Kind, op: &str) {
        if timeline::on() {
            let done = u64::from(self.exitcode.get().is_some());
            timeline::event(kind, op, &self.name, self.pid.unwrap_or(0) as u64, done);
        }
    }

    /// Waits at most `seconds` for the process to finish; true if it has finished.
    /// (Python's `join(timeout)` returns nothing; check `is_alive()` there.)
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let mut p = Process::new(|| {});
    /// p.start();
    /// assert!(p.join_timeout(30.0));
    /// assert_eq!(p.exitcode(), Some(0));
    /// ```
    #[track_caller]
    pub fn join_timeout(&self, seconds: f64) -> bool {
        self.own_pid("join_timeout");
        if self.exitcode.get().is_some() {
            return true;
        }
        let deadline = Instant::now() + Duration::from_secs_f64(seconds.clamp(0.0, 1e9));
        self.noted_join(timeline::Kind::JoinCalled, "Process::join_timeout");
        let code = wait_child(self.child_id, Some(deadline), "Process::join_timeout");
        self.learn(code);
        self.noted_join(timeline::Kind::JoinReturned, "Process::join_timeout");
        code.is_some()
    }

    /// True from `start` until the process has finished.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let mut p = Process::new(|| {});
    /// assert!(!p.is_alive());
    /// p.start();
    /// p.join();
    /// assert!(!p.is_alive());
    /// ```
    #[track_caller]
    pub fn is_alive(&self) -> bool {
        if self.pid.is_none() {
            return false;
        }
        self.own_pid("check is_alive of");
        self.exitcode().is_none()
    }

    /// The exit code once the process has finished, else `None` (Python's `p.exitcode`):
    /// 0 for a normal end, 1 when the closure panicked, and minus the signal number when a
    /// signal ended it (-15 after [`terminate`](Process::terminate), -9 after
    /// [`kill`](Process::kill)).
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let mut p = Process::new(|| panic!("something went wrong"));
    /// p.start();
    /// p.join();
    /// assert_eq!(p.exitcode(), Some(1));
    /// ```
    pub fn exitcode(&self) -> Option<i32> {
        if let Some(code) = self.exitcode.get() {
            return Some(code);
        }
        self.pid?;
        if self.started_by != getpid() {
            return None;
        }
        let code = try_reap(&mut state(), self.child_id);
        self.learn(code);
        code
    }

    /// Asks the process to stop with `SIGTERM` (Python's `p.terminate()`). Does nothing if it
    /// has already finished. Follow with [`join`](Process::join).
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let mut p = Process::new(|| loop { multiproc::lesson::sleep(1.0) });
    /// p.start();
    /// p.terminate();
    /// p.join();
    /// assert_eq!(p.exitcode(), Some(-15));
    /// ```
    #[track_caller]
    pub fn terminate(&self) {
        self.signal(Signal::SIGTERM, "terminate");
    }

    /// Stops the process at once with `SIGKILL` (Python's `p.kill()`). Does nothing if it has
    /// already finished.
    ///
    /// ```
    /// use multiproc::prelude::*;
    /// let mut p = Process::new(|| loop { multiproc::lesson::sleep(1.0) });
    /// p.start();
    /// p.kill();
    /// p.join();
    /// assert_eq!(p.exitcode(), Some(-9));
    /// ```
    #[track_caller]
    pub fn kill(&self) {
        self.signal(Signal::SIGKILL, "kill");
    }

    #[track_caller]
    fn signal(&self, sig: Signal, what: &str) {
        let pid = self.own_pid(what);
        if self.exitcode.get().is_some() {
            return;
        }
        let mut st = state();
        // Signal only while the child is unreaped: its pid cannot belong to anyone else then.
        if try_reap(&mut st, self.child_id).is_none() {
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }

    #[track_caller]
    fn own_pid(&self, what: &str) -> i32 {
        let Some(pid) = self.pid else {
            panic!("can only {what} a started process ({} was never started)", self.name);
        };
        assert!(
            self.started_by == getpid(),
            "can only {what} a process started by this process ({} was started by pid {})",
            self.name,
            self.started_by
        );
        pid
    }

    /// Caches a learned exit code and drops the registry entry (the handle remembers it now).
    fn learn(&self, code: Option<i32>) {
        if let Some(code) = code {
            self.exitcode.set(Some(code));
            state().children.retain(|c| c.id != self.child_id);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.pid.is_none() || self.started_by != getpid() || self.exitcode.get().is_some() {
            return;
        }
        // Detach: never kill, never wait. The child stays registered until someone reaps it.
        let mut st = state();
        if let Some(i) = st.children.iter().position(|c| c.id == self.child_id) {
            if st.children[i].exitcode.is_some() {
                st.children.remove(i);
            } else {
                st.children[i].has_handle = false;
            }
        }
    }
}

/// How this process names itself and its next children (for `explore`, whose runs must name
/// their processes exactly as the exploring process would, run after run).
#[derive(Debug, Clone)]
pub(crate) struct Naming {
    name: String,
    daemon: bool,
    identity: Vec<u32>,
    counter: u32,
    parent: Option<ProcessInfo>,
}

/// This process's [`Naming`] now.
pub(crate) fn naming() -> Naming {
    let st = state();
    Naming {
        name: st.name.clone(),
        daemon: st.daemon,
        identity: st.identity.clone(),
        counter: st.counter,
        parent: st.parent.clone(),
    }
}

/// Takes on `naming`: in an exploration's run (it becomes a twin of the exploring process), and
/// in the exploring process afterwards (`counter` only, so the runs did not use up names).
pub(crate) fn set_naming(naming: &Naming, whole: bool) {
    let mut st = state();
    st.counter = naming.counter;
    if whole {
        st.name = naming.name.clone();
        st.daemon = naming.daemon;
        st.identity = naming.identity.clone();
        st.parent = naming.parent.clone();
    }
}

/// What a child does after `fork()`. Never returns.
fn run_child(target: Target, name: &str, parent_pid: i32) -> ! {
    CHILD_NAME.store(Box::into_raw(Box::new(name.to_string())), Ordering::Release);
    CHILD_PID.store(getpid(), Ordering::Release);
    crate::sys::perturb::forked(name);
    // SAFETY: plain system calls with constant arguments.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
    }
    // The parent may have died before prctl took effect: then we were re-parented already.
    if nix::unistd::getppid().as_raw() != parent_pid {
        // SAFETY: leaving without running any of the parent's exit handlers.
        unsafe { libc::_exit(1) };
    }
    // SAFETY: restoring the default action of SIGINT (the kernel's runtime ignores it).
    unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
    stdin_from_dev_null();
    if let Some(link) = kernel_link::link() {
        // Before anything the child prints (see `ToKernel::Hello`).
        let _ = link.send(&ToKernel::Hello { name: name.to_string() });
    }
    crate::sys::timeline::note(crate::sys::timeline::Kind::ProcessStart, "Process::start", name, parent_pid as u64);

    let mut code = 0;
    if panic::catch_unwind(AssertUnwindSafe(target)).is_err() {
        // The panic hook (see `install_panic_hook`) already printed the line naming us.
        code = 1;
    }
    if panic::catch_unwind(finish_children).is_err() {
        code = 1;
    }
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    crate::sys::timeline::note(crate::sys::timeline::Kind::ProcessExit, "", name, code as u64);
    // SAFETY: `_exit` skips the parent's atexit handlers and destructors (the kernel's state
    // copied into this child must not be torn down twice).
    unsafe { libc::_exit(code) }
}

/// Name of this process if it is a child started by [`Process::start`] (for the panic hook).
static CHILD_NAME: AtomicPtr<String> = AtomicPtr::new(std::ptr::null_mut());
/// Pid of the process `CHILD_NAME` belongs to (a grandchild inherits a copy and replaces it).
static CHILD_PID: AtomicI32 = AtomicI32::new(0);

/// Installs (once, in the parent, before the first fork) a panic hook that, in a child
/// process, prints one line naming the process and writes it with a plain `write(2)`.
///
/// Why not the default hook in the child: it takes std's global backtrace lock and the stderr
/// lock. If another thread of the parent was printing a panic at the moment of the fork, the
/// child inherits that lock as taken and would hang forever in its own panic. In the parent
/// (and in processes not started here) the previous hook runs unchanged.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let name = CHILD_NAME.load(Ordering::Acquire);
            if name.is_null() || CHILD_PID.load(Ordering::Acquire) != getpid() {
                return previous(info);
            }
            // SAFETY: set once per child from a leaked Box, never freed.
            let name = unsafe { &*name };
            let reason = info.payload_as_str().unwrap_or("(no message)");
            let in_notebook = kernel_link::control_page().is_some();
            if in_notebook && (crate::sys::report::stopped_in(reason).is_some() || reason.starts_with(TOO_MANY)) {
                // The stop button, or the process cap (a runaway loop of processes starting
                // processes): the kernel's one message names the processes it terminated and
                // counts the starts the cap refused.
                return;
            }
            // In the notebook the location is the kernel's generated file or the support
            // crate's sources, neither of which the student wrote.
            let place = match info.location() {
                Some(l) if !in_notebook => format!(" (at {}:{})", l.file(), l.line()),
                _ => String::new(),
            };
            let line = format!("Process {name} (pid {}) panicked: {reason}{place}\n", getpid());
            write_fd(2, line.as_bytes());
        }));
    });
}

/// Points fd 0 at `/dev/null`: inside the kernel fd 0 of the runtime is evcxr's command pipe,
/// and a child reading it would steal the kernel's commands.
fn stdin_from_dev_null() {
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(null.as_fd());
    }
}

/// Writes all of `bytes` to `fd` with plain `write(2)` calls, bypassing std's buffers and the
/// test harness's output capture (a child's last words must reach the real descriptor).
pub(crate) fn write_fd(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writing from a valid buffer.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Python's exit rule: terminate the daemon children, then join every child.
fn finish_children() {
    let ids: Vec<u64> = {
        let mut st = state();
        reap_all(&mut st);
        let running: Vec<&Child> = st.children.iter().filter(|c| c.exitcode.is_none()).collect();
        for c in running.iter().filter(|c| c.daemon) {
            let _ = kill(Pid::from_raw(c.pid), Signal::SIGTERM);
        }
        running.iter().map(|c| c.id).collect()
    };
    for id in ids {
        wait_child(id, None, "the end-of-process join of its children");
    }
}

extern "C" fn join_children_at_exit() {
    let _ = panic::catch_unwind(finish_children);
}

/// Collects the exit status of registry entry `id` if its child has finished; records it there.
fn try_reap(st: &mut State, id: u64) -> Option<i32> {
    let child = st.children.iter_mut().find(|c| c.id == id)?;
    if child.exitcode.is_some() {
        return child.exitcode;
    }
    // Only this entry can be unreaped with this pid (the system gives a pid out again only
    // after its zombie was reaped), so the wait is for our child, never for a newer one.
    child.exitcode = match waitpid(Pid::from_raw(child.pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(-(sig as i32)),
        Ok(_) => None,
        Err(Errno::EINTR) => None,
        // ECHILD: someone set SIGCHLD to "ignore", so the system reaped it and its status is
        // lost. Report a plain end rather than waiting forever.
        Err(_) => Some(0),
    };
    child.exitcode
}

fn reap_all(st: &mut State) {
    let ids: Vec<u64> = st.children.iter().filter(|c| c.exitcode.is_none()).map(|c| c.id).collect();
    for id in ids {
        try_reap(st, id);
    }
}

/// Reaps what has finished and forgets finished children that no handle will ask about.
fn reap_and_forget(st: &mut State) {
    reap_all(st);
    st.children.retain(|c| c.has_handle || c.exitcode.is_none());
}

/// Waits for the child of registry entry `id` until `deadline`; its exit code, or `None` if
/// the deadline passed.
#[track_caller]
fn wait_child(id: u64, deadline: Option<Instant>, what: &str) -> Option<i32> {
    let mut recorded: Option<crate::sys::waits::Waiting> = None;
    loop {
        let pidfd = {
            let mut st = state();
            let Some(pid) = st.children.iter().find(|c| c.id == id).map(|c| c.pid) else {
                // Another thread reaped it and its handle took the exit code: it is over.
                return Some(0);
            };
            if let Some(code) = try_reap(&mut st, id) {
                return Some(code);
            }
            // About to wait: the kernel's deadlock detector learns whom this thread waits for.
            let name = st.children.iter().find(|c| c.id == id).map(|c| c.name.clone()).unwrap_or_default();
            recorded.get_or_insert_with(|| crate::sys::waits::Waiting::begin(what, &name, deadline.is_some())).other(pid as u32, 0);
            // Opened under the lock while the child is unreaped, so the pid is still ours.
            // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
            // SAFETY: a fresh descriptor we own.
            (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
        };
        match pidfd {
            // A pidfd becomes readable when the process ends; the wait is sliced so the stop
            // button can end it.
            Some(fd) => {
                if !crate::sys::wait::poll_readable(fd.as_fd(), deadline, what) {
                    return try_reap(&mut state(), id);
                }
            }
            // Old kernels without pidfds: look again every few milliseconds.
            None => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return try_reap(&mut state(), id);
                }
                crate::sys::wait::sleep(Duration::from_millis(2), what);
            }
        }
    }
}

/// A place counted in the process cap, given back if `fork()` fails.
enum Slot {
    Kernel(&'static kernel_link::ControlPage),
    Local,
}

impl Slot {
    fn release(self) {
        if let Slot::Kernel(page) = self {
            page.live_processes.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Start of the panic message of a start refused by the process cap.
const TOO_MANY: &str = "Too many processes:";

fn reserve_slot(st: &State) -> Result<Slot, String> {
    if let Some(page) = kernel_link::control_page() {
        let max = match page.max_processes.load(Ordering::Acquire) {
            0 => DEFAULT_MAX_PROCESSES,
            n => n,
        };
        // The kernel decrements the counter when it sees a process exit.
        return page
            .live_processes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .map(|_| Slot::Kernel(page))
            .map_err(|n| {
                page.refused_starts.fetch_add(1, Ordering::AcqRel);
                format!(
                    "{TOO_MANY} this notebook already has {n} processes running (the limit \
                     is {max}). Join or terminate some of them before starting more."
                )
            });
    }
    let max = std::env::var(MAX_PROCESSES_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(DEFAULT_MAX_PROCESSES as usize);
    let live = st.children.iter().filter(|c| c.exitcode.is_none()).count();
    if live >= max {
        return Err(format!(
            "{TOO_MANY} this program already has {live} child processes running (the \
             limit is {max}, set by {MAX_PROCESSES_ENV}). Join or terminate some of them before \
             starting more."
        ));
    }
    Ok(Slot::Local)
}

// ---------------------------------------------------------------------------------------------
// The Cookbook's "process in a subclass" (lesson 17-ProcessLifecycle): a type with a `run`
// method instead of a closure. Rust has no subclassing; a trait says "this type can be the work
// of a process", and `Process::from_run` starts it like Python's `MyProcess().start()`.

/// The work of a process, written as a type with a `run` method: Python's
/// `class MyProcess(multiprocessing.Process): def run(self): ...`. Start one with
/// [`Process::from_run`]. The value is moved into the child, which calls `run` once; the
/// parent's copy is gone (the child works on its own copy of memory, as always).
///
/// ```
/// use multiproc::prelude::*;
///
/// struct Greeter {
///     greeting: String,
/// }
///
/// impl Run for Greeter {
///     fn run(&mut self) {
///         println!("{} from {}", self.greeting, current_process().name());
///     }
/// }
///
/// let mut p = Process::from_run(Greeter { greeting: "hello".to_string() });
/// assert!(p.get_name().starts_with("Greeter-"));
/// p.start();
/// p.join();
/// assert_eq!(p.exitcode(), Some(0));
/// ```
pub trait Run: Send + 'static {
    /// What the process does (Python's overridden `run`). It runs in the child process.
    fn run(&mut self);
}

impl Process {
    /// A process whose work is `job.run()`, for a type that implements [`Run`].
    ///
    /// Like Python, the default name is the type's name followed by the process number:
    /// `MyProcess-4` for `struct MyProcess` (the number counts every process this process
    /// created, whatever its kind). [`name`](Process::name) and [`daemon`](Process::daemon)
    /// work as for [`Process::new`].
    ///
    /// ```
    /// use multiproc::prelude::*;
    ///
    /// struct Counter(u32);
    /// impl Run for Counter {
    ///     fn run(&mut self) {
    ///         self.0 += 1; // changes the child's copy only
    ///         println!("{} counted to {}", current_process().name(), self.0);
    ///     }
    /// }
    ///
    /// let mut p = Process::from_run(Counter(41));
    /// assert!(p.get_name().starts_with("Counter-"));
    /// p.start();
    /// p.join();
    /// let mut q = Process::from_run(Counter(0)).name("counter B").daemon(true);
    /// assert_eq!(q.get_name(), "counter B");
    /// q.start();
    /// q.join();
    /// ```
    pub fn from_run<R: Run>(mut job: R) -> Process {
        let mut p = Process::new(move || job.run());
        let numbers: Vec<String> = p.identity.iter().map(u32::to_string).collect();
        p.name = format!("{}-{}", short_type_name::<R>(), numbers.join(":"));
        p
    }
}

/// `my_crate::module::MyProcess<T>` → `MyProcess` (what Python's `type(self).__name__` gives).
fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let path = full.split('<').next().unwrap_or(full);
    path.rsplit("::").next().unwrap_or(path)
}
