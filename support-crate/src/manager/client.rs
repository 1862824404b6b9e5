//! The client side of a manager: where its server listens, and one request/answer per call.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
use serde::Serialize;

use crate::sys::wait;
use crate::sys::waits::Waiting;
use super::protocol::{Kind, Request, Response};

/// How often a client waiting for the server looks whether the server still runs.
pub(super) const ALIVE_CHECK: Duration = Duration::from_millis(100);

/// Where a manager's server listens, and what to call it in messages. Shared by all proxies.
#[derive(Debug)]
pub(super) struct Endpoint {
    /// The socket's name in Linux's abstract namespace (no file to clean up).
    pub(super) address: String,
    pub(super) name: String,
    pub(super) pid: i32,
}

/// Why a call did not get an answer: the server is gone.
pub(super) struct Gone;

pub(super) fn getpid() -> i32 {
    std::process::id() as i32
}

/// True while process `pid` exists and has not finished (a zombie has finished).
pub(super) fn running(pid: i32) -> bool {
    crate::sys::proc_state::running(pid as u32)
}

impl Endpoint {
    /// One request, one answer; panics with a clear message if the server is gone or refused.
    #[track_caller]
    pub(super) fn call(&self, request: &Request, what: &str) -> Response {
        match self.try_call(request, what) {
            Ok(Response::Error(e)) => panic!("{what}: {e} (manager {}, pid {}).", self.name, self.pid),
            Ok(response) => response,
            Err(Gone) => panic!(
                "{what}: the manager {} (pid {}) is not running any more: it was shut down, or its \
                 process ended. A proxy works only while its manager's server process runs.",
                self.name, self.pid
            ),
        }
    }

    #[track_caller]
    pub(super) fn try_call(&self, request: &Request, what: &str) -> Result<Response, Gone> {
        // Every call waits for another process's answer (there is no fast path), so it is
        // always recorded: the deadlock detector then knows that the server has work to do.
        let waiting = Waiting::begin("Manager::call", &self.name, false);
        waiting.other(self.pid as u32, 0);
        let fd = self.connect(what)?;
        let payload = postcard::to_allocvec(request).unwrap_or_else(|e| panic!("{what}: cannot serialize the request: {e}"));
        let mut frame = super::protocol::frame_header(payload.len()).to_vec();
        frame.extend_from_slice(&payload);
        self.send_all(&fd, &frame, what)?;
        let mut header = [0u8; 4];
        self.recv_exact(&fd, &mut header, what)?;
        let len = u32::from_le_bytes(header) as usize;
        if len > super::protocol::MAX_FRAME {
            panic!("{what}: the manager {} sent an answer this crate cannot read", self.name);
        }
        let mut answer = vec![0u8; len];
        self.recv_exact(&fd, &mut answer, what)?;
        Ok(postcard::from_bytes(&answer).unwrap_or_else(|e| panic!("{what}: unreadable answer from the manager: {e}")))
    }

    /// A fresh connection (one per call: it works the same in every process, forked or not).
    #[track_caller]
    pub(super) fn connect(&self, what: &str) -> Result<OwnedFd, Gone> {
        let addr = UnixAddr::new_abstract(self.address.as_bytes()).expect("a short socket name");
        let fd = nix::sys::socket::socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .unwrap_or_else(|e| panic!("{what}: cannot create a socket: {e}"));
        loop {
            match nix::sys::socket::connect(fd.as_raw_fd(), &addr) {
                Ok(()) => return Ok(fd),
                Err(Errno::EINTR) => {}
                // The server's queue of waiting clients is full: it is busy; wait a little.
                Err(Errno::EAGAIN) => {
                    if !running(self.pid) {
                        return Err(Gone);
                    }
                    wait::sleep(Duration::from_millis(1), what);
                }
                Err(Errno::EINPROGRESS) => {
                    self.wait_for(&fd, false, what)?;
                    return Ok(fd);
                }
                // Nobody listens under that name any more.
                Err(Errno::ECONNREFUSED) | Err(Errno::ENOENT) => return Err(Gone),
                Err(e) => panic!("{what}: cannot connect to the manager {}: {e}", self.name),
            }
        }
    }

    /// Waits until `fd` is readable (or writable), looking every [`ALIVE_CHECK`] whether the
    /// server still runs: a dead server must give an error, never a wait without end.
    #[track_caller]
    pub(super) fn wait_for(&self, fd: &OwnedFd, readable: bool, what: &str) -> Result<(), Gone> {
        loop {
            let deadline = Some(Instant::now() + ALIVE_CHECK);
            let ready = if readable {
                wait::poll_readable(fd.as_fd(), deadline, what)
            } else {
                wait::poll_writable(fd.as_fd(), deadline, what)
            };
            if ready {
                return Ok(());
            }
            if !running(self.pid) {
                return Err(Gone);
            }
        }
    }

    #[track_caller]
    pub(super) fn send_all(&self, fd: &OwnedFd, mut bytes: &[u8], what: &str) -> Result<(), Gone> {
        while !bytes.is_empty() {
            match nix::sys::socket::send(fd.as_raw_fd(), bytes, MsgFlags::MSG_NOSIGNAL) {
                Ok(n) => bytes = &bytes[n..],
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => self.wait_for(fd, false, what)?,
                Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => return Err(Gone),
                Err(e) => panic!("{what}: cannot send to the manager {}: {e}", self.name),
            }
        }
        Ok(())
    }

    #[track_caller]
    pub(super) fn recv_exact(&self, fd: &OwnedFd, buf: &mut [u8], what: &str) -> Result<(), Gone> {
        let mut filled = 0;
        while filled < buf.len() {
            match nix::sys::socket::recv(fd.as_raw_fd(), &mut buf[filled..], MsgFlags::empty()) {
                // The end of the stream before the whole answer: the server ended mid-call.
                Ok(0) => return Err(Gone),
                Ok(n) => filled += n,
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => self.wait_for(fd, true, what)?,
                Err(Errno::ECONNRESET) => return Err(Gone),
                Err(e) => panic!("{what}: cannot read the manager {}'s answer: {e}", self.name),
            }
        }
        Ok(())
    }

    #[track_caller]
    pub(super) fn create(&self, kind: Kind, what: &str) -> u64 {
        match self.call(&Request::Create(kind), what) {
            Response::Created(id) => id,
            other => unexpected(other, what),
        }
    }
}

#[track_caller]
pub(super) fn unexpected(response: Response, what: &str) -> ! {
    panic!("{what}: unexpected answer from the manager: {response:?}")
}

#[track_caller]
pub(super) fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).unwrap_or_else(|e| panic!("cannot serialize the item: {e}"))
}

/// Binds a listening socket under a fresh abstract name.
pub(super) fn bind() -> (UnixListener, String) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut last_error = None;
    for _ in 0..100 {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("multiproc-manager-{}-{n}-{nanos}", getpid());
        let bound = SocketAddr::from_abstract_name(name.as_bytes()).and_then(|addr| UnixListener::bind_addr(&addr));
        match bound {
            Ok(listener) => return (listener, name),
            Err(e) => last_error = Some(e),
        }
    }
    panic!("Manager::start: cannot create the server's socket: {}", last_error.map_or(String::new(), |e| e.to_string()))
}
