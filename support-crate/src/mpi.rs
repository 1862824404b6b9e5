//! Message passing with a real MPI: a notebook cell holds an MPI program, [`mpiexec`] builds it
//! against the [`mpi`](https://docs.rs/mpi) crate (rsmpi, on the system's OpenMPI) and runs it
//! with `mpiexec -n N`, and every rank's lines reach the cell live as `[rank R] …`.
//!
//! ```no_run
//! use multiproc::mpi::mpiexec;
//!
//! let run = mpiexec(2).run(r#"
//! use mpi::traits::*;
//! fn main() {
//!     let universe = mpi::initialize().unwrap();
//!     println!("I am rank {}", universe.world().rank());
//! }
//! "#);
//! assert!(run.success());
//! assert_eq!(run.lines_of(1), ["I am rank 1"]);
//! ```
//!
//! Why a support-crate call and not a kernel command: the cell stays ordinary Rust that the
//! student already reads (a call with the program in a raw string), and the stop button, the
//! live output and the error messages come from the machinery every other lesson uses. Why a
//! separate program at all: MPI ranks are separate programs started by `mpiexec` (on one machine
//! or many), not `fork`s of the notebook's runtime, and rsmpi must not become a dependency of
//! every cell (bindgen and OpenMPI would make each kernel start slower).
//!
//! - **Build.** The program goes into `src/main.rs` of one small cargo project in the kernel's
//!   cache (`$RUST_CONCURRENCY_CACHE/mpi`, the same root the kernel uses), whose target folder
//!   keeps rsmpi compiled: after the first build (about a minute; `warm()` does it ahead) only the
//!   student's program compiles. A `flock` keeps two kernels from building there at once.
//! - **Line numbers.** The raw string's text is the file as it is, leading newline included, so
//!   when `run(r#"` is on the cell's first line rustc's line numbers are the cell's own; paths
//!   read `cell:L:C` instead of `src/main.rs:L:C`.
//! - **Run.** `mpiexec --tag-output -n N` (with `--oversubscribe`, so 4 ranks run on 2 cores,
//!   and `--allow-run-as-root` when the kernel runs as root, as in a container) in its own
//!   process group; its `[1,R]<stdout>:` tags become `[rank R] `.
//! - **Ending.** The stop button, the optional [`Mpiexec::timeout`] and the end of the cell all
//!   end the launch the same way: SIGTERM to `mpiexec` (it forwards it to every rank), then
//!   SIGKILL to its process group and to each rank it started (Open MPI gives every rank a
//!   process group of its own) after a grace period, then `wait`, so no rank is left.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::sys::proc_state::state;
use crate::sys::wait;

/// The cargo manifest of the program crate. rsmpi's version is pinned here (and only here).
const MANIFEST: &str = r#"[package]
name = "mpi-program"
version = "0.1.0"
edition = "2024"

[dependencies]
mpi = "0.8"

[profile.dev]
debug = false
"#;

/// A program that only starts MPI: what [`warm`] builds so rsmpi is compiled ahead.
const WARM_PROGRAM: &str = "fn main() { let _universe = mpi::initialize(); }\n";

/// How long `mpiexec` gets to end its ranks after SIGTERM before the group is SIGKILLed.
const GRACE: Duration = Duration::from_secs(5);

/// Starts describing an MPI launch with `ranks` processes (`mpiexec -n ranks`).
///
/// ```
/// let launch = multiproc::mpi::mpiexec(4).timeout(std::time::Duration::from_secs(10));
/// assert_eq!(launch.ranks(), 4);
/// ```
pub fn mpiexec(ranks: usize) -> Mpiexec {
    assert!(ranks >= 1, "mpiexec needs at least one rank");
    Mpiexec { ranks, timeout: None, hostfile: None }
}

/// An MPI launch: how many ranks, for how long at most, on which hosts. Made by [`mpiexec`].
///
/// ```
/// let launch = multiproc::mpi::mpiexec(2);
/// assert_eq!(launch.ranks(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Mpiexec {
    ranks: usize,
    timeout: Option<Duration>,
    hostfile: Option<PathBuf>,
}

/// What a finished launch left: each rank's lines and how it ended. Returned by [`Mpiexec::run`].
///
/// ```no_run
/// let run = multiproc::mpi::mpiexec(1).run("fn main() { println!(\"hi\"); }");
/// assert_eq!(run.lines_of(0), ["hi"]);
/// ```
#[derive(Debug, Clone)]
pub struct MpiRun {
    /// `(rank, line)` in the order the lines arrived (ranks interleave as they ran).
    pub lines: Vec<(usize, String)>,
    /// `mpiexec`'s exit code (`None` when it was killed).
    pub exit_code: Option<i32>,
    /// True when the launch ran past [`Mpiexec::timeout`] and was ended.
    pub timed_out: bool,
}

impl MpiRun {
    /// True when every rank ended normally and in time.
    ///
    /// ```
    /// let run = multiproc::mpi::MpiRun { lines: vec![], exit_code: Some(0), timed_out: false };
    /// assert!(run.success());
    /// ```
    pub fn success(&self) -> bool {
        !self.timed_out && self.exit_code == Some(0)
    }

    /// The lines rank `rank` printed, in its own order.
    ///
    /// ```
    /// let run = multiproc::mpi::MpiRun {
    ///     lines: vec![(1, "b".into()), (0, "a".into())], exit_code: Some(0), timed_out: false };
    /// assert_eq!(run.lines_of(0), ["a"]);
    /// ```
    pub fn lines_of(&self, rank: usize) -> Vec<&str> {
        self.lines.iter().filter(|(r, _)| *r == rank).map(|(_, l)| l.as_str()).collect()
    }
}

impl Mpiexec {
    /// The number of ranks this launch starts.
    ///
    /// ```
    /// assert_eq!(multiproc::mpi::mpiexec(3).ranks(), 3);
    /// ```
    pub fn ranks(&self) -> usize {
        self.ranks
    }

    /// Ends the launch (every rank) if it runs longer than `limit`, and says so: what a deadlock
    /// demonstration needs to end by itself.
    ///
    /// ```
    /// let launch = multiproc::mpi::mpiexec(2).timeout(std::time::Duration::from_secs(3));
    /// assert_eq!(launch.ranks(), 2);
    /// ```
    pub fn timeout(mut self, limit: Duration) -> Mpiexec {
        self.timeout = Some(limit);
        self
    }

    /// Runs the ranks on the hosts listed in an OpenMPI host file (`--hostfile`), one line per
    /// machine such as `node1 slots=4`; every host needs the same program path and OpenMPI.
    ///
    /// ```
    /// let launch = multiproc::mpi::mpiexec(8).hostfile("hosts.txt");
    /// assert_eq!(launch.ranks(), 8);
    /// ```
    pub fn hostfile(mut self, path: impl Into<PathBuf>) -> Mpiexec {
        self.hostfile = Some(path.into());
        self
    }

    /// Builds `program` (the text of a `main.rs` using the `mpi` crate) and runs it on the
    /// ranks, printing each rank's lines as they arrive. Panics with rustc's message when the
    /// program does not compile, and with a clear message when OpenMPI is missing.
    ///
    /// ```no_run
    /// let run = multiproc::mpi::mpiexec(2).run("fn main() { println!(\"hi\"); }");
    /// assert_eq!(run.lines.len(), 2);
    /// ```
    #[track_caller]
    pub fn run(&self, program: &str) -> MpiRun {
        let binary = BinaryCopy(build(program));
        self.launch(&binary.0)
    }

    #[track_caller]
    fn launch(&self, binary: &Path) -> MpiRun {
        let (reader, writer) = std::io::pipe().expect("a pipe for mpiexec's output");
        let mut cmd = Command::new("mpiexec");
        cmd.arg("--tag-output").arg("--oversubscribe");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            cmd.arg("--allow-run-as-root");
        }
        if let Some(hosts) = &self.hostfile {
            cmd.arg("--hostfile").arg(hosts);
        }
        cmd.arg("-n").arg(self.ranks.to_string()).arg(binary);
        let err = writer.try_clone().expect("a pipe for mpiexec's output");
        cmd.stdin(Stdio::null()).stdout(writer).stderr(err).process_group(0);
        // OpenMPI would otherwise warn on every launch in a container without InfiniBand.
        cmd.env("OMPI_MCA_btl", "self,vader,tcp").env("OMPI_MCA_btl_vader_single_copy_mechanism", "none");
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => panic!("could not start mpiexec ({e}): install OpenMPI (Debian: apt-get install openmpi-bin libopenmpi-dev)"),
        };
        drop(cmd); // closes our copies of the pipe's write end
        let mut launched = Launched(Some(child));
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let mut out = BufReader::new(reader);
        let mut lines = Vec::new();
        let mut timed_out = false;
        loop {
            let past = deadline.is_some_and(|d| Instant::now() >= d);
            if past || !wait::poll_readable(out.get_ref().as_fd(), deadline, "mpiexec") {
                timed_out = true;
                break;
            }
            let mut line = String::new();
            if !matches!(out.read_line(&mut line), Ok(n) if n > 0) {
                break; // end of output: mpiexec and every rank are done
            }
            show(line.trim_end_matches('\n'), &mut lines);
        }
        let status = launched.end();
        // Whatever was still in the pipe after the end (a rank's last words) is kept too, read
        // without blocking: a process outside the launch that kept the pipe must not hang the cell.
        let fd = out.get_ref().as_raw_fd();
        // SAFETY: fcntl on the pipe's read end, which `out` owns.
        unsafe { libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK) };
        let mut rest = Vec::new();
        let _ = out.read_to_end(&mut rest);
        String::from_utf8_lossy(&rest).lines().for_each(|l| show(l, &mut lines));
        if timed_out {
            let limit = self.timeout.unwrap_or_default().as_secs_f64();
            println!("mpiexec: still running after {limit} s (a deadlock?): every rank was ended");
        }
        let exit_code = if timed_out { None } else { status.and_then(|s| s.code()) };
        MpiRun { lines, exit_code, timed_out }
    }
}

/// The launch's private copy of the program, removed when dropped (also when the stop button's
/// panic unwinds through [`Mpiexec::run`]).
struct BinaryCopy(PathBuf);

impl Drop for BinaryCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Prints one line of `mpiexec`'s output, a rank's as `[rank R] text`, and keeps the rank's.
fn show(line: &str, lines: &mut Vec<(usize, String)>) {
    match untag(line) {
        (Some(rank), text) => {
            println!("[rank {rank}] {text}");
            lines.push((rank, text.to_string()));
        }
        (None, text) => println!("{text}"),
    }
}

/// `[1,R]<stdout>:text` (OpenMPI's `--tag-output`) → `(Some(R), text)`; other lines unchanged.
fn untag(line: &str) -> (Option<usize>, &str) {
    let parsed = (|| {
        let rest = line.strip_prefix('[')?;
        let (ids, rest) = rest.split_once(']')?;
        let (_job, rank) = ids.split_once(',')?;
        let rank: usize = rank.parse().ok()?;
        let rest = rest.strip_prefix("<stdout>:").or_else(|| rest.strip_prefix("<stderr>:"))?;
        Some((Some(rank), rest))
    })();
    parsed.unwrap_or((None, line))
}

/// A running `mpiexec`, ended (with all its ranks) when dropped: also when the stop button's
/// panic unwinds through [`Mpiexec::run`].
struct Launched(Option<Child>);

impl Launched {
    /// Ends the launch if it still runs and reaps it: SIGTERM to `mpiexec`, which ends its
    /// ranks and cleans up; after [`GRACE`] SIGKILL to `mpiexec`'s group and to every rank it had
    /// started (Open MPI puts each rank in a process group of its own).
    fn end(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.0.take()?;
        let pid = child.id();
        let ranks = descendants(pid);
        if let Ok(Some(status)) = child.try_wait() {
            kill_all(pid, &ranks);
            return Some(status);
        }
        kill_group(pid, libc::SIGTERM);
        let until = Instant::now() + GRACE;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                _ if Instant::now() >= until => break None,
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        kill_all(pid, &ranks);
        status.or_else(|| child.wait().ok())
    }
}

/// SIGKILL to `mpiexec`'s group and to each of `ranks` still there, then waits (at most a
/// second) until they are gone or only wait to be reaped.
fn kill_all(mpiexec: u32, ranks: &[u32]) {
    kill_group(mpiexec, libc::SIGKILL);
    let alive = |p: &&u32| state(**p).is_some_and(|s| s != 'Z' && s != 'X');
    for p in ranks.iter().filter(alive) {
        // SAFETY: kill only sends a signal, to a rank this launch started.
        unsafe { libc::kill(*p as libc::pid_t, libc::SIGKILL) };
    }
    let until = Instant::now() + Duration::from_secs(1);
    while ranks.iter().any(|p| alive(&p)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every process below `pid` (from `/proc/<pid>/task/*/children`).
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else { continue };
        for task in tasks.flatten() {
            let kids = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for kid in kids.split_whitespace().filter_map(|k| k.parse().ok()) {
                found.push(kid);
                todo.push(kid);
            }
        }
    }
    found
}

impl Drop for Launched {
    fn drop(&mut self) {
        self.end();
    }
}

fn kill_group(leader: u32, signal: libc::c_int) {
    // SAFETY: killpg only sends a signal; the group is the one mpiexec leads.
    unsafe { libc::killpg(leader as libc::pid_t, signal) };
}

/// The program crate's folder: `mpi/` under the kernel's cache root. The lookup mirrors the
/// kernel's `cache_slot::root` (the crate does not link the kernel).
fn project_dir() -> PathBuf {
    let root = if let Some(p) = std::env::var_os("RUST_CONCURRENCY_CACHE") {
        PathBuf::from(p)
    } else if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        PathBuf::from(p).join("rust-concurrency")
    } else {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        home.join(".cache").join("rust-concurrency")
    };
    root.join("mpi")
}

/// Builds rsmpi into the program crate's target folder ahead of the first lesson cell, so a
/// cell compiles only its own program. Returns what went wrong, if anything.
///
/// ```no_run
/// multiproc::mpi::warm().expect("rsmpi builds");
/// ```
pub fn warm() -> Result<(), String> {
    // `compile` hands back a private copy of the binary for a launch; nothing launches here.
    let copy = compile(WARM_PROGRAM)?;
    let _ = std::fs::remove_file(copy);
    Ok(())
}

#[track_caller]
fn build(program: &str) -> PathBuf {
    match compile(program) {
        Ok(binary) => binary,
        Err(message) => {
            eprint!("{message}");
            panic!("the MPI program did not compile (rustc's message is above)");
        }
    }
}

/// Writes `program` as `src/main.rs` and runs cargo; on success returns a private copy of the
/// binary (another cell may rebuild the shared one while this launch runs).
fn compile(program: &str) -> Result<PathBuf, String> {
    let dir = project_dir();
    std::fs::create_dir_all(dir.join("src")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let lock = File::options().create(true).append(true).open(dir.join("lock")).map_err(|e| e.to_string())?;
    // SAFETY: flock on a descriptor we own; released when `lock` is dropped.
    unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    write_if_changed(&dir.join("Cargo.toml"), MANIFEST)?;
    write_if_changed(&dir.join("src/main.rs"), program)?;
    let output = Command::new("cargo")
        .args(["build", "--quiet", "--color", "never"])
        .current_dir(&dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS") // the cells' flags link the support crate, not this
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run cargo: {e}\n"))?;
    let messages = cell_paths(&String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        return Err(messages);
    }
    eprint!("{messages}"); // rustc's warnings about the program, if any
    let built = dir.join("target/debug/mpi-program");
    let copy = dir.join(format!("run-{}", std::process::id()));
    std::fs::copy(&built, &copy).map_err(|e| format!("{}: {e}", built.display()))?;
    Ok(copy)
}

/// Rewrites rustc's `src/main.rs:L:C` as `cell:L:C`, shortens paths into cargo's registry to
/// `mpi-0.8.2/src/…`, and drops cargo's closing summary.
fn cell_paths(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| !l.starts_with("error: could not compile"))
        .map(|l| {
            let l = l.replace("src/main.rs:", "cell:");
            match (l.find("--> "), l.find("/registry/src/")) {
                (Some(arrow), Some(reg)) => {
                    let after = &l[reg + "/registry/src/".len()..];
                    let krate = after.split_once('/').map_or(after, |(_index, rest)| rest);
                    format!("{}{krate}\n", &l[..arrow + 4])
                }
                _ => l + "\n",
            }
        })
        .collect()
}

/// Writes only when the content differs, so an unchanged program is not rebuilt.
fn write_if_changed(path: &Path, content: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    std::fs::write(path, content).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::untag;

    #[test]
    fn registry_paths_are_shortened_and_the_cell_named() {
        let text = "  --> src/main.rs:5:3\n   --> /root/.cargo/registry/src/index.crates.io-1949/mpi-0.8.2/src/a.rs:1:2\nerror: could not compile `x`\n";
        assert_eq!(super::cell_paths(text), "  --> cell:5:3\n   --> mpi-0.8.2/src/a.rs:1:2\n");
    }

    #[test]
    fn tags_become_ranks() {
        assert_eq!(untag("[1,3]<stdout>:hello"), (Some(3), "hello"));
        assert_eq!(untag("[1,0]<stderr>:oops"), (Some(0), "oops"));
        assert_eq!(untag("plain"), (None, "plain"));
    }
}
