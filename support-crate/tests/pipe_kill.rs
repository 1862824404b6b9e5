//! Pipes when the process at the other end is killed (issue 11: "a process killed while holding
//! anything leaves a clear error, not a hang"), and the squaring pipeline of lesson 18 with real
//! processes: it ends only when every process closed the ends it does not use.

use std::time::{Duration, Instant};

use multiproc::pipe::{Connection, Pipe, RecvError};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};

mod common;
use common::{child, exit_code, serial};

#[test]
fn a_reader_waiting_for_a_killed_writer_gets_end_of_file() {
    let _s = serial();
    let (receiver, sender) = Pipe::one_way::<u32>();
    let pid = child({
        let receiver = receiver.clone();
        move || {
            receiver.close();
            sender.send(1);
            loop {
                std::thread::sleep(Duration::from_secs(1)); // never closes on its own
            }
        }
    });
    assert_eq!(receiver.recv(), Ok(1));
    kill(pid, Signal::SIGKILL).unwrap();
    assert!(matches!(waitpid(pid, None).unwrap(), WaitStatus::Signaled(_, Signal::SIGKILL, _)));
    let started = Instant::now();
    assert_eq!(receiver.recv(), Err(RecvError), "the killed writer's end closed with it");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn sending_to_a_killed_reader_panics_with_broken_pipe_instead_of_killing_the_sender() {
    let _s = serial();
    let (a, b) = Pipe::new::<u32>();
    let pid = child({
        let a = a.clone();
        move || {
            a.close();
            let _ = b.recv();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    });
    a.send(1); // the child takes it, then waits forever
    assert!(!a.poll(0.05));
    kill(pid, Signal::SIGKILL).unwrap();
    waitpid(pid, None).unwrap();
    let err = std::panic::catch_unwind(|| a.send(2)).expect_err("send to a closed pipe must fail");
    let text = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(text.contains("BrokenPipeError"), "{text}");
}

fn squares_through_two_pipes(notebook_closes_its_writer: bool) -> (Vec<u64>, bool) {
    let (p1_read, p1_write) = Pipe::one_way::<u64>();
    let (p2_read, p2_write) = Pipe::one_way::<u64>();
    let all = [&p1_read, &p1_write, &p2_read, &p2_write].map(|c| c.clone());
    let close_all_but = |keep: &[&Connection<u64>]| {
        for end in &all {
            if !keep.iter().any(|k| std::ptr::eq(*k, end)) {
                end.close();
            }
        }
    };
    let producer = child(|| {
        close_all_but(&[&all[1]]);
        for i in 0..10 {
            all[1].send(i);
        }
    });
    let squarer = child(|| {
        close_all_but(&[&all[0], &all[3]]);
        while let Ok(x) = all[0].recv() {
            all[3].send(x * x);
        }
    });
    p1_read.close();
    p1_write.close();
    if notebook_closes_its_writer {
        p2_write.close();
    }
    assert_eq!(exit_code(producer), 0);
    assert_eq!(exit_code(squarer), 0);
    let mut got = Vec::new();
    let ended = loop {
        if !p2_read.poll(0.5) {
            break false;
        }
        match p2_read.recv() {
            Ok(x) => got.push(x),
            Err(RecvError) => break true,
        }
    };
    (got, ended)
}

#[test]
fn the_squaring_pipeline_ends_only_when_every_unused_end_is_closed() {
    let _s = serial();
    let squares: Vec<u64> = (0..10).map(|i| i * i).collect();
    assert_eq!(squares_through_two_pipes(true), (squares.clone(), true));
    assert_eq!(squares_through_two_pipes(false), (squares, false), "a forgotten end: no end of file");
}
