//! Ending processes: terminate-then-kill with a grace period, finding descendants through
//! `/proc`, and reaping orphans the kernel adopted as a child subreaper.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Makes the kernel the reaper of orphaned descendants, so none stay zombies.
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// `(command name, state letter, parent pid)` from `/proc/<pid>/stat` (`None` once gone).
pub(crate) fn stat_fields(pid: i32) -> Option<(String, char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_string();
    let mut rest = stat[close + 2..].split(' ');
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((comm, state, ppid))
}

/// All live descendants of `root` (not including it), found through `/proc`.
///
/// ```no_run
/// let kids = rust_concurrency_kernel::supervision::cleanup::descendants(std::process::id() as i32);
/// assert!(kids.is_empty());
/// ```
pub fn descendants(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
            if let Some((_, state, ppid)) = stat_fields(pid) {
                if state != 'Z' {
                    children.entry(ppid).or_default().push(pid);
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        if let Some(kids) = children.get(&p) {
            for k in kids {
                out.push(*k);
                todo.push(*k);
            }
        }
    }
    out
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: the pidfd_open system call; the result is a fresh descriptor we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 { None } else { Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }) }
}

fn pidfd_signal(fd: &OwnedFd, sig: i32) {
    // SAFETY: pidfd_send_signal on our own pidfd (immune to pid reuse).
    unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), sig, std::ptr::null::<libc::siginfo_t>(), 0) };
}

/// Sends SIGTERM to `pids`, waits up to `grace` for them to exit, then SIGKILLs the rest and
/// waits for those too (at most another `grace`). Returns when all are gone or time is up.
pub fn terminate(pids: &[i32], grace: Duration) {
    let fds: Vec<OwnedFd> = pids.iter().filter_map(|p| pidfd_open(*p)).collect();
    for fd in &fds {
        pidfd_signal(fd, libc::SIGTERM);
    }
    let all: Vec<&OwnedFd> = fds.iter().collect();
    let left = wait_exit(&all, Instant::now() + grace);
    for fd in &left {
        pidfd_signal(fd, libc::SIGKILL);
    }
    wait_exit(&left, Instant::now() + grace);
}

/// Waits until every pidfd is readable (process exited) or `deadline`; returns those left.
fn wait_exit<'a>(fds: &[&'a OwnedFd], deadline: Instant) -> Vec<&'a OwnedFd> {
    let mut left: Vec<&'a OwnedFd> = fds.to_vec();
    while !left.is_empty() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let mut polls: Vec<libc::pollfd> = left.iter().map(|f| libc::pollfd { fd: f.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
        let ms = (deadline - now).as_millis().clamp(1, 1000) as i32;
        // SAFETY: poll over descriptors we hold.
        unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, ms) };
        left = left.into_iter().zip(&polls).filter(|(_, p)| p.revents == 0).map(|(f, _)| f).collect();
    }
    left
}

/// Programs the kernel itself runs as children (evcxr's cargo and rustc probes): never reaped
/// here, their `Command` waits for them.
const OWN_TOOLS: [&str; 5] = ["cargo", "rustc", "mold", "sh", "rustup"];

/// Reaps zombie children of the kernel that are adopted orphans (not the runtime, not tools).
pub fn reap_orphans(runtime_pid: i32) {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return };
    for t in tasks.flatten() {
        let Ok(list) = std::fs::read_to_string(t.path().join("children")) else { continue };
        for pid in list.split_whitespace().filter_map(|s| s.parse::<i32>().ok()) {
            if pid == runtime_pid {
                continue;
            }
            if let Some((comm, 'Z', _)) = stat_fields(pid) {
                if !OWN_TOOLS.contains(&comm.as_str()) {
                    // SAFETY: reaping one specific zombie child.
                    unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
                }
            }
        }
    }
}

/// Reaps every exited child (at shutdown, when no `Command` is waiting any more).
pub fn reap_all() {
    // SAFETY: non-blocking waitpid on any child.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}
