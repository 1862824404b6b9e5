//! How a process talks to the notebook kernel (only when it runs inside the kernel).
//!
//! Inside the `rust-concurrency` Jupyter kernel every process that user code starts writes its
//! standard output and standard error into one Unix datagram socket owned by the kernel. The
//! kernel learns *which* process wrote each datagram from the credentials the operating system
//! attaches (`SO_PASSCRED`), so it can route every line to the cell that started the process,
//! keep lines whole, and keep the order that causality forces (a datagram is queued before the
//! `write` returns, and all processes share one queue).
//!
//! This module holds the pieces both sides agree on:
//! - the environment variables the kernel sets ([`SOCKET_ENV`], [`CONTROL_FD_ENV`], …);
//! - the socket address scheme ([`Channel`], [`address`]);
//! - the control messages ([`ToKernel`], [`FromKernel`]);
//! - the shared [`ControlPage`] through which the kernel asks blocking calls to stop.
//!
//! Outside the kernel (a plain program, `cargo test`) none of the variables is set,
//! [`link`] returns `None`, and the crate behaves like an ordinary library.
//!
//! ```
//! // In a plain program there is no kernel to talk to.
//! if std::env::var_os(multiproc::kernel_link::SOCKET_ENV).is_none() {
//!     assert!(multiproc::kernel_link::link().is_none());
//! }
//! ```

use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Abstract socket name (without the leading NUL) of the kernel's receiving socket.
pub const SOCKET_ENV: &str = "MULTIPROC_KERNEL_SOCKET";
/// File descriptor number of the memfd holding the [`ControlPage`].
pub const CONTROL_FD_ENV: &str = "MULTIPROC_KERNEL_CONTROL_FD";
/// Most processes started through this crate that may be alive at once (default 64).
pub const MAX_PROCESSES_ENV: &str = "MULTIPROC_MAX_PROCESSES";
/// Factor applied to every [`crate::lesson::sleep`] (e.g. `0.01` in tests; default 1).
pub const TIME_SCALE_ENV: &str = "MULTIPROC_TIME_SCALE";
/// When set to `1`, [`crate::lesson::input`] never asks and returns its default (unattended runs).
pub const UNATTENDED_ENV: &str = "MULTIPROC_UNATTENDED";

/// Default for [`MAX_PROCESSES_ENV`].
pub const DEFAULT_MAX_PROCESSES: u32 = 64;

/// Which kind of traffic a socket carries; encoded in the socket's bound address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Raw standard output bytes (fd 1 of every process).
    Out,
    /// Raw standard error bytes (fd 2 of every process).
    Err,
    /// Word-by-word output from `pyprint!`: published as it comes, never re-assembled into lines.
    Raw,
    /// JSON control messages ([`ToKernel`]).
    Ctl,
    /// A one-off socket waiting for a [`FromKernel`] reply.
    Reply,
    /// The kernel's own markers (cell boundaries) sent into its queue.
    Kernel,
}

impl Channel {
    fn tag(self) -> &'static str {
        match self {
            Channel::Out => "out",
            Channel::Err => "err",
            Channel::Raw => "raw",
            Channel::Ctl => "ctl",
            Channel::Reply => "reply",
            Channel::Kernel => "kernel",
        }
    }

    /// The channel an address (as bound by [`address`]) belongs to, if it is one of ours.
    pub fn of_address(base: &str, name: &[u8]) -> Option<Channel> {
        let rest = name.strip_prefix(base.as_bytes())?.strip_prefix(b"/")?;
        let tag = rest.split(|b| *b == b'/').next()?;
        [Channel::Out, Channel::Err, Channel::Raw, Channel::Ctl, Channel::Reply, Channel::Kernel]
            .into_iter()
            .find(|c| c.tag().as_bytes() == tag)
    }
}

/// The abstract address for a socket of `channel` in process `pid`; `nonce` keeps it unique.
pub fn address(base: &str, channel: Channel, pid: u32, nonce: u64) -> String {
    format!("{base}/{}/{pid}/{nonce}", channel.tag())
}

/// A control message from a process to the kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToKernel {
    /// Sent by a parent right after `fork()`, before `Process::start` returns.
    Started { pid: i32, name: String, daemon: bool },
    /// Rich output (`display_data`, or `update_display_data` when `update`).
    Display {
        data: serde_json::Map<String, serde_json::Value>,
        metadata: serde_json::Map<String, serde_json::Value>,
        display_id: Option<String>,
        update: bool,
    },
    /// Clear the cell's output (`wait`: when the next output arrives).
    ClearOutput { wait: bool },
    /// Ask the person at the notebook for a line of text. Replied with [`FromKernel::Input`].
    Input { prompt: String, password: bool },
    /// Sent by the kernel's runtime after each cell's code returns; replied with
    /// [`FromKernel::Synced`] once the kernel has handled everything queued before it.
    Sync,
    /// Sent by a child of `Process::start` as its first act, with its own name: it is queued
    /// before any line the child prints, so the kernel can label that line (`:labels on`) even
    /// when the parent's `Started` is still on its way.
    Hello { name: String },
}

/// A reply from the kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromKernel {
    /// The text typed, or `None` when nobody can answer (unattended run, stdin not allowed).
    Input { value: Option<String> },
    /// Everything before the `Sync` was handled; `markers` are evcxr protocol lines the
    /// runtime printed during the cell, handed back so the runtime can pass them to evcxr.
    Synced { markers: Vec<String> },
}

/// Shared between the kernel and every process of its runtime (a memfd mapped by both).
#[repr(C)]
#[derive(Debug, Default)]
pub struct ControlPage {
    /// [`ControlPage::MAGIC`] once initialised by the kernel.
    pub magic: AtomicU32,
    /// Number of the cell now running (0 before the first).
    pub current_cell: AtomicU32,
    /// Set to `current_cell` by the kernel when the stop button is pressed.
    pub interrupt_cell: AtomicU32,
    /// Processes started through this crate and not yet reaped, across all processes.
    pub live_processes: AtomicU32,
    /// Cap on `live_processes` (0 = use the default).
    pub max_processes: AtomicU32,
    /// Starts refused by the cap since the kernel last reset it (once per cell), in every
    /// process: the kernel reports them in one summary.
    pub refused_starts: AtomicU32,
}

impl ControlPage {
    /// Value of `magic` in an initialised page.
    pub const MAGIC: u32 = 0x6d70_6b31; // "mpk1"

    /// True when the kernel asked the running cell to stop.
    pub fn interrupted(&self) -> bool {
        let cell = self.interrupt_cell.load(Ordering::Acquire);
        cell != 0 && cell == self.current_cell.load(Ordering::Acquire)
    }
}

/// A process's connection to the kernel.
pub struct Link {
    base: String,
    ctl: UnixDatagram,
    page: Option<&'static ControlPage>,
}

static LINK: OnceLock<Option<Link>> = OnceLock::new();

/// The link to the kernel, or `None` outside the kernel.
pub fn link() -> Option<&'static Link> {
    LINK.get_or_init(|| Link::from_env().ok().flatten()).as_ref()
}

/// The kernel's control page, if running inside the kernel.
pub fn control_page() -> Option<&'static ControlPage> {
    link().and_then(|l| l.page)
}

fn abstract_addr(name: &str) -> io::Result<SocketAddr> {
    SocketAddr::from_abstract_name(name.as_bytes())
}

fn nonce() -> u64 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (u64::from(NEXT.fetch_add(1, Ordering::Relaxed)) << 32) | u64::from(t)
}

/// Creates a datagram socket bound to a fresh address of `channel` and connected to the kernel.
pub fn connect_channel(base: &str, channel: Channel) -> io::Result<UnixDatagram> {
    let sock = UnixDatagram::bind_addr(&abstract_addr(&address(base, channel, std::process::id(), nonce()))?)?;
    sock.connect_addr(&abstract_addr(base)?)?;
    Ok(sock)
}

/// Maps the control page from an inherited memfd.
fn map_page(fd_number: i32) -> io::Result<&'static ControlPage> {
    use nix::sys::mman::{MapFlags, ProtFlags, mmap};
    // SAFETY: the kernel passed this descriptor to us; we duplicate it so we own our copy.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd_number) };
    let fd: OwnedFd = borrowed.try_clone_to_owned()?;
    let len = std::num::NonZeroUsize::new(std::mem::size_of::<ControlPage>()).expect("non-zero");
    // SAFETY: a shared mapping of the kernel's page; we never unmap it (lives for the process).
    let ptr = unsafe {
        mmap(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED, fd.as_fd(), 0)
    }
    .map_err(io::Error::from)?;
    // SAFETY: page-aligned, sized for ControlPage, lives forever.
    let page: &'static ControlPage = unsafe { &*ptr.as_ptr().cast::<ControlPage>() };
    if page.magic.load(Ordering::Acquire) != ControlPage::MAGIC {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "kernel control page not initialised"));
    }
    Ok(page)
}

impl Link {
    fn from_env() -> io::Result<Option<Link>> {
        let Some(base) = std::env::var_os(SOCKET_ENV) else { return Ok(None) };
        let base = base.to_string_lossy().into_owned();
        let ctl = connect_channel(&base, Channel::Ctl)?;
        let page = match std::env::var(CONTROL_FD_ENV).ok().and_then(|v| v.parse::<i32>().ok()) {
            Some(fd) => map_page(fd).ok(),
            None => None,
        };
        Ok(Some(Link { base, ctl, page }))
    }

    /// The kernel socket's abstract name.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one control message (fire and forget; the kernel reads its queue continuously).
    pub fn send(&self, msg: &ToKernel) -> io::Result<()> {
        let bytes = serde_json::to_vec(msg).map_err(io::Error::other)?;
        self.ctl.send(&bytes).map(|_| ())
    }

    /// Sends `msg` from a one-off socket and waits up to `timeout` for the kernel's reply.
    ///
    /// Waits in short slices so that the stop button ends the wait (see [`crate::sys::wait`]).
    pub fn request(&self, msg: &ToKernel, timeout: Option<Duration>, what: &str) -> io::Result<FromKernel> {
        let sock = connect_channel(&self.base, Channel::Reply)?;
        let bytes = serde_json::to_vec(msg).map_err(io::Error::other)?;
        sock.send(&bytes)?;
        let deadline = timeout.map(|t| Instant::now() + t);
        if !crate::sys::wait::poll_readable(sock.as_fd(), deadline, what) {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the kernel did not answer"));
        }
        let mut buf = vec![0u8; 1 << 20];
        let n = sock.recv(&mut buf)?;
        serde_json::from_slice(&buf[..n]).map_err(io::Error::other)
    }
}

/// Builds an [`OwnedFd`] from a raw descriptor number the caller owns.
///
/// # Safety
/// `fd` must be open and owned by nobody else.
pub unsafe fn owned_fd(fd: i32) -> OwnedFd {
    // SAFETY: forwarded to the caller.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_as_json() {
        let m = ToKernel::Started { pid: 7, name: "Process-1".into(), daemon: false };
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(s, r#"{"type":"started","pid":7,"name":"Process-1","daemon":false}"#);
        assert_eq!(serde_json::from_str::<ToKernel>(&s).unwrap(), m);
    }

    #[test]
    fn channel_from_address() {
        let a = address("k1", Channel::Err, 42, 9);
        assert_eq!(Channel::of_address("k1", a.as_bytes()), Some(Channel::Err));
        assert_eq!(Channel::of_address("k2", a.as_bytes()), None);
    }

    #[test]
    fn interrupted_only_for_the_current_cell() {
        let p = ControlPage::default();
        p.current_cell.store(3, Ordering::SeqCst);
        assert!(!p.interrupted());
        p.interrupt_cell.store(3, Ordering::SeqCst);
        assert!(p.interrupted());
        p.current_cell.store(4, Ordering::SeqCst);
        assert!(!p.interrupted());
    }
}
