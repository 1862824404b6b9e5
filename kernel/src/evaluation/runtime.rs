//! The process that loads and runs compiled cells (evcxr's "runtime"), our own version.
//!
//! evcxr starts the kernel binary again with `EVCXR_IS_RUNTIME=1` and talks to it over two
//! pipes: commands (`LOAD_AND_RUN <so> <fn>`) on stdin, protocol lines on stdout. evcxr's own
//! runtime leaves stdout as that pipe, so everything user code (and every forked child) prints
//! would travel through it. Ours moves both pipes to private descriptors and points fd 1 and
//! fd 2 at stream sockets the kernel's supervisor reads (see `docs/architecture.md` and
//! `supervision/receiver.rs`): every process then writes straight to the kernel, each write
//! stamped with its pid.
//! evcxr's marker lines come back from the supervisor in the `Synced` reply and are written to
//! the protocol pipe here, so evcxr's bookkeeping works unchanged. With the kernel's streams in
//! place, every write to fd 1 / fd 2 names the thread that made it and that thread's cell
//! (`supervision/thread_writer.rs`), so the output of a thread goes to the cell that started it.

use std::ffi::c_void;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd};

use multiproc::kernel_link::{self, Channel, FromKernel, ToKernel};

use crate::supervision::receiver::{STDERR_FD_ENV, STDOUT_FD_ENV};
use crate::supervision::thread_writer;

/// Line evcxr waits for after each `LOAD_AND_RUN`.
const EXECUTION_COMPLETE: &str = "EVCXR_EXECUTION_COMPLETE";
/// Environment variable with which evcxr marks its runtime process.
const IS_RUNTIME_ENV: &str = "EVCXR_IS_RUNTIME";
/// Function every compiled cell exports (the start-up cell defines it, and evcxr repeats a
/// cell's items in every later cell): it flushes the cells' std stdout and stderr. The cells
/// share one `libstd` of their own, apart from this binary's, so only code in a cell reaches
/// its buffers; the runtime calls it after each cell so that text printed without a final
/// newline shows up in its own cell. The same goes for the support crate's list of started
/// processes (the cells' copy is the one that counts), so the function also reaps the
/// processes that finished and were never joined: no zombies pile up under the runtime.
pub const FLUSH_SYMBOL: &str = "rust_concurrency_kernel_flush_output";
/// Function every compiled cell exports, called before the cell's code: it installs the
/// notebook's panic hook in the cells' `libstd` (once per runtime process, so also in a runtime
/// that evcxr restarted; see `multiproc::sys::report`).
pub const BEFORE_CELL_SYMBOL: &str = "rust_concurrency_kernel_before_cell";
/// Function the support crate exports in every cell's library: the calling thread's name, for
/// the labels of threads' late output (see `multiproc::sys::thread_label`).
const THREAD_LABEL_SYMBOL: &str = "multiproc_thread_label";
/// Send buffer we ask for on fd 1 / fd 2 (the kernel caps it at `wmem_max`).
const SEND_BUFFER: libc::c_int = 4 << 20;

/// If this process was started by evcxr as the runtime, runs the runtime loop and never returns.
///
/// Without a kernel socket in the environment (evcxr used by something else) it returns and
/// evcxr's own runtime takes over.
pub fn run_if_runtime() {
    if std::env::var_os(IS_RUNTIME_ENV).is_none() {
        return;
    }
    super::toolchain::enter_cell_dir();
    super::toolchain::leave_builder_env();
    let Some(base) = std::env::var_os(kernel_link::SOCKET_ENV) else { return };
    let base = base.to_string_lossy().into_owned();
    match Runtime::start(&base) {
        Ok(mut rt) => rt.run_loop(),
        Err(e) => {
            eprintln!("rust-concurrency runtime failed to start: {e}");
            std::process::exit(98);
        }
    }
}

struct Runtime {
    base: String,
    commands: BufReader<File>,
    protocol: File,
    /// evcxr's stderr pipe (kept for the runtime's own fatal errors).
    diagnostics: File,
    /// evcxr's variable store, threaded through every cell's entry function.
    variable_store: *mut c_void,
    /// Loaded cells; never unloaded (thread-local destructors may still point into them), and
    /// the loop only ends through `exit`, so nothing is ever dropped.
    libraries: Vec<libloading::Library>,
}

/// Duplicates `fd` to a private descriptor (>= 10) closed on exec.
fn private_copy(fd: i32) -> std::io::Result<File> {
    // SAFETY: plain fcntl on a descriptor we own; the result is a fresh descriptor.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
    if new < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh descriptor owned by nobody else.
    Ok(unsafe { File::from_raw_fd(new) })
}

fn dup_onto(from: i32, to: i32) -> std::io::Result<()> {
    // SAFETY: dup2 onto a standard descriptor number.
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Runtime {
    fn start(base: &str) -> std::io::Result<Runtime> {
        // An exec by a cell's code replaces this process: the kernel is told which program.
        super::exec_guard::arm();
        // Die with the kernel instead of lingering as an orphan.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
        let commands = private_copy(0)?;
        let protocol = private_copy(1)?;
        let diagnostics = private_copy(2)?;
        let null = File::open("/dev/null")?;
        dup_onto(null.as_raw_fd(), 0)?;
        let mut streams = 0;
        for (fd, channel, env) in [(1, Channel::Out, STDOUT_FD_ENV), (2, Channel::Err, STDERR_FD_ENV)] {
            // The kernel's stream (any write size) when it handed us one; else a datagram socket.
            if let Some(inherited) = std::env::var(env).ok().and_then(|v| v.parse::<i32>().ok()) {
                dup_onto(inherited, fd)?;
                // SAFETY: `inherited` is ours alone now that fd 1 / fd 2 is a copy of it.
                unsafe { libc::close(inherited) };
                // SAFETY: still single-threaded; children need not see the numbers.
                unsafe { std::env::remove_var(env) };
                streams += 1;
                continue;
            }
            let sock = kernel_link::connect_channel(base, channel)?;
            // SAFETY: setsockopt with a c_int option value.
            unsafe {
                libc::setsockopt(
                    sock.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_SNDBUF,
                    (&SEND_BUFFER as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            dup_onto(sock.as_raw_fd(), fd)?;
        }
        if streams == 2 {
            // Still single-threaded: from now on writes to fd 1 / fd 2 are framed per thread.
            thread_writer::activate();
        }
        // The control page descriptor must reach processes that user code execs, too.
        if let Some(fd) = std::env::var(kernel_link::CONTROL_FD_ENV).ok().and_then(|v| v.parse::<i32>().ok()) {
            // SAFETY: clearing FD_CLOEXEC on an inherited descriptor.
            unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        }
        // A frontend in "signal" interrupt mode signals the whole process group; the kernel
        // interrupts cells through the control page instead.
        // SAFETY: installing SIG_IGN has no handler code.
        unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
        // SAFETY: still single-threaded, nobody else reads the environment concurrently.
        unsafe { std::env::set_var("RUST_BACKTRACE", "0") };
        Ok(Runtime {
            base: base.to_string(),
            commands: BufReader::new(commands),
            protocol,
            diagnostics,
            variable_store: std::ptr::null_mut(),
            libraries: Vec::new(),
        })
    }

    fn run_loop(&mut self) -> ! {
        let mut line = String::new();
        loop {
            line.clear();
            match self.commands.read_line(&mut line) {
                Ok(0) | Err(_) => std::process::exit(0),
                Ok(_) => {}
            }
            let mut words = line.trim_end().split(' ');
            let (Some("LOAD_AND_RUN"), Some(so), Some(func)) = (words.next(), words.next(), words.next()) else {
                let _ = writeln!(self.diagnostics, "Unrecognised runtime command: {line:?}");
                std::process::exit(99);
            };
            if let Err(e) = self.load_and_run(so, func) {
                let _ = writeln!(self.diagnostics, "While loading {so}: {e}");
                std::process::exit(99);
            }
        }
    }

    fn load_and_run(&mut self, so: &str, func: &str) -> Result<(), libloading::Error> {
        // SAFETY: evcxr compiled this library for us; its initialisers are ordinary Rust.
        let lib = unsafe { libloading::Library::new(so) }?;
        // Threads the cell starts belong to it (the kernel set the cell's number before
        // sending it to evcxr).
        if let Some(page) = kernel_link::control_page() {
            thread_writer::set_cell(page.current_cell.load(std::sync::atomic::Ordering::SeqCst));
        }
        if !thread_writer::has_label_source() {
            // SAFETY: the support crate's function has this signature; the library is never
            // unloaded.
            if let Ok(label) = unsafe { lib.get::<thread_writer::LabelSource>(THREAD_LABEL_SYMBOL.as_bytes()) } {
                thread_writer::set_label_source(*label);
            }
        }
        // SAFETY: evcxr's generated entry point has exactly this signature.
        unsafe {
            let entry = lib.get::<extern "C" fn(*mut c_void) -> *mut c_void>(func.as_bytes())?;
            if let Ok(before) = lib.get::<extern "C" fn()>(BEFORE_CELL_SYMBOL.as_bytes()) {
                before();
            }
            self.variable_store = entry(self.variable_store);
            if let Ok(flush) = lib.get::<extern "C" fn()>(FLUSH_SYMBOL.as_bytes()) {
                flush();
            }
        }
        self.libraries.push(lib);
        let markers = self.sync();
        let mut out = String::new();
        for m in markers {
            out.push_str(&m);
            out.push('\n');
        }
        out.push_str(EXECUTION_COMPLETE);
        out.push('\n');
        if self.protocol.write_all(out.as_bytes()).is_err() {
            std::process::exit(0);
        }
        Ok(())
    }

    /// Asks the supervisor for the evcxr markers printed during the cell. Done with a plain
    /// blocking socket rather than `Link::request`, whose waits panic when the stop button was
    /// pressed: the runtime must always finish its handshake with evcxr.
    fn sync(&self) -> Vec<String> {
        let attempt = || -> std::io::Result<Vec<String>> {
            let sock = kernel_link::connect_channel(&self.base, Channel::Reply)?;
            let msg = serde_json::to_vec(&ToKernel::Sync).map_err(std::io::Error::other)?;
            sock.send(&msg)?;
            let mut buf = vec![0u8; 1 << 20];
            let n = sock.recv(&mut buf)?;
            match serde_json::from_slice::<FromKernel>(&buf[..n]).map_err(std::io::Error::other)? {
                FromKernel::Synced { markers } => Ok(markers),
                other => Err(std::io::Error::other(format!("unexpected reply {other:?}"))),
            }
        };
        attempt().unwrap_or_default()
    }
}
