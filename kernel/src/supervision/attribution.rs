//! Which cell a piece of output belongs to: the process that wrote it (its pid, from the
//! socket credentials), the cell that started that process, its parents for processes nobody
//! registered; for the runtime process, the thread that wrote it (`threads.rs`).

use std::sync::atomic::Ordering;

use super::lines::{Stream, Writer};
use super::markers::{EVCXR_MARKERS, split_markers};
use super::{State, Worker, parent_of};

impl Worker {
    pub(super) fn cell_of(&self, st: &mut State, pid: i32) -> u32 {
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

    pub(super) fn output(&mut self, st: &mut State, pid: i32, stream: Stream, data: &[u8]) {
        let runtime = self.shared.runtime_pid.load(Ordering::SeqCst);
        if pid == runtime {
            self.runtime_output(st, runtime, stream, data);
        } else {
            self.lines_out(st, Writer::process(pid), None, stream, data);
        }
    }

    /// Assembles `writer`'s lines and publishes them to `cell` (`None`: the cell of the writing
    /// process); evcxr's markers from the thread the cells run on are kept back.
    pub(super) fn lines_out(&mut self, st: &mut State, writer: Writer, cell: Option<u32>, stream: Stream, data: &[u8]) {
        let lines = st.lines.push(writer, stream, data);
        if lines.is_empty() {
            return;
        }
        let cell = cell.unwrap_or_else(|| self.cell_of(st, writer.pid));
        let is_runtime = writer.pid == self.shared.runtime_pid.load(Ordering::SeqCst) && writer.is_main_thread();
        let lines = if is_runtime && stream == Stream::Out { split_markers(lines) } else { lines };
        for line in lines {
            if is_runtime {
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
            self.emit(st, cell, writer, stream, line);
        }
    }

}
