//! The timeline of a cell: which processes and threads ran when, when they waited and for
//! what, who held which lock, which `get` took the item of which `put`, and the parent's joins.
//!
//! The kernel makes one shared event log (`multiproc::sys::timeline`, a memfd passed like the
//! wait table) before the runtime starts. For a recorded cell it empties the log and turns
//! recording on before the cell's code runs ([`begin`]), and after the cell finished (its
//! processes exited and their output was published) turns it off, reads the events and builds
//! a [`Timeline`] ([`end`]); `timeline_render.rs` draws it.
//!
//! Which cells are recorded: `:timeline` as a line of its own at the top of a cell records that
//! cell; `:timeline on` records every cell from then on and `:timeline off` stops (the same
//! rules as `:labels`: before any code, the line is blanked so line numbers stay right).

use std::collections::HashMap;

use multiproc::sys::timeline::{self as log, Event, Kind, Log};
use multiproc::sys::waits::monotonic_ns;

/// What a `:timeline …` line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `:timeline` alone: record this cell.
    ThisCell,
    /// `:timeline on` (true) or `:timeline off` (false): for the cells that follow.
    Set(bool),
    /// `:timeline` with anything else: the message to show.
    Bad(String),
}

/// Finds a `:timeline`, `:timeline on` or `:timeline off` line among the cell's first lines
/// (before any code; blank lines may come first). Returns the command and the code with that
/// line blanked.
///
/// ```
/// use rust_concurrency_kernel::supervision::lens::timeline::{Command, take_command};
/// let (cmd, rest) = take_command(":timeline\nlet x = 1;").unwrap();
/// assert_eq!((cmd, rest.as_str()), (Command::ThisCell, "\nlet x = 1;"));
/// assert_eq!(take_command(":timeline off").unwrap().0, Command::Set(false));
/// assert!(take_command("let x = 1;\n:timeline").is_none());
/// assert!(take_command(":timelines").is_none());
/// assert!(matches!(take_command(":timeline soon").unwrap().0, Command::Bad(_)));
/// ```
pub fn take_command(code: &str) -> Option<(Command, String)> {
    let (arg, rest) = super::command::take_leading(code, ":timeline")?;
    let cmd = match arg {
        "" => Command::ThisCell,
        "on" => Command::Set(true),
        "off" => Command::Set(false),
        other => Command::Bad(format!(
            "`:timeline` takes nothing, `on` or `off` (got `{other}`): `:timeline` at the top of a cell draws what that cell's processes did, `:timeline on` does it for every cell that follows"
        )),
    };
    Some((cmd, rest))
}

/// Where the log's memfd lives once made (`create_log`).
static LOG: std::sync::OnceLock<Option<Log>> = std::sync::OnceLock::new();

/// Makes the shared event log and publishes its descriptor in this process's environment
/// (`MULTIPROC_KERNEL_TIMELINE_FD`), so the runtime and every process it starts inherit it.
/// Call before the runtime starts. `None` (no timeline) if the memfd cannot be made.
pub fn create_log() -> Option<Log> {
    *LOG.get_or_init(|| {
        // No MFD_CLOEXEC: the descriptor must survive the exec of the runtime.
        // SAFETY: memfd_create with a NUL-terminated name.
        let fd = unsafe { libc::memfd_create(c"rust-concurrency-timeline".as_ptr(), 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: sizing our own fresh memfd.
        if unsafe { libc::ftruncate(fd, log::LOG_BYTES as libc::off_t) } < 0 {
            return None;
        }
        let l = Log::map(fd).ok()?;
        l.set_on(false);
        // SAFETY: set while the kernel starts, before the runtime (which reads it) exists.
        unsafe { std::env::set_var(log::TIMELINE_FD_ENV, fd.to_string()) };
        Some(l)
    })
}

/// A recording in progress (from [`begin`]).
pub struct Recording {
    log: Log,
    t0: u64,
}

/// Empties the log and turns recording on, just before a cell's code runs.
pub fn begin() -> Option<Recording> {
    let l = (*LOG.get()?)?;
    l.set_on(false);
    l.clear();
    let t0 = monotonic_ns();
    l.set_on(true);
    Some(Recording { log: l, t0 })
}

/// Turns recording off and builds the cell's timeline (`runtime`: the notebook's own process).
pub fn end(rec: Recording, runtime: u32) -> Timeline {
    let t1 = monotonic_ns();
    rec.log.set_on(false);
    let events = rec.log.events();
    let mut t = build(&events, runtime, rec.t0, t1);
    t.dropped = rec.log.dropped();
    t
}

/// One row: a process's main thread, or another thread of a process.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Process id.
    pub pid: u32,
    /// Thread id (`== pid` for a process's main thread).
    pub tid: u32,
    /// `MainProcess (pid 10)`, `Process-1 (pid 11)`, `thread 'worker' of MainProcess`.
    pub label: String,
    /// First and last instant drawn (nanoseconds from the cell's start).
    pub start: u64,
    /// See `start`.
    pub end: u64,
    /// The process exited within the cell (its exit is drawn).
    pub exited: bool,
    /// Its target panicked (a child process whose exit event carries exit code 1).
    pub panicked: bool,
}

/// What a span on a row shows.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// Asleep in `op` (e.g. `Lock::acquire`) on `name`, behind `behind` (who held it).
    Blocked { op: String, name: String, behind: Option<String> },
    /// Holding the lock `name`.
    Holds { name: String },
    /// In `join` of the process `child`.
    Joins { child: String },
    /// Started by its parent's `Process::start`, not yet running its own code.
    Starting,
}

/// A stretch of time on a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Index into [`Timeline::rows`].
    pub row: usize,
    /// Nanoseconds from the cell's start.
    pub start: u64,
    /// See `start`.
    pub end: u64,
    /// It had not ended when the cell did.
    pub open: bool,
    /// What it is.
    pub what: What,
}

/// What an item went through.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Through {
    /// The queue of that name (`put` → `get`).
    Queue(String),
    /// A pipe (`send` → `recv`).
    Pipe,
}

/// An item that went from a `put` to the `get` that took it, or a message from a `send` to
/// the `recv` that received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrow {
    /// The queue or the pipe.
    pub through: Through,
    /// The item's number in that queue (from 0); for a pipe, the message's number in the log.
    pub number: u64,
    /// Row and time of the put.
    pub from: (usize, u64),
    /// Row and time of the get.
    pub to: (usize, u64),
}

/// Everything drawn for one cell.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    /// Length of the cell in nanoseconds (from turning recording on to the end).
    pub length: u64,
    /// Rows, the notebook's process first, then processes in the order they started, each
    /// process's other threads after it.
    pub rows: Vec<Row>,
    /// Blocked time, lock holds and joins.
    pub spans: Vec<Span>,
    /// Put → get, send → recv.
    pub arrows: Vec<Arrow>,
    /// Puts (sends) whose item no recorded get (recv) took: (queue or pipe, row, time).
    pub untaken: Vec<(Through, usize, u64)>,
    /// Events lost because the log was full.
    pub dropped: u64,
}

/// Builds the timeline from the events of one cell, recorded between `t0` and `t1`.
///
/// ```
/// use rust_concurrency_kernel::supervision::lens::timeline::build;
/// let t = build(&[], 10, 1_000, 5_000);
/// assert_eq!(t.rows.len(), 1);
/// assert_eq!(t.rows[0].label, "MainProcess (pid 10)");
/// assert_eq!((t.rows[0].start, t.rows[0].end), (0, 4_000));
/// ```
pub fn build(events: &[Event], runtime: u32, t0: u64, t1: u64) -> Timeline {
    let mut events: Vec<&Event> = events.iter().filter(|e| e.t_ns >= t0 && e.t_ns <= t1).collect();
    events.sort_by_key(|e| e.t_ns);
    // The picture starts when the cell's code started (not when the kernel began compiling
    // it) and ends with the last thing that happened: the code's end or a later event.
    let t0 = events.iter().find(|e| e.kind == Kind::CellBegins && e.pid == runtime).map_or(t0, |e| e.t_ns);
    let code_end = events.iter().rev().find(|e| e.kind == Kind::CellEnds && e.pid == runtime).map(|e| e.t_ns);
    let t1 = match (code_end, events.last()) {
        (_, Some(last)) => last.t_ns.max(t0 + 1),
        (_, None) => t1,
    };
    let at = |t: u64| t.saturating_sub(t0).min(t1.saturating_sub(t0));
    let length = t1.saturating_sub(t0);
    let events: Vec<&Event> = events.into_iter().filter(|e| !matches!(e.kind, Kind::CellBegins | Kind::CellEnds)).collect();

    // Names of processes: the notebook's own, and each child's from its start event.
    let mut process_name: HashMap<u32, String> = HashMap::new();
    process_name.insert(runtime, "MainProcess".to_string());
    let mut thread_name: HashMap<(u32, u32), String> = HashMap::new();
    for e in &events {
        match e.kind {
            Kind::ProcessStart => {
                process_name.insert(e.pid, e.name.clone());
            }
            Kind::ThreadSeen => {
                thread_name.insert((e.pid, e.tid), e.name.clone());
            }
            _ => {}
        }
    }
    let who = |pid: u32| -> String {
        match process_name.get(&pid) {
            Some(n) => format!("{n} (pid {pid})"),
            None => format!("pid {pid}"),
        }
    };

    // Rows: the notebook's main thread first, then in order of first appearance.
    let main_end = code_end.map_or(length, |t| at(t));
    let mut rows: Vec<Row> = vec![Row { pid: runtime, tid: runtime, label: who(runtime), start: 0, end: main_end, exited: false, panicked: false }];
    let mut index: HashMap<(u32, u32), usize> = HashMap::new();
    index.insert((runtime, runtime), 0);
    for e in &events {
        let key = (e.pid, e.tid);
        let t = at(e.t_ns);
        if let Some(&i) = index.get(&key) {
            let r = &mut rows[i];
            r.start = r.start.min(t);
            r.end = r.end.max(t);
            if matches!(e.kind, Kind::ProcessExit | Kind::ThreadExit) {
                r.exited = true;
                r.panicked = e.kind == Kind::ProcessExit && e.a != 0;
                r.end = t;
            }
            continue;
        }
        let label = if e.pid == e.tid {
            who(e.pid)
        } else {
            let of = process_name.get(&e.pid).cloned().unwrap_or_else(|| format!("pid {}", e.pid));
            match thread_name.get(&key).filter(|n| !n.is_empty()) {
                Some(n) => format!("thread '{n}' of {of}"),
                None => format!("thread {} of {of}", e.tid),
            }
        };
        let exited = matches!(e.kind, Kind::ProcessExit | Kind::ThreadExit);
        let panicked = e.kind == Kind::ProcessExit && e.a != 0;
        rows.push(Row { pid: e.pid, tid: e.tid, label, start: t, end: t, exited, panicked });
        index.insert(key, rows.len() - 1);
    }
    // A child's row begins at its parent's `start()`: drawn as starting until its first event.
    let mut starting: Vec<(usize, u64, u64)> = Vec::new();
    for e in events.iter().filter(|e| e.kind == Kind::Spawned) {
        let child = e.a as u32;
        if let Some(&i) = index.get(&(child, child)) {
            let t = at(e.t_ns);
            if t < rows[i].start {
                starting.push((i, t, rows[i].start));
                rows[i].start = t;
            }
        }
    }
    // A process still running at the end of the cell (a daemon) is drawn to the end; a thread
    // from its first to its last event.
    for r in rows.iter_mut().skip(1) {
        if r.pid == r.tid && !r.exited {
            r.end = length;
        }
    }
    // Order: each process's threads right after it, processes by their start.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let main_of = |i: usize| index.get(&(rows[i].pid, rows[i].pid)).copied();
    order.sort_by_key(|&i| {
        let p = main_of(i);
        let ps = p.map_or(rows[i].start, |p| rows[p].start);
        (if rows[i].pid == runtime { 0 } else { 1 }, ps, rows[i].pid, rows[i].tid != rows[i].pid, rows[i].start)
    });
    let mut moved = vec![0; rows.len()];
    for (new, &old) in order.iter().enumerate() {
        moved[old] = new;
    }
    let rows_sorted: Vec<Row> = order.iter().map(|&i| rows[i].clone()).collect();
    let row_of = |e: &Event| moved[index[&(e.pid, e.tid)]];

    let mut spans: Vec<Span> =
        starting.into_iter().map(|(i, start, end)| Span { row: moved[i], start, end, open: false, what: What::Starting }).collect();
    let mut waiting: HashMap<(u32, u32), Vec<(u64, &Event)>> = HashMap::new();
    let mut holding: HashMap<String, (usize, u64)> = HashMap::new();
    let mut joining: HashMap<(u32, u32), (u64, String)> = HashMap::new();
    let mut puts: HashMap<(Through, u64), (usize, u64)> = HashMap::new();
    let mut arrows = Vec::new();
    for e in &events {
        let row = row_of(e);
        let t = at(e.t_ns);
        let key = (e.pid, e.tid);
        match e.kind {
            // Join is drawn from its own events (also when the child had ended: no wait then).
            Kind::Blocked if e.op.starts_with("Process::join") => {}
            Kind::Woke if e.op.starts_with("Process::join") => {}
            Kind::Blocked => waiting.entry(key).or_default().push((t, e)),
            Kind::Woke => {
                let stack = waiting.entry(key).or_default();
                let start = match stack.iter().rposition(|(_, b)| b.op == e.op && b.name == e.name) {
                    Some(k) => stack.remove(k).0,
                    None => 0,
                };
                let behind = (e.a != 0).then(|| who(e.a as u32));
                spans.push(Span { row, start, end: t, open: false, what: What::Blocked { op: e.op.clone(), name: e.name.clone(), behind } });
            }
            Kind::LockAcquired => {
                holding.insert(e.name.clone(), (row, t));
            }
            Kind::LockReleased => {
                if let Some((r, start)) = holding.remove(&e.name) {
                    spans.push(Span { row: r, start, end: t, open: false, what: What::Holds { name: e.name.clone() } });
                }
            }
            Kind::JoinCalled => {
                joining.insert(key, (t, e.name.clone()));
            }
            Kind::JoinReturned => {
                let (start, child) = joining.remove(&key).unwrap_or((t, e.name.clone()));
                let child = if e.a != 0 { who(e.a as u32) } else { child };
                spans.push(Span { row, start, end: t, open: false, what: What::Joins { child } });
            }
            Kind::Put => {
                puts.insert((Through::Queue(e.name.clone()), e.a), (row, t));
            }
            Kind::Send => {
                puts.insert((Through::Pipe, e.a), (row, t));
            }
            Kind::Get | Kind::Recv => {
                let through = if e.kind == Kind::Get { Through::Queue(e.name.clone()) } else { Through::Pipe };
                let key = (through, e.a);
                if let Some(from) = puts.remove(&key) {
                    arrows.push(Arrow { through: key.0, number: e.a, from, to: (row, t) });
                }
            }
            Kind::ProcessStart
            | Kind::ProcessExit
            | Kind::ThreadSeen
            | Kind::ThreadExit
            | Kind::Spawned
            | Kind::CellBegins
            | Kind::CellEnds => {}
        }
    }
    // What had not ended when the cell did: drawn to the end of its row.
    let end_of = |row: usize| rows_sorted[row].end;
    for ((pid, tid), stack) in waiting {
        for (start, b) in stack {
            let row = moved[index[&(pid, tid)]];
            spans.push(Span { row, start, end: end_of(row).max(start), open: true, what: What::Blocked { op: b.op.clone(), name: b.name.clone(), behind: None } });
        }
    }
    for (name, (row, start)) in holding {
        spans.push(Span { row, start, end: end_of(row).max(start), open: true, what: What::Holds { name } });
    }
    for ((pid, tid), (start, child)) in joining {
        let row = moved[index[&(pid, tid)]];
        spans.push(Span { row, start, end: end_of(row).max(start), open: true, what: What::Joins { child } });
    }
    spans.sort_by_key(|s| (s.row, s.start));
    arrows.sort_by_key(|a| (a.from.1, a.to.1));
    let mut untaken: Vec<(Through, usize, u64)> = puts.into_iter().map(|((q, _), (r, t))| (q, r, t)).collect();
    untaken.sort_by_key(|u| u.2);
    Timeline { length, rows: rows_sorted, spans, arrows, untaken, dropped: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: Kind, pid: u32, t: u64, name: &str, a: u64) -> Event {
        let op = match kind {
            Kind::Blocked | Kind::Woke => "Lock::acquire",
            _ => "",
        };
        Event { kind, pid, tid: pid, thread: 0, t_ns: t, a, b: 0, op: op.into(), name: name.into() }
    }

    #[test]
    fn rows_spans_and_arrows_of_a_small_cell() {
        let e = vec![
            ev(Kind::ProcessStart, 11, 100, "Process-1", 10),
            ev(Kind::ProcessStart, 12, 110, "Process-2", 10),
            ev(Kind::LockAcquired, 11, 200, "pen", 0),
            ev(Kind::Blocked, 12, 210, "pen", 0),
            ev(Kind::Put, 11, 250, "jobs", 0),
            ev(Kind::LockReleased, 11, 300, "pen", 0),
            ev(Kind::Woke, 12, 310, "pen", 11),
            ev(Kind::LockAcquired, 12, 311, "pen", 0),
            ev(Kind::ProcessExit, 11, 320, "Process-1", 0),
            ev(Kind::LockReleased, 12, 330, "pen", 0),
            ev(Kind::Get, 10, 340, "jobs", 0),
            ev(Kind::ProcessExit, 12, 350, "Process-2", 0),
            ev(Kind::JoinCalled, 10, 360, "Process-1", 11),
            ev(Kind::JoinReturned, 10, 361, "Process-1", 11),
        ];
        let t = build(&e, 10, 0, 400);
        let labels: Vec<&str> = t.rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["MainProcess (pid 10)", "Process-1 (pid 11)", "Process-2 (pid 12)"]);
        assert_eq!((t.rows[1].start, t.rows[1].end, t.rows[1].exited), (100, 320, true));
        let holds: Vec<(usize, u64, u64)> =
            t.spans.iter().filter(|s| matches!(s.what, What::Holds { .. })).map(|s| (s.row, s.start, s.end)).collect();
        assert_eq!(holds, [(1, 200, 300), (2, 311, 330)]);
        let blocked: Vec<&Span> = t.spans.iter().filter(|s| matches!(s.what, What::Blocked { .. })).collect();
        assert_eq!(blocked.len(), 1);
        assert_eq!((blocked[0].row, blocked[0].start, blocked[0].end), (2, 210, 310));
        assert!(matches!(&blocked[0].what, What::Blocked { behind: Some(b), .. } if b == "Process-1 (pid 11)"));
        assert_eq!(t.arrows, [Arrow { through: Through::Queue("jobs".into()), number: 0, from: (1, 250), to: (0, 340) }]);
        assert!(t.spans.iter().any(|s| s.row == 0 && matches!(&s.what, What::Joins { child } if child == "Process-1 (pid 11)")));
    }

    #[test]
    fn a_wait_still_going_at_the_end_is_drawn_open() {
        let e = vec![ev(Kind::ProcessStart, 11, 100, "P", 10), ev(Kind::Blocked, 11, 200, "pen", 0), ev(Kind::ProcessStart, 12, 900, "Q", 10)];
        let t = build(&e, 10, 0, 1000);
        assert_eq!(t.spans.len(), 1);
        assert!(t.spans[0].open);
        // To the end of the picture, the last event (P never exited).
        assert_eq!((t.spans[0].start, t.spans[0].end), (200, 900));
    }

    #[test]
    fn a_send_is_joined_to_the_recv_of_the_same_message_not_to_a_queue_item() {
        let e = vec![
            ev(Kind::ProcessStart, 11, 100, "P", 10),
            ev(Kind::Send, 11, 200, "pipe", 7),
            ev(Kind::Send, 11, 210, "pipe", 8),
            ev(Kind::Put, 11, 220, "pipe", 7),
            ev(Kind::Recv, 10, 300, "pipe", 8),
            ev(Kind::Recv, 10, 310, "pipe", 7),
        ];
        let t = build(&e, 10, 0, 400);
        let pairs: Vec<(Through, u64, u64, u64)> = t.arrows.iter().map(|a| (a.through.clone(), a.number, a.from.1, a.to.1)).collect();
        assert_eq!(pairs, [(Through::Pipe, 7, 200, 310), (Through::Pipe, 8, 210, 300)]);
        assert_eq!(t.untaken, [(Through::Queue("pipe".into()), 1, 220)]);
    }

    #[test]
    fn a_row_begins_at_the_parents_start_and_a_thread_row_ends_at_its_exit() {
        let thread = |kind, t| Event { kind, pid: 10, tid: 13, thread: 0, t_ns: t, a: 0, b: 0, op: String::new(), name: "worker".into() };
        let e = vec![
            ev(Kind::Spawned, 10, 50, "P", 11),
            ev(Kind::ProcessStart, 11, 100, "P", 10),
            thread(Kind::ThreadSeen, 120),
            thread(Kind::ThreadExit, 150),
            ev(Kind::ProcessExit, 11, 300, "P", 0),
            ev(Kind::Put, 10, 400, "q", 0),
        ];
        let t = build(&e, 10, 0, 500);
        let rows: Vec<(&str, u64, u64, bool)> = t.rows.iter().map(|r| (r.label.as_str(), r.start, r.end, r.exited)).collect();
        assert_eq!(rows[1], ("thread 'worker' of MainProcess", 120, 150, true));
        assert_eq!(rows[2], ("P (pid 11)", 50, 300, true));
        assert_eq!(t.spans, [Span { row: 2, start: 50, end: 100, open: false, what: What::Starting }]);
    }

    #[test]
    fn events_from_before_the_cell_are_ignored() {
        let e = vec![ev(Kind::Put, 10, 5, "q", 0)];
        let t = build(&e, 10, 100, 200);
        assert!(t.untaken.is_empty());
    }
}
