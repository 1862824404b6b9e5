//! `explore` with real processes: outcome counts, returned values and panics, time limits that
//! leave nothing running, and seeded schedule noise that replays.

use std::io::Write;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use multiproc::prelude::*;
use multiproc::sys::perturb;

/// Writes a line straight to file descriptor 1 (`println!` inside `cargo test` goes to the test
/// harness's capture buffer, which a forked run would keep to itself).
fn say(line: impl std::fmt::Display) {
    let mut out = std::io::stdout();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

#[test]
fn counts_every_run_and_only_possible_outcomes() {
    let outcomes = Explore::runs(12).quiet().run(|| {
        let mut a = Process::new(|| say("A")).name("A");
        let mut b = Process::new(|| say("B")).name("B");
        a.start();
        b.start();
        a.join();
        b.join();
    });
    assert_eq!(outcomes.runs(), 12);
    assert_eq!(outcomes.outcomes().iter().map(Outcome::count).sum::<usize>(), 12);
    assert_eq!(outcomes.count("A\nB") + outcomes.count("B\nA"), 12, "{outcomes}");
    assert_eq!(outcomes.timed_out(), 0);
    // Every run number appears exactly once.
    let mut numbers: Vec<usize> = outcomes.outcomes().iter().flat_map(|o| o.run_numbers().to_vec()).collect();
    numbers.sort();
    assert_eq!(numbers, (1..=12).collect::<Vec<_>>());
}

#[test]
fn printed_text_and_returned_value_make_the_outcome() {
    let outcomes = Explore::runs(3).quiet().run(|| {
        say("counting");
        40 + 2
    });
    assert_eq!(outcomes.count("counting\n42"), 3, "{outcomes}");
    // The closure may borrow the cell's variables (each run works on its own copy).
    let words = String::from("no quotes");
    let strings = Explore::runs(2).quiet().run(|| words.clone());
    assert_eq!(strings.count("no quotes"), 2, "{strings}");
}

#[test]
fn a_panic_is_one_outcome_whatever_the_pid() {
    let outcomes = Explore::runs(4).quiet().run(|| -> i32 { panic!("boom") });
    assert_eq!(outcomes.distinct(), 1, "{outcomes}");
    assert_eq!(outcomes.count("panicked: boom"), 4, "{outcomes}");
}

#[test]
fn a_run_past_its_time_limit_is_killed_with_its_children() {
    let (reader, writer) = std::io::pipe().unwrap();
    let w = writer.try_clone().unwrap();
    let started = Instant::now();
    let outcomes = Explore::runs(2).timeout(0.3).quiet().run(move || {
        let mut child = Process::new(|| multiproc::lesson::sleep(1000.0));
        child.start();
        // The grandchild's pid goes to the test through a pipe of its own.
        let mut w = w.try_clone().unwrap();
        writeln!(w, "{}", child.pid().unwrap()).unwrap();
        child.join();
    });
    drop(writer);
    assert_eq!(outcomes.timed_out(), 2, "{outcomes}");
    assert!(outcomes.outcomes()[0].is_timed_out());
    assert!(outcomes.outcomes()[0].text().starts_with("timed out"), "{outcomes}");
    assert!(started.elapsed() < Duration::from_secs(20), "the time limit was not kept");
    // The run's own process is reaped: none of this test's children is left running.
    assert!(active_children().iter().all(|c| c.name() != "explore-run"));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut { reader }, &mut text).unwrap();
    let pids: Vec<i32> = text.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(pids.len(), 2, "{text}");
    for pid in pids {
        // SAFETY: pidfd_open returns a fresh descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            continue; // gone and reaped already
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut pfd = libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd()), events: libc::POLLIN, revents: 0 };
        // A pidfd turns readable when its process has ended; the kill is already sent.
        let r = unsafe { libc::poll(&mut pfd, 1, 10_000) };
        assert_eq!(r, 1, "the run's child {pid} was left running");
    }
}

#[test]
fn a_seed_replays_the_same_pauses() {
    let work = || {
        let lock = Lock::new();
        for _ in 0..64 {
            lock.acquire();
            lock.release();
        }
        (perturb::is_on(), perturb::trace())
    };
    let first = Explore::runs(4).seed(2024).quiet().run(work);
    let again = Explore::runs(4).seed(2024).quiet().run(work);
    let other = Explore::runs(4).seed(2025).quiet().run(work);
    let texts = |o: &Outcomes| o.outcomes().iter().map(|x| (x.text().to_string(), x.run_numbers().to_vec())).collect::<Vec<_>>();
    assert_eq!(texts(&first), texts(&again));
    assert_ne!(texts(&first), texts(&other));
    assert_eq!(first.seed(), Some(2024));
    // Each run's 64 decisions are those of its seed.
    for o in first.outcomes() {
        for &run in o.run_numbers() {
            let seed = perturb::run_seed(2024, (run - 1) as u64);
            let bits = (0..64u64).fold(0u64, |t, k| (t << 1) | u64::from(perturb::decision(seed, k) != perturb::Pause::None));
            assert!(o.text().contains(&format!("(true, {bits})")), "run {run}: {}", o.text());
        }
    }
    // Without a seed there is no noise.
    let plain = Explore::runs(2).quiet().run(work);
    assert_eq!(plain.count("(false, 0)"), 2, "{plain}");
}

#[test]
fn the_text_form_names_counts_and_seed() {
    let outcomes = Explore::runs(3).seed(5).quiet().run(|| say("same"));
    let text = outcomes.to_string();
    assert!(text.starts_with("explore: 3 runs, 1 different outcome"), "{text}");
    assert!(text.contains("seed 5") && text.contains(".seed(5)"), "{text}");
    assert!(text.contains("3 (100%) ") && text.contains("      same"), "{text}");
}
