//! Lesson helpers: a scaled [`sleep`], Python's [`randint`], [`input`] that works in a notebook
//! and in unattended runs, [`pyprint!`](crate::pyprint) for the "garbled output" lesson, and
//! [`capture_output_timeout`] for check cells whose wrong answers can hang.
//!
//! ```
//! use multiproc::prelude::*;
//! let n = randint(1, 4);
//! assert!((1..=4).contains(&n));
//! sleep(0.001 * n as f64);
//! pyprint!("slept", n, "ms");
//! ```

use std::fmt::Display;
use std::io::{BufRead, IsTerminal, Write};
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::Duration;

use crate::kernel_link::{self, Channel, FromKernel, TIME_SCALE_ENV, ToKernel, UNATTENDED_ENV};

/// Largest pause, in microseconds, that [`pyprint!`](crate::pyprint) takes between two pieces
/// of a line (default 200; `0` turns the pauses off).
///
/// ```
/// // e.g. `MULTIPROC_PYPRINT_JITTER_US=0 cargo run` prints without pauses.
/// assert_eq!(multiproc::lesson::PYPRINT_JITTER_ENV, "MULTIPROC_PYPRINT_JITTER_US");
/// ```
pub const PYPRINT_JITTER_ENV: &str = "MULTIPROC_PYPRINT_JITTER_US";

/// The factor every [`sleep`] is multiplied by: the `MULTIPROC_TIME_SCALE` environment
/// variable, 1.0 when unset or not a non-negative number.
///
/// ```
/// let scale = multiproc::lesson::time_scale();
/// assert!(scale >= 0.0);
/// ```
pub fn time_scale() -> f64 {
    std::env::var(TIME_SCALE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(1.0)
}

/// Pauses this process for `seconds` (Python's `time.sleep`), multiplied by [`time_scale`], so
/// the lessons' 5 and 10 second pauses keep their meaning for students but run fast in tests.
/// In a notebook the stop button ends the pause.
///
/// ```
/// let start = std::time::Instant::now();
/// multiproc::lesson::sleep(0.01);
/// assert!(start.elapsed().as_secs_f64() >= 0.01 * multiproc::lesson::time_scale());
/// ```
#[track_caller]
pub fn sleep(seconds: f64) {
    assert!(seconds >= 0.0, "sleep length must be a non-negative number of seconds, not {seconds}");
    let scaled = (seconds * time_scale()).min(1e9);
    crate::sys::wait::sleep(Duration::from_secs_f64(scaled), "sleep");
}

/// Random generator state (xorshift64*). Hand-written because the lessons only need a few
/// dice rolls; a generator crate would be a dependency for ten lines. The pid it was seeded
/// in is kept next to it so that every forked child reseeds (otherwise all children would
/// roll the same numbers, as Python's `random` did before it reseeded after fork).
static RNG_STATE: AtomicU64 = AtomicU64::new(0);
static RNG_PID: AtomicI32 = AtomicI32::new(0);

fn next_random() -> u64 {
    let pid = std::process::id() as i32;
    if RNG_PID.load(Ordering::Acquire) != pid {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        // splitmix64 of time and pid: well-mixed, never zero after `| 1`.
        let mut z = now ^ ((pid as u64) << 32) ^ 0x9E37_79B9_7F4A_7C15;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        RNG_STATE.store((z ^ (z >> 31)) | 1, Ordering::Release);
        RNG_PID.store(pid, Ordering::Release);
    }
    let mut x = RNG_STATE.load(Ordering::Acquire);
    loop {
        let mut y = x;
        y ^= y >> 12;
        y ^= y << 25;
        y ^= y >> 27;
        match RNG_STATE.compare_exchange_weak(x, y, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return y.wrapping_mul(0x2545_F491_4F6C_DD1D),
            Err(now) => x = now,
        }
    }
}

/// A random whole number from `a` to `b`, both included (Python's `random.randint`).
/// Each process has its own generator, seeded afresh in every child.
///
/// ```
/// use multiproc::prelude::*;
/// let roll = randint(1, 6);
/// assert!((1..=6).contains(&roll));
/// assert_eq!(randint(3, 3), 3);
/// ```
#[track_caller]
pub fn randint(a: i64, b: i64) -> i64 {
    assert!(a <= b, "randint(a, b) needs a <= b, got randint({a}, {b})");
    let span = (b as i128 - a as i128 + 1) as u128;
    let r = next_random();
    if span > u64::MAX as u128 {
        return r as i64;
    }
    // Multiply-shift maps 64 random bits onto 0..span (bias below 2^-40 for lesson-sized ranges).
    let offset = ((r as u128 * span) >> 64) as i128;
    (a as i128 + offset) as i64
}

fn unattended() -> bool {
    std::env::var(UNATTENDED_ENV).is_ok_and(|v| v.trim() == "1")
}

/// Shows what an unattended run "typed": the prompt followed by the default, on one line.
fn answer_with_default(prompt: &str, default: &str) -> String {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{prompt}{default}");
    let _ = out.flush();
    default.to_string()
}

/// Asks the person at the notebook (or terminal) for a line of text (Python's `input`).
///
/// - In the notebook kernel, the notebook shows an input box (Jupyter's stdin); an empty
///   answer gives `default` (printed on its own line: the notebook already shows the prompt),
///   and so does nobody there to answer (printed after the prompt).
/// - With `MULTIPROC_UNATTENDED=1`, or outside the kernel when standard input is not a
///   terminal (tests, CI, a child process), it prints the prompt and the default and returns
///   the default.
/// - In a terminal it reads a line; an empty line (or end of input) gives the default.
///
/// ```
/// // Under `cargo test` standard input is not a terminal, so the default comes back.
/// # if std::env::var_os(multiproc::kernel_link::SOCKET_ENV).is_none() && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
/// let name = multiproc::lesson::input("Your name? ", "Jimmy");
/// assert_eq!(name, "Jimmy");
/// # }
/// ```
pub fn input(prompt: &str, default: &str) -> String {
    if unattended() {
        return answer_with_default(prompt, default);
    }
    if let Some(link) = kernel_link::link() {
        let _ = std::io::stdout().flush();
        let msg = ToKernel::Input { prompt: prompt.to_string(), password: false };
        return match link.request(&msg, None, "input") {
            Ok(FromKernel::Input { value: Some(text) }) if !text.is_empty() => text,
            // An empty answer (just Enter) takes the default, as in a terminal. The notebook
            // already shows the prompt with the (empty) answer under the cell, so only the
            // default is printed, where the answer would be.
            Ok(FromKernel::Input { value: Some(_) }) => answer_with_default("", default),
            _ => answer_with_default(prompt, default),
        };
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return answer_with_default(prompt, default);
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{prompt}");
        let _ = out.flush();
    }
    let mut line = String::new();
    match stdin.lock().read_line(&mut line) {
        Ok(n) if n > 0 => {
            let text = line.trim_end_matches(['\n', '\r']);
            if text.is_empty() { default.to_string() } else { text.to_string() }
        }
        _ => default.to_string(),
    }
}

/// This process's socket on the kernel's raw channel, packed as `pid << 32 | fd` (0 = none).
/// Kept in one atomic so that no lock is held across a fork; a child sees a pid that is not
/// its own and makes its own socket (the kernel tells writers apart by the socket's sender).
static RAW_SOCKET: AtomicU64 = AtomicU64::new(0);

fn raw_socket(base: &str) -> std::io::Result<i32> {
    let pid = std::process::id();
    loop {
        let cur = RAW_SOCKET.load(Ordering::Acquire);
        if cur != 0 && (cur >> 32) as u32 == pid {
            return Ok(cur as u32 as i32);
        }
        let fd = kernel_link::connect_channel(base, Channel::Raw)?.into_raw_fd();
        let new = (u64::from(pid) << 32) | u64::from(fd as u32);
        match RAW_SOCKET.compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                if cur != 0 {
                    // Our copy of the parent's socket, inherited through fork: not needed.
                    // SAFETY: closing a descriptor this process owns and nobody else uses.
                    unsafe { libc::close(cur as u32 as i32) };
                }
                return Ok(fd);
            }
            Err(_) => {
                // Another thread of this process installed one first: use that one.
                // SAFETY: closing the descriptor we just made.
                unsafe { libc::close(fd) };
            }
        }
    }
}

fn send_raw(fd: i32, bytes: &[u8]) -> std::io::Result<()> {
    loop {
        // SAFETY: sending from a valid buffer on a descriptor that stays open for the process.
        let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), 0) };
        if n >= 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

fn jitter_limit_us() -> u64 {
    std::env::var(PYPRINT_JITTER_ENV).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(200)
}

/// Writes `items` the way Python 2's `print a, b, c` does: each item, each separating space
/// and the final newline is its own `write(2)` straight to standard output, with a short random
/// pause between them. Concurrent processes can therefore interleave in the middle of a line,
/// which is what the "output garbles without a lock" lesson shows. (Rust's `println!` writes a
/// whole line at once, so with it that lesson cannot be seen.) Used through
/// [`pyprint!`](crate::pyprint).
///
/// In the notebook kernel the pieces go to the kernel's raw channel, which shows them as they
/// arrive instead of assembling whole lines.
///
/// ```
/// multiproc::lesson::pyprint_items(&[&"Hi", &"Jimmy", &"from process", &7]);
/// // prints "Hi Jimmy from process 7"
/// ```
pub fn pyprint_items(items: &[&dyn Display]) {
    // Anything print!ed before must come first.
    let _ = std::io::stdout().flush();
    // (notebooks helper) Inside capture_output, fd 1 is the capture pipe: write there, not to the kernel.
    let raw = if crate::capture::is_capturing() {
        None
    } else {
        kernel_link::link().and_then(|l| raw_socket(l.base()).ok())
    };
    let jitter = jitter_limit_us();
    let emit = |piece: &str, first: bool| {
        if piece.is_empty() {
            return;
        }
        if !first && jitter > 0 {
            std::thread::sleep(Duration::from_micros(randint(0, jitter as i64) as u64));
        }
        match raw {
            Some(fd) if send_raw(fd, piece.as_bytes()).is_ok() => {}
            _ => crate::process::write_fd(1, piece.as_bytes()),
        }
    };
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            emit(" ", false);
        }
        emit(&item.to_string(), i == 0);
    }
    emit("\n", items.is_empty());
}

/// Prints like Python 2's `print a, b, c`: items separated by spaces, then a newline, each
/// piece written separately (see [`pyprint_items`]). Any `Display` values can be printed.
///
/// ```
/// use multiproc::prelude::*;
/// let name = "Jimmy";
/// pyprint!("Hi", name, "from process", current_process().name(), "- pid", current_process().pid());
/// pyprint!(); // an empty line
/// ```
#[macro_export]
macro_rules! pyprint {
    () => {
        $crate::lesson::pyprint_items(&[])
    };
    ($($arg:expr),+ $(,)?) => {
        $crate::lesson::pyprint_items(&[$(&$arg as &dyn ::std::fmt::Display),+])
    };
}

/// Like [`capture_output`](crate::capture::capture_output), but gives up after `seconds` of
/// real time (not scaled by [`time_scale`]): for the check cells of exercises where a wrong
/// answer waits forever (a `get` that no `put` answers, a loop that never ends).
///
/// `Ok(text)` is everything `f` and the processes it started printed, once all of them have
/// finished. `Err(text)` means they were still running when the time was up: they are stopped
/// (with `SIGKILL`) and `text` is what they had printed so far, so the check can say what the
/// student's code was probably waiting for.
///
/// ```
/// use multiproc::prelude::*;
///
/// assert_eq!(capture_output_timeout(30.0, || println!("done")), Ok("done\n".to_string()));
///
/// // A child that waits for a name nobody sends: stopped after one second.
/// let result = capture_output_timeout(1.0, || {
///     let q: Queue<String> = Queue::new();
///     let child_q = q.clone();
///     let mut child = Process::new(move || {
///         println!("waiting for a name");
///         let name = child_q.get();
///         println!("got {name}");
///     });
///     child.start();
///     child.join();
/// });
/// assert_eq!(result, Err("waiting for a name\n".to_string()));
/// ```
pub fn capture_output_timeout<F: FnOnce() + Send + 'static>(seconds: f64, f: F) -> Result<String, String> {
    let timed_out = crate::shared_memory::Value::new(false);
    let flag = timed_out.clone();
    let text = crate::capture::capture_output(move || {
        // `f` runs in a process of its own, leader of a new process group: its end (a process
        // waits for its children before it ends) means every process it started has ended, and
        // the group lets us stop all of them at once when the time is up.
        let mut worker = crate::process::Process::new(move || {
            // SAFETY: setpgid on this process with constant arguments.
            unsafe { libc::setpgid(0, 0) };
            f();
        })
        .name("checked code");
        worker.start();
        if !worker.join_timeout(seconds) {
            flag.set(true);
            if let Some(pid) = worker.pid() {
                // SAFETY: signalling the process group our own child leads.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
            worker.kill(); // in case it had not made its group yet (its children die with it)
            worker.join();
        }
    });
    if timed_out.get() { Err(text) } else { Ok(text) }
}
