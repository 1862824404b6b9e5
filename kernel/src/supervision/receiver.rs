//! What the kernel receives from the processes of the notebook, each piece stamped with the pid
//! of the process that wrote it (`SO_PASSCRED`):
//!
//! - one abstract-namespace `SOCK_DGRAM` socket for the support crate's messages (process
//!   started, displays, input, the runtime's end-of-cell sync) and the word-by-word printer;
//! - two `SOCK_STREAM` socket pairs that become fd 1 and fd 2 of the runtime and so of every
//!   process it forks. A stream, unlike a datagram, takes a write of any size (a datagram
//!   larger than the socket's send buffer fails with EMSGSIZE, and an unprivileged process
//!   cannot raise that buffer past `net.core.wmem_max`, 208 KiB by default: `println!` of a long
//!   vector panicked). Processes sharing one stream do not tear each other's lines: with
//!   `SO_PASSCRED` set, Linux never returns bytes of two writers from one read, so every read
//!   has a single pid and lines are assembled per pid (`lines.rs`).

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use multiproc::kernel_link::Channel;
use nix::sys::socket::{AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr, recvmsg, setsockopt, socketpair, sockopt};

/// Environment variable naming the runtime's stdout stream descriptor (inherited from the kernel).
pub const STDOUT_FD_ENV: &str = "RUST_CONCURRENCY_STDOUT_FD";
/// Environment variable naming the runtime's stderr stream descriptor.
pub const STDERR_FD_ENV: &str = "RUST_CONCURRENCY_STDERR_FD";

/// One datagram with its origin.
pub struct Datagram {
    /// Pid of the writing process (from the kernel's credentials).
    pub pid: i32,
    /// What the sender's bound address says it is (`None`: not one of ours, ignored).
    pub channel: Option<Channel>,
    /// The sender's abstract address (replies go there).
    pub sender: Vec<u8>,
    pub data: Vec<u8>,
}

/// The receiving sockets.
pub struct Receiver {
    sock: UnixDatagram,
    base: String,
    buf: Vec<u8>,
    cmsg: Vec<u8>,
    /// The kernel's ends of the stdout and stderr streams (non-blocking, `SO_PASSCRED`).
    streams: [(OwnedFd, Channel); 2],
    /// The other ends, inherited by every runtime evcxr starts (kept open for restarts).
    runtime_ends: [OwnedFd; 2],
    /// Read ahead of a datagram (see `recv`).
    queued: VecDeque<Datagram>,
    /// The stream to try first next time (the two take turns).
    next_stream: usize,
}

/// A connected stream pair: the kernel's end (close-on-exec, non-blocking, passing
/// credentials) and the runtime's end (inheritable).
fn stream_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (kernel_end, runtime_end) =
        socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK).map_err(io::Error::from)?;
    setsockopt(&kernel_end, sockopt::PassCred, &true).map_err(io::Error::from)?;
    let _ = setsockopt(&kernel_end, sockopt::RcvBuf, &(4 << 20));
    // The runtime's end blocks (a writer waits when the kernel is behind: nothing is lost) and
    // survives exec.
    nix::fcntl::fcntl(&runtime_end, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty())).map_err(io::Error::from)?;
    nix::fcntl::fcntl(&runtime_end, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty())).map_err(io::Error::from)?;
    Ok((kernel_end, runtime_end))
}

/// Bytes waiting to be read on a socket.
fn queued_bytes(fd: RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } < 0 {
        return 0;
    }
    n.max(0) as usize
}

/// What one `read_stamped` got.
struct Stamped {
    bytes: usize,
    /// Pid of the writer, from the credentials the kernel attached (0 if none).
    pid: i32,
    /// The sender's abstract address (datagrams; empty for streams).
    sender: Vec<u8>,
}

/// One non-blocking `recvmsg` into `buf` with the writer's credentials; `None` when nothing waits.
/// `datagram`: also take the sender's address (a stream's is empty, and nix's `as_abstract`
/// panics on an empty address).
fn read_stamped(fd: RawFd, buf: &mut [u8], cmsg: &mut Vec<u8>, datagram: bool) -> io::Result<Option<Stamped>> {
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = match recvmsg::<UnixAddr>(fd, &mut iov, Some(cmsg), MsgFlags::MSG_DONTWAIT) {
        Ok(m) => m,
        Err(nix::errno::Errno::EAGAIN) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut pid = 0;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmCredentials(cred) = c {
                pid = cred.pid();
            }
        }
    }
    let sender = if datagram {
        msg.address.as_ref().and_then(|a| a.as_abstract()).map(|s| s.to_vec()).unwrap_or_default()
    } else {
        Vec::new()
    };
    Ok(Some(Stamped { bytes: msg.bytes, pid, sender }))
}

impl Receiver {
    /// Binds a fresh abstract address (`rust-concurrency/<pid>/<nanos>`), non-blocking.
    ///
    /// ```no_run
    /// let r = rust_concurrency_kernel::supervision::receiver::Receiver::bind().unwrap();
    /// assert!(r.base().starts_with("rust-concurrency/"));
    /// ```
    pub fn bind() -> io::Result<Receiver> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let base = format!("rust-concurrency/{}/{:x}", std::process::id(), nanos);
        let sock = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(base.as_bytes())?)?;
        setsockopt(&sock, sockopt::PassCred, &true).map_err(io::Error::from)?;
        // A deep queue absorbs bursts; when full, writers block (nothing is lost).
        let _ = setsockopt(&sock, sockopt::RcvBuf, &(8 << 20));
        sock.set_nonblocking(true)?;
        let (out_k, out_r) = stream_pair()?;
        let (err_k, err_r) = stream_pair()?;
        Ok(Receiver {
            sock,
            base,
            buf: vec![0u8; 1 << 20],
            cmsg: nix::cmsg_space!(nix::sys::socket::UnixCredentials),
            streams: [(out_k, Channel::Out), (err_k, Channel::Err)],
            runtime_ends: [out_r, err_r],
            queued: VecDeque::new(),
            next_stream: 0,
        })
    }

    /// The runtime's ends of the stdout and stderr streams, as environment variables to set
    /// before the runtime starts (see `STDOUT_FD_ENV`).
    pub fn runtime_env(&self) -> [(&'static str, String); 2] {
        [
            (STDOUT_FD_ENV, self.runtime_ends[0].as_raw_fd().to_string()),
            (STDERR_FD_ENV, self.runtime_ends[1].as_raw_fd().to_string()),
        ]
    }

    /// The abstract name processes connect to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The descriptors to poll.
    pub fn fds(&self) -> [RawFd; 3] {
        [self.sock.as_raw_fd(), self.streams[0].0.as_raw_fd(), self.streams[1].0.as_raw_fd()]
    }

    /// Reads what came next; `Ok(None)` when nothing is waiting.
    ///
    /// A datagram is handed out only after the stream bytes that were already waiting when it
    /// was read: the runtime flushes its output, then asks for the end-of-cell sync, and the
    /// sync must find that output processed. A stream that never pauses cannot hold datagrams
    /// back, since only the bytes waiting at that moment go first.
    pub fn recv(&mut self) -> io::Result<Option<Datagram>> {
        if let Some(d) = self.queued.pop_front() {
            return Ok(Some(d));
        }
        if let Some(dg) = self.recv_datagram()? {
            self.queue_after_waiting_streams(dg)?;
            return Ok(self.queued.pop_front());
        }
        for k in 0..2 {
            let i = (self.next_stream + k) % 2;
            if let Some(d) = self.recv_stream(i, usize::MAX)? {
                self.next_stream = (i + 1) % 2;
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    /// Queues `dg` after the stream bytes that were waiting when it was read (each stream's
    /// bytes at that moment, not more), so output written before a message is handled first.
    fn queue_after_waiting_streams(&mut self, dg: Datagram) -> io::Result<()> {
        for i in 0..2 {
            let mut left = queued_bytes(self.streams[i].0.as_raw_fd());
            while left > 0 {
                match self.recv_stream(i, left)? {
                    Some(d) => {
                        left = left.saturating_sub(d.data.len());
                        self.queued.push_back(d);
                    }
                    None => break,
                }
            }
        }
        self.queued.push_back(dg);
        Ok(())
    }

    /// Reads every datagram waiting on the socket into the read-ahead queue, each after the
    /// stream bytes that were waiting when it was read (the order `recv` keeps), without
    /// handing anything out; returns the queue to look into. For a question that must not wait
    /// for its turn (labelled output: the name a process sent before the line now at hand).
    pub fn read_ahead(&mut self) -> io::Result<&VecDeque<Datagram>> {
        while let Some(dg) = self.recv_datagram()? {
            self.queue_after_waiting_streams(dg)?;
        }
        Ok(&self.queued)
    }

    /// One read from stream `i` (at most `limit` bytes), from a single writer.
    fn recv_stream(&mut self, i: usize, limit: usize) -> io::Result<Option<Datagram>> {
        let len = limit.min(self.buf.len());
        let (fd, channel) = (self.streams[i].0.as_raw_fd(), self.streams[i].1);
        match read_stamped(fd, &mut self.buf[..len], &mut self.cmsg, false)? {
            Some(read) if read.bytes > 0 => {
                Ok(Some(Datagram { pid: read.pid, channel: Some(channel), sender: Vec::new(), data: self.buf[..read.bytes].to_vec() }))
            }
            _ => Ok(None),
        }
    }

    /// Reads one datagram; `Ok(None)` when the queue is empty.
    fn recv_datagram(&mut self) -> io::Result<Option<Datagram>> {
        let Some(read) = read_stamped(self.sock.as_raw_fd(), &mut self.buf, &mut self.cmsg, true)? else { return Ok(None) };
        let (n, pid, sender) = (read.bytes, read.pid, read.sender);
        let channel = Channel::of_address(&self.base, &sender);
        Ok(Some(Datagram { pid, channel, sender, data: self.buf[..n].to_vec() }))
    }

    /// Sends `data` to the abstract address `to` (a reply socket).
    pub fn reply(&self, to: &[u8], data: &[u8]) -> io::Result<()> {
        self.sock.send_to_addr(data, &SocketAddr::from_abstract_name(to)?).map(|_| ())
    }

    /// An independent handle on the same socket (for replying from another thread).
    pub fn try_clone_socket(&self) -> io::Result<UnixDatagram> {
        self.sock.try_clone()
    }
}
