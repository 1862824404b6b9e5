//! The timeline's recorder (`multiproc::sys::timeline`) with real processes: a log made the way
//! the kernel makes it (a memfd passed in `MULTIPROC_KERNEL_TIMELINE_FD`), recording turned on
//! and off the way the kernel does, and the events that processes, a lock, a queue and `join`
//! write into it.
//!
//! One test function: the log's descriptor is read once per process, and the steps share it.

use multiproc::lock::Lock;
use multiproc::process::Process;
use multiproc::queue::Queue;
use multiproc::sys::timeline::{self, Event, Kind};
// (`Event` here is the log's; the synchronisation event is `multiproc::event::Event`.)

fn make_log() -> timeline::Log {
    // SAFETY: a fresh memfd, sized as the kernel sizes it; no CLOEXEC so children keep it.
    let fd = unsafe { libc::memfd_create(c"timeline-test".as_ptr(), 0) };
    assert!(fd >= 0);
    assert_eq!(unsafe { libc::ftruncate(fd, timeline::LOG_BYTES as libc::off_t) }, 0);
    // SAFETY: set before any thread of this test reads the environment or the log.
    unsafe { std::env::set_var(timeline::TIMELINE_FD_ENV, fd.to_string()) };
    timeline::log().expect("the log maps")
}

/// Turns recording on or off as the kernel and the runtime's before-cell hook do.
fn record(log: &timeline::Log, on: bool) {
    if on {
        log.set_on(false);
        log.clear();
    }
    log.set_on(on);
    timeline::before_cell();
}

fn of(events: &[Event], kind: Kind) -> Vec<&Event> {
    events.iter().filter(|e| e.kind == kind).collect()
}

/// The cell of the test in the kernel: three processes, one lock, one queue.
fn three_workers() -> Vec<u32> {
    let lock = Lock::new().named("pen");
    let q: Queue<u32> = Queue::new().named("results");
    let mut workers = Vec::new();
    for i in 0..3u32 {
        let (lock, q) = (lock.clone(), q.clone());
        let mut p = Process::new(move || {
            let _g = lock.lock();
            q.put(i);
        })
        .name(format!("Worker-{i}"));
        p.start();
        workers.push(p);
    }
    let got: Vec<u32> = (0..3).map(|_| q.get()).collect();
    for p in &workers {
        p.join();
    }
    let mut pids: Vec<u32> = workers.iter().map(|p| p.pid().unwrap() as u32).collect();
    pids.sort_unstable();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 1, 2]);
    pids
}

#[test]
fn the_recorder_writes_what_processes_locks_queues_and_join_did_and_nothing_when_off() {
    let log = make_log();

    // Off: the same work writes nothing.
    record(&log, false);
    three_workers();
    assert!(log.events().is_empty(), "recording was off: {:?}", log.events());

    // On.
    record(&log, true);
    let pids = three_workers();
    record(&log, false);
    let ev = log.events();
    let me = std::process::id();

    // Each worker started (with its name and its parent) and exited.
    let mut started: Vec<(u32, String, u64)> = of(&ev, Kind::ProcessStart).iter().map(|e| (e.pid, e.name.clone(), e.a)).collect();
    started.sort();
    assert_eq!(started.iter().map(|s| s.0).collect::<Vec<_>>(), pids, "{ev:#?}");
    assert!(started.iter().all(|(_, name, parent)| name.starts_with("Worker-") && *parent == u64::from(me)));
    // A child's events come from its main thread (thread id = pid), not the parent's thread
    // it was forked from.
    assert!(ev.iter().filter(|e| pids.contains(&e.pid)).all(|e| e.tid == e.pid), "{ev:#?}");
    let mut exited: Vec<u32> = of(&ev, Kind::ProcessExit).iter().map(|e| e.pid).collect();
    exited.sort_unstable();
    assert_eq!(exited, pids);

    // Every hold of the lock is taken and let go by the same worker, and holds never overlap:
    // the log's order is the order of the fetch_add, and a release is logged before the lock
    // is let go.
    let locks: Vec<&Event> = ev.iter().filter(|e| matches!(e.kind, Kind::LockAcquired | Kind::LockReleased)).collect();
    assert_eq!(locks.len(), 6, "{locks:#?}");
    for pair in locks.chunks(2) {
        assert_eq!((pair[0].kind, pair[1].kind), (Kind::LockAcquired, Kind::LockReleased), "{locks:#?}");
        assert_eq!(pair[0].pid, pair[1].pid);
        assert_eq!(pair[0].name, "pen");
    }

    // Each item's put and get carry the same number in the queue: 0, 1, 2, one each.
    let mut puts: Vec<u64> = of(&ev, Kind::Put).iter().map(|e| e.a).collect();
    let mut gets: Vec<u64> = of(&ev, Kind::Get).iter().filter(|e| e.pid == me).map(|e| e.a).collect();
    puts.sort_unstable();
    gets.sort_unstable();
    assert_eq!((puts.clone(), gets), (vec![0, 1, 2], vec![0, 1, 2]));
    assert!(of(&ev, Kind::Put).iter().all(|e| e.name == "results" && pids.contains(&e.pid)));
    // A get is logged after the put of its item.
    for g in of(&ev, Kind::Get) {
        let p = of(&ev, Kind::Put).into_iter().find(|p| p.a == g.a).unwrap();
        assert!(p.t_ns <= g.t_ns);
    }

    // The parent joined each worker once: called, then returned, with the child's pid.
    let calls: Vec<u64> = of(&ev, Kind::JoinCalled).iter().map(|e| e.a).collect();
    let returns: Vec<u64> = of(&ev, Kind::JoinReturned).iter().map(|e| e.a).collect();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls, returns);
    assert!(of(&ev, Kind::JoinCalled).iter().all(|e| e.pid == me));

    // Every wait that began also ended, with the same operation and object.
    let blocked = of(&ev, Kind::Blocked);
    let woke = of(&ev, Kind::Woke);
    assert_eq!(blocked.len(), woke.len(), "{ev:#?}");
    for b in &blocked {
        assert!(woke.iter().any(|w| w.tid == b.tid && w.op == b.op && w.name == b.name && w.t_ns >= b.t_ns));
    }

    // A wait for a lock is logged with the process that held it.
    record(&log, true);
    let lock = Lock::new().named("pen");
    let held = multiproc::event::Event::new();
    let (l2, h2) = (lock.clone(), held.clone());
    let mut holder = Process::new(move || {
        let _g = l2.lock();
        h2.set();
        multiproc::lesson::sleep(0.2);
    })
    .name("Holder");
    holder.start();
    held.wait();
    lock.acquire(); // sleeps until the holder lets go
    lock.release();
    holder.join();
    record(&log, false);
    let ev = log.events();
    let woke: Vec<&Event> = ev.iter().filter(|e| e.kind == Kind::Woke && e.op == "Lock::acquire").collect();
    assert_eq!(woke.len(), 1, "{ev:#?}");
    assert_eq!(woke[0].a, holder.pid().unwrap() as u64, "the holder is named");
    assert!(ev.iter().any(|e| e.kind == Kind::Blocked && e.name == "pen" && e.pid == me && e.t_ns <= woke[0].t_ns));

    // Pipe messages: each send and the recv that took its message carry the same number,
    // whichever of two senders sharing one end sent it; a large message (several parts) too.
    record(&log, true);
    let (rx, tx) = multiproc::pipe::Pipe::one_way::<Vec<u8>>();
    let mut senders = Vec::new();
    for i in 0..2u8 {
        let tx = tx.clone();
        let mut p = Process::new(move || {
            tx.send(vec![i; 3]);
            // Raw: one message of exactly the pipe's largest part (32 KiB), one of several parts.
            tx.send_bytes(&vec![i; if i == 0 { 32 * 1024 } else { 100_000 }]);
        })
        .name(format!("Sender-{i}"));
        p.start();
        senders.push(p);
    }
    let lengths: Vec<usize> = (0..4).map(|_| rx.recv_bytes().unwrap().len()).collect();
    for p in &senders {
        p.join();
    }
    record(&log, false);
    let ev = log.events();
    let mut sorted_lengths = lengths.clone();
    sorted_lengths.sort_unstable();
    // (`send(vec![i; 3])` is 4 bytes: postcard's length, then the three.)
    assert_eq!(sorted_lengths, [4, 4, 32 * 1024, 100_000], "the number is not part of the message");
    let sends = of(&ev, Kind::Send);
    let recvs = of(&ev, Kind::Recv);
    assert_eq!((sends.len(), recvs.len()), (4, 4), "{ev:#?}");
    let mut numbers: Vec<u64> = sends.iter().map(|e| e.a).collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 4, "every message has its own number: {sends:#?}");
    for r in &recvs {
        assert_eq!(r.pid, me);
        let s = sends.iter().find(|s| s.a == r.a).expect("a recv names a message that was sent");
        assert!(s.t_ns <= r.t_ns && s.pid != me && s.name == "pipe");
    }
    // Each child's start is logged in the parent too, with the child's pid (the child's own
    // first event may come before or after it: that is the scheduler's choice).
    let spawned: Vec<u64> = of(&ev, Kind::Spawned).iter().filter(|e| e.pid == me).map(|e| e.a).collect();
    let mut child_pids: Vec<u64> = senders.iter().map(|p| p.pid().unwrap() as u64).collect();
    child_pids.sort_unstable();
    let mut spawned_sorted = spawned.clone();
    spawned_sorted.sort_unstable();
    assert_eq!(spawned_sorted, child_pids, "{ev:#?}");

    // An RLock's hold is one hold however often it is re-entered, and a thread's end is logged.
    record(&log, true);
    let r = multiproc::lock::RLock::new().named("account");
    let r2 = r.clone();
    let t = std::thread::Builder::new()
        .name("teller".into())
        .spawn(move || {
            let _outer = r2.lock();
            let _inner = r2.lock();
        })
        .unwrap();
    t.join().unwrap();
    assert!(r.try_acquire());
    r.release();
    record(&log, false);
    let ev = log.events();
    let holds: Vec<(Kind, u32)> =
        ev.iter().filter(|e| e.name == "account" && matches!(e.kind, Kind::LockAcquired | Kind::LockReleased)).map(|e| (e.kind, e.tid)).collect();
    assert_eq!(holds.len(), 4, "{ev:#?}");
    assert_eq!(holds.iter().map(|h| h.0).collect::<Vec<_>>(), [Kind::LockAcquired, Kind::LockReleased, Kind::LockAcquired, Kind::LockReleased]);
    let seen = ev.iter().find(|e| e.kind == Kind::ThreadSeen && e.name == "teller").expect("the thread was seen");
    assert!(holds[0].1 == seen.tid && holds[1].1 == seen.tid && holds[2].1 != seen.tid, "{holds:?}");
    let exit = ev.iter().find(|e| e.kind == Kind::ThreadExit && e.tid == seen.tid).expect("its end is logged");
    assert!(exit.t_ns >= ev.iter().filter(|e| e.tid == seen.tid && e.kind != Kind::ThreadExit).map(|e| e.t_ns).max().unwrap());

    // Off: messages carry no number and nothing is written.
    let (a, b) = multiproc::pipe::Pipe::new::<u8>();
    a.send(7);
    assert_eq!(b.recv(), Ok(7));
    assert!(log.events().iter().all(|e| !matches!(e.kind, Kind::Send | Kind::Recv)), "recorded while off");
}
