//! The kernel's one receiving socket: an abstract-namespace `SOCK_DGRAM` socket with
//! `SO_PASSCRED`, so every datagram arrives stamped with the pid of the process that wrote it.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use multiproc::kernel_link::Channel;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, UnixAddr, recvmsg, setsockopt, sockopt};

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

/// The receiving socket.
pub struct Receiver {
    sock: UnixDatagram,
    base: String,
    buf: Vec<u8>,
    cmsg: Vec<u8>,
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
        Ok(Receiver { sock, base, buf: vec![0u8; 1 << 20], cmsg: nix::cmsg_space!(nix::sys::socket::UnixCredentials) })
    }

    /// The abstract name processes connect to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Reads one datagram; `Ok(None)` when the queue is empty.
    pub fn recv(&mut self) -> io::Result<Option<Datagram>> {
        let mut iov = [io::IoSliceMut::new(&mut self.buf)];
        let msg = match recvmsg::<UnixAddr>(self.sock.as_raw_fd(), &mut iov, Some(&mut self.cmsg), MsgFlags::MSG_DONTWAIT) {
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
        let sender = msg.address.as_ref().and_then(|a| a.as_abstract()).map(|s| s.to_vec()).unwrap_or_default();
        let n = msg.bytes;
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
