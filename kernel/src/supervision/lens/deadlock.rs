//! The deadlock detector: while a cell runs, finds the moment when every process and thread
//! that could still do something for it is asleep in a wait nobody can end, and says so in
//! the cell, naming who waits for whom.
//!
//! What it reads: the wait-for records (`multiproc::sys::waits`: "pid/tid waits in
//! `Lock::acquire` for `fork 2`, held by pid/thread …"), which each thread writes just before
//! it sleeps in a support-crate call and clears when it wakes; the kernel's table of the
//! cell's processes and of the runtime's threads; and `/proc`.
//!
//! The rule, checked every [`CHECK_EVERY`]:
//! 1. The *actors* are: the runtime's main thread while the cell's code runs; every thread the
//!    cells started in the runtime that has not returned; every thread of every live process
//!    started through the support crate (any cell, daemons too) and of every other live
//!    descendant of the runtime. Zombies are finished and do not count.
//! 2. Each actor must be *blocked*: either it has a wait record, or it sleeps in a futex wait
//!    *without a timeout* (read from `/proc/<pid>/task/<tid>/syscall`): std's
//!    `JoinHandle::join`, `Mutex` or `Condvar::wait`, which only another thread can end.
//!    A Manager's server idle between requests has a record marked "serves"
//!    ([`waits::SERVES`]): it is blocked unless a client's call record names it (that
//!    client's request will wake it); a server handling a request has no record and runs.
//!    A thread that runs, sleeps (`sleep`), reads a pipe or a socket outside the crate, or
//!    waits with a std timeout is not blocked, and then nothing is reported.
//! 3. The same records (same waits, begun at the same instants) must be seen at two checks in
//!    a row, so a wait that just ended or began is never taken for a stuck one.
//! 4. Then nobody can wake anybody: it is a deadlock. If following "waits for the lock held by"
//!    and "joins" from thread to thread comes back to a thread, that cycle is named; else each
//!    actor's wait is listed. A wait with a timeout still counts (the cell is stuck until it
//!    ends), and the report says that it will end by itself.
//!
//! Reported once per cell, in the cell; the cell then waits for the stop button as usual.
//! Limits: std's `Mutex` and the other std primitives carry no record, so a deadlock on them
//! is found (rule 2) but not named; a process outside the kernel's sight that could still
//! write to a queue's shared memory would be missed (none exists among the crate's objects).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use multiproc::sys::waits::{self, Record, Table};

use std::sync::atomic::Ordering;

use super::deadlock_render;
use super::super::{State, Worker};

/// How often the detector looks.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// Where the table's memfd lives once made (`create_table`).
static TABLE: std::sync::OnceLock<Option<Table>> = std::sync::OnceLock::new();

/// Makes the shared wait table and publishes its descriptor in this process's environment
/// (`MULTIPROC_KERNEL_WAITS_FD`), so the runtime and every process it starts inherit it.
/// Call before the runtime starts. `None` (no detector) if the memfd cannot be made.
pub fn create_table() -> Option<Table> {
    *TABLE.get_or_init(|| {
        // No MFD_CLOEXEC: the descriptor must survive the exec of the runtime.
        // SAFETY: memfd_create with a NUL-terminated name.
        let fd = unsafe { libc::memfd_create(c"rust-concurrency-waits".as_ptr(), 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: sizing our own fresh memfd.
        if unsafe { libc::ftruncate(fd, waits::TABLE_BYTES as libc::off_t) } < 0 {
            return None;
        }
        let table = Table::map(fd).ok()?;
        // SAFETY: set while the kernel starts, before the runtime (which reads it) exists.
        unsafe { std::env::set_var(waits::WAITS_FD_ENV, fd.to_string()) };
        Some(table)
    })
}

/// One thread that could act for the cell, and how a report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub pid: i32,
    pub tid: i32,
    /// "Process-1 (pid 12)", "MainProcess (pid 10)", "thread 'worker' (tid 15)".
    pub label: String,
}

/// How an actor is blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// In a support-crate wait.
    Wait(Record),
    /// In a futex wait without timeout that has no record (std's join, Mutex, Condvar).
    StdFutex,
}

/// The detector's memory between two checks.
#[derive(Default)]
pub struct Detector {
    last_check: Option<Instant>,
    /// The previous check's blocked actors (same cell), if all were blocked then.
    previous: Option<(u32, Vec<(i32, i32, Blocked)>)>,
    /// Cells already reported.
    reported: HashSet<u32>,
}

impl Detector {
    /// True when it is time to look again.
    pub fn due(&mut self) -> bool {
        if self.last_check.is_some_and(|t| t.elapsed() < CHECK_EVERY) {
            return false;
        }
        self.last_check = Some(Instant::now());
        true
    }

    /// Whether `cell` was reported already.
    pub fn reported(&self, cell: u32) -> bool {
        self.reported.contains(&cell)
    }

    /// Forgets the previous observation (something could make progress).
    pub fn clear(&mut self) {
        self.previous = None;
    }

    /// How each actor is blocked, or `None` as soon as one is not (rule 2).
    pub fn blocked_now(&self, actors: &[Actor]) -> Option<Vec<(i32, i32, Blocked)>> {
        let table = (*TABLE.get()?)?;
        let records = table.records();
        // Records of threads that ended without clearing (a killed process) are freed.
        for r in &records {
            if !std::path::Path::new(&format!("/proc/{}/task/{}", r.pid, r.tid)).exists() {
                table.free_if(r.slot, r.tid);
            }
        }
        let by_thread: HashMap<(i32, i32), &Record> = records.iter().map(|r| ((r.pid as i32, r.tid as i32), r)).collect();
        let mut now = Vec::new();
        for a in actors {
            let blocked = match by_thread.get(&(a.pid, a.tid)) {
                Some(r) if !counts_as_stuck(r, &records) => return None,
                Some(r) => Blocked::Wait((*r).clone()),
                None if in_untimed_futex(a.pid, a.tid) => Blocked::StdFutex,
                None => return None,
            };
            now.push((a.pid, a.tid, blocked));
        }
        Some(now)
    }

    /// One look at `actors` of `cell`: the report (text, HTML) when rule 3 confirms a deadlock.
    pub fn check(&mut self, cell: u32, actors: &[Actor]) -> Option<(String, String)> {
        let Some(now) = self.blocked_now(actors) else {
            self.previous = None;
            return None;
        };
        if now.is_empty() {
            self.previous = None;
            return None;
        }
        // Only the slot index may differ between two looks at the same wait.
        let key = |v: &Vec<(i32, i32, Blocked)>| -> Vec<(i32, i32, Option<(String, String, u32, u64, u64)>)> {
            v.iter()
                .map(|(p, t, b)| {
                    (*p, *t, match b {
                        Blocked::Wait(r) => Some((r.op.clone(), r.name.clone(), r.other_pid, r.other_thread, r.since_ns)),
                        Blocked::StdFutex => None,
                    })
                })
                .collect()
        };
        let confirmed = self.previous.as_ref().is_some_and(|(c, prev)| *c == cell && key(prev) == key(&now));
        if !confirmed {
            self.previous = Some((cell, now));
            return None;
        }
        self.previous = None;
        self.reported.insert(cell);
        let blocked: Vec<(Actor, Blocked)> = actors.iter().cloned().zip(now.into_iter().map(|(_, _, b)| b)).collect();
        let report = describe(&blocked);
        let html = deadlock_render::html(&report);
        Some((report.text(), html))
    }
}

/// Whether a record means "stuck until somebody else acts". Every record does, except a
/// server's idle wait ([`waits::SERVES`], a Manager's server in `accept`) while a client waits
/// for its answer: a client's call record (same type, `Manager::call` for `Manager::serve`)
/// naming the server's pid. That client's request is in the server's socket and will wake it.
fn counts_as_stuck(r: &Record, records: &[Record]) -> bool {
    if !r.serves {
        return true;
    }
    let kind = r.op.split("::").next().unwrap_or(&r.op);
    !records.iter().any(|c| !c.serves && c.other_pid == r.pid && c.op.split("::").next() == Some(kind))
}

/// True when thread `tid` of `pid` sleeps in `futex(FUTEX_WAIT…)` with no timeout.
fn in_untimed_futex(pid: i32, tid: i32) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall")) else { return false };
    let mut f = text.split_ascii_whitespace();
    let number = f.next().and_then(|n| n.parse::<i64>().ok());
    if number != Some(libc::SYS_futex) {
        return false;
    }
    let hex = |s: Option<&str>| s.and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok());
    let _addr = f.next();
    let op = hex(f.next()).unwrap_or(u64::MAX) & 0x7f;
    let _val = f.next();
    let timeout = hex(f.next());
    (op == libc::FUTEX_WAIT as u64 || op == libc::FUTEX_WAIT_BITSET as u64) && timeout == Some(0)
}

/// Live threads of `pid` (its `/proc/<pid>/task` entries that are not zombies).
fn threads_of(pid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    let mut out: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .filter(|tid| thread_state(pid, *tid).is_some_and(|s| s != 'Z' && s != 'X'))
        .collect();
    out.sort();
    out
}

fn thread_state(pid: i32, tid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

fn comm(pid: i32, tid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).map(|s| s.trim().to_string()).unwrap_or_default()
}

impl Worker {
    /// One look for a deadlock in the current cell (see the module's rule); reports it once.
    pub(in crate::supervision) fn look_for_deadlock(&mut self, st: &mut State) {
        let cell = st.current;
        let Some(c) = st.cells.get(&cell) else { return };
        if c.finished || c.parent.is_none() || st.deadlock.reported(cell) {
            st.deadlock.clear();
            return;
        }
        let code_running = !c.waiting;
        let runtime = self.shared.runtime_pid.load(Ordering::SeqCst);
        let mut actors: Vec<Actor> = Vec::new();
        if runtime > 0 {
            if code_running {
                actors.push(Actor { pid: runtime, tid: runtime, label: format!("MainProcess (pid {runtime})") });
            }
            let live = threads_of(runtime);
            for (w, t) in st.threads.iter().filter(|(w, t)| w.pid == runtime && t.ended.is_none()) {
                if live.contains(&w.tid) {
                    let label = match &t.label {
                        Some(l) => format!("thread {l} (tid {})", w.tid),
                        None => format!("thread {} (tid {})", comm(runtime, w.tid), w.tid),
                    };
                    actors.push(Actor { pid: runtime, tid: w.tid, label });
                }
            }
        }
        let mut pids: Vec<i32> = st.procs.iter().filter(|(_, p)| !p.exited).map(|(pid, _)| *pid).collect();
        pids.sort();
        // Cheap part first: the kernel's own processes and threads. The scan of /proc for
        // other descendants of the runtime only runs once all of those are blocked.
        let add_process = |actors: &mut Vec<Actor>, pid: i32, name: Option<&str>| {
            for tid in threads_of(pid) {
                let who = name.map(str::to_string).unwrap_or_else(|| format!("process {}", comm(pid, pid)));
                let label = if tid == pid { format!("{who} (pid {pid})") } else { format!("a thread of {who} (pid {pid}, tid {tid})") };
                actors.push(Actor { pid, tid, label });
            }
        };
        for pid in &pids {
            let name = st.procs.get(pid).map(|p| p.name.clone());
            add_process(&mut actors, *pid, name.as_deref());
        }
        if st.deadlock.blocked_now(&actors).is_none() {
            st.deadlock.clear();
            return;
        }
        // All known actors are blocked: now make sure no other process could act (a process
        // the cell forked without the crate, an orphan's parent), then confirm.
        if runtime > 0 {
            let known: HashSet<i32> = actors.iter().map(|a| a.pid).collect();
            for pid in super::super::cleanup::descendants(runtime) {
                if !known.contains(&pid) {
                    add_process(&mut actors, pid, None);
                }
            }
        }
        if let Some((text, html)) = st.deadlock.check(cell, &actors) {
            self.flush_pending(st);
            self.cell_out(st, cell, "display_data", serde_json::json!({"data": {"text/plain": text, "text/html": html}, "metadata": {}}));
        }
    }
}

/// One step of a report: who, and what they wait for (and whom, if known).
#[derive(Debug, Clone)]
pub struct Step {
    pub who: String,
    /// "waits for lock `fork 2`", "waits for Process-2 (pid 12) to end (join)".
    pub waits: String,
    /// The lock's name, when the wait is for a lock.
    pub lock: Option<String>,
    pub timed: bool,
}

/// What the report says.
#[derive(Debug, Clone)]
pub struct Report {
    /// A cycle: each step waits for the next; the last for the first.
    pub cycle: Vec<Step>,
    /// Every blocked actor (when there is no cycle, the report lists them all; with a cycle,
    /// the others are named after it).
    pub others: Vec<Step>,
}

fn what_it_waits_for(r: &Record, holder: Option<&str>) -> (String, Option<String>) {
    let op = r.op.as_str();
    let name = &r.name;
    let kind = op.split("::").next().unwrap_or(op);
    if r.serves {
        return ("is a manager's server waiting for a request, which only a client can send".into(), None);
    }
    if op.starts_with("Manager::") {
        return (format!("waits for an answer from manager `{name}`"), None);
    }
    let is_lock_wait = r.other_pid != 0 && !op.contains("join");
    if is_lock_wait {
        let held = holder.map(|h| format!(", held by {h}")).unwrap_or_default();
        let word = if kind == "Condition" { "the lock of condition" } else { "lock" };
        return (format!("waits for {word} `{name}`{}{held}", timed_note(r.timed)), Some(name.clone()));
    }
    let text = match op {
        _ if op.starts_with("Process::join") => format!("waits for {} to end (join)", holder.unwrap_or(name)),
        _ if op.starts_with("Queue::get") || op.starts_with("JoinableQueue::get") || op.starts_with("SimpleQueue::get") => {
            format!("waits for an item from queue `{name}`")
        }
        _ if op.contains("Queue::put") => format!("waits for room in queue `{name}`"),
        _ if op.starts_with("JoinableQueue::join") => format!("waits until every item of queue `{name}` is done"),
        _ if op.starts_with("Connection::send") => "waits for room in a pipe".to_string(),
        _ if op.starts_with("Connection::") => "waits for a message from a pipe".to_string(),
        _ if kind.ends_with("Semaphore") => format!("waits for semaphore `{name}`"),
        _ if kind == "Event" => format!("waits for event `{name}` to be set"),
        _ if kind == "Barrier" => format!("waits at barrier `{name}` for the other parties"),
        _ if kind == "Condition" => format!("waits for a notify on condition `{name}`"),
        _ => format!("waits in {op} on `{name}`"),
    };
    (text + timed_note(r.timed), None)
}

/// Builds the report from every blocked actor.
pub fn describe(blocked: &[(Actor, Blocked)]) -> Report {
    let index: HashMap<(i32, i32), usize> = blocked.iter().enumerate().map(|(i, (a, _))| ((a.pid, a.tid), i)).collect();
    // Whom each actor waits for (an index into `blocked`), when the wait names somebody.
    let target = |i: usize| -> Option<usize> {
        let Blocked::Wait(r) = &blocked[i].1 else { return None };
        if r.other_pid == 0 {
            return None;
        }
        let pid = r.other_pid as i32;
        if r.other_thread != 0 {
            // A lock: the holder thread is the actor whose own record has that pthread_self.
            let by_thread = blocked.iter().position(|(a, b)| a.pid == pid && matches!(b, Blocked::Wait(h) if h.thread == r.other_thread));
            if by_thread.is_some() {
                return by_thread;
            }
        }
        // A join (or a holder without a record): the process's main thread, else its only one.
        if let Some(i) = index.get(&(pid, pid)) {
            return Some(*i);
        }
        let of_pid: Vec<usize> = blocked.iter().enumerate().filter(|(_, (a, _))| a.pid == pid).map(|(i, _)| i).collect();
        (of_pid.len() == 1).then(|| of_pid[0])
    };
    let targets: Vec<Option<usize>> = (0..blocked.len()).map(target).collect();
    let step = |i: usize| -> Step {
        let (a, b) = &blocked[i];
        match b {
            Blocked::Wait(r) => {
                let holder = targets[i].map(|t| blocked[t].0.label.clone()).or_else(|| {
                    (r.other_pid != 0).then(|| format!("a process or thread with pid {} that is not waiting", r.other_pid))
                });
                let (waits, lock) = what_it_waits_for(r, holder.as_deref());
                Step { who: a.label.clone(), waits, lock, timed: r.timed }
            }
            Blocked::StdFutex => Step {
                who: a.label.clone(),
                waits: "waits in std (a JoinHandle::join, Mutex or Condvar, which the kernel cannot see into)".into(),
                lock: None,
                timed: false,
            },
        }
    };
    // Look for a cycle by following targets from each actor.
    let mut cycle_nodes: Vec<usize> = Vec::new();
    'outer: for start in 0..blocked.len() {
        let mut seen: Vec<usize> = vec![start];
        let mut at = start;
        while let Some(next) = targets[at] {
            if let Some(pos) = seen.iter().position(|n| *n == next) {
                cycle_nodes = seen[pos..].to_vec();
                break 'outer;
            }
            seen.push(next);
            at = next;
        }
    }
    // Start the cycle at its smallest pid/tid so the words do not depend on the look order.
    if let Some(min) = (0..cycle_nodes.len()).min_by_key(|k| (blocked[cycle_nodes[*k]].0.pid, blocked[cycle_nodes[*k]].0.tid)) {
        cycle_nodes.rotate_left(min);
    }
    let in_cycle: HashSet<usize> = cycle_nodes.iter().copied().collect();
    Report {
        cycle: cycle_nodes.iter().map(|i| step(*i)).collect(),
        others: (0..blocked.len()).filter(|i| !in_cycle.contains(i)).map(step).collect(),
    }
}

impl Report {
    /// The report in words.
    pub fn text(&self) -> String {
        let timed = self.cycle.iter().chain(&self.others).any(|s| s.timed);
        let mut out = String::from("Deadlock: ");
        if self.cycle.is_empty() {
            out.push_str("every process and thread of this cell is waiting, and none of them can wake another: ");
            let parts: Vec<String> = self.others.iter().map(|s| format!("{} {}", s.who, s.waits)).collect();
            out.push_str(&parts.join("; "));
            out.push('.');
        } else {
            let first = &self.cycle[0];
            let last = &self.cycle[self.cycle.len() - 1];
            out.push_str(&first.who);
            if let Some(lock) = &last.lock {
                out.push_str(&format!(" holds lock `{lock}` and"));
            }
            for (k, s) in self.cycle.iter().enumerate() {
                if k > 0 {
                    out.push_str(", which");
                }
                out.push(' ');
                out.push_str(&s.waits);
            }
            out.push_str(". None of them can go on.");
            if !self.others.is_empty() {
                let parts: Vec<String> = self.others.iter().map(|s| format!("{} {}", s.who, s.waits)).collect();
                out.push_str(&format!(" Also waiting: {}.", parts.join("; ")));
            }
        }
        if timed {
            out.push_str(" The waits marked \"with a timeout\" will give up by themselves;");
            out.push_str(" otherwise press the stop button (■) to end the cell.");
        } else {
            out.push_str(" Press the stop button (■) to end the cell.");
        }
        out
    }
}

fn timed_note(timed: bool) -> &'static str {
    if timed { " (with a timeout)" } else { "" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(pid: i32, label: &str) -> Actor {
        Actor { pid, tid: pid, label: label.to_string() }
    }

    fn lock_wait(pid: i32, name: &str, holder: i32) -> Blocked {
        Blocked::Wait(Record {
            slot: 0,
            pid: pid as u32,
            tid: pid as u32,
            thread: 1000 + pid as u64,
            op: "Lock::acquire".into(),
            name: name.into(),
            other_pid: holder as u32,
            other_thread: 1000 + holder as u64,
            timed: false,
            serves: false,
            since_ns: 1,
        })
    }

    #[test]
    fn three_philosophers_make_one_named_cycle() {
        let blocked = vec![
            (actor(12, "Process-2 (pid 12)"), lock_wait(12, "fork 3", 13)),
            (actor(11, "Process-1 (pid 11)"), lock_wait(11, "fork 2", 12)),
            (actor(13, "Process-3 (pid 13)"), lock_wait(13, "fork 1", 11)),
        ];
        let text = describe(&blocked).text();
        assert!(
            text.starts_with(
                "Deadlock: Process-1 (pid 11) holds lock `fork 1` and waits for lock `fork 2`, held by Process-2 (pid 12), \
                 which waits for lock `fork 3`, held by Process-3 (pid 13), which waits for lock `fork 1`, held by Process-1 (pid 11). \
                 None of them can go on."
            ),
            "{text}"
        );
    }

    fn record(pid: u32, op: &str, other_pid: u32, serves: bool) -> Record {
        Record {
            slot: 0, pid, tid: pid, thread: 1, op: op.into(), name: "Manager-1".into(),
            other_pid, other_thread: 0, timed: false, serves, since_ns: 1,
        }
    }

    #[test]
    fn an_idle_server_is_stuck_unless_a_client_waits_for_its_answer() {
        let idle = record(20, "Manager::serve", 0, true);
        let lock = lock_wait(11, "pen", 12);
        let Blocked::Wait(lock) = lock else { unreachable!() };
        // Nobody calls it: only a client could wake it.
        assert!(counts_as_stuck(&idle, &[idle.clone(), lock.clone()]));
        // A client waits for its answer: its request will wake the server.
        let client = record(11, "Manager::call", 20, false);
        assert!(!counts_as_stuck(&idle, &[idle.clone(), client.clone()]));
        // A call to another server, or a join of the server, is no request to this one.
        assert!(counts_as_stuck(&idle, &[idle.clone(), record(11, "Manager::call", 21, false)]));
        assert!(counts_as_stuck(&idle, &[idle.clone(), record(11, "Process::join", 20, false)]));
        // Every other record is stuck as before.
        assert!(counts_as_stuck(&client, &[idle, client.clone()]));
        assert!(counts_as_stuck(&lock, &[]));
    }

    #[test]
    fn an_idle_server_and_its_clients_are_named_in_words() {
        let blocked = vec![
            (actor(20, "Manager-1 (pid 20)"), Blocked::Wait(record(20, "Manager::serve", 0, true))),
            (actor(11, "Process-1 (pid 11)"), Blocked::Wait(record(11, "Manager::call", 20, false))),
        ];
        let text = describe(&blocked).text();
        assert!(text.contains("Manager-1 (pid 20) is a manager's server waiting for a request"), "{text}");
        assert!(text.contains("Process-1 (pid 11) waits for an answer from manager `Manager-1`"), "{text}");
    }

    #[test]
    fn without_a_cycle_every_wait_is_listed() {
        let get = Blocked::Wait(Record {
            slot: 0, pid: 11, tid: 11, thread: 5, op: "Queue::get".into(), name: "jobs".into(),
            other_pid: 0, other_thread: 0, timed: false, serves: false, since_ns: 1,
        });
        let join = Blocked::Wait(Record {
            slot: 1, pid: 10, tid: 10, thread: 6, op: "Process::join".into(), name: "Process-1".into(),
            other_pid: 11, other_thread: 0, timed: false, serves: false, since_ns: 1,
        });
        let r = describe(&[(actor(10, "MainProcess (pid 10)"), join), (actor(11, "Process-1 (pid 11)"), get)]);
        assert!(r.cycle.is_empty());
        let text = r.text();
        assert!(text.contains("MainProcess (pid 10) waits for Process-1 (pid 11) to end (join)"), "{text}");
        assert!(text.contains("Process-1 (pid 11) waits for an item from queue `jobs`"), "{text}");
    }
}
