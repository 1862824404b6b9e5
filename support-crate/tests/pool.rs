//! The process pool and the executors with real processes and threads: order of `map`,
//! completion order of `imap_unordered` and `as_completed` (compared as multisets), panicking
//! tasks, a worker killed in the middle, `terminate`, and the stop button during a `map`
//! leaving no worker behind. Tests marked `#[ignore]` are helpers run by another test in a
//! fresh copy of this test binary.

use std::panic::{AssertUnwindSafe, catch_unwind};

use multiproc::prelude::*;

mod common;
use common::{fake_control_page, fake_kernel_socket, serial, serve_until_exit};

fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Pids of this process's children, zombies included (from /proc, not from our registry).
fn children_of_this_process() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.to_string()) else { continue };
        let ppid: i32 = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        if ppid == me {
            found.push(pid);
        }
    }
    found
}

#[test]
fn map_keeps_input_order_exactly() {
    let _s = serial();
    let pool = Pool::new(4);
    let got = pool.map(|x: u64| x * x, 0..100);
    assert_eq!(got, (0..100u64).map(|x| x * x).collect::<Vec<_>>());
    // More workers than inputs, and no input at all.
    assert_eq!(Pool::new(8).map(|s: String| s.len(), ["ab".to_string()]), [2]);
    assert!(pool.map(|x: u8| x, Vec::new()).is_empty());
    assert_eq!(pool.starmap(|a: u32, b: u32| a + b, [(1, 2), (3, 4)]), [3, 7]);
    let ordered: Vec<i32> = pool.imap(|x: i32| x - 1, 1..=20).collect();
    assert_eq!(ordered, (0..20).collect::<Vec<_>>());
    assert!(children_of_this_process().is_empty(), "map leaves no worker");
}

#[test]
fn map_runs_in_other_processes() {
    let _s = serial();
    let me = current_process().pid();
    let pids = Pool::new(3).map(|_: u8| current_process().pid(), [0; 12]);
    assert!(pids.iter().all(|&p| p != me));
    let names = Pool::new(2).map(|_: u8| current_process().name().to_string(), [0; 4]);
    assert!(names.iter().all(|n| n.starts_with("PoolWorker-")), "{names:?}");
}

#[test]
fn imap_unordered_gives_every_result_once() {
    let _s = serial();
    let pool = Pool::new(4);
    let mut got: Vec<u32> = pool.imap_unordered(|x: u32| x + 1000, 0..50).collect();
    got.sort();
    assert_eq!(got, (1000..1050).collect::<Vec<_>>());
    // Dropped half-way: the remaining workers are killed and reaped.
    let mut it = pool.imap_unordered(|x: u32| x, 0..50);
    assert!(it.next().is_some());
    drop(it);
    assert!(children_of_this_process().is_empty());
}

#[test]
fn a_panicking_task_names_the_worker_and_the_input() {
    let _s = serial();
    let pool = Pool::new(2);
    let msg = panic_message(|| {
        pool.map(|x: u32| if x == 7 { panic!("seven is bad") } else { x }, 0..10);
    });
    assert!(msg.starts_with("Pool::map: worker PoolWorker-"), "{msg}");
    assert!(msg.contains("panicked on input #7 (7): seven is bad"), "{msg}");
    assert!(children_of_this_process().is_empty(), "no worker left after the failure");
}

#[test]
fn a_worker_that_dies_is_reported_not_waited_for() {
    let _s = serial();
    let pool = Pool::new(2);
    let msg = panic_message(|| {
        pool.map(
            |x: u32| {
                if x == 3 {
                    // SAFETY: ends this worker process at once, as a crash would.
                    unsafe { libc::_exit(3) }
                }
                x
            },
            0..8,
        );
    });
    assert!(msg.contains("died (exit code 3) while working on input #"), "{msg}");
    assert!(children_of_this_process().is_empty());
}

#[test]
fn apply_async_get_wait_ready_successful() {
    let _s = serial();
    let mut pool = Pool::new(2);
    let results: Vec<AsyncResult<u64>> = (1..=5u64).map(|n| pool.apply_async(move || n * 11)).collect();
    let bad = pool.apply_async(|| -> u64 { panic!("boom") });
    pool.close();
    pool.join();
    assert!(results.iter().all(|r| r.ready() && r.successful()));
    assert_eq!(results.into_iter().map(AsyncResult::get).collect::<Vec<_>>(), [11, 22, 33, 44, 55]);
    assert!(bad.ready() && !bad.successful());
    let msg = panic_message(|| {
        bad.get();
    });
    assert!(msg.contains("worker PoolWorker-task6 (pid "), "{msg}");
    assert!(msg.ends_with("panicked: boom"), "{msg}");
    assert_eq!(Pool::new(1).apply(|| "x".repeat(3)), "xxx");
    let msg = panic_message(|| Pool::new(1).join());
    assert!(msg.contains("call close() or terminate() first"), "{msg}");
    assert!(children_of_this_process().is_empty());
}

#[test]
fn terminate_stops_running_tasks() {
    let _s = serial();
    let mut pool = Pool::new(2);
    let r = pool.apply_async(|| -> u8 {
        loop {
            multiproc::lesson::sleep(1.0)
        }
    });
    assert!(!r.wait_timeout(0.05));
    pool.terminate();
    pool.join();
    assert!(r.ready() && !r.successful());
    let msg = panic_message(|| {
        r.get();
    });
    assert!(msg.contains("ended (exit code -9) without a result"), "{msg}");
    assert!(children_of_this_process().is_empty());
    let msg = panic_message(|| {
        pool.map(|x: u8| x, [1]);
    });
    assert!(msg.contains("the pool is closed"), "{msg}");
}

#[test]
fn thread_pool_executor_submit_map_as_completed() {
    let executor = ThreadPoolExecutor::new(4);
    let futures: Vec<_> = (0..20u32).map(|i| executor.submit(move || i * 2)).collect();
    let mut got: Vec<u32> = as_completed(&futures).map(|f| f.result()).collect();
    got.sort();
    assert_eq!(got, (0..20).map(|i| i * 2).collect::<Vec<_>>());
    assert_eq!(executor.map(|x: u8| x + 1, [1, 2, 3]), [2, 3, 4]);
    let bad = executor.submit(|| -> u8 { panic!("thread task failed") });
    assert!(bad.exception().unwrap().ends_with("panicked: thread task failed"));
    let msg = panic_message(|| {
        bad.result();
    });
    assert!(msg.contains("thread task failed"), "{msg}");
    let (tx, rx) = crossbeam_channel::unbounded();
    let f = executor.submit(|| 9);
    f.add_done_callback(move |f| tx.send(f.result()).unwrap());
    assert_eq!(rx.recv().unwrap(), 9);
}

#[test]
fn shutdown_waits_and_refuses_new_tasks() {
    let mut executor = ThreadPoolExecutor::new(2);
    let futures: Vec<_> = (0..6).map(|i| executor.submit(move || i)).collect();
    executor.shutdown(true);
    assert!(futures.iter().all(FutureResult::done));
    let msg = panic_message(|| {
        executor.submit(|| 0);
    });
    assert!(msg.contains("cannot schedule new futures after shutdown"), "{msg}");
    // Drop is shutdown(wait=true): every task finished when the executor is gone.
    let f = {
        let executor = ThreadPoolExecutor::new(1);
        executor.submit(|| multiproc::lesson::sleep(0.05))
    };
    assert!(f.done());
}

#[test]
fn process_pool_executor_runs_tasks_in_processes() {
    let _s = serial();
    let me = current_process().pid();
    {
        let executor = ProcessPoolExecutor::new(3);
        let futures: Vec<_> = (0..9u64).map(|i| executor.submit(move || (i, current_process().pid()))).collect();
        let mut got: Vec<(u64, i32)> = as_completed(&futures).map(|f| f.result()).collect();
        got.sort();
        assert_eq!(got.iter().map(|p| p.0).collect::<Vec<_>>(), (0..9).collect::<Vec<_>>());
        assert!(got.iter().all(|p| p.1 != me));
        assert_eq!(executor.map(|x: i64| -x, [1, 2]), [-1, -2]);
        let bad = executor.submit(|| -> u8 { panic!("process task failed") });
        let msg = bad.exception().unwrap();
        assert!(msg.contains("ProcessPoolWorker-") && msg.ends_with("panicked: process task failed"), "{msg}");
    }
    assert!(children_of_this_process().is_empty());
}

#[test]
#[ignore = "helper, run by the_stop_button_ends_a_map_and_leaves_no_worker"]
fn helper_interrupted_map() {
    let pool = Pool::new(2);
    let msg = panic_message(|| {
        pool.map(
            |x: u64| {
                multiproc::lesson::sleep(60.0);
                x
            },
            0..4,
        );
    });
    println!("STOPPED: {msg}");
    // The button stays pressed: every other wait of this module ends at once too.
    let forever = || -> u64 {
        loop {
            multiproc::lesson::sleep(60.0)
        }
    };
    let stopped = |what: &str, f: &mut dyn FnMut()| {
        let msg = panic_message(f);
        let ok = msg.starts_with(multiproc::sys::wait::INTERRUPTED_MESSAGE);
        println!("{what} ENDED BY THE STOP BUTTON: {ok} ({msg})");
    };
    stopped("AsyncResult::get", &mut || {
        Pool::new(1).apply_async(forever).get();
    });
    stopped("ProcessPoolExecutor result", &mut || {
        ProcessPoolExecutor::new(1).submit(forever).result();
    });
    stopped("ThreadPoolExecutor result", &mut || {
        ThreadPoolExecutor::new(1).submit(forever).result();
    });
    stopped("as_completed", &mut || {
        let executor = ThreadPoolExecutor::new(1);
        let futures = [executor.submit(forever)];
        as_completed(&futures).for_each(drop);
    });
    println!("CHILDREN: {}", children_of_this_process().len());
    println!("ACTIVE: {}", active_children().len());
}

#[test]
fn the_stop_button_ends_a_map_and_leaves_no_worker() {
    use multiproc::kernel_link::{Channel, ToKernel};
    use std::process::{Command, Stdio};
    use std::sync::atomic::Ordering;

    let _s = serial();
    // This test plays the kernel: the receiving socket and the shared control page.
    let (fd, page) = fake_control_page(16);
    let (base, kernel) = fake_kernel_socket("pool");
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["helper_interrupted_map", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(multiproc::kernel_link::SOCKET_ENV, &base)
        .env(multiproc::kernel_link::CONTROL_FD_ENV, fd.to_string())
        .env_remove(multiproc::kernel_link::TIME_SCALE_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut workers = 0;
    serve_until_exit(&kernel, &base, &mut child, |channel, data, _| {
        if channel == Some(Channel::Ctl)
            && let Ok(ToKernel::Started { name, .. }) = serde_json::from_slice::<ToKernel>(data)
            && name.starts_with("PoolWorker-")
            && !name.starts_with("PoolWorker-task")
        {
            workers += 1;
            if workers == 2 {
                // Both workers are running the (long) task: press the stop button.
                page.interrupt_cell.store(1, Ordering::SeqCst);
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(workers, 2);
    assert!(
        stdout.contains(&format!("STOPPED: {} while this cell was waiting in", multiproc::sys::wait::INTERRUPTED_MESSAGE)),
        "{stdout}"
    );
    for what in ["AsyncResult::get", "ProcessPoolExecutor result", "ThreadPoolExecutor result", "as_completed"] {
        assert!(stdout.contains(&format!("{what} ENDED BY THE STOP BUTTON: true")), "{stdout}");
    }
    assert!(stdout.contains("CHILDREN: 0"), "{stdout}");
    assert!(stdout.contains("ACTIVE: 0"), "{stdout}");
}
