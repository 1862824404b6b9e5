//! Lesson helpers and display, with real processes. Tests marked `#[ignore]` are helpers run
//! by another test in a fresh copy of this binary (own environment, captured output).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::time::{Duration, Instant};

use multiproc::kernel_link::{self, Channel, FromKernel, ToKernel};
use multiproc::prelude::*;

mod common;
use common::{fake_kernel_socket, helper_command, run_helper, serve_until_exit};

/// The word after `key` in a helper's output (libtest may print its own text on the same line).
fn after<'a>(stdout: &'a str, key: &str) -> &'a str {
    let start = stdout.find(key).unwrap_or_else(|| panic!("{key} missing in {stdout}")) + key.len();
    stdout[start..].split_whitespace().next().unwrap_or("")
}

#[test]
fn randint_is_inclusive_and_in_bounds() {
    let mut seen = [false; 4];
    for _ in 0..4000 {
        let n = randint(1, 4);
        assert!((1..=4).contains(&n), "{n}");
        seen[(n - 1) as usize] = true;
    }
    assert_eq!(seen, [true; 4], "every value from 1 to 4 must come up in 4000 rolls");
    for _ in 0..1000 {
        assert!((-3..=3).contains(&randint(-3, 3)));
    }
    assert_eq!(randint(7, 7), 7);
    let _ = randint(i64::MIN, i64::MAX);
    assert!(std::panic::catch_unwind(|| randint(5, 4)).is_err());
}

#[test]
fn children_roll_different_numbers() {
    let mut rolls = Vec::new();
    for _ in 0..2 {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let mut p = Process::new(move || writeln!(writer, "{}", randint(0, 1 << 62)).unwrap());
        p.start();
        let mut line = String::new();
        BufReader::new(reader).read_line(&mut line).unwrap();
        p.join();
        rolls.push(line.trim().parse::<i64>().unwrap());
    }
    assert_ne!(rolls[0], rolls[1], "each child must reseed its generator");
}

#[test]
fn sleep_waits_at_least_the_time() {
    // The test environment has no time scale set (run_helper covers scaling).
    if std::env::var_os(kernel_link::TIME_SCALE_ENV).is_none() {
        let t = Instant::now();
        sleep(0.05);
        assert!(t.elapsed() >= Duration::from_millis(50));
    }
    assert!(std::panic::catch_unwind(|| sleep(-1.0)).is_err());
}

#[test]
#[ignore = "helper, run by sleep_honours_the_time_scale"]
fn helper_scaled_sleep() {
    let t = Instant::now();
    sleep(5.0);
    println!("ELAPSED-MS={}", t.elapsed().as_millis());
}

#[test]
fn sleep_honours_the_time_scale() {
    let out = run_helper("helper_scaled_sleep", &[(kernel_link::TIME_SCALE_ENV, "0.01")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ms: u64 = after(&stdout, "ELAPSED-MS=").parse().unwrap();
    assert!((50..2000).contains(&ms), "5 s scaled by 0.01 took {ms} ms");
}

#[test]
#[ignore = "helper, run by input_returns_the_default_when_nobody_can_answer"]
fn helper_input() {
    let answer = input("Your name? ", "Jimmy");
    println!("ANSWER={answer}");
}

#[test]
fn input_returns_the_default_when_nobody_can_answer() {
    for envs in [&[(kernel_link::UNATTENDED_ENV, "1")][..], &[][..]] {
        // stdin is /dev/null, not a terminal: both runs are unattended.
        let out = run_helper("helper_input", envs);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("Your name? Jimmy\n"), "{stdout}");
        assert!(stdout.contains("ANSWER=Jimmy\n"), "{stdout}");
    }
}

#[test]
#[ignore = "helper, run by pyprint_writes_every_piece_separately"]
fn helper_pyprint() {
    pyprint!("alpha", 1, "beta");
    println!("PYPRINT-DONE");
}

/// Receives datagrams until one contains `marker` (or 30 s pass).
fn datagrams_until(sock: &UnixDatagram, marker: &str) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let s = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = s.contains(marker);
            got.push(s);
            if done {
                break;
            }
        }
    }
    got
}

#[test]
fn pyprint_writes_every_piece_separately() {
    // With stdout a datagram socket, every write(2) arrives as its own datagram.
    let (ours, theirs) = UnixDatagram::pair().unwrap();
    let mut child = helper_command("helper_pyprint", &[])
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .spawn()
        .unwrap();
    let got = datagrams_until(&ours, "PYPRINT-DONE");
    assert!(child.wait().unwrap().success());
    let want = ["alpha", " ", "1", " ", "beta", "\n"];
    assert!(got.windows(want.len()).any(|w| w == want), "pieces were not written separately: {got:?}");
}

#[test]
#[ignore = "helper, run by ten_processes_print_every_word"]
fn helper_many_greetings() {
    for i in 0..10 {
        Process::new(move || pyprint!("Hi", "Jimmy", "from", "process", format!("P{i}"))).start();
    }
    // Drop detached them; the exit hook joins them.
    std::process::exit(0);
}

#[test]
fn ten_processes_print_every_word() {
    let out = run_helper("helper_many_greetings", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Without a lock the pieces may interleave, even glue words together ("HiHi  Jimmy"), so
    // only how often each piece occurs is guaranteed.
    for (w, n) in [("Hi", 10), ("Jimmy", 10), ("from", 10), ("process", 10)] {
        assert_eq!(stdout.matches(w).count(), n, "{w}: {stdout}");
    }
    for i in 0..10 {
        assert_eq!(stdout.matches(&format!("P{i}")).count(), 1, "{stdout}");
    }
}

#[test]
#[ignore = "helper, run by kernel_messages_go_to_the_kernel_socket"]
fn helper_kernel_messages() {
    pyprint!("raw", "words");
    let mut p = Process::new(|| {}).name("reporter");
    p.start();
    p.join();
    display_html("<b>bold</b>");
    let h = DisplayHandle::new_text("first");
    h.update_text("second");
    clear_output(true);
    let answer = input("Q? ", "dflt");
    let empty = input("R? ", "dflt2");
    println!("CHILD-PID={} ANSWER={answer} EMPTY={empty}", p.pid().unwrap());
}

#[test]
fn kernel_messages_go_to_the_kernel_socket() {
    // This test plays the kernel: it owns the receiving socket a helper process is pointed at.
    let (base, kernel) = fake_kernel_socket("lesson");
    let mut child = helper_command("helper_kernel_messages", &[(kernel_link::SOCKET_ENV, base.as_str())])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut raw = Vec::new();
    let mut ctl = Vec::new();
    serve_until_exit(&kernel, &base, &mut child, |channel, data, from| match channel {
        Some(Channel::Raw) => raw.push(String::from_utf8_lossy(data).into_owned()),
        Some(Channel::Ctl) => ctl.push(serde_json::from_slice::<ToKernel>(data).unwrap()),
        Some(Channel::Reply) => {
            // The person types "typed" at the first prompt and just Enter at the second.
            let text = match serde_json::from_slice(data).unwrap() {
                ToKernel::Input { prompt, password: false } if prompt == "Q? " => "typed",
                ToKernel::Input { prompt, password: false } if prompt == "R? " => "",
                other => panic!("unexpected request {other:?}"),
            };
            let reply = FromKernel::Input { value: Some(text.into()) };
            kernel.send_to_addr(&serde_json::to_vec(&reply).unwrap(), from).unwrap();
        }
        other => panic!("unexpected datagram on {other:?}"),
    });
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pid: i32 = after(&stdout, "CHILD-PID=").parse().unwrap();
    assert_eq!(after(&stdout, "ANSWER="), "typed", "{stdout}");
    assert_eq!(after(&stdout, "EMPTY="), "dflt2", "{stdout}");
    // An empty answer prints the default where the answer would be, and not the prompt again
    // (the notebook already shows the prompt with its empty answer).
    assert!(stdout.contains("dflt2\nCHILD-PID="), "{stdout}");
    assert!(!stdout.contains("R? "), "{stdout}");

    assert_eq!(raw, ["raw", " ", "words", "\n"]);
    // The child says its own name (for the kernel's labels), in no fixed order with its start.
    let hello = ToKernel::Hello { name: "reporter".into() };
    assert_eq!(ctl.iter().filter(|m| **m == hello).count(), 1, "{ctl:?}");
    ctl.retain(|m| *m != hello);
    assert_eq!(ctl[0], ToKernel::Started { pid, name: "reporter".into(), daemon: false });
    match &ctl[1] {
        ToKernel::Display { data, display_id: None, update: false, .. } => {
            assert_eq!(data["text/html"], "<b>bold</b>");
            assert_eq!(data["text/plain"], "bold");
        }
        other => panic!("expected a display, got {other:?}"),
    }
    let (
        ToKernel::Display { display_id: Some(a), update: false, .. },
        ToKernel::Display { display_id: Some(b), update: true, data, .. },
    ) = (&ctl[2], &ctl[3])
    else {
        panic!("expected a display and its update, got {:?}", &ctl[2..]);
    };
    assert_eq!(a, b);
    assert_eq!(data["text/plain"], "second");
    assert_eq!(ctl[4], ToKernel::ClearOutput { wait: true });
    assert_eq!(ctl.len(), 5);
}

#[test]
#[ignore = "helper, run by display_prints_text_outside_the_kernel"]
fn helper_display_fallback() {
    display_html("<p>1 &lt; 2 &amp; <b>bold</b></p>");
    display_svg("<svg/>");
    let h = DisplayHandle::new_text("before");
    h.update_html("<i>after</i>");
}

#[test]
fn display_prints_text_outside_the_kernel() {
    let out = run_helper("helper_display_fallback", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in ["1 < 2 & bold\n", "[SVG image, 6 bytes]\n", "before\n", "after\n"] {
        assert!(stdout.contains(line), "missing {line:?} in {stdout}");
    }
}
