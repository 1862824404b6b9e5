//! Helpers shared by the support crate's integration tests (each test file includes this
//! module with `mod common;`).
//!
//! The lock, queue, pipe and shared-memory tests fork with these plain helpers rather than
//! `Process`, so that each of those tests depends only on the thing it tests.
#![allow(dead_code)]

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

// `spawn` runs `f` in a child that always leaves through `_exit` (status 0, or 101 if `f` panicked) and
// `join` waits for it and returns its exit status (negative signal number if killed).
pub mod forked {
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, Pid, fork};

    pub fn spawn(f: impl FnOnce()) -> Pid {
        // SAFETY: the child runs only `f` and leaves through `_exit`, never returning into the
        // test harness.
        match unsafe { fork() }.expect("fork failed") {
            ForkResult::Child => {
                // Die with the test process, so a failing test leaves no blocked children.
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
                let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
                unsafe { libc::_exit(if ok { 0 } else { 101 }) }
            }
            ForkResult::Parent { child } => child,
        }
    }

    pub fn join(pid: Pid) -> i32 {
        match waitpid(pid, None).expect("waitpid failed") {
            WaitStatus::Exited(_, code) => code,
            WaitStatus::Signaled(_, sig, _) => -(sig as i32),
            other => panic!("unexpected wait status {other:?}"),
        }
    }

    /// Spawns `n` children running `f(i)` and asserts they all exit with status 0.
    pub fn run_all(n: usize, f: impl Fn(usize) + Clone) {
        let pids: Vec<Pid> = (0..n).map(|i| { let f = f.clone(); spawn(move || f(i)) }).collect();
        for pid in pids {
            assert_eq!(join(pid), 0, "child {pid} failed");
        }
    }
}

/// Forks in parallel test threads would hand each other's children copies of descriptors and
/// locks; one test at a time keeps every test's processes its own.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` in a forked child that exits with 0, or 1 if `f` panicked.
pub fn child(f: impl FnOnce()) -> Pid {
    // SAFETY: the child runs `f` and leaves through `_exit`, never returning into the harness.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = match std::panic::catch_unwind(AssertUnwindSafe(f)) {
                Ok(()) => 0,
                Err(_) => 1,
            };
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    }
}

/// Waits for `pid` and returns its exit status (panics if a signal killed it).
pub fn exit_code(pid: Pid) -> i32 {
    match waitpid(pid, None).expect("waitpid") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("child {pid} ended with {other:?}"),
    }
}


/// A command that runs the `#[ignore]`d test `name` of this test binary in a fresh copy of the
/// program, with none of the kernel's variables inherited and `envs` added. Tests use it to give
/// a helper its own environment or to capture its real stdout and stderr.
pub fn helper_command(name: &str, envs: &[(&str, &str)]) -> std::process::Command {
    use multiproc::kernel_link;
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([name, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env_remove(kernel_link::SOCKET_ENV)
        .env_remove(kernel_link::CONTROL_FD_ENV)
        .env_remove(kernel_link::UNATTENDED_ENV)
        .env_remove(kernel_link::TIME_SCALE_ENV)
        .stdin(std::process::Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// Runs the helper test `name` (see [`helper_command`]), asserts it passed, returns its output.
pub fn run_helper(name: &str, envs: &[(&str, &str)]) -> std::process::Output {
    let out = helper_command(name, envs).output().expect("run helper");
    assert!(
        out.status.success(),
        "helper {name} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Plays the notebook kernel's receiving socket: binds it under a fresh abstract name (returned,
/// for `MULTIPROC_KERNEL_SOCKET`) with a short read timeout so [`serve_until_exit`] can watch
/// the helper.
pub fn fake_kernel_socket(tag: &str) -> (String, std::os::unix::net::UnixDatagram) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let base = format!("multiproc-test-{tag}-{}-{}", std::process::id(), multiproc::lesson::randint(0, 1 << 40));
    let kernel = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(base.as_bytes()).unwrap()).unwrap();
    kernel.set_read_timeout(Some(std::time::Duration::from_millis(100))).unwrap();
    (base, kernel)
}

/// Receives what the helper process `child` sends to the fake kernel socket until it exits
/// (a watchdog fails the test after 60 s), handing each datagram to `on_datagram` with the
/// channel its sender's address names, its bytes, and the sender's address (for replies).
pub fn serve_until_exit(
    kernel: &std::os::unix::net::UnixDatagram,
    base: &str,
    child: &mut std::process::Child,
    mut on_datagram: impl FnMut(Option<multiproc::kernel_link::Channel>, &[u8], &std::os::unix::net::SocketAddr),
) {
    use std::os::linux::net::SocketAddrExt;
    use std::time::{Duration, Instant};
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "helper did not finish");
        match kernel.recv_from(&mut buf) {
            Ok((n, from)) => {
                let name = from.as_abstract_name().unwrap_or_default().to_vec();
                on_datagram(multiproc::kernel_link::Channel::of_address(base, &name), &buf[..n], &from);
            }
            Err(_) => {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
            }
        }
    }
}

/// Plays the notebook kernel with its stop button already pressed: binds the kernel's socket
/// under a fresh name and makes a control page marking the running cell interrupted, then runs
/// the helper test `name` in a fresh copy of this program that sees both. Returns everything the
/// helper printed once it exited; a helper that ignores the stop button would wait forever, so
/// a watchdog kills it after 60 s (the caller's asserts then fail).
pub fn run_with_stop_button_pressed(name: &str) -> (std::process::ExitStatus, String) {
    use multiproc::kernel_link::{CONTROL_FD_ENV, ControlPage, SOCKET_ENV};
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    use std::time::{Duration, Instant};

    let base = format!("multiproc-{name}-{}", std::process::id());
    let _kernel = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(base.as_bytes()).unwrap()).unwrap();
    // SAFETY: a fresh memfd, deliberately without CLOEXEC so the helper program inherits it.
    let fd = unsafe { libc::memfd_create(c"control-page".as_ptr(), 0) };
    assert!(fd >= 0);
    let mut page = vec![0u8; 4096];
    page[0..4].copy_from_slice(&ControlPage::MAGIC.to_le_bytes());
    page[4..8].copy_from_slice(&1u32.to_le_bytes()); // current cell
    page[8..12].copy_from_slice(&1u32.to_le_bytes()); // interrupted cell
    // SAFETY: writing our own buffer to our own descriptor.
    assert_eq!(unsafe { libc::write(fd, page.as_ptr().cast(), page.len()) }, 4096);
    let mut program = helper_command(name, &[(SOCKET_ENV, &base), (CONTROL_FD_ENV, &fd.to_string())])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Watchdog only (not synchronisation).
    let give_up = Instant::now() + Duration::from_secs(60);
    while program.try_wait().unwrap().is_none() {
        if Instant::now() > give_up {
            program.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = program.wait_with_output().unwrap();
    // SAFETY: our descriptor, no longer needed.
    unsafe { libc::close(fd) };
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status, text)
}

/// Plays the notebook kernel's control page: a shared memfd page marking cell 1 as running, with
/// a process cap of `max_processes`. Returns the descriptor (for `MULTIPROC_CONTROL_FD`) and the
/// page, which the test may change (e.g. press the stop button) while the helper runs.
pub fn fake_control_page(max_processes: u32) -> (i32, &'static multiproc::kernel_link::ControlPage) {
    use multiproc::kernel_link::ControlPage;
    use std::sync::atomic::Ordering;
    // SAFETY: plain system calls; the page is mapped shared and never unmapped (test process).
    let (fd, page) = unsafe {
        let fd = libc::memfd_create(c"multiproc-test-page".as_ptr(), 0);
        assert!(fd >= 0);
        assert_eq!(libc::ftruncate(fd, 4096), 0);
        let ptr = libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0);
        assert_ne!(ptr, libc::MAP_FAILED);
        (fd, &*(ptr as *const ControlPage))
    };
    page.current_cell.store(1, Ordering::SeqCst);
    page.max_processes.store(max_processes, Ordering::SeqCst);
    page.magic.store(ControlPage::MAGIC, Ordering::SeqCst);
    (fd, page)
}
