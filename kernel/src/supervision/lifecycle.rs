//! When a process exits and when a cell is finished (its code returned and every non-daemon
//! process it started exited), and what is flushed and reported then.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::lines::Writer;
use super::{CellReport, Event, State, Worker, cleanup, threads};

impl Worker {
    pub(super) fn process_exited(&mut self, st: &mut State, pid: i32) {
        let Some(p) = st.procs.get_mut(&pid) else { return };
        p.exited = true;
        p.pidfd = None;
        let cell = p.cell;
        // The support crate counts each started process; the kernel, which sees every exit,
        // gives the slot back.
        let _ = self.shared.page.live_processes.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        for (stream, text) in st.lines.flush(Writer::process(pid)) {
            self.emit(st, cell, Writer::process(pid), stream, text + "\n");
        }
    }

    pub(super) fn check_cells(&mut self, st: &mut State) {
        let waiting: Vec<u32> = st.cells.iter().filter(|(_, c)| c.waiting && !c.finished).map(|(n, _)| *n).collect();
        for n in waiting {
            let mut alive: Vec<(i32, String)> =
                st.procs.iter().filter(|(_, p)| p.cell == n && !p.daemon && !p.exited).map(|(pid, p)| (*pid, p.name.clone())).collect();
            alive.sort();
            let c = st.cells.get_mut(&n).unwrap();
            if alive.is_empty() {
                // Unfinished lines of the cell's processes, threads and of the runtime end with
                // the cell.
                for writer in st.lines.writers() {
                    if self.owner_of(st, writer) == n {
                        for (stream, text) in st.lines.flush(writer) {
                            self.emit(st, n, writer, stream, text + "\n");
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
        // Forget finished cells nobody can write to any more (keep those with live daemons or
        // threads).
        let runtime = self.shared.runtime_pid.load(Ordering::SeqCst);
        for writer in threads::old_threads(st, runtime) {
            // What it left unfinished (its stderr, see `threads.rs`) ends now, in its cell.
            let cell = st.threads.remove(&writer).map(|t| t.cell).unwrap_or(st.current);
            for (stream, text) in st.lines.flush(writer) {
                self.emit(st, cell, writer, stream, text + "\n");
            }
        }
        let live_cells: std::collections::HashSet<u32> =
            st.procs.values().filter(|p| !p.exited).map(|p| p.cell).chain(threads::cells_with_live_threads(st, runtime)).collect();
        let current = st.current;
        st.cells.retain(|n, c| !c.finished || *n + 20 > current || live_cells.contains(n));
        st.procs.retain(|_, p| !p.exited);
    }
}
