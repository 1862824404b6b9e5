//! Real processes: pids, names, exit codes, waiting, detaching, the process cap and the fork
//! rules (buffered output, panics, stdin). Tests marked `#[ignore]` are helpers that another
//! test runs in a fresh copy of this test binary (to capture its real stdout/stderr or give
//! it its own environment); they do nothing useful on their own.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use multiproc::prelude::*;

mod common;
use common::{fake_kernel_socket, run_helper, serve_until_exit};

/// Starts a process whose closure returns one line of text, and reads that line back.
fn report_from_child(f: impl FnOnce() -> String + Send + 'static) -> (Process, String) {
    let (reader, mut writer) = std::io::pipe().unwrap();
    let mut p = Process::new(move || {
        let line = f();
        writer.write_all(format!("{line}\n").as_bytes()).unwrap();
    });
    p.start();
    // Read up to the newline, not to end-of-file: children forked by other tests in parallel
    // may hold a copy of the write end.
    let mut line = String::new();
    BufReader::new(reader).read_line(&mut line).unwrap();
    (p, line.trim_end().to_string())
}

/// A pipe whose read end a child blocks on until the test writes a byte (no sleeps).
fn gate() -> (std::io::PipeReader, std::io::PipeWriter) {
    std::io::pipe().unwrap()
}

fn wait_at_gate(mut r: std::io::PipeReader) {
    let mut b = [0u8; 1];
    let _ = r.read(&mut b);
}

#[test]
fn children_have_distinct_pids_and_python_names() {
    let me = std::process::id() as i32;
    let mut seen = Vec::new();
    for given in [None, None, Some("digger A")] {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let mut p = Process::new(move || {
            let c = current_process();
            let parent = parent_process().unwrap();
            writeln!(writer, "{}|{}|{}|{}", c.pid(), c.name(), parent.pid(), parent.name()).unwrap();
        });
        if let Some(n) = given {
            p = p.name(n);
        }
        let expected_name = p.get_name().to_string();
        match given {
            Some(n) => assert_eq!(expected_name, n),
            None => assert!(expected_name.starts_with("Process-"), "{expected_name}"),
        }
        p.start();
        let mut line = String::new();
        BufReader::new(reader).read_line(&mut line).unwrap();
        p.join();
        let parts: Vec<&str> = line.trim_end().split('|').collect();
        let pid: i32 = parts[0].parse().unwrap();
        assert_eq!(Some(pid), p.pid());
        assert_ne!(pid, me);
        assert_eq!(parts[1], expected_name);
        assert_eq!(parts[2].parse::<i32>().unwrap(), me);
        assert_eq!(parts[3], "MainProcess");
        assert_eq!(p.exitcode(), Some(0));
        seen.push(pid);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 3);
    assert_eq!(current_process().name(), "MainProcess");
    assert!(parent_process().is_none());
}

#[test]
fn grandchildren_are_named_like_python() {
    let (p, line) = report_from_child(|| {
        let parent_name = current_process().name().to_string();
        let (child, name) = report_from_child(|| current_process().name().to_string());
        child.join();
        format!("{parent_name}|{name}")
    });
    p.join();
    let (parent_name, name) = line.split_once('|').unwrap();
    assert!(parent_name.starts_with("Process-"));
    assert_eq!(name, format!("{parent_name}:1"));
}

#[test]
fn exit_codes_follow_python() {
    let mut ok = Process::new(|| {});
    let mut panics = Process::new(|| panic!("on purpose"));
    let (r1, _w1) = gate();
    let mut killed = Process::new(move || wait_at_gate(r1));
    let (r2, _w2) = gate();
    let mut terminated = Process::new(move || wait_at_gate(r2));
    for p in [&mut ok, &mut panics, &mut killed, &mut terminated] {
        assert_eq!(p.exitcode(), None);
        p.start();
    }
    killed.kill();
    terminated.terminate();
    for p in [&ok, &panics, &killed, &terminated] {
        p.join();
        assert!(!p.is_alive());
    }
    assert_eq!(ok.exitcode(), Some(0));
    assert_eq!(panics.exitcode(), Some(1));
    assert_eq!(killed.exitcode(), Some(-9));
    assert_eq!(terminated.exitcode(), Some(-15));
    // Signalling a finished process does nothing.
    killed.kill();
    assert_eq!(killed.exitcode(), Some(-9));
}

#[test]
fn join_timeout_is_alive_and_active_children() {
    let (r, mut w) = gate();
    let mut p = Process::new(move || wait_at_gate(r)).name("waiter");
    assert!(!p.is_alive());
    p.start();
    let pid = p.pid().unwrap();
    assert!(p.is_alive());
    let t = Instant::now();
    assert!(!p.join_timeout(0.2), "the child waits at the gate, so it cannot have finished");
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert!(p.is_alive());
    let active = active_children();
    let me = active.iter().find(|c| c.pid() == pid).expect("running child is listed");
    assert_eq!(me.name(), "waiter");
    w.write_all(b"x").unwrap();
    assert!(p.join_timeout(30.0));
    assert!(!p.is_alive());
    assert_eq!(p.exitcode(), Some(0));
    assert!(active_children().iter().all(|c| c.pid() != pid));
}

#[test]
fn dropping_a_started_handle_detaches() {
    let (r_go, mut w_go) = gate();
    let (r_done, mut w_done) = std::io::pipe().unwrap();
    let mut p = Process::new(move || {
        wait_at_gate(r_go);
        writeln!(w_done, "ran in {}", std::process::id()).unwrap();
    });
    p.start();
    let pid = p.pid().unwrap();
    drop(p); // must neither block (the child waits at the gate) nor kill it
    assert!(active_children().iter().any(|c| c.pid() == pid));
    w_go.write_all(b"x").unwrap();
    let mut line = String::new();
    BufReader::new(r_done).read_line(&mut line).unwrap();
    assert_eq!(line.trim_end(), format!("ran in {pid}"));
    // The detached child is reaped by active_children once it has exited.
    let deadline = Instant::now() + Duration::from_secs(30);
    while active_children().iter().any(|c| c.pid() == pid) {
        assert!(Instant::now() < deadline, "detached child was never reaped");
        std::thread::yield_now();
    }
    // Reaped means no zombie is left: the pid is no longer our child.
    let r =
        nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
    assert_eq!(r, Err(nix::errno::Errno::ECHILD));
}

#[test]
fn a_child_joins_its_own_children_before_exiting() {
    let (r, mut w) = gate();
    let mut p = Process::new(move || {
        let mut grandchild = Process::new(move || wait_at_gate(r));
        grandchild.start();
        // returns without joining: the child must still wait for the grandchild
    });
    p.start();
    assert!(!p.join_timeout(0.3), "the child cannot exit while its non-daemon child runs");
    w.write_all(b"x").unwrap();
    assert!(p.join_timeout(30.0));
    assert_eq!(p.exitcode(), Some(0));
}

#[test]
fn a_child_terminates_its_daemon_children_when_it_exits() {
    let (reader, mut writer) = std::io::pipe().unwrap();
    let mut p = Process::new(move || {
        let (r, _w) = std::io::pipe().unwrap();
        let mut d = Process::new(move || wait_at_gate(r)).daemon(true);
        d.start();
        writeln!(writer, "{}", d.pid().unwrap()).unwrap();
        std::mem::forget(d);
    });
    p.start();
    let mut line = String::new();
    BufReader::new(reader).read_line(&mut line).unwrap();
    let daemon_pid: i32 = line.trim().parse().unwrap();
    assert!(p.join_timeout(30.0), "a daemon child must not keep its parent alive");
    assert_eq!(p.exitcode(), Some(0));
    // The daemon was terminated and reaped by its parent.
    assert_eq!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon_pid), None),
        Err(nix::errno::Errno::ESRCH)
    );
}

#[test]
fn child_stdin_is_dev_null() {
    let mut p = Process::new(|| {
        use std::os::unix::fs::MetadataExt;
        let null = std::fs::metadata("/dev/null").unwrap();
        let fd0 = std::fs::metadata("/proc/self/fd/0").unwrap();
        assert_eq!((fd0.dev(), fd0.ino(), fd0.rdev()), (null.dev(), null.ino(), null.rdev()));
        let mut buf = [0u8; 8];
        assert_eq!(std::io::stdin().read(&mut buf).unwrap(), 0, "stdin must be at end of input");
    });
    p.start();
    p.join();
    assert_eq!(p.exitcode(), Some(0), "the child's checks of fd 0 failed");
}

#[test]
fn start_twice_and_join_unstarted_panic() {
    let mut p = Process::new(|| {});
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.join())).is_err());
    p.start();
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.start())).is_err());
    p.join();
    assert_eq!(p.exitcode(), Some(0));
}

#[test]
fn cpu_count_is_positive() {
    assert!(cpu_count() >= 1);
}

// ---- checks that need a fresh process (captured stdout/stderr, own environment) ----

#[test]
#[ignore = "helper, run by buffered_print_is_not_duplicated_after_fork"]
fn helper_buffered_print() {
    print!("PARTIAL-LINE-");
    let mut p = Process::new(|| println!("CHILD-LINE"));
    p.start();
    p.join();
    println!("END");
}

#[test]
fn buffered_print_is_not_duplicated_after_fork() {
    let out = run_helper("helper_buffered_print", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("PARTIAL-LINE-").count(), 1, "{stdout}");
    assert_eq!(stdout.matches("CHILD-LINE").count(), 1, "{stdout}");
    // Order forced by start (the partial line was flushed first) and join.
    let a = stdout.find("PARTIAL-LINE-").unwrap();
    let b = stdout.find("CHILD-LINE").unwrap();
    let c = stdout.find("END").unwrap();
    assert!(a < b && b < c, "{stdout}");
}

#[test]
#[ignore = "helper, run by a_panicking_child_names_its_pid"]
fn helper_panicking_child() {
    let mut p = Process::new(|| panic!("the digger fell in the hole")).name("digger B");
    p.start();
    p.join();
    println!("CHILD-PID={} EXIT={:?}", p.pid().unwrap(), p.exitcode());
}

#[test]
fn a_panicking_child_names_its_pid() {
    let out = run_helper("helper_panicking_child", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = &stdout[stdout.find("CHILD-PID=").expect("report line") + "CHILD-PID=".len()..];
    let pid = line.split(' ').next().unwrap();
    assert!(line.starts_with(&format!("{pid} EXIT=Some(1)")), "{line}");
    let expected = format!("Process digger B (pid {pid}) panicked: the digger fell in the hole (at ");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with(&expected)).count(),
        1,
        "want one {expected:?} in:\n{stderr}"
    );
}

#[test]
#[ignore = "helper, run by the_process_cap_refuses_politely"]
fn helper_process_cap() {
    let (r, mut w) = gate();
    let mut running = Vec::new();
    for _ in 0..3 {
        let r = r.try_clone().unwrap();
        let mut p = Process::new(move || wait_at_gate(r));
        p.start();
        running.push(p);
    }
    let refused = std::panic::catch_unwind(|| Process::new(|| {}).start()).expect_err("4th start must fail");
    let msg = refused.downcast_ref::<String>().cloned().unwrap_or_default();
    println!("REFUSED: {msg}");
    w.write_all(b"xxx").unwrap();
    for p in &running {
        p.join();
    }
    let mut again = Process::new(|| {});
    again.start();
    again.join();
    println!("AFTER-JOIN-EXIT={:?}", again.exitcode());
}

#[test]
fn the_process_cap_refuses_politely() {
    let out = run_helper("helper_process_cap", &[(multiproc::kernel_link::MAX_PROCESSES_ENV, "3")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("REFUSED: Too many processes: this program already has 3 child processes running"),
        "{stdout}"
    );
    assert!(stdout.contains("AFTER-JOIN-EXIT=Some(0)"), "{stdout}");
}

#[test]
#[ignore = "helper, run by a_program_waits_for_its_children_at_exit"]
fn helper_exit_joins_children() {
    Process::new(|| {
        // Only outlives the parent's main code; the parent's exit hook must wait for it.
        multiproc::lesson::sleep(0.3);
        println!("LATE-CHILD-DONE");
    })
    .start();
    println!("MAIN-DONE");
    std::process::exit(0);
}

#[test]
fn a_program_waits_for_its_children_at_exit() {
    let out = run_helper("helper_exit_joins_children", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let main = stdout.find("MAIN-DONE").expect("main line");
    let late = stdout.find("LATE-CHILD-DONE").expect("the child was not waited for at exit");
    assert!(main < late);
}

#[test]
#[ignore = "helper, run by in_the_kernel_the_cap_and_the_stop_button_work"]
fn helper_kernel_cap_and_stop() {
    let mut a = Process::new(|| {});
    a.start();
    a.join();
    let (r, _w) = gate();
    let mut b = Process::new(move || wait_at_gate(r)).name("blocked");
    b.start();
    let refused = std::panic::catch_unwind(|| Process::new(|| {}).start()).expect_err("cap reached");
    println!("REFUSED: {}", refused.downcast_ref::<String>().cloned().unwrap_or_default());
    let stopped =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.join())).expect_err("stop button");
    println!("STOPPED: {}", stopped.downcast_ref::<String>().cloned().unwrap_or_default());
    b.kill();
}

#[test]
fn in_the_kernel_the_cap_and_the_stop_button_work() {
    use multiproc::kernel_link::{Channel, ToKernel};
    use std::sync::atomic::Ordering;

    // This test plays the kernel: the receiving socket and the shared control page.
    let (fd, page) = common::fake_control_page(2);

    let (base, kernel) = fake_kernel_socket("k");
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["helper_kernel_cap_and_stop", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(multiproc::kernel_link::SOCKET_ENV, &base)
        .env(multiproc::kernel_link::CONTROL_FD_ENV, fd.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut started = Vec::new();
    let mut hellos = Vec::new();
    serve_until_exit(&kernel, &base, &mut child, |channel, data, _| {
        if channel == Some(Channel::Ctl) {
            let msg: ToKernel = serde_json::from_slice(data).unwrap();
            if let ToKernel::Started { name, .. } = &msg
                && name == "blocked"
            {
                // The stop button: mark the running cell interrupted.
                page.interrupt_cell.store(1, Ordering::SeqCst);
            }
            // Each child also says its own name first (for the kernel's labels).
            if let ToKernel::Hello { name } = msg {
                hellos.push(name);
            } else {
                started.push(msg);
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(started.len(), 2, "{started:?}");
    assert_eq!(hellos.len(), 2, "{hellos:?}");
    assert!(hellos.iter().any(|h| h == "blocked"), "{hellos:?}");
    assert!(
        stdout.contains(
            "REFUSED: Too many processes: this notebook already has 2 processes running (the limit is 2)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "STOPPED: {} while this cell was waiting in Process::join.",
            multiproc::sys::wait::INTERRUPTED_MESSAGE
        )),
        "{stdout}"
    );
    assert_eq!(page.live_processes.load(Ordering::SeqCst), 2, "two starts counted, the refused one not");
}
