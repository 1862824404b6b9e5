//! Assembling whole lines per (process, stream): one `write()` is one datagram, but a line may
//! come in several writes, and two processes' writes interleave in the queue.

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

/// Partial lines waiting for their newline.
///
/// ```
/// use rust_concurrency_kernel::supervision::lines::{Lines, Stream};
/// let mut l = Lines::default();
/// assert!(l.push(7, Stream::Out, b"hel").is_empty());
/// assert!(l.push(8, Stream::Out, b"other\n") == vec!["other\n".to_string()]);
/// assert_eq!(l.push(7, Stream::Out, b"lo\nwor"), vec!["hello\n".to_string()]);
/// assert_eq!(l.flush(7), vec![(Stream::Out, "wor".to_string())]);
/// ```
#[derive(Default)]
pub struct Lines {
    partial: HashMap<(i32, Stream), Vec<u8>>,
}

impl Lines {
    /// Adds bytes written by `pid`; returns the lines completed (each ending in `\n`).
    pub fn push(&mut self, pid: i32, stream: Stream, data: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let Some(last_nl) = data.iter().rposition(|b| *b == b'\n') else {
            self.partial.entry((pid, stream)).or_default().extend_from_slice(data);
            return out;
        };
        let mut whole = self.partial.remove(&(pid, stream)).unwrap_or_default();
        whole.extend_from_slice(&data[..=last_nl]);
        for line in whole.split_inclusive(|b| *b == b'\n') {
            out.push(String::from_utf8_lossy(line).into_owned());
        }
        if last_nl + 1 < data.len() {
            self.partial.insert((pid, stream), data[last_nl + 1..].to_vec());
        }
        out
    }

    /// Takes the unfinished lines of `pid` (it exited, or its cell ended).
    pub fn flush(&mut self, pid: i32) -> Vec<(Stream, String)> {
        let mut out = Vec::new();
        for stream in [Stream::Out, Stream::Err] {
            if let Some(bytes) = self.partial.remove(&(pid, stream)) {
                if !bytes.is_empty() {
                    out.push((stream, String::from_utf8_lossy(&bytes).into_owned()));
                }
            }
        }
        out
    }

    /// Pids with unfinished lines.
    pub fn pids(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.partial.keys().map(|k| k.0).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}
