//! Reaping: children nobody joined leave no zombies behind, a handle still gets its exit code
//! after its child was reaped, and children of `std::process::Command` are left alone.
//!
//! Every test here forks real children. The tests run one at a time (one lock) because each
//! counts this process's zombie children.

use std::sync::Mutex;

use multiproc::prelude::*;
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The pids of this process's children (all threads') that are zombies now.
fn zombie_children() -> Vec<i32> {
    let mut zombies = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task").flatten() {
        let Ok(list) = std::fs::read_to_string(task.path().join("children")) else { continue };
        for pid in list.split_whitespace().filter_map(|s| s.parse::<i32>().ok()) {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            // The state is the first field after the command name, which ends at the last ')'.
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
            if state == Some("Z") {
                zombies.push(pid);
            }
        }
    }
    zombies
}

/// Blocks until child `pid` has finished, without reaping it (`WNOWAIT`): afterwards it is a
/// zombie until someone reaps it.
fn wait_until_finished(pid: i32) {
    waitid(Id::Pid(Pid::from_raw(pid)), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT).expect("waitid");
}

/// Starts `n` children and drops their handles (nobody will join them); they all finish
/// together once every one has started (so no `start` among them reaps an earlier one), and
/// this returns once all have finished.
fn start_detached(n: usize) -> Vec<i32> {
    let go = Event::new();
    let pids = (0..n)
        .map(|_| {
            let go = go.clone();
            let mut p = Process::new(move || {
                go.wait();
            });
            p.start();
            p.pid().expect("started")
        })
        .collect::<Vec<i32>>();
    go.set();
    for &pid in &pids {
        wait_until_finished(pid);
    }
    pids
}

#[test]
fn never_joined_children_leave_no_zombies_after_reap_finished() {
    let _one = one_at_a_time();
    let pids = start_detached(10);
    let ours = |z: Vec<i32>| z.into_iter().filter(|p| pids.contains(p)).count();
    assert_eq!(ours(zombie_children()), 10, "the finished children are zombies before the reap");
    reap_finished();
    assert_eq!(ours(zombie_children()), 0, "zombies left after reap_finished");
}

#[test]
fn starting_a_process_and_active_children_reap_finished_ones() {
    let _one = one_at_a_time();
    let first = start_detached(5);
    let mut p = Process::new(|| {});
    p.start();
    assert!(zombie_children().iter().all(|z| !first.contains(z)), "start() reaps finished children");
    p.join();

    let second = start_detached(5);
    let running = active_children();
    assert!(running.iter().all(|c| !second.contains(&c.pid())));
    assert!(zombie_children().iter().all(|z| !second.contains(z)), "active_children() reaps finished children");
}

#[test]
fn a_reaped_child_still_reports_its_exit_code_to_its_handle() {
    let _one = one_at_a_time();
    let go = Event::new();
    let (g1, g2) = (go.clone(), go.clone());
    let mut panics = Process::new(move || {
        g1.wait();
        panic!("exit code 1 on purpose")
    });
    let mut ends = Process::new(move || {
        g2.wait();
    });
    let mut killed = Process::new(|| loop {
        multiproc::lesson::sleep(1.0)
    });
    for p in [&mut panics, &mut ends, &mut killed] {
        p.start();
    }
    killed.kill();
    go.set();
    for p in [&panics, &ends, &killed] {
        wait_until_finished(p.pid().unwrap());
    }
    reap_finished();
    assert!(zombie_children().iter().all(|z| ![&panics, &ends, &killed].iter().any(|p| p.pid() == Some(*z))));
    // Only a handle can ask now: the exit codes were kept when the children were reaped.
    assert!(!panics.is_alive());
    panics.join();
    assert_eq!(panics.exitcode(), Some(1));
    ends.join();
    assert_eq!(ends.exitcode(), Some(0));
    assert!(killed.join_timeout(0.0));
    assert_eq!(killed.exitcode(), Some(-9));
}

#[test]
fn children_of_std_process_command_are_not_reaped() {
    let _one = one_at_a_time();
    let mut child = std::process::Command::new("sh").args(["-c", "exit 7"]).spawn().expect("spawn sh");
    wait_until_finished(child.id() as i32);
    reap_finished();
    let _ = active_children();
    let mut p = Process::new(|| {});
    p.start();
    p.join();
    // Had we reaped it, `wait` would fail with ECHILD or report a made-up status.
    let status = child.wait().expect("Command's child is still ours to wait for");
    assert_eq!(status.code(), Some(7));
}

#[test]
fn a_child_that_starts_processes_and_exits_leaves_no_zombies() {
    let _one = one_at_a_time();
    // Orphans come to this process then (as to the notebook kernel), not to init, which would
    // reap them and hide a child that failed to.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    let queue: Queue<i32> = Queue::new();
    let q = queue.clone();
    let mut parent = Process::new(move || {
        for daemon in [false, false, true] {
            let mut grandchild = Process::new(|| {}).daemon(daemon);
            grandchild.start();
            q.put(grandchild.pid().unwrap());
            // Dropped without a join: the child's exit path must collect it.
        }
    });
    parent.start();
    let grandchildren: Vec<i32> = (0..3).map(|_| queue.get()).collect();
    parent.join();
    assert_eq!(parent.exitcode(), Some(0));
    // The child joined (or, for the daemon, terminated and joined) its own children before
    // exiting; an orphan it left would have been adopted by this process, and no reaping
    // happens here (a zombie would stay).
    let zombies = zombie_children();
    assert!(grandchildren.iter().all(|g| !zombies.contains(g)), "grandchildren left zombies: {zombies:?}");
}
