//! The "process in a subclass" pattern: `Run` and `Process::from_run` with real processes
//! (names after the type, the child's own copy of the value, daemon, terminate, panics).

use std::io::{BufRead, BufReader, Write};

use multiproc::prelude::*;

/// Sends the child's report through a pipe; the parent reads one line (not to end-of-file:
/// children forked by other tests in parallel may hold a copy of the write end).
struct Reporter {
    count: u32,
    out: std::io::PipeWriter,
}

impl Run for Reporter {
    fn run(&mut self) {
        self.count += 1;
        let me = current_process();
        writeln!(self.out, "{}|{}|{}", me.name(), me.pid(), self.count).unwrap();
    }
}

fn read_line(r: std::io::PipeReader) -> String {
    let mut line = String::new();
    BufReader::new(r).read_line(&mut line).unwrap();
    line.trim_end().to_string()
}

#[test]
fn run_happens_in_the_child_under_the_type_name() {
    let (reader, writer) = std::io::pipe().unwrap();
    let mut p = Process::from_run(Reporter { count: 41, out: writer });
    let name = p.get_name().to_string();
    let number = name.strip_prefix("Reporter-").expect("named after the type");
    assert!(number.parse::<u32>().is_ok(), "{name}");
    p.start();
    let line = read_line(reader);
    p.join();
    let parts: Vec<&str> = line.split('|').collect();
    assert_eq!(parts[0], name, "the child sees the same name");
    assert_eq!(parts[1].parse::<i32>().ok(), p.pid(), "run ran in the child");
    assert_eq!(parts[2], "42", "run got the value moved in");
    assert_eq!(p.exitcode(), Some(0));
}

#[test]
fn numbers_continue_across_kinds_of_process() {
    struct Nothing;
    impl Run for Nothing {
        fn run(&mut self) {}
    }
    let a = Process::new(|| {});
    let b = Process::from_run(Nothing);
    let n = |s: &str| s.rsplit('-').next().unwrap().parse::<u32>().unwrap();
    assert!(n(b.get_name()) > n(a.get_name()), "{} then {}", a.get_name(), b.get_name());
    assert!(b.get_name().starts_with("Nothing-"));
}

#[test]
fn generic_types_are_named_without_their_parameters() {
    struct Wrapper<T>(T);
    impl<T: Send + 'static> Run for Wrapper<T> {
        fn run(&mut self) {}
    }
    let p = Process::from_run(Wrapper(vec![1u8]));
    assert!(p.get_name().starts_with("Wrapper-"), "{}", p.get_name());
}

struct Forever;
impl Run for Forever {
    fn run(&mut self) {
        loop {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[test]
fn builders_terminate_and_kill_work_as_for_closures() {
    let mut p = Process::from_run(Forever).name("forever").daemon(true);
    assert_eq!(p.get_name(), "forever");
    assert!(p.is_daemon());
    p.start();
    assert!(p.is_alive());
    p.terminate();
    p.join();
    assert_eq!(p.exitcode(), Some(-15));
    let mut q = Process::from_run(Forever);
    q.start();
    q.kill();
    q.join();
    assert_eq!(q.exitcode(), Some(-9));
}

#[test]
fn a_panicking_run_gives_exit_code_1() {
    struct Broken;
    impl Run for Broken {
        fn run(&mut self) {
            panic!("broken on purpose");
        }
    }
    let mut p = Process::from_run(Broken);
    p.start();
    p.join();
    assert_eq!(p.exitcode(), Some(1));
}
