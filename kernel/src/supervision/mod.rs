//! Supervising every process a cell starts: output routing, exits, interrupts, cleanup.
//!
//! One thread (the supervisor) reads the kernel's receiving sockets (`receiver.rs`: the
//! stdout and stderr streams and the datagram socket; see `docs/architecture.md`) and the pidfds of registered processes. It assembles lines per
//! process and stream, publishes them to the cell that owns the writer, keeps evcxr's marker
//! lines (runtime pid only) for the runtime's `Sync`, answers `Input` requests, and decides
//! when a cell is finished (its code returned and every non-daemon process it started exited).

#![allow(dead_code)]

pub mod cleanup;
pub mod control;
pub mod lines;
pub mod outputs;
pub mod receiver;

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use multiproc::kernel_link::{self, Channel, ControlPage, FromKernel, ToKernel};
use serde_json::{Value, json};

use crate::evaluation::InputProvider;
use crate::wire::iopub::Publisher;
use crate::wire::message::Message;
use lines::{Lines, Stream};
use receiver::{Datagram, Receiver};

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
    late: HashMap<i32, LateView>,
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
    pending: Option<(u32, Stream, String)>,
    /// When the oldest text in `pending` arrived (it is published at most COALESCE later).
    pending_since: Option<Instant>,
    lines: Lines,
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

const EVCXR_MARKERS: [&str; 3] = ["EVCXR_PANIC_NOTIFICATION", "EVCXR_ERROR_OCCURRED", "EVCXR_INPUT_REQUEST"];

/// Where an evcxr marker starts inside a line of the runtime's stdout, when text the cell
/// printed without a newline comes before it: `print!("x")` as a cell's last line writes "x",
/// then the value's display block "EVCXR_BEGIN_CONTENT text/plain" lands right after it in the
/// same stdout buffer. Only a marker that runs to the end of the line counts (the line is
/// exactly what evcxr or the display trait writes after the user's text).
fn marker_start(line: &str) -> Option<usize> {
    let bare = line.strip_suffix('\n').unwrap_or(line);
    let mut from = 1;
    while let Some(i) = bare.get(from..).and_then(|rest| rest.find("EVCXR_")) {
        let at = from + i;
        let tail = &bare[at..];
        if tail.starts_with("EVCXR_BEGIN_CONTENT ") || EVCXR_MARKERS.contains(&tail) || tail.starts_with("EVCXR_VARIABLE_CHANGED_TYPE:") {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// `lines` with each line that ends in a marker cut in two: the user's text, then the marker.
fn split_markers(lines: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        match marker_start(&line) {
            Some(at) => {
                out.push(line[..at].to_string());
                out.push(line[at..].to_string());
            }
            None => out.push(line),
        }
    }
    out
}

impl Worker {
    fn run(mut self) {
        let mut last_tick = Instant::now();
        loop {
            let watched: Vec<(i32, i32)> = {
                let st = self.shared.state.lock().unwrap();
                st.procs.iter().filter(|(_, p)| !p.exited).filter_map(|(pid, p)| p.pidfd.as_ref().map(|f| (*pid, f.as_raw_fd()))).collect()
            };
            let own = self.receiver.fds();
            let mut fds: Vec<libc::pollfd> = own.iter().map(|fd| libc::pollfd { fd: *fd, events: libc::POLLIN, revents: 0 }).collect();
            fds.extend(watched.iter().map(|(_, fd)| libc::pollfd { fd: *fd, events: libc::POLLIN, revents: 0 }));
            // SAFETY: poll on descriptors that stay open while we wait (only this thread closes them).
            let timeout = if self.shared.state.lock().unwrap().pending.is_some() { COALESCE.as_millis() as i32 } else { 200 };
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            let exited: Vec<i32> = watched.iter().zip(&fds[own.len()..]).filter(|(_, f)| f.revents != 0).map(|((pid, _), _)| *pid).collect();
            // Everything an exited process wrote is already queued: read it all first.
            if self.drain() {
                return;
            }
            let shared = self.shared.clone();
            let mut st = shared.state.lock().unwrap();
            for pid in exited {
                self.process_exited(&mut st, pid);
            }
            if st.pending_since.is_some_and(|t| t.elapsed() >= COALESCE) {
                self.flush_pending(&mut st);
            }
            self.check_cells(&mut st);
            if last_tick.elapsed() > Duration::from_millis(500) {
                last_tick = Instant::now();
                self.roll_windows(&mut st);
                drop(st);
                cleanup::reap_orphans(self.shared.runtime_pid.load(Ordering::SeqCst));
            }
        }
    }

    /// Reads the queue until it is empty. True when asked to quit.
    fn drain(&mut self) -> bool {
        let shared = self.shared.clone();
        let mut st_guard = None;
        let mut count = 0;
        loop {
            let dg = match self.receiver.recv() {
                Ok(Some(d)) => d,
                Ok(None) | Err(_) => break,
            };
            let st: &mut State = st_guard.get_or_insert_with(|| shared.state.lock().unwrap());
            if dg.channel == Some(Channel::Kernel) && dg.data == b"quit" {
                return true;
            }
            count += 1;
            let pid = dg.pid;
            // A bug in handling one message must not end the supervisor: every later line of
            // every process would be lost without a word. Log it and go on.
            if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(st, dg))) {
                let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
                eprintln!("rust-concurrency-kernel: internal error while handling a message from process {pid}, skipped: {what}");
            }
            // A continuous stream still reaches the frontend every COALESCE.
            if count % 64 == 0 && st.pending_since.is_some_and(|t| t.elapsed() >= COALESCE) {
                self.flush_pending(st);
            }
        }
        false
    }

    fn cell_of(&self, st: &mut State, pid: i32) -> u32 {
        let runtime = self.shared.runtime_pid.load(Ordering::SeqCst);
        if pid == runtime {
            return st.current;
        }
        if let Some(p) = st.procs.get(&pid) {
            return p.cell;
        }
        if let Some(c) = st.origin.get(&pid) {
            return *c;
        }
        // An unregistered process (plain fork, Command): follow its parents.
        let mut cur = pid;
        let mut cell = st.current;
        for _ in 0..64 {
            match parent_of(cur) {
                Some(pp) if pp == runtime => break,
                Some(pp) => {
                    if let Some(p) = st.procs.get(&pp) {
                        cell = p.cell;
                        break;
                    }
                    if pp <= 1 {
                        break;
                    }
                    cur = pp;
                }
                None => break,
            }
        }
        st.origin.insert(pid, cell);
        cell
    }

    fn handle(&mut self, st: &mut State, dg: Datagram) {
        match dg.channel {
            Some(Channel::Out) => self.output(st, dg.pid, Stream::Out, &dg.data),
            Some(Channel::Err) => self.output(st, dg.pid, Stream::Err, &dg.data),
            Some(Channel::Raw) => {
                let cell = self.cell_of(st, dg.pid);
                let text = String::from_utf8_lossy(&dg.data).into_owned();
                self.emit(st, cell, dg.pid, Stream::Out, text);
            }
            Some(Channel::Ctl) | Some(Channel::Reply) => match serde_json::from_slice::<ToKernel>(&dg.data) {
                Ok(msg) => self.control(st, dg.pid, &dg.sender, msg),
                Err(_) => {}
            },
            Some(Channel::Kernel) => {
                let text = String::from_utf8_lossy(&dg.data);
                let mut words = text.split(' ');
                match (words.next(), words.next().and_then(|n| n.parse::<u32>().ok())) {
                    (Some("begin"), Some(n)) => {
                        self.flush_pending(st);
                        st.current = n;
                        st.origin.clear();
                    }
                    (Some("wait"), Some(n)) => {
                        if let Some(c) = st.cells.get_mut(&n) {
                            c.waiting = true;
                        }
                    }
                    _ => {}
                }
            }
            None => {}
        }
    }

    fn output(&mut self, st: &mut State, pid: i32, stream: Stream, data: &[u8]) {
        let lines = st.lines.push(pid, stream, data);
        if lines.is_empty() {
            return;
        }
        let cell = self.cell_of(st, pid);
        let is_runtime = pid == self.shared.runtime_pid.load(Ordering::SeqCst);
        let lines = if is_runtime && cell == st.current && stream == Stream::Out { split_markers(lines) } else { lines };
        for line in lines {
            if is_runtime && cell == st.current {
                if let Some(c) = st.cells.get_mut(&cell) {
                    let bare = line.strip_suffix('\n').unwrap_or(&line);
                    if stream == Stream::Out {
                        if c.in_content {
                            if bare == "EVCXR_END_CONTENT" || bare == "EVCXR_PANIC_NOTIFICATION" {
                                c.in_content = false;
                            }
                            if bare == "EVCXR_PANIC_NOTIFICATION" {
                                c.panicked = true;
                            }
                            c.markers.push(bare.to_string());
                            continue;
                        }
                        if bare.starts_with("EVCXR_BEGIN_CONTENT ") {
                            c.in_content = true;
                            c.markers.push(bare.to_string());
                            continue;
                        }
                        if EVCXR_MARKERS.contains(&bare) || bare.starts_with("EVCXR_VARIABLE_CHANGED_TYPE:") {
                            if bare == "EVCXR_PANIC_NOTIFICATION" {
                                c.panicked = true;
                            }
                            c.markers.push(bare.to_string());
                            continue;
                        }
                    } else {
                        if bare.starts_with(multiproc::sys::report::NOTE) {
                            // The runtime's note about the cell's panic or stop, for the
                            // error message only (see `multiproc::sys::report`).
                            c.runtime_stderr = vec![bare.to_string()];
                            continue;
                        }
                        if bare.starts_with("thread '") {
                            c.runtime_stderr.clear();
                        }
                        if c.runtime_stderr.len() < 20 && !bare.starts_with("note: run with `RUST_BACKTRACE") {
                            c.runtime_stderr.push(bare.to_string());
                        }
                    }
                }
            }
            self.emit(st, cell, pid, stream, line);
        }
    }

    /// Publishes text for `cell`, rate-limited, coalescing consecutive text of one stream.
    fn emit(&mut self, st: &mut State, cell: u32, pid: i32, stream: Stream, text: String) {
        let Some(c) = st.cells.get_mut(&cell) else { return };
        if c.window_start.elapsed() >= Duration::from_secs(1) {
            let dropped = std::mem::take(&mut c.dropped);
            c.window_start = Instant::now();
            c.window_lines = 0;
            c.window_bytes = 0;
            if dropped > 0 {
                self.flush_pending(st);
                self.rate_notice(st, cell, dropped);
            }
        }
        let Some(c) = st.cells.get_mut(&cell) else { return };
        c.window_lines += 1;
        c.window_bytes += text.len();
        if c.window_lines > MAX_LINES_PER_SECOND || c.window_bytes > MAX_BYTES_PER_SECOND {
            c.dropped += 1;
            return;
        }
        if c.finished {
            // Late output (a daemon, or a process nobody waited for): a labelled display.
            let name = st.procs.get(&pid).map(|p| format!(" {}", p.name)).unwrap_or_default();
            let c = st.cells.get_mut(&cell).unwrap();
            let parent = c.parent.clone();
            let fresh = !c.late.contains_key(&pid);
            let view = c.late.entry(pid).or_insert_with(|| LateView { display_id: format!("late-{cell}-{pid}-{}", uuid::Uuid::new_v4()), lines: Vec::new() });
            let line = text.strip_suffix('\n').unwrap_or(&text);
            view.lines.push(format!("[pid {pid}{name}, after the cell finished] {line}"));
            if view.lines.len() > LATE_LINES_KEPT {
                view.lines.remove(0);
            }
            let content = json!({
                "data": {"text/plain": view.lines.join("\n")},
                "metadata": {},
                "transient": {"display_id": view.display_id},
            });
            self.publish(parent.as_ref(), if fresh { "display_data" } else { "update_display_data" }, content);
            return;
        }
        match &mut st.pending {
            Some((pc, ps, buf)) if *pc == cell && *ps == stream && buf.len() + text.len() <= MAX_STREAM_CHUNK => buf.push_str(&text),
            _ => {
                self.flush_pending(st);
                st.pending = Some((cell, stream, text));
                st.pending_since = Some(Instant::now());
            }
        }
    }

    fn rate_notice(&self, st: &mut State, cell: u32, dropped: u64) {
        self.cell_out(st, cell, "stream", json!({
            "name": "stderr",
            "text": format!("[output rate-limited: {dropped} lines dropped]\n"),
        }));
    }

    /// Publishes as a child of `parent`; quiet cells (no parent) publish nothing.
    fn publish(&self, parent: Option<&Message>, msg_type: &str, content: Value) {
        if let Some(p) = parent {
            self.publisher.publish(Some(p), msg_type, content);
        }
    }

    fn flush_pending(&self, st: &mut State) {
        st.pending_since = None;
        if let Some((cell, stream, text)) = st.pending.take() {
            self.cell_out(st, cell, "stream", json!({"name": stream.name(), "text": text}));
        }
    }

    fn control(&mut self, st: &mut State, pid: i32, sender: &[u8], msg: ToKernel) {
        match msg {
            ToKernel::Started { pid: child, name, daemon } => {
                let cell = self.cell_of(st, pid);
                let pidfd = pidfd_open(child);
                let exited = pidfd.is_none();
                st.procs.insert(child, Proc { cell, name, daemon, pidfd, exited });
                if exited {
                    self.process_exited(st, child);
                }
            }
            ToKernel::Display { data, metadata, display_id, update } => {
                let cell = self.cell_of(st, pid);
                self.flush_pending(st);
                let mut content = json!({"data": data, "metadata": metadata});
                if let Some(id) = display_id {
                    content["transient"] = json!({"display_id": id});
                }
                self.cell_out(st, cell, if update { "update_display_data" } else { "display_data" }, content);
            }
            ToKernel::ClearOutput { wait } => {
                let cell = self.cell_of(st, pid);
                self.flush_pending(st);
                self.cell_out(st, cell, "clear_output", json!({"wait": wait}));
            }
            ToKernel::Input { prompt, password } => {
                let cell = self.cell_of(st, pid);
                self.flush_pending(st);
                let (parent, allowed) = match st.cells.get(&cell) {
                    Some(c) => (c.parent.clone(), c.allow_stdin && !c.finished),
                    None => (None, false),
                };
                if allowed {
                    self.stop_replaying(st, cell);
                }
                let Ok(sock) = self.receiver.try_clone_socket() else { return };
                let input = self.input.clone();
                let publisher = self.publisher.clone();
                let to = sender.to_vec();
                // Asking blocks until the person answers; output keeps flowing meanwhile.
                std::thread::spawn(move || {
                    let value = match (parent, allowed) {
                        (Some(p), true) => {
                            // The prompt comes after the outputs published so far (on IOPub).
                            publisher.flush(Duration::from_secs(1));
                            input.ask(&p, &prompt, password)
                        }
                        _ => None,
                    };
                    if let Ok(bytes) = serde_json::to_vec(&FromKernel::Input { value }) {
                        if let Ok(addr) = SocketAddr::from_abstract_name(&to) {
                            let _ = sock.send_to_addr(&bytes, &addr);
                        }
                    }
                });
            }
            ToKernel::Sync => {
                // The cell's code returned and the runtime flushed std's buffers: text it printed
                // without a final newline belongs to this cell, not to the next line it prints.
                let runtime = self.shared.runtime_pid.load(Ordering::SeqCst);
                if pid == runtime {
                    let cell = st.current;
                    for (stream, text) in st.lines.flush(runtime) {
                        self.emit(st, cell, runtime, stream, text);
                    }
                }
                self.flush_pending(st);
                let markers = st.cells.get_mut(&st.current).map(|c| std::mem::take(&mut c.markers)).unwrap_or_default();
                let reply = sync_reply(markers);
                let _ = self.receiver.reply(sender, &reply);
            }
        }
    }

    fn process_exited(&mut self, st: &mut State, pid: i32) {
        let Some(p) = st.procs.get_mut(&pid) else { return };
        p.exited = true;
        p.pidfd = None;
        let cell = p.cell;
        // The support crate counts each started process; the kernel, which sees every exit,
        // gives the slot back.
        let _ = self.shared.page.live_processes.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        for (stream, text) in st.lines.flush(pid) {
            self.emit(st, cell, pid, stream, text + "\n");
        }
    }

    fn check_cells(&mut self, st: &mut State) {
        let waiting: Vec<u32> = st.cells.iter().filter(|(_, c)| c.waiting && !c.finished).map(|(n, _)| *n).collect();
        for n in waiting {
            let mut alive: Vec<(i32, String)> =
                st.procs.iter().filter(|(_, p)| p.cell == n && !p.daemon && !p.exited).map(|(pid, p)| (*pid, p.name.clone())).collect();
            alive.sort();
            let c = st.cells.get_mut(&n).unwrap();
            if alive.is_empty() {
                // Unfinished lines of the cell's processes and of the runtime end with the cell.
                let runtime = self.shared.runtime_pid.load(Ordering::SeqCst);
                let pids: Vec<i32> = st.lines.pids();
                for pid in pids {
                    let owner = if pid == runtime { st.current } else { st.procs.get(&pid).map(|p| p.cell).unwrap_or(st.current) };
                    if owner == n {
                        for (stream, text) in st.lines.flush(pid) {
                            self.emit(st, n, pid, stream, text + "\n");
                        }
                    }
                }
                self.flush_pending(st);
                let dropped = std::mem::take(&mut st.cells.get_mut(&n).unwrap().dropped);
                if dropped > 0 {
                    self.rate_notice(st, n, dropped);
                }
                self.settle(st, n);
                let c = st.cells.get_mut(&n).unwrap();
                c.finished = true;
                let report = CellReport {
                    panicked: c.panicked,
                    panic_message: c.runtime_stderr.join("\n"),
                    terminated: std::mem::take(&mut c.terminated),
                };
                let _ = self.events.send(Event::Finished(n, report));
            } else if c.panicked {
                // The cell's code failed (a panic, e.g. the process cap): waiting for its
                // processes would leave the cell hanging on work whose result nobody will
                // read, so they are stopped, and the error names them.
                if !c.stopping {
                    c.stopping = true;
                    c.terminated.extend(alive.iter().cloned());
                    let pids: Vec<i32> = alive.iter().map(|(p, _)| *p).collect();
                    std::thread::spawn(move || cleanup::terminate(&pids, Duration::from_millis(500)));
                }
            } else {
                let text = format!(
                    "waiting for {} {}…",
                    if alive.len() == 1 { "process" } else { "processes" },
                    alive.iter().map(|(pid, name)| format!("{pid} ({name})")).collect::<Vec<_>>().join(", ")
                );
                self.show_notice(st, n, text);
            }
        }
        // Forget finished cells nobody can write to any more (keep those with live daemons).
        let live_cells: std::collections::HashSet<u32> = st.procs.values().filter(|p| !p.exited).map(|p| p.cell).collect();
        let current = st.current;
        st.cells.retain(|n, c| !c.finished || *n + 20 > current || live_cells.contains(n));
        st.procs.retain(|_, p| !p.exited);
    }

    fn roll_windows(&mut self, st: &mut State) {
        let notices: Vec<(u32, u64)> = st
            .cells
            .iter_mut()
            .filter(|(_, c)| c.dropped > 0 && c.window_start.elapsed() >= Duration::from_secs(1))
            .map(|(n, c)| {
                c.window_start = Instant::now();
                c.window_lines = 0;
                c.window_bytes = 0;
                (*n, std::mem::take(&mut c.dropped))
            })
            .collect();
        if !notices.is_empty() {
            self.flush_pending(st);
        }
        for (cell, dropped) in notices {
            self.rate_notice(st, cell, dropped);
        }
    }
}

/// Serialises the `Synced` reply, shortening huge values so it fits in one datagram.
fn sync_reply(mut markers: Vec<String>) -> Vec<u8> {
    loop {
        let bytes = serde_json::to_vec(&FromKernel::Synced { markers: markers.clone() }).unwrap_or_default();
        if bytes.len() <= MAX_SYNC_REPLY {
            return bytes;
        }
        let Some(longest) = markers.iter_mut().max_by_key(|m| m.len()) else { return bytes };
        let keep = longest.char_indices().nth(1000).map(|(i, _)| i).unwrap_or(longest.len());
        longest.truncate(keep);
        longest.push_str(" … (too large to show)");
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_after_unfinished_user_text_is_found() {
        let line = "no newline at the endEVCXR_BEGIN_CONTENT text/plain\n";
        assert_eq!(marker_start(line), Some("no newline at the end".len()));
        assert_eq!(
            split_markers(vec![line.to_string()]),
            vec!["no newline at the end".to_string(), "EVCXR_BEGIN_CONTENT text/plain\n".to_string()]
        );
        assert_eq!(marker_start("xEVCXR_PANIC_NOTIFICATION\n"), Some(1));
    }

    #[test]
    fn ordinary_lines_and_lines_starting_with_a_marker_are_left_alone() {
        assert_eq!(marker_start("EVCXR_BEGIN_CONTENT text/plain\n"), None);
        assert_eq!(marker_start("plain text\n"), None);
        // A marker name in the middle of the user's text is not a marker.
        assert_eq!(marker_start("see EVCXR_PANIC_NOTIFICATION in the docs\n"), None);
        assert_eq!(marker_start("EVCXR_EVCXR_\n"), None);
        let lines = vec!["a\n".to_string(), "b\n".to_string()];
        assert_eq!(split_markers(lines.clone()), lines);
    }
}
