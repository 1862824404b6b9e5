//! Output of the runtime's threads: each goes to the cell during which the thread was spawned,
//! labelled with the thread's name once that cell has finished, like a daemon process's.
//!
//! The runtime frames every write to fd 1 / fd 2 with the writing thread and its cell
//! (`frames.rs`, written by `thread_writer.rs`); this side reads the frames, keeps a table of
//! the threads it heard of (their cell, label, whether they returned), assembles lines per
//! thread, and hands them to the cell's output like any process's lines.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::frames::{Deframer, Piece};
use super::lines::{Stream, Writer};
use super::{State, Worker};

/// How long a thread that returned is remembered (its last bytes on the other stream may still
/// be on their way).
const ENDED_KEPT: Duration = Duration::from_secs(5);

/// One thread of the runtime (not its main thread), as its frames told.
pub struct Thread {
    /// The cell during which it was spawned.
    pub cell: u32,
    /// `'name'` or `ThreadId(N)`, from the support crate (`None` until its first output).
    pub label: Option<String>,
    /// When its function returned.
    pub ended: Option<Instant>,
}

/// Readers of the runtime's two streams, reset when evcxr starts a new runtime.
#[derive(Default)]
pub struct RuntimeStreams {
    pid: i32,
    readers: [Deframer; 2],
}

fn index(stream: Stream) -> usize {
    match stream {
        Stream::Out => 0,
        Stream::Err => 1,
    }
}

impl Worker {
    /// Bytes the runtime process wrote on `stream`.
    pub(super) fn runtime_output(&mut self, st: &mut State, runtime: i32, stream: Stream, data: &[u8]) {
        if st.runtime_streams.pid != runtime {
            st.runtime_streams = RuntimeStreams { pid: runtime, ..Default::default() };
        }
        for piece in st.runtime_streams.readers[index(stream)].push(data) {
            match piece {
                Piece::Raw(bytes) => {
                    let cell = st.current;
                    self.lines_out(st, Writer::process(runtime), Some(cell), stream, &bytes);
                }
                Piece::Data { tid, cell, bytes } => {
                    let writer = Writer { pid: runtime, tid };
                    let cell = known_cell(st, cell);
                    if !writer.is_main_thread() {
                        st.threads.entry(writer).or_insert(Thread { cell, label: None, ended: None });
                    }
                    self.lines_out(st, writer, Some(cell), stream, &bytes);
                }
                Piece::Label { tid, cell, label } => {
                    let cell = known_cell(st, cell);
                    st.threads.entry(Writer { pid: runtime, tid }).or_insert(Thread { cell, label: None, ended: None }).label = Some(label);
                }
                Piece::Born { tid, cell } => {
                    let cell = known_cell(st, cell);
                    st.threads.insert(Writer { pid: runtime, tid }, Thread { cell, label: None, ended: None });
                }
                Piece::Ended { tid, .. } => {
                    // Comes on stdout: only that stream's unfinished line is surely complete
                    // now. The thread's last stderr bytes may still be unread on the other
                    // socket (CI once split an `eprintln!` in two here); its unfinished stderr
                    // line ends with its cell, or when the thread is forgotten.
                    let writer = Writer { pid: runtime, tid };
                    let Some(t) = st.threads.get_mut(&writer) else { continue };
                    t.ended = Some(Instant::now());
                    let cell = t.cell;
                    if let Some(text) = st.lines.flush_stream(writer, stream) {
                        self.emit(st, cell, writer, stream, text + "\n");
                    }
                }
            }
        }
    }

    /// How late output of `writer` is labelled: `thread 'name'`, or `pid N name`.
    pub(super) fn late_label(&self, st: &State, writer: Writer) -> String {
        if writer.pid == self.shared.runtime_pid.load(Ordering::SeqCst) && !writer.is_main_thread() {
            return match st.threads.get(&writer).and_then(|t| t.label.as_deref()) {
                Some(label) => format!("thread {label}"),
                None => format!("thread with OS id {}", writer.tid),
            };
        }
        let name = st.procs.get(&writer.pid).map(|p| format!(" {}", p.name)).unwrap_or_default();
        format!("pid {}{name}", writer.pid)
    }

    /// The cell whose end also ends `writer`'s unfinished line.
    pub(super) fn owner_of(&self, st: &State, writer: Writer) -> u32 {
        if writer.pid == self.shared.runtime_pid.load(Ordering::SeqCst) {
            return if writer.is_main_thread() { st.current } else { st.threads.get(&writer).map(|t| t.cell).unwrap_or(st.current) };
        }
        st.procs.get(&writer.pid).map(|p| p.cell).unwrap_or(st.current)
    }
}

/// Cells of the runtime's threads that may still write.
pub(super) fn cells_with_live_threads(st: &State, runtime: i32) -> impl Iterator<Item = u32> + '_ {
    st.threads.iter().filter(move |(w, t)| w.pid == runtime && t.ended.is_none()).map(|(_, t)| t.cell)
}

/// Threads of an earlier runtime and those that returned a while ago: to be forgotten.
pub(super) fn old_threads(st: &State, runtime: i32) -> Vec<Writer> {
    let old = |w: &Writer, t: &Thread| w.pid != runtime || t.ended.is_some_and(|at| at.elapsed() >= ENDED_KEPT);
    st.threads.iter().filter(|(w, t)| old(w, t)).map(|(w, _)| *w).collect()
}

/// `cell` if the kernel still knows it, else the current cell (0 means unknown).
fn known_cell(st: &State, cell: u32) -> u32 {
    if cell != 0 && st.cells.contains_key(&cell) { cell } else { st.current }
}
