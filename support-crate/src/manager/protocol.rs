//! What crosses a manager's socket: one [`Request`], one [`Response`], each as a frame
//! (a 4-byte little-endian length, then the request or response serialized with `postcard`).
//!
//! The server process was forked before the program chose the types of its dicts and lists
//! (in the notebook, before later cells were even compiled), so it cannot know them: keys and
//! values travel, and are stored, as the bytes the proxies serialized. Two keys are the same key
//! when their bytes are equal, which for the usual key types (numbers, `char`, `String`/`&str`,
//! tuples and enums of those) is exactly when the values are equal.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// A serialized key or value.
pub(crate) type Bytes = Vec<u8>;

/// Largest frame either side accepts (a guard against reading garbage as a length).
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// The kinds of shared object a manager can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Kind {
    Dict,
    List,
    Namespace,
}

/// One operation on one object of the server (`id` is the number `Create` answered).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    Create(Kind),
    DictInsert { id: u64, key: Bytes, value: Bytes },
    DictGet { id: u64, key: Bytes },
    DictRemove { id: u64, key: Bytes },
    DictContains { id: u64, key: Bytes },
    DictLen { id: u64 },
    DictItems { id: u64 },
    ListPush { id: u64, value: Bytes },
    ListGet { id: u64, index: u64 },
    ListSet { id: u64, index: u64, value: Bytes },
    ListLen { id: u64 },
    ListItems { id: u64 },
    NamespaceSet { id: u64, name: String, type_name: String, value: Bytes },
    NamespaceGet { id: u64, name: String },
    NamespaceNames { id: u64 },
    Shutdown,
}

/// The server's answer to one [`Request`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Response {
    Created(u64),
    Done,
    Maybe(Option<Bytes>),
    Yes(bool),
    Count(u64),
    Values(Vec<Bytes>),
    Pairs(Vec<(Bytes, Bytes)>),
    /// A namespace field: the type name it was set with, and its value.
    Field(Option<(String, Bytes)>),
    Names(Vec<String>),
    /// The request could not be done; the text says why (e.g. an index out of range).
    Error(String),
}

/// Writes one frame to a blocking stream.
pub(crate) fn write_frame(out: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    out.write_all(&frame_header(payload.len()))?;
    out.write_all(payload)
}

/// The length prefix of a frame of `len` bytes.
pub(crate) fn frame_header(len: usize) -> [u8; 4] {
    assert!(len <= MAX_FRAME, "a manager request or answer is limited to {MAX_FRAME} bytes");
    (len as u32).to_le_bytes()
}

/// Reads one frame from a blocking stream. `UnexpectedEof` when the peer closed first.
pub(crate) fn read_frame(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut header = [0u8; 4];
    input.read_exact(&mut header)?;
    let len = u32::from_le_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too large"));
    }
    let mut payload = vec![0u8; len];
    input.read_exact(&mut payload)?;
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_survives_a_frame() {
        let request = Request::DictInsert { id: 3, key: vec![1, 2], value: vec![9] };
        let mut wire = Vec::new();
        write_frame(&mut wire, &postcard::to_allocvec(&request).unwrap()).unwrap();
        let back: Request = postcard::from_bytes(&read_frame(&mut wire.as_slice()).unwrap()).unwrap();
        assert!(matches!(back, Request::DictInsert { id: 3, ref key, ref value } if key == &[1, 2] && value == &[9]));
    }

    #[test]
    fn a_cut_frame_is_an_end_of_file() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"hello").unwrap();
        wire.truncate(6);
        let err = read_frame(&mut wire.as_slice()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
