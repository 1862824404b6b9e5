//! How the runtime says which of its threads wrote what, in its stdout and stderr streams.
//!
//! The kernel learns the writing *process* of every byte from the socket credentials, but all
//! threads of a process share its fd 1 and fd 2 and its credentials, and Linux merges their
//! bytes in one read. So the runtime process (only it: the processes it forks write plain
//! bytes) wraps every write to fd 1 and fd 2 in a frame that names the thread and the cell the
//! thread belongs to (`thread_writer.rs` writes them, [`Deframer`] reads them):
//!
//! ```text
//! MAGIC (4 bytes) | kind (1) | cell (u32 LE) | tid (i32 LE) | len (u32 LE) | len bytes
//! ```
//!
//! Kinds: [`DATA`] (what the thread wrote), [`LABEL`] (the thread's name, or `ThreadId(N)`,
//! sent before its first data on each stream), [`BORN`] and [`ENDED`] (the thread started and
//! returned, on stdout, with no payload). `cell` is the cell during which the thread was
//! spawned (the main thread: the cell it runs), 0 when unknown. Bytes that do not start with
//! [`MAGIC`] where a frame should start (something wrote to fd 1 without going through the
//! runtime's `write`, e.g. C's stdio) are handed on as [`Piece::Raw`].
//!
//! Hand-written: a fixed 17-byte header read incrementally from a non-blocking socket the
//! supervisor already polls; the codec crates (`tokio-util`, `asynchronous-codec`) expect an
//! async runtime, and a payload must be handed on as it arrives, not once it is complete.

/// Start of every frame: a NUL and three bytes no text starts with.
pub const MAGIC: [u8; 4] = [0x00, 0x1e, b'r', b't'];
/// Bytes of a frame header.
pub const HEADER: usize = 17;
/// A frame kind: text the thread wrote.
pub const DATA: u8 = b'D';
/// A frame kind: the thread's label.
pub const LABEL: u8 = b'L';
/// A frame kind: the thread started (on stdout).
pub const BORN: u8 = b'B';
/// A frame kind: the thread's function returned (on stdout).
pub const ENDED: u8 = b'E';
/// Longest label kept (a longer one is cut).
pub const MAX_LABEL: usize = 200;

/// The header of a frame of `len` payload bytes.
pub fn header(kind: u8, cell: u32, tid: i32, len: u32) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..4].copy_from_slice(&MAGIC);
    h[4] = kind;
    h[5..9].copy_from_slice(&cell.to_le_bytes());
    h[9..13].copy_from_slice(&tid.to_le_bytes());
    h[13..17].copy_from_slice(&len.to_le_bytes());
    h
}

/// What one stream of the runtime carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes thread `tid` wrote (a frame's payload may come in several pieces).
    Data { tid: i32, cell: u32, bytes: Vec<u8> },
    Label { tid: i32, cell: u32, label: String },
    Born { tid: i32, cell: u32 },
    Ended { tid: i32, cell: u32 },
    /// Bytes outside any frame.
    Raw(Vec<u8>),
}

/// Where the reader is in the stream.
#[derive(Debug, Default)]
enum At {
    /// Between frames (or in the middle of a header, kept in `pending`).
    #[default]
    Boundary,
    /// Inside the payload of a frame, `left` bytes to go.
    Payload { kind: u8, cell: u32, tid: i32, left: usize },
}

/// Reads frames from one stream of the runtime, in whatever pieces the reads cut it.
///
/// ```
/// use rust_concurrency_kernel::supervision::frames::{header, Deframer, Piece, DATA};
/// let mut bytes = header(DATA, 3, 42, 6).to_vec();
/// bytes.extend_from_slice(b"hello\n");
/// let mut d = Deframer::default();
/// let mut got = d.push(&bytes[..10]);
/// got.extend(d.push(&bytes[10..]));
/// assert_eq!(got, vec![Piece::Data { tid: 42, cell: 3, bytes: b"hello\n".to_vec() }]);
/// ```
#[derive(Debug, Default)]
pub struct Deframer {
    at: At,
    /// An incomplete header, or the part of a label read so far.
    pending: Vec<u8>,
}

impl Deframer {
    /// Takes the next bytes of the stream; returns what they complete, in order.
    pub fn push(&mut self, mut data: &[u8]) -> Vec<Piece> {
        let mut out = Vec::new();
        while !data.is_empty() {
            match self.at {
                At::Payload { kind, cell, tid, left } => {
                    let n = left.min(data.len());
                    let (now, rest) = data.split_at(n);
                    data = rest;
                    let left = left - n;
                    if kind == LABEL {
                        self.pending.extend_from_slice(now);
                    } else if !now.is_empty() {
                        out.push(Piece::Data { tid, cell, bytes: now.to_vec() });
                    }
                    self.at = if left == 0 { At::Boundary } else { At::Payload { kind, cell, tid, left } };
                    if left == 0 && kind == LABEL {
                        let mut label = String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned();
                        let mut end = label.len().min(MAX_LABEL);
                        while !label.is_char_boundary(end) {
                            end -= 1;
                        }
                        label.truncate(end);
                        out.push(Piece::Label { tid, cell, label });
                    }
                }
                At::Boundary => {
                    let had = self.pending.len();
                    let take = (HEADER - had).min(data.len());
                    self.pending.extend_from_slice(&data[..take]);
                    let known = self.pending.len().min(MAGIC.len());
                    if self.pending[..known] != MAGIC[..known] {
                        // Not a frame: hand the bytes on up to the next possible frame start.
                        self.pending.truncate(had);
                        if had > 0 {
                            out.push(Piece::Raw(std::mem::take(&mut self.pending)));
                        } else {
                            let stop = data[1..].iter().position(|b| *b == MAGIC[0]).map_or(data.len(), |i| i + 1);
                            out.push(Piece::Raw(data[..stop].to_vec()));
                            data = &data[stop..];
                        }
                        continue;
                    }
                    data = &data[take..];
                    if self.pending.len() < HEADER {
                        continue;
                    }
                    let h = std::mem::take(&mut self.pending);
                    let kind = h[4];
                    let cell = u32::from_le_bytes(h[5..9].try_into().unwrap());
                    let tid = i32::from_le_bytes(h[9..13].try_into().unwrap());
                    let len = u32::from_le_bytes(h[13..17].try_into().unwrap()) as usize;
                    match kind {
                        BORN => out.push(Piece::Born { tid, cell }),
                        ENDED => out.push(Piece::Ended { tid, cell }),
                        _ => {}
                    }
                    if len > 0 {
                        self.at = At::Payload { kind, cell, tid, left: len };
                    } else if kind == LABEL {
                        out.push(Piece::Label { tid, cell, label: String::new() });
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, cell: u32, tid: i32, payload: &[u8]) -> Vec<u8> {
        let mut f = header(kind, cell, tid, payload.len() as u32).to_vec();
        f.extend_from_slice(payload);
        f
    }

    /// Every piece, merged: consecutive data of one thread joined (reads may cut anywhere).
    fn merged(pieces: Vec<Piece>) -> Vec<Piece> {
        let mut out: Vec<Piece> = Vec::new();
        for p in pieces {
            match (out.last_mut(), p) {
                (Some(Piece::Data { tid: t, bytes: b, .. }), Piece::Data { tid, bytes, .. }) if *t == tid => b.extend(bytes),
                (Some(Piece::Raw(b)), Piece::Raw(bytes)) => b.extend(bytes),
                (_, p) => out.push(p),
            }
        }
        out
    }

    #[test]
    fn frames_of_several_threads_in_any_cut() {
        let mut stream = frame(BORN, 2, 11, b"");
        stream.extend(frame(LABEL, 2, 11, b"'worker'"));
        stream.extend(frame(DATA, 2, 11, b"from the worker\n"));
        stream.extend(frame(DATA, 3, 10, b"main\n"));
        stream.extend(frame(ENDED, 2, 11, b""));
        let expected = vec![
            Piece::Born { tid: 11, cell: 2 },
            Piece::Label { tid: 11, cell: 2, label: "'worker'".into() },
            Piece::Data { tid: 11, cell: 2, bytes: b"from the worker\n".to_vec() },
            Piece::Data { tid: 10, cell: 3, bytes: b"main\n".to_vec() },
            Piece::Ended { tid: 11, cell: 2 },
        ];
        for cut in 1..stream.len() {
            let mut d = Deframer::default();
            let mut got = Vec::new();
            for chunk in stream.chunks(cut) {
                got.extend(d.push(chunk));
            }
            assert_eq!(merged(got), expected, "pieces of {cut} bytes");
        }
    }

    #[test]
    fn bytes_outside_frames_are_passed_on_in_order() {
        let mut stream = b"plain text\n".to_vec();
        stream.extend(frame(DATA, 1, 5, b"framed\n"));
        stream.extend(b"\0 not a frame\n\0");
        stream.extend(frame(DATA, 1, 6, b"after a lone NUL\n"));
        for cut in 1..stream.len() {
            let mut d = Deframer::default();
            let got = merged(stream.chunks(cut).flat_map(|c| d.push(c)).collect());
            assert_eq!(
                got,
                vec![
                    Piece::Raw(b"plain text\n".to_vec()),
                    Piece::Data { tid: 5, cell: 1, bytes: b"framed\n".to_vec() },
                    Piece::Raw(b"\0 not a frame\n\0".to_vec()),
                    Piece::Data { tid: 6, cell: 1, bytes: b"after a lone NUL\n".to_vec() },
                ],
                "pieces of {cut} bytes"
            );
        }
    }

    #[test]
    fn a_large_payload_comes_out_as_it_arrives() {
        let payload = vec![b'x'; 100_000];
        let stream = frame(DATA, 1, 5, &payload);
        let mut d = Deframer::default();
        let first = d.push(&stream[..HEADER + 10]);
        assert_eq!(first, vec![Piece::Data { tid: 5, cell: 1, bytes: vec![b'x'; 10] }]);
        let rest = d.push(&stream[HEADER + 10..]);
        assert_eq!(rest, vec![Piece::Data { tid: 5, cell: 1, bytes: vec![b'x'; 100_000 - 10] }]);
    }
}
