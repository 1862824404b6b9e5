//! `capture_output` with real processes: it collects the output of the whole process tree,
//! including `pyprint!` pieces and standard error.

use std::io::Write;

use multiproc::prelude::*;

/// Writes a line straight to file descriptor 1. (`println!` inside `cargo test` goes to the test
/// harness's capture buffer, not to the file descriptor, so it would not reach the pipe.)
fn say(line: impl std::fmt::Display) {
    let mut out = std::io::stdout();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

#[test]
fn collects_children_and_grandchildren() {
    let text = capture_output(|| {
        say("parent line");
        for i in 0..3 {
            Process::new(move || {
                say(format!("child {i}"));
                Process::new(move || say(format!("grandchild {i}"))).start(); // anonymous, never joined
            })
            .start();
        }
    });
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "parent line", "{text}");
    lines.sort();
    assert_eq!(
        lines,
        ["child 0", "child 1", "child 2", "grandchild 0", "grandchild 1", "grandchild 2", "parent line"],
        "{text}"
    );
}

#[test]
fn collects_pyprint_and_stderr() {
    let text = capture_output(|| {
        pyprint!("Hi", "Jimmy", "from process", 7);
        let mut err = std::io::stderr();
        writeln!(err, "to stderr").unwrap();
    });
    assert_eq!(text, "Hi Jimmy from process 7\nto stderr\n");
}

#[test]
fn is_capturing_only_inside() {
    assert!(!is_capturing());
    assert_eq!(capture_output(|| say(is_capturing())), "true\n");
    assert!(!is_capturing());
}
