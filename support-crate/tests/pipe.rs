//! Pipes between real forked processes.
//!
//! Children are made with a plain `fork` (helper below) so these tests depend only on the pipe.

use std::time::{Duration, Instant};

use multiproc::pipe::{Pipe, RecvError};

mod common;
use common::{child, exit_code, serial};

#[test]
fn ping_pong_between_two_processes() {
    let _s = serial();
    let (parent_end, child_end) = Pipe::new::<u64>();
    let pid = child({
        let parent_end = parent_end.clone();
        move || {
            parent_end.close(); // the child's copy of the parent's end
            while let Ok(n) = child_end.recv() {
                child_end.send(n + 1);
            }
        }
    });
    // `child_end` moved into the closure, which the helper dropped here: closed in this process.
    let mut n = 0;
    for _ in 0..1000 {
        parent_end.send(n);
        n = parent_end.recv().unwrap();
    }
    assert_eq!(n, 1000);
    parent_end.close();
    // The child only leaves its loop on end of file, which needs every copy of our end closed.
    assert_eq!(exit_code(pid), 0);
}

#[test]
fn recv_reports_end_of_file_after_the_writer_exits() {
    let _s = serial();
    let (receiver, sender) = Pipe::one_way::<String>();
    let pid = child({
        let receiver = receiver.clone();
        move || {
            receiver.close();
            for word in ["one", "two", "three"] {
                sender.send(word.to_string());
            }
        }
    });
    let mut got = Vec::new();
    loop {
        match receiver.recv() {
            Ok(word) => got.push(word),
            Err(e) => {
                assert_eq!(e, RecvError);
                break;
            }
        }
    }
    assert_eq!(got, ["one", "two", "three"]);
    assert_eq!(exit_code(pid), 0);
    assert_eq!(
        receiver.recv(),
        Err(RecvError),
        "end of file stays end of file"
    );
}

#[test]
fn an_unclosed_copy_in_this_process_keeps_the_pipe_open() {
    let _s = serial();
    let (receiver, sender) = Pipe::one_way::<u8>();
    let kept = sender.clone();
    drop(sender);
    sender_send_and_check(&kept, &receiver);
    fn sender_send_and_check(
        s: &multiproc::pipe::Connection<u8>,
        r: &multiproc::pipe::Connection<u8>,
    ) {
        s.send(1);
        assert_eq!(r.recv(), Ok(1));
        // No end of file while a handle is open: poll says nothing is readable.
        assert!(!r.poll(0.05));
    }
    kept.close();
    assert!(receiver.poll(0.0), "end of file is readable");
    assert_eq!(receiver.recv(), Err(RecvError));
}

#[test]
fn poll_waits_for_a_message_from_another_process() {
    let _s = serial();
    let (a, b) = Pipe::new::<u32>();
    assert!(!a.poll(0.0));
    let start = Instant::now();
    assert!(!a.poll(0.1));
    assert!(start.elapsed() >= Duration::from_millis(100));
    let pid = child({
        let a = a.clone();
        move || {
            a.close();
            // Answer only when asked, so the parent's poll really waits for another process.
            let q = b.recv().unwrap();
            b.send(q * 2);
        }
    });
    assert!(!a.poll(0.0), "nothing was sent yet");
    a.send(21);
    assert!(a.poll(30.0));
    assert_eq!(a.recv(), Ok(42));
    assert_eq!(exit_code(pid), 0);
    // The child exited and its end is gone everywhere: poll reports the end of file.
    assert!(a.poll(30.0));
    assert_eq!(a.recv(), Err(RecvError));
}

#[test]
fn large_items_travel_in_parts() {
    let _s = serial();
    let (a, b) = Pipe::new::<Vec<u32>>();
    let big: Vec<u32> = (0..1_000_000).collect();
    let pid = child({
        let a = a.clone();
        move || {
            a.close();
            let v = b.recv().unwrap();
            b.send(v.iter().map(|x| x + 1).collect::<Vec<u32>>());
        }
    });
    a.send(&big);
    let back = a.recv().unwrap();
    assert_eq!(back.len(), big.len());
    assert!(back.iter().zip(&big).all(|(x, y)| *x == y + 1));
    assert_eq!(exit_code(pid), 0);
    // Zero-byte items (the unit type serializes to nothing) still make a message.
    let (x, y) = Pipe::new::<()>();
    x.send(());
    assert_eq!(y.recv(), Ok(()));
}

#[test]
fn misuse_is_reported_clearly() {
    let _s = serial();
    let (receiver, sender) = Pipe::one_way::<u8>();
    assert!(
        std::panic::catch_unwind(|| receiver.send(1)).is_err(),
        "send on a receiving end"
    );
    assert!(
        std::panic::catch_unwind(|| sender.recv()).is_err(),
        "recv on a sending end"
    );
    sender.close();
    assert!(sender.closed());
    assert!(
        std::panic::catch_unwind(|| sender.send(1)).is_err(),
        "send after close"
    );

    let (a, b) = Pipe::new::<u8>();
    b.close();
    let err = std::panic::catch_unwind(|| a.send(1)).unwrap_err();
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned());
    assert!(msg.unwrap().contains("BrokenPipeError"));
}
