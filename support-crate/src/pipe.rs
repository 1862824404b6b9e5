//! Two connected ends that processes send items through: [`Pipe`] and [`Connection`]
//! (Python's `multiprocessing.Pipe`).
//!
//! A pipe has exactly two ends. Make it before starting the processes; each process keeps the
//! end it uses. Any type serde can serialize travels through it.
//!
//! ```
//! use multiproc::pipe::Pipe;
//!
//! let (parent_end, child_end) = Pipe::new::<String>();
//! child_end.send("hello".to_string());
//! assert_eq!(parent_end.recv().unwrap(), "hello");
//! parent_end.send("and back".to_string()); // duplex: both ends send and receive
//! assert_eq!(child_end.recv().unwrap(), "and back");
//! ```
//!
//! **End of file.** [`recv`](Connection::recv) returns `Err(RecvError)` once the other end is
//! closed *in every process*. A forked child inherits a copy of every end that existed when it
//! was started, so, as in Python, each process should [`close`](Connection::close) the ends it
//! does not use; otherwise a reader waits forever for an end of file that its own unused copy
//! prevents. Give the child its own handles ([`Clone`]) so it can close its copies:
//!
//! ```
//! use multiproc::prelude::*;
//!
//! let (receiver, sender) = Pipe::one_way::<u32>();
//! let (child_receiver, child_sender) = (receiver.clone(), sender.clone());
//! let mut writer = Process::new(move || {
//!     child_receiver.close(); // this process only writes
//!     for i in 0..3 {
//!         child_sender.send(i);
//!     }
//! });
//! writer.start();
//! sender.close(); // this process only reads: otherwise no end of file would ever come
//! let mut got = Vec::new();
//! while let Ok(i) = receiver.recv() {
//!     got.push(i);
//! }
//! assert_eq!(got, [0, 1, 2]);
//! writer.join();
//! ```
//!
//! How it works: a Unix `SOCK_SEQPACKET` socket pair (message boundaries kept, end of file
//! when the peer is gone); each item is serialized with `postcard` and sent as one message
//! (large items as several 32 KiB parts). Two processes reading or writing the *same* end at
//! the same time may mix parts of large items, as in Python: give each end to one process.

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, MsgFlags, Shutdown, SockFlag, SockType, socketpair};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::queue::{decode, with_encoded};
use crate::sys::wait;

/// Largest payload of one message on the socket (the rest of an item goes in further messages).
const PART: usize = 32 * 1024;
/// First byte of a message: more parts of the same item follow.
const MORE: u8 = 1;
/// First byte of a message: this is the item's last (often only) part.
const LAST: u8 = 0;
/// First byte of a message: the item's last part, after the 8 bytes (little-endian) of the
/// number the timeline gave the item (`sys::timeline::sent`; only while a cell is recorded).
const LAST_NUMBERED: u8 = 2;
/// Bytes of that number.
const NUMBER: usize = 8;

/// The error of [`Connection::recv`]: the other end was closed in every process and nothing is
/// left to read (Python's `EOFError`).
///
/// ```
/// use multiproc::pipe::{Pipe, RecvError};
///
/// let (a, b) = Pipe::new::<i32>();
/// drop(b);
/// assert_eq!(a.recv(), Err(RecvError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EOFError: the other end of the pipe was closed in every process")
    }
}

impl std::error::Error for RecvError {}

/// Makes pipes (Python's `Pipe()` and `Pipe(duplex=False)`).
///
/// ```
/// use multiproc::pipe::Pipe;
///
/// let (a, b) = Pipe::new::<u8>();
/// a.send(1);
/// assert_eq!(b.recv(), Ok(1));
/// ```
#[derive(Debug)]
pub struct Pipe;

impl Pipe {
    /// Two connected ends; each can send to and receive from the other (`Pipe(duplex=True)`).
    ///
    /// Panics if the system cannot make the socket pair (too many open files).
    ///
    /// ```
    /// use multiproc::pipe::Pipe;
    ///
    /// let (left, right) = Pipe::new::<(u32, String)>();
    /// left.send((1, "ping".to_string()));
    /// assert_eq!(right.recv().unwrap().1, "ping");
    /// right.send((2, "pong".to_string()));
    /// assert_eq!(left.recv().unwrap().0, 2);
    /// ```
    #[allow(clippy::new_ret_no_self)]
    pub fn new<T: Serialize + DeserializeOwned>() -> (Connection<T>, Connection<T>) {
        let (a, b) = pair();
        (
            Connection::from_fd(a, true, true),
            Connection::from_fd(b, true, true),
        )
    }

    /// A one-way pipe: `(receiver, sender)`, in that order like Python's `Pipe(duplex=False)`.
    /// Sending on the receiver or receiving on the sender panics.
    ///
    /// ```
    /// use multiproc::pipe::Pipe;
    ///
    /// let (receiver, sender) = Pipe::one_way::<String>();
    /// sender.send("one way".to_string());
    /// assert_eq!(receiver.recv().unwrap(), "one way");
    /// ```
    pub fn one_way<T: Serialize + DeserializeOwned>() -> (Connection<T>, Connection<T>) {
        let (r, w) = pair();
        // Best effort: the kernel then refuses the wrong direction too.
        let _ = nix::sys::socket::shutdown(r.as_raw_fd(), Shutdown::Write);
        let _ = nix::sys::socket::shutdown(w.as_raw_fd(), Shutdown::Read);
        (
            Connection::from_fd(r, true, false),
            Connection::from_fd(w, false, true),
        )
    }
}

fn pair() -> (OwnedFd, OwnedFd) {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .unwrap_or_else(|e| panic!("Pipe: cannot create a socket pair: {e}"))
}

/// One end of a [`Pipe`].
///
/// Like a Python object, a `Connection` is a *handle*: [`Clone`] gives another handle to the
/// same end in this process, and [`close`](Connection::close) closes the end in this process for
/// every handle (using it afterwards panics). The end is also closed when its last handle in
/// this process is dropped. Other processes keep their own copies open until they close them.
///
/// ```
/// use multiproc::pipe::Pipe;
///
/// let (a, b) = Pipe::new::<Vec<u32>>();
/// a.send(vec![1, 2, 3]);
/// assert!(b.poll(1.0));
/// assert_eq!(b.recv().unwrap(), [1, 2, 3]);
/// ```
pub struct Connection<T> {
    inner: Arc<Inner>,
    _items: PhantomData<fn(T) -> T>,
}

/// The descriptor shared by all handles of one end in one process (-1 once closed).
struct Inner {
    fd: AtomicI32,
    readable: bool,
    writable: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let fd = self.fd.swap(-1, Ordering::AcqRel);
        if fd >= 0 {
            // SAFETY: we own this descriptor; no handle can use it any more.
            unsafe { libc::close(fd) };
        }
    }
}

impl<T> fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.inner.fd.load(Ordering::Relaxed))
            .field("readable", &self.inner.readable)
            .field("writable", &self.inner.writable)
            .finish()
    }
}

impl<T> Clone for Connection<T> {
    /// Another handle to the same end, e.g. to move into a child process's closure while this
    /// process keeps its own handle. In the child, [`close`](Connection::close) on the moved
    /// handle closes the child's inherited copy.
    ///
    /// ```
    /// use multiproc::pipe::Pipe;
    ///
    /// let (a, b) = Pipe::new::<i32>();
    /// let b2 = b.clone();
    /// drop(b);
    /// b2.send(5); // the end is still open through the other handle
    /// assert_eq!(a.recv(), Ok(5));
    /// b2.close();
    /// assert!(a.recv().is_err()); // now it is closed
    /// ```
    fn clone(&self) -> Self {
        Connection {
            inner: Arc::clone(&self.inner),
            _items: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Connection<T> {
    fn from_fd(fd: OwnedFd, readable: bool, writable: bool) -> Self {
        let fd = AtomicI32::new(fd.into_raw_fd());
        Connection {
            inner: Arc::new(Inner {
                fd,
                readable,
                writable,
            }),
            _items: PhantomData,
        }
    }

    #[track_caller]
    fn fd(&self, what: &str) -> RawFd {
        let fd = self.inner.fd.load(Ordering::Acquire);
        if fd < 0 {
            panic!("{what}: the connection was closed in this process (OSError: handle is closed)");
        }
        fd
    }

    /// Sends one message (an owned value or a reference), waiting while the pipe is full.
    ///
    /// Panics if this is the receiving end of a one-way pipe, or if the other end was closed
    /// in every process (Python raises `BrokenPipeError`).
    ///
    /// ```
    /// use multiproc::pipe::Pipe;
    ///
    /// let (a, b) = Pipe::new::<String>();
    /// let text = "by reference".to_string();
    /// a.send(&text);
    /// a.send("by value".to_string());
    /// assert_eq!(b.recv().unwrap(), "by reference");
    /// assert_eq!(b.recv().unwrap(), "by value");
    /// ```
    #[track_caller]
    pub fn send(&self, item: impl std::borrow::Borrow<T>) {
        with_encoded(item.borrow(), |bytes| {
            self.send_frame(bytes, "Connection::send")
        });
    }

    /// Sends raw bytes as one message, without serializing (Python's `send_bytes`); the other
    /// end reads it with [`recv_bytes`](Connection::recv_bytes).
    ///
    /// ```
    /// use multiproc::pipe::Pipe;
    ///
    /// let (a, b) = Pipe::new::<()>();
    /// a.send_bytes(b"raw");
    /// assert_eq!(b.recv_bytes().unwrap(), b"raw");
    /// ```
    #[track_caller]
    pub fn send_bytes(&self, bytes: &[u8]) {
        self.send_frame(bytes, "Connection::send_bytes");
    }

    #[track_caller]
    fn send_frame(&self, bytes: &[u8], what: &str) {
        if !self.inner.writable {
            panic!("{what}: this is the receiving end of a one-way pipe");
        }
        let fd = self.fd(what);
        // While the timeline records, the last part carries the message's number, so that the
        // receiver's event names the same message (whichever process sent or received it).
        let number = if crate::sys::timeline::on() { crate::sys::timeline::sent(what) } else { 0 };
        let (last, head) = if number == 0 { (LAST, &[][..]) } else { (LAST_NUMBERED, &number.to_le_bytes()[..]) };
        let mut parts = bytes.chunks(PART).peekable();
        if bytes.is_empty() {
            self.send_part(fd, last, head, &[]);
        }
        while let Some(part) = parts.next() {
            match parts.peek() {
                Some(_) => self.send_part(fd, MORE, &[], part),
                None => self.send_part(fd, last, head, part),
            }
        }
    }

    #[track_caller]
    fn send_part(&self, fd: RawFd, tag: u8, head: &[u8], part: &[u8]) {
        let mut small = [0u8; 1 + NUMBER + 256];
        let mut big = Vec::new();
        let len = 1 + head.len() + part.len();
        let msg: &[u8] = if len <= small.len() {
            small[0] = tag;
            small[1..=head.len()].copy_from_slice(head);
            small[1 + head.len()..len].copy_from_slice(part);
            &small[..len]
        } else {
            big.reserve_exact(len);
            big.push(tag);
            big.extend_from_slice(head);
            big.extend_from_slice(part);
            &big
        };
        let mut recorded: Option<crate::sys::waits::Waiting> = None;
        loop {
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
            match nix::sys::socket::send(fd, msg, flags) {
                Ok(_) => return,
                Err(Errno::EAGAIN) => {
                    recorded.get_or_insert_with(|| crate::sys::waits::Waiting::begin("Connection::send", "pipe", false));
                    wait::poll_writable(borrow(fd), None, "Connection::send");
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => {
                    panic!(
                        "Connection::send: BrokenPipeError: the other end of the pipe was closed in every process"
                    )
                }
                Err(e) => panic!("Connection::send: {e}"),
            }
        }
    }

    /// Receives the next message, waiting until one arrives. `Err(RecvError)` means end of
    /// file: the other end was closed in every process and no message is left.
    ///
    /// Panics if this is the sending end of a one-way pipe.
    ///
    /// ```
    /// use multiproc::pipe::Pipe;
    ///
    /// let (a, b) = Pipe::new::<u64>();
    /// a.send(42);
    /// drop(a);
    /// assert_eq!(b.recv(), Ok(42)); // messages sent before the close still arrive
    /// assert!(b.recv().is_err());
    /// ```
    #[track_caller]
    pub fn recv(&self) -> Result<T, RecvError> {
        let bytes = self.recv_frame("Connection::recv")?;
        Ok(decode(&bytes, "Connection::recv"))
    }

    /// Receives one message as raw bytes, without deserializing (Python's `recv_bytes`).
    /// `Err(RecvError)` means end of file, as for [`recv`](Connection::recv).
    ///
    /// ```
    /// use multiproc::pipe::Pipe;
    ///
    /// let (a, b) = Pipe::new::<u32>();
    /// a.send(300u32);
    /// // postcard writes 300 as the variable-length integer [0xac, 0x02].
    /// assert_eq!(b.recv_bytes().unwrap(), [0xac, 0x02]);
    /// ```
    #[track_caller]
    pub fn recv_bytes(&self) -> Result<Vec<u8>, RecvError> {
        self.recv_frame("Connection::recv_bytes")
    }

    #[track_caller]
    fn recv_frame(&self, what: &str) -> Result<Vec<u8>, RecvError> {
        if !self.inner.readable {
            panic!("{what}: this is the sending end of a one-way pipe");
        }
        let fd = self.fd(what);
        let mut item = Vec::new();
        let mut buf = vec![0u8; 1 + NUMBER + PART];
        let mut recorded: Option<crate::sys::waits::Waiting> = None;
        loop {
            let n = loop {
                match nix::sys::socket::recv(fd, &mut buf, MsgFlags::MSG_DONTWAIT) {
                    Ok(n) => break n,
                    Err(Errno::EAGAIN) | Err(Errno::EINTR) => {
                        recorded.get_or_insert_with(|| crate::sys::waits::Waiting::begin(what, "pipe", false));
                        wait::poll_readable(borrow(fd), None, what);
                    }
                    Err(Errno::ECONNRESET) => break 0,
                    Err(e) => panic!("{what}: {e}"),
                }
            };
            if n == 0 {
                // Every message has at least its tag byte: 0 bytes is the end of file.
                return Err(RecvError);
            }
            match buf[0] {
                LAST => {
                    item.extend_from_slice(&buf[1..n]);
                    return Ok(item);
                }
                LAST_NUMBERED if n > NUMBER => {
                    item.extend_from_slice(&buf[1 + NUMBER..n]);
                    if crate::sys::timeline::on() {
                        let number = u64::from_le_bytes(buf[1..=NUMBER].try_into().expect("8 bytes"));
                        crate::sys::timeline::event(crate::sys::timeline::Kind::Recv, what, "pipe", number, 0);
                    }
                    return Ok(item);
                }
                _ => item.extend_from_slice(&buf[1..n]),
            }
        }
    }

    /// True if a message (or the end of file) can be received without waiting; waits up to
    /// `seconds` for one (0 = just look). Like Python's `poll`, it does not consume anything.
    ///
    /// ```
    /// use multiproc::pipe::Pipe;
    ///
    /// let (a, b) = Pipe::new::<i32>();
    /// assert!(!b.poll(0.0));
    /// a.send(1);
    /// assert!(b.poll(0.0));
    /// ```
    #[track_caller]
    pub fn poll(&self, seconds: f64) -> bool {
        let fd = self.fd("Connection::poll");
        let secs = if seconds.is_finite() {
            seconds.clamp(0.0, 1e9)
        } else {
            1e9
        };
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        // Look once without waiting first: `wait::poll_readable` gives up at once when the
        // deadline has passed, which for `poll(0.0)` is immediately.
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; timeout 0 never blocks.
        if unsafe { libc::poll(&mut pfd, 1, 0) } > 0 {
            return true;
        }
        wait::poll_readable(borrow(fd), Some(deadline), "Connection::poll")
    }

    /// Closes this end *in this process*, for every handle of it here (Python's `close()`);
    /// later use of any handle panics. Closing twice is fine. Other processes' copies stay open:
    /// the other end reads end of file once every process closed its copy.
    ///
    /// ```
    /// use multiproc::pipe::Pipe;
    ///
    /// let (a, b) = Pipe::new::<i32>();
    /// b.close();
    /// assert!(a.recv().is_err());
    /// ```
    pub fn close(&self) {
        let fd = self.inner.fd.swap(-1, Ordering::AcqRel);
        if fd >= 0 {
            // SAFETY: the descriptor was ours and is no longer reachable through any handle.
            unsafe { libc::close(fd) };
        }
    }

    /// True once [`close`](Connection::close) was called on this end in this process.
    ///
    /// ```
    /// use multiproc::pipe::Pipe;
    ///
    /// let (a, _b) = Pipe::new::<i32>();
    /// a.close();
    /// assert!(a.closed());
    /// ```
    pub fn closed(&self) -> bool {
        self.inner.fd.load(Ordering::Acquire) < 0
    }
}

fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: only used for the duration of one wait while the handle keeps the fd open.
    unsafe { BorrowedFd::borrow_raw(fd) }
}
