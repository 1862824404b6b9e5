//! Supervising every process a cell starts: output routing, exits, interrupts, cleanup.
//!
//! One thread (the supervisor) reads the kernel's receiving sockets (`receiver.rs`: the stdout
//! and stderr streams and the datagram socket; see `docs/architecture.md`) and the pidfds of
//! registered processes. It assembles lines per process and stream, publishes them to the cell
//! that owns the writer, keeps evcxr's marker lines (runtime pid only) for the runtime's `Sync`,
//! answers `Input` requests, and decides when a cell is finished (its code returned and every
//! non-daemon process it started exited).
//!
//! Files: `worker.rs` (the thread's loop and dispatch, control messages), `attribution.rs`
//! (which cell a piece of output belongs to), `markers.rs` (evcxr's protocol lines), `emit.rs`
//! (publishing: rate limits, coalescing, late output), `lifecycle.rs` (process exits, the end
//! of a cell), `outputs.rs` (the canonical replay), `lines.rs`, `receiver.rs`, `cleanup.rs`,
//! `control.rs`; threads of the runtime: `frames.rs` (the format), `thread_writer.rs` (the
//! runtime's side), `threads.rs` (the kernel's side); `lens/`: the deadlock detector.

#![allow(dead_code)]

mod attribution;
pub mod cleanup;
pub mod control;
mod emit;
pub mod frames;
pub mod labels;
pub mod lens;
mod lifecycle;
pub mod lines;
mod markers;
pub mod outputs;
pub mod receiver;
pub mod thread_writer;
mod threads;
mod worker;

use std::collections::HashMap;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use multiproc::kernel_link::{self, Channel, ControlPage};

use crate::evaluation::InputProvider;
use crate::wire::iopub::Publisher;
use crate::wire::message::Message;
use lines::{Lines, Writer};
use receiver::Receiver;

/// Lines per second a cell may publish before the rest of that second is dropped (with a notice).
const MAX_LINES_PER_SECOND: u32 = 5000;
/// Bytes per second, same rule.
const MAX_BYTES_PER_SECOND: usize = 2 << 20;
/// Largest single `stream` message we publish (consecutive lines are coalesced up to this).
const MAX_STREAM_CHUNK: usize = 64 << 10;
/// Lines of late daemon output kept in each late-output display.
const LATE_LINES_KEPT: usize = 200;
/// Longest time text waits to be coalesced with more text before it is published.
const COALESCE: Duration = Duration::from_millis(2);
/// Largest `Synced` reply (a datagram must fit the socket buffer).
const MAX_SYNC_REPLY: usize = 150_000;

/// How a cell ended, as seen by the supervisor.
#[derive(Debug, Default, Clone)]
pub struct CellReport {
    /// The runtime's code panicked (evcxr's panic marker was seen).
    pub panicked: bool,
    /// What the runtime printed on stderr about its panic (without the backtrace note).
    pub panic_message: String,
    /// Processes (pid, name) the interrupt terminated.
    pub terminated: Vec<(i32, String)>,
}

/// State shared between the supervisor thread, the evaluator and the interrupter.
pub struct Shared {
    pub state: Mutex<State>,
    /// Pid of evcxr's runtime process (changes when evcxr restarts it).
    pub runtime_pid: AtomicI32,
    pub page: &'static ControlPage,
    pub base: String,
}

/// One process started through the support crate.
pub struct Proc {
    pub cell: u32,
    pub name: String,
    pub daemon: bool,
    pidfd: Option<OwnedFd>,
    pub exited: bool,
}

struct LateView {
    display_id: String,
    lines: Vec<String>,
}

struct Cell {
    /// `None` for the kernel's own quiet cells (preloading): nothing is published.
    parent: Option<Message>,
    allow_stdin: bool,
    /// `wait N` was received: the code returned, waiting for processes.
    waiting: bool,
    finished: bool,
    markers: Vec<String>,
    in_content: bool,
    panicked: bool,
    runtime_stderr: Vec<String>,
    window_start: Instant,
    window_lines: u32,
    window_bytes: usize,
    dropped: u64,
    /// What the cell published, for the canonical replay when it ends (`outputs.rs`).
    outputs: outputs::Record,
    late: HashMap<Writer, LateView>,
    terminated: Vec<(i32, String)>,
    /// The cell's code panicked and its processes are being terminated (once).
    stopping: bool,
}

/// Everything the supervisor knows; locked briefly by each party.
#[derive(Default)]
pub struct State {
    cells: HashMap<u32, Cell>,
    current: u32,
    procs: HashMap<i32, Proc>,
    origin: HashMap<i32, u32>,
    pending: Option<(u32, lines::Stream, String)>,
    /// When the oldest text in `pending` arrived (it is published at most COALESCE later).
    pending_since: Option<Instant>,
    lines: Lines,
    /// The runtime's threads heard of in its frames (`threads.rs`).
    threads: HashMap<Writer, threads::Thread>,
    runtime_streams: threads::RuntimeStreams,
    /// `:labels on`: every line starts with its writer's name (`labels.rs`).
    labels: bool,
    /// Names from `Hello` of processes whose `Started` has not come yet (`labels.rs`).
    names: HashMap<i32, String>,
    /// The deadlock detector's memory (`lens/deadlock.rs`).
    deadlock: lens::deadlock::Detector,
}

/// Messages from the supervisor to the evaluator.
pub enum Event {
    Finished(u32, CellReport),
}

/// The kernel's end: starts the supervisor thread and sends it cell boundaries.
pub struct Supervisor {
    pub shared: Arc<Shared>,
    kernel_sock: UnixDatagram,
    events: crossbeam_channel::Receiver<Event>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: the pidfd_open system call; the result is a fresh descriptor we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 { None } else { Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }) }
}

/// Parent pid from `/proc/<pid>/stat` (`None` once the process is gone).
pub fn parent_of(pid: i32) -> Option<i32> {
    cleanup::stat_fields(pid).map(|(_, _, ppid)| ppid)
}

impl Supervisor {
    /// Binds the receiver, sets `MULTIPROC_KERNEL_SOCKET` in the kernel's environment (so the
    /// runtime inherits it) and starts the supervisor thread.
    pub fn start(page: &'static ControlPage, publisher: Publisher, input: Arc<dyn InputProvider>) -> std::io::Result<Supervisor> {
        // The wait-for table of the deadlock detector, inherited by the runtime like the page.
        lens::deadlock::create_table();
        // The timeline's event log, passed the same way.
        lens::timeline::create_log();
        let receiver = Receiver::bind()?;
        let base = receiver.base().to_string();
        // SAFETY: set before the evcxr context (and its runtime) exists.
        unsafe { std::env::set_var(kernel_link::SOCKET_ENV, &base) };
        for (name, value) in receiver.runtime_env() {
            // SAFETY: as above.
            unsafe { std::env::set_var(name, value) };
        }
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), runtime_pid: AtomicI32::new(0), page, base: base.clone() });
        let kernel_sock = kernel_link::connect_channel(&base, Channel::Kernel)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let worker = Worker { shared: shared.clone(), receiver, publisher, input, events: tx };
        let thread = std::thread::Builder::new().name("supervisor".into()).spawn(move || worker.run())?;
        Ok(Supervisor { shared, kernel_sock, events: rx, thread: Some(thread) })
    }

    /// Marks the start of cell `cell` in the queue; output after this belongs to it.
    pub fn begin(&self, cell: u32, parent: Option<&Message>, allow_stdin: bool) {
        {
            let mut st = self.shared.state.lock().unwrap();
            st.cells.insert(cell, Cell {
                parent: parent.cloned(),
                allow_stdin,
                waiting: false,
                finished: false,
                markers: Vec::new(),
                in_content: false,
                panicked: false,
                runtime_stderr: Vec::new(),
                window_start: Instant::now(),
                window_lines: 0,
                window_bytes: 0,
                dropped: 0,
                outputs: outputs::Record::default(),
                late: HashMap::new(),
                terminated: Vec::new(),
                stopping: false,
            });
        }
        self.shared.page.current_cell.store(cell, Ordering::SeqCst);
        let _ = self.kernel_sock.send(format!("begin {cell}").as_bytes());
    }

    /// After the cell's code returned: waits until its non-daemon processes exited and all
    /// their output was published.
    pub fn finish(&self, cell: u32) -> CellReport {
        let _ = self.kernel_sock.send(format!("wait {cell}").as_bytes());
        loop {
            match self.events.recv() {
                Ok(Event::Finished(n, report)) if n == cell => return report,
                Ok(_) => continue,
                Err(_) => return CellReport::default(),
            }
        }
    }

    /// Stops the supervisor thread (after `cleanup::kill_everything`).
    pub fn stop(mut self) {
        let _ = self.kernel_sock.send(b"quit");
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    shared: Arc<Shared>,
    receiver: Receiver,
    publisher: Publisher,
    input: Arc<dyn InputProvider>,
    events: crossbeam_channel::Sender<Event>,
}


/// Processes a cell started that are still alive (for interrupts): `(pid, name)`.
pub fn alive_of_cell(shared: &Shared, cell: u32) -> Vec<(i32, String)> {
    let st = shared.state.lock().unwrap();
    st.procs.iter().filter(|(_, p)| p.cell == cell && !p.exited).map(|(pid, p)| (*pid, p.name.clone())).collect()
}

/// Every registered process still alive.
pub fn all_alive(shared: &Shared) -> Vec<i32> {
    let st = shared.state.lock().unwrap();
    st.procs.iter().filter(|(_, p)| !p.exited).map(|(pid, _)| *pid).collect()
}

/// Records that the interrupt terminated these processes (reported with the cell's error).
pub fn note_terminated(shared: &Shared, cell: u32, procs: &[(i32, String)]) {
    let mut st = shared.state.lock().unwrap();
    if let Some(c) = st.cells.get_mut(&cell) {
        c.terminated.extend_from_slice(procs);
    }
}
