//! Assembling whole lines per (writer, stream): a line may come in several writes, and two
//! writers' writes interleave in the queue. A writer is a process, or one thread of the runtime
//! (the runtime says which thread wrote what, see `frames.rs`).

use std::collections::HashMap;

/// Which standard stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Out,
    Err,
}

impl Stream {
    /// The Jupyter `stream` name.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Out => "stdout",
            Stream::Err => "stderr",
        }
    }
}

/// Who wrote a piece of output: process `pid`, thread `tid` (a process as a whole, and the
/// runtime's main thread, where cells run, have `tid == pid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Writer {
    pub pid: i32,
    pub tid: i32,
}

impl Writer {
    /// A process as a whole (or its main thread).
    pub fn process(pid: i32) -> Writer {
        Writer { pid, tid: pid }
    }

    /// The process itself (or its main thread), not one of its other threads.
    pub fn is_main_thread(self) -> bool {
        self.pid == self.tid
    }
}

/// Partial lines waiting for their newline.
///
/// ```
/// use rust_concurrency_kernel::supervision::lines::{Lines, Stream, Writer};
/// let (a, b) = (Writer::process(7), Writer { pid: 7, tid: 8 });
/// let mut l = Lines::default();
/// assert!(l.push(a, Stream::Out, b"hel").is_empty());
/// assert!(l.push(b, Stream::Out, b"other\n") == vec!["other\n".to_string()]);
/// assert_eq!(l.push(a, Stream::Out, b"lo\nwor"), vec!["hello\n".to_string()]);
/// assert_eq!(l.flush(a), vec![(Stream::Out, "wor".to_string())]);
/// ```
#[derive(Default)]
pub struct Lines {
    partial: HashMap<(Writer, Stream), Vec<u8>>,
}

impl Lines {
    /// Adds bytes written by `writer`; returns the lines completed (each ending in `\n`).
    pub fn push(&mut self, writer: Writer, stream: Stream, data: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let Some(last_nl) = data.iter().rposition(|b| *b == b'\n') else {
            self.partial.entry((writer, stream)).or_default().extend_from_slice(data);
            return out;
        };
        let mut whole = self.partial.remove(&(writer, stream)).unwrap_or_default();
        whole.extend_from_slice(&data[..=last_nl]);
        for line in whole.split_inclusive(|b| *b == b'\n') {
            out.push(String::from_utf8_lossy(line).into_owned());
        }
        if last_nl + 1 < data.len() {
            self.partial.insert((writer, stream), data[last_nl + 1..].to_vec());
        }
        out
    }

    /// Takes the unfinished lines of `writer` (it exited, or its cell ended).
    pub fn flush(&mut self, writer: Writer) -> Vec<(Stream, String)> {
        let mut out = Vec::new();
        for stream in [Stream::Out, Stream::Err] {
            if let Some(bytes) = self.partial.remove(&(writer, stream)) {
                if !bytes.is_empty() {
                    out.push((stream, String::from_utf8_lossy(&bytes).into_owned()));
                }
            }
        }
        out
    }

    /// Takes the unfinished line of `writer` on `stream` only.
    pub fn flush_stream(&mut self, writer: Writer, stream: Stream) -> Option<String> {
        let bytes = self.partial.remove(&(writer, stream))?;
        (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Writers with unfinished lines.
    pub fn writers(&self) -> Vec<Writer> {
        let mut v: Vec<Writer> = self.partial.keys().map(|k| k.0).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}
