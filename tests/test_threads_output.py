"""Threads in the kernel: each thread's output goes to the cell during which it was spawned.

All threads of the runtime share its fd 1 and fd 2; the runtime frames every write with the
writing thread and its cell (docs/architecture.md, "Output of threads"). A line a thread prints
while its cell runs is part of that cell's output, in order, unlabelled; a line it prints after
its cell finished goes to that cell's late-output display, labelled with the thread's name (or
its id), never to the cell that happens to run. Orders are forced with channels and joins,
never with sleeps.
"""

from __future__ import annotations

import queue
import re
import time

import pytest

from conftest import run_cell


def ok(res):
    assert res.status == "ok", (res.errors, res.stderr)
    return res


@pytest.fixture(scope="module")
def started(kernel):
    """The module's kernel, past its start-up (whose notice is a display of the first cell)."""
    _, kc = kernel
    ok(run_cell(kc, "let warm = 1;", timeout=300))
    return kc


def labelled(res) -> list:
    """The late-output displays among a cell's messages."""
    texts = [m["content"]["data"].get("text/plain", "") for m in res.displays]
    return [t for t in texts if "after the cell finished]" in t]


def run_and_watch(kc, code: str, earlier_msg_id: str, timeout: float = 120):
    """Runs ``code`` and returns (its stdout text, the texts of the late displays of the cell
    ``earlier_msg_id`` shown by then, every message of the new cell), collected up to the new
    cell's idle status (everything a thread printed before the new cell returned is handled
    by then)."""
    msg_id = kc.execute(code)
    stdout, late, messages = "", {}, []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            m = kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        parent = m["parent_header"].get("msg_id")
        if parent == earlier_msg_id and m["msg_type"] in ("display_data", "update_display_data"):
            late[m["content"]["transient"]["display_id"]] = m["content"]["data"].get("text/plain", "")
        if parent == msg_id:
            messages.append(m)
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                break
    else:
        raise TimeoutError(f"no idle status for {code!r}")
    reply = kc.get_shell_msg(timeout=timeout)
    assert reply["content"]["status"] == "ok", reply["content"]
    # The text a frontend keeps: the last clear_output (the canonical replay) and what follows.
    for m in messages:
        if m["msg_type"] == "clear_output":
            stdout = ""
        if m["msg_type"] == "stream" and m["content"]["name"] == "stdout":
            stdout += m["content"]["text"]
    return stdout, late, messages


def test_a_thread_prints_in_its_cell_then_late_in_its_cell_labelled_never_in_the_next(started):
    kc = started
    # The thread prints 100 lines while its cell runs (the cell waits until they are written),
    # then waits for the next cell, which lets it print 100 more and a line on stderr and joins it.
    code1 = r"""
let (halfway_tx, halfway) = std::sync::mpsc::channel::<()>();
let (gate, opened) = std::sync::mpsc::channel::<()>();
let late_writer = std::thread::Builder::new().name("late-writer".into()).spawn(move || {
    for i in 0..100 { println!("early {i}"); }
    halfway_tx.send(()).unwrap();
    opened.recv().unwrap();
    for i in 0..100 { println!("late {i}"); }
    eprintln!("late complaint");
}).unwrap();
halfway.recv().unwrap();
println!("cell one returns");
"""
    res1 = ok(run_cell(kc, code1))
    first = res1.messages[0]["parent_header"]["msg_id"]
    assert res1.stdout.splitlines() == [f"early {i}" for i in range(100)] + ["cell one returns"], res1.stdout
    assert not labelled(res1), res1.displays
    stdout2, late, _ = run_and_watch(kc, 'gate.send(()).unwrap();\nlate_writer.join().unwrap();\nprintln!("cell two after the join");', first)
    assert stdout2 == "cell two after the join\n", "a late thread's line must not land in the running cell"
    assert len(late) == 1, late
    shown = next(iter(late.values())).splitlines()
    label = "[thread 'late-writer', after the cell finished] "
    # Each stream in its order (stdout and stderr are read apart: their order is not kept).
    assert [line for line in shown if re.search(r"late \d+$", line)] == [f"{label}late {i}" for i in range(100)], shown
    assert shown.count(f"{label}late complaint") == 1, shown
    assert len(shown) == 101, shown


def test_threads_printing_while_their_cell_runs_are_unlabelled_complete_and_in_causal_order(started):
    kc = started
    code = r"""
println!("before the threads");
let handles: Vec<_> = (0..4).map(|w| std::thread::Builder::new().name(format!("w{w}")).spawn(move || {
    for j in 0..250 { println!("w{w} line {j}"); }
    eprintln!("w{w} done");
}).unwrap()).collect();
for h in handles { h.join().unwrap(); }
std::thread::scope(|s| { s.spawn(|| println!("scoped thread")); });
println!("after the threads");
"""
    res = ok(run_cell(kc, code))
    assert not labelled(res), "no label while the cell runs"
    lines = res.stdout.splitlines()
    assert lines[0] == "before the threads" and lines[-1] == "after the threads" and lines[-2] == "scoped thread", lines[:3] + lines[-3:]
    middle = lines[1:-2]
    assert len(middle) == 1000
    for w in range(4):
        # Each thread's lines are whole and in the order it printed them.
        assert [line for line in middle if line.startswith(f"w{w} ")] == [f"w{w} line {j}" for j in range(250)]
    assert sorted(res.stderr.splitlines()) == [f"w{w} done" for w in range(4)]


def test_a_thread_started_by_a_late_thread_belongs_to_the_first_cell_and_is_labelled_by_its_id(started):
    kc = started
    code1 = r"""
let (gate2, opened2) = std::sync::mpsc::channel::<()>();
let outer = std::thread::spawn(move || {
    opened2.recv().unwrap();
    let inner = std::thread::spawn(|| println!("grandchild thread speaks"));
    let id = inner.thread().id();
    inner.join().unwrap();
    format!("{id:?}")
});
"""
    res1 = ok(run_cell(kc, code1))
    first = res1.messages[0]["parent_header"]["msg_id"]
    stdout2, late, _ = run_and_watch(kc, 'gate2.send(()).unwrap();\nlet inner_id = outer.join().unwrap();\nprintln!("{inner_id}");', first)
    inner_id = stdout2.strip()
    assert re.fullmatch(r"ThreadId\(\d+\)", inner_id), stdout2
    assert [text for text in late.values()] == [f"[thread {inner_id}, after the cell finished] grandchild thread speaks"], late


def test_a_cell_that_points_stdout_at_a_file_gets_plain_text_there(started):
    kc = started
    # While fd 1 is a file, nothing is framed (the file holds exactly what was printed); once
    # it is the kernel's stream again, threads are routed again.
    code = r"""
use std::io::Write;
unsafe extern "C" { fn dup(fd: i32) -> i32; fn dup2(from: i32, to: i32) -> i32; fn close(fd: i32) -> i32; }
let path = std::env::temp_dir().join(format!("rc-redirect-{}.txt", std::process::id()));
let file = std::fs::File::create(&path).unwrap();
std::io::stdout().flush().unwrap();
let saved = unsafe { dup(1) };
unsafe { dup2(std::os::fd::AsRawFd::as_raw_fd(&file), 1) };
println!("into the file from the cell");
std::thread::spawn(|| println!("into the file from a thread")).join().unwrap();
std::io::stdout().flush().unwrap();
unsafe { dup2(saved, 1); close(saved) };
println!("back in the notebook");
std::thread::spawn(|| println!("a thread back in the notebook")).join().unwrap();
let text = std::fs::read(&path).unwrap();
std::fs::remove_file(&path).unwrap();
println!("{:?}", String::from_utf8(text).unwrap());
"""
    res = ok(run_cell(kc, code))
    assert res.stdout == 'back in the notebook\na thread back in the notebook\n"into the file from the cell\\ninto the file from a thread\\n"\n', res.stdout
