"""The deadlock detector (issue 14): real processes and threads in the real kernel.

Each deadlock cell really deadlocks (a barrier makes every philosopher hold its left fork
before anyone reaches for the right one, so the cycle is certain, not likely); the test reads
the kernel's report from IOPub, then presses stop (``interrupt_kernel``) as a student would.
The near-misses are cells that look stuck for a while but can still make progress (a sleeping
holder, a read outside the crate, a daemon, a Manager's server that a client waits for or that
works); they must end by themselves with no report. A live Manager's idle server does not hide a
real deadlock: it is reported with the server among those waiting.

How fast the report comes is measured from the cell's last line before it blocks; the
issue asks for "within a second". The assertion allows more (a loaded 2-core CI machine can
delay the kernel's check), and the figure is printed for BENCHMARKS.md.

The picture (the SVG in the report's HTML) is rendered in headless Chromium, offline, and
measured there: one box per party with its name inside, an arrow from each party to the one it
waits for, labelled with the lock, and nothing drawn outside its box or the picture.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import tempfile
import threading
import time

import pytest

from conftest import inside, iopub_until, measure_offline, run_cell

# Generous: the detector looks every 250 ms and confirms at its next look; CI may be slow.
REPORT_WITHIN = 5.0
TIMES: dict[str, float] = {}


def until_deadlock(km, kc, code: str, marker: str, timeout: float = 180):
    """Runs `code`; returns (report display content, seconds from `marker` to the report,
    the cell's reply after pressing stop). Fails if no report comes within `timeout`."""
    msg_id = kc.execute(code)

    def is_report(m) -> bool:
        return m["msg_type"] == "display_data" and str(m["content"]["data"].get("text/plain", "")).startswith("Deadlock:")

    seen = iopub_until(kc, msg_id, is_report, timeout)
    report = (seen[-1]["content"], seen[-1]["_arrival"])
    marked = next((m["_arrival"] for m in seen if m["msg_type"] == "stream" and marker in m["content"]["text"]), None)
    assert marked is not None, "the marker line came after the report"
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=60)
    # Drain the rest of the cell's messages, so the next test starts clean.
    while True:
        try:
            m = kc.get_iopub_msg(timeout=10)
        except queue.Empty:
            break
        if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
    return report[0], report[1] - marked, reply["content"]


def text_of(content) -> str:
    return content["data"]["text/plain"]


def pid_of(text: str, who: str) -> int:
    m = re.search(re.escape(who) + r" \(pid (\d+)\)", text)
    assert m, f"{who} not named with its pid in: {text}"
    return int(m.group(1))


PHILOSOPHERS = r"""
let forks: Vec<Lock> = (1..=3).map(|i| Lock::new().named(format!("fork {i}"))).collect();
let seated = Barrier::new(3);
let mut diners = Vec::new();
for i in 0..3 {
    let (left, right, seated) = (forks[i].clone(), forks[(i + 1) % 3].clone(), seated.clone());
    let mut p = Process::new(move || {
        let _left = left.lock();
        seated.wait().unwrap(); // everyone holds the left fork now
        let _right = right.lock();
        println!("never printed: {} ate", current_process().name());
    }).name(format!("Philosopher-{}", i + 1));
    p.start();
    diners.push(p);
}
println!("all seated");
for p in &diners { p.join(); }
"""


def test_dining_philosophers_across_processes_name_the_cycle(fresh_kernel):
    km, kc = fresh_kernel
    report, took, reply = until_deadlock(km, kc, PHILOSOPHERS, "all seated")
    TIMES["philosophers (processes)"] = took
    text = text_of(report)
    p1, p2, p3 = (pid_of(text, f"Philosopher-{i}") for i in (1, 2, 3))
    assert text.startswith(
        f"Deadlock: Philosopher-1 (pid {p1}) holds lock `fork 1` and waits for lock `fork 2`, "
        f"held by Philosopher-2 (pid {p2}), which waits for lock `fork 3`, held by Philosopher-3 (pid {p3}), "
        f"which waits for lock `fork 1`, held by Philosopher-1 (pid {p1}). None of them can go on."
    ), text
    # The notebook's process, joining, is named too; and the student is pointed at the stop.
    assert f"Also waiting: MainProcess (pid " in text and "to end (join)" in text, text
    assert "stop button" in text
    # The picture: an SVG with the three philosophers and the three forks, no script.
    html = report["data"]["text/html"]
    assert "<svg" in html and "<script" not in html
    for i in (1, 2, 3):
        assert f"Philosopher-{i} (pid" in html and f"<code>fork {i}</code>" in html
    # The backticks of the words are code marks: the HTML shows code, not the marks.
    assert "`" not in html, html
    assert took < REPORT_WITHIN, took
    # The usual stop ends the cell and its processes.
    assert reply["status"] == "error" and reply["ename"] == "Interrupted"
    assert "never printed" not in str(reply)


def test_dining_philosophers_across_threads_name_the_threads(fresh_kernel):
    km, kc = fresh_kernel
    code = r"""
let forks: Vec<Lock> = (1..=3).map(|i| Lock::new().named(format!("fork {i}"))).collect();
let seated = Barrier::new(3);
let mut diners = Vec::new();
for i in 0..3 {
    let (left, right, seated) = (forks[i].clone(), forks[(i + 1) % 3].clone(), seated.clone());
    diners.push(std::thread::Builder::new().name(format!("phil-{}", i + 1)).spawn(move || {
        let _left = left.lock();
        println!("phil-{} has its left fork", i + 1);
        seated.wait().unwrap();
        let _right = right.lock();
    }).unwrap());
}
println!("all seated");
for d in diners { d.join().unwrap(); }
"""
    report, took, reply = until_deadlock(km, kc, code, "all seated")
    TIMES["philosophers (threads)"] = took
    text = text_of(report)
    tids = {i: int(re.search(rf"thread 'phil-{i}' \(tid (\d+)\)", text).group(1)) for i in (1, 2, 3)}
    assert text.startswith(
        f"Deadlock: thread 'phil-1' (tid {tids[1]}) holds lock `fork 1` and waits for lock `fork 2`, "
        f"held by thread 'phil-2' (tid {tids[2]}), which waits for lock `fork 3`, held by thread 'phil-3' (tid {tids[3]}), "
        f"which waits for lock `fork 1`, held by thread 'phil-1' (tid {tids[1]})."
    ), text
    # The main thread waits in std's JoinHandle::join, which carries no record: it is counted
    # as blocked (a futex wait without timeout) and said so.
    assert "MainProcess (pid" in text and "waits in std" in text, text
    assert took < REPORT_WITHIN, took


TWO_LOCKS = r"""
let a = Lock::new().named("a");
let b = Lock::new().named("b");
let both = Barrier::new(2);
let mut p = {
    let (a, b, both) = (a.clone(), b.clone(), both.clone());
    Process::new(move || { let _a = a.lock(); both.wait().unwrap(); let _b = b.lock(); }).name("AB")
};
let mut q = {
    let (a, b, both) = (a.clone(), b.clone(), both.clone());
    Process::new(move || { let _b = b.lock(); both.wait().unwrap(); let _a = a.lock(); }).name("BA")
};
p.start();
q.start();
println!("started");
p.join();
q.join();
"""


def test_two_locks_taken_in_opposite_orders(fresh_kernel):
    km, kc = fresh_kernel
    report, took, _ = until_deadlock(km, kc, TWO_LOCKS, "started")
    TIMES["two locks"] = took
    text = text_of(report)
    ab, ba = pid_of(text, "AB"), pid_of(text, "BA")
    first, second = sorted([("AB", ab, "a", "b"), ("BA", ba, "b", "a")], key=lambda t: t[1])
    assert text.startswith(
        f"Deadlock: {first[0]} (pid {first[1]}) holds lock `{first[2]}` and waits for lock `{first[3]}`, "
        f"held by {second[0]} (pid {second[1]}), which waits for lock `{second[3]}`, held by {first[0]} (pid {first[1]})."
    ), text
    assert took < REPORT_WITHIN, took


def test_a_get_nobody_will_ever_put_to(fresh_kernel):
    km, kc = fresh_kernel
    code = r"""
let jobs: Queue<u32> = Queue::new().named("jobs");
let mut worker = { let jobs = jobs.clone(); Process::new(move || { let n = jobs.get(); println!("got {n}"); }).name("Worker") };
worker.start();
println!("waiting for the worker");
worker.join();
jobs.put(1); // too late: the put comes after the join
"""
    report, took, _ = until_deadlock(km, kc, code, "waiting for the worker")
    TIMES["queue get"] = took
    text = text_of(report)
    w = pid_of(text, "Worker")
    assert text.startswith("Deadlock: every process and thread of this cell is waiting, and none of them can wake another: "), text
    assert f"Worker (pid {w}) waits for an item from queue `jobs`" in text, text
    assert re.search(rf"MainProcess \(pid \d+\) waits for Worker \(pid {w}\) to end \(join\)", text), text


def test_a_join_on_a_process_that_waits_for_its_parent(fresh_kernel):
    km, kc = fresh_kernel
    code = r"""
let go = Event::new().named("go");
let mut child = { let go = go.clone(); Process::new(move || { go.wait(); }).name("Child") };
child.start();
println!("joining");
child.join(); // the child waits for `go`, which is set only after the join
go.set();
"""
    report, took, _ = until_deadlock(km, kc, code, "joining")
    TIMES["join on a waiting child"] = took
    text = text_of(report)
    c = pid_of(text, "Child")
    assert f"Child (pid {c}) waits for event `go` to be set" in text, text
    assert re.search(rf"MainProcess \(pid \d+\) waits for Child \(pid {c}\) to end \(join\)", text), text


MANAGER_ALIVE = r"""
let mgr = Manager::start();
let tally = mgr.dict::<String, u32>();
let a = Lock::new().named("a");
let b = Lock::new().named("b");
let both = Barrier::new(2);
let mut p = {
    let (a, b, both, tally) = (a.clone(), b.clone(), both.clone(), tally.clone());
    Process::new(move || { tally.insert("AB".into(), 1); let _a = a.lock(); both.wait().unwrap(); let _b = b.lock(); }).name("AB")
};
let mut q = {
    let (a, b, both, tally) = (a.clone(), b.clone(), both.clone(), tally.clone());
    Process::new(move || { tally.insert("BA".into(), 1); let _b = b.lock(); both.wait().unwrap(); let _a = a.lock(); }).name("BA")
};
p.start();
q.start();
println!("started");
p.join();
q.join();
"""


def test_a_deadlock_while_a_manager_server_lives_is_reported(fresh_kernel):
    # The Manager's server sits in `accept` between requests: only a client's call can wake
    # it, and every client is stuck, so the two processes' lock cycle is reported, with the
    # server among those waiting.
    km, kc = fresh_kernel
    report, took, reply = until_deadlock(km, kc, MANAGER_ALIVE, "started")
    TIMES["two locks, a Manager alive"] = took
    text = text_of(report)
    ab, ba = pid_of(text, "AB"), pid_of(text, "BA")
    first, second = sorted([("AB", ab, "a", "b"), ("BA", ba, "b", "a")], key=lambda t: t[1])
    assert text.startswith(
        f"Deadlock: {first[0]} (pid {first[1]}) holds lock `{first[2]}` and waits for lock `{first[3]}`, "
        f"held by {second[0]} (pid {second[1]}), which waits for lock `{second[3]}`, held by {first[0]} (pid {first[1]})."
    ), text
    server = pid_of(text, "Manager-1")
    assert f"Manager-1 (pid {server}) is a manager's server waiting for a request, which only a client can send" in text, text
    assert took < REPORT_WITHIN, took
    assert reply["status"] == "error" and reply["ename"] == "Interrupted"


# --- near-misses: they look stuck for a while, but something can still make progress --------


def no_report(res):
    assert res.status == "ok", (res.errors, res.stderr)
    said = [d for d in res.displays if "Deadlock" in str(d["content"]["data"].get("text/plain", ""))]
    assert not said, said


def test_a_sleeping_holder_is_not_a_deadlock(kernel):
    km, kc = kernel
    # The holder sleeps (real time, 1.5 s: six looks of the detector) while two others wait
    # for its lock; then it lets go and everybody finishes.
    code = r"""
let lock = Lock::new().named("pen");
let held = Event::new();
let mut holder = { let (lock, held) = (lock.clone(), held.clone());
    Process::new(move || { let _g = lock.lock(); held.set(); std::thread::sleep(std::time::Duration::from_millis(1500)); }).name("Holder") };
holder.start();
held.wait();
let mut waiter = { let lock = lock.clone(); Process::new(move || { let _g = lock.lock(); }).name("Waiter") };
waiter.start();
let _mine = lock.lock(); // the main process waits for the lock as well
drop(_mine);
holder.join();
waiter.join();
println!("done");
"""
    res = run_cell(kc, code, timeout=180)
    no_report(res)
    assert "done" in res.stdout


def test_a_read_outside_the_crate_is_not_a_deadlock(kernel):
    km, kc = kernel
    # The child reads a named pipe with plain std (no record: it may be woken from outside,
    # here by this test); the parent joins it, a crate wait. Only the test's write, 1.5 s
    # later, ends the read.
    fifo = os.path.join(tempfile.mkdtemp(), "fifo")
    os.mkfifo(fifo)

    def write_later():
        time.sleep(1.5)
        # Non-blocking open: fails (ENXIO) until the reader has opened its end; give up after
        # a while so a failed cell cannot hang the test.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.05)
                continue
            os.write(fd, b"hello\n")
            os.close(fd)
            return

    writer = threading.Thread(target=write_later)
    writer.start()
    code = rf"""
let mut reader = Process::new(|| {{
    let text = std::fs::read_to_string({json.dumps(fifo)}).unwrap();
    println!("read {{}}", text.trim());
}}).name("Reader");
reader.start();
reader.join();
"""
    res = run_cell(kc, code, timeout=180)
    writer.join()
    no_report(res)
    assert "read hello" in res.stdout


def test_a_daemon_that_will_put_is_not_a_deadlock(kernel):
    km, kc = kernel
    # The main process waits in `get`; the daemon sleeps, then puts. The daemon can still act.
    code = r"""
let q: Queue<String> = Queue::new().named("mail");
let mut postman = { let q = q.clone(); Process::new(move || {
    std::thread::sleep(std::time::Duration::from_millis(1500));
    q.put("letter".to_string());
}).name("Postman").daemon(true) };
postman.start();
println!("got {}", q.get());
"""
    res = run_cell(kc, code, timeout=180)
    no_report(res)
    assert "got letter" in res.stdout


def test_a_client_waiting_for_a_slow_manager_is_not_a_deadlock(kernel):
    # A Writer holds `pen` and waits for the Manager's answer, a Waiter waits for `pen`, the
    # main process joins them: all asleep in crate waits, and the server idle in `accept`
    # (this test stops it with SIGSTOP for 2 s, as a loaded machine might leave it
    # unscheduled). The Writer's request is already in the server's socket, so the server
    # will answer and everyone finishes: no report.
    km, kc = kernel
    where = tempfile.mkdtemp()
    pid_fifo, go_fifo = os.path.join(where, "pid"), os.path.join(where, "go")
    os.mkfifo(pid_fifo)
    os.mkfifo(go_fifo)
    stopped = []

    def stop_the_server_for_a_while():
        with open(pid_fifo) as f:  # the cell writes the server's pid, then waits for "go"
            server = int(f.read())
        os.kill(server, signal.SIGSTOP)
        stopped.append(server)
        with open(go_fifo, "w") as f:
            f.write("go")
        time.sleep(2.0)  # eight looks of the detector with the server stopped
        os.kill(server, signal.SIGCONT)

    helper = threading.Thread(target=stop_the_server_for_a_while)
    helper.start()
    code = rf"""
let mgr = Manager::start();
let tally = mgr.dict::<String, u32>();
let pen = Lock::new().named("pen");
let held = Event::new().named("held");
std::fs::write({json.dumps(pid_fifo)}, mgr.pid().to_string()).unwrap();
std::fs::read_to_string({json.dumps(go_fifo)}).unwrap(); // the server is stopped now
let mut writer = {{ let (pen, held, tally) = (pen.clone(), held.clone(), tally.clone());
    Process::new(move || {{ let _g = pen.lock(); held.set(); tally.insert("writer".into(), 1); }}).name("Writer") }};
writer.start();
held.wait();
let mut waiter = {{ let pen = pen.clone(); Process::new(move || {{ let _g = pen.lock(); }}).name("Waiter") }};
waiter.start();
writer.join();
waiter.join();
println!("tally {{:?}}", tally.get("writer"));
"""
    try:
        res = run_cell(kc, code, timeout=180)
    finally:
        helper.join(timeout=60)
    assert stopped, "the server was never stopped"
    no_report(res)
    assert "tally Some(1)" in res.stdout


def test_a_manager_in_use_is_not_a_deadlock(kernel):
    # Four processes count to 50 each in the Manager's dict, one `pen` lock around each
    # read-and-write, while the main process joins them: at every moment someone waits for
    # the lock or for the server, and the server works or has a client waiting.
    km, kc = kernel
    code = r"""
let mgr = Manager::start();
let counts = mgr.dict::<String, u32>();
let pen = Lock::new().named("pen");
counts.insert("n".into(), 0);
let mut workers: Vec<Process> = (0..4).map(|_| {
    let (pen, counts) = (pen.clone(), counts.clone());
    Process::new(move || for _ in 0..50 {
        let _g = pen.lock();
        let n = counts.get("n").unwrap();
        counts.insert("n".into(), n + 1);
    })
}).collect();
for w in &mut workers { w.start(); }
for w in &workers { w.join(); }
println!("n = {}", counts.get("n").unwrap());
"""
    res = run_cell(kc, code, timeout=180)
    no_report(res)
    assert "n = 200" in res.stdout


def test_philosophers_who_give_up_and_retry_are_not_reported(kernel):
    km, kc = kernel
    # Every philosopher takes its left fork and then waits at most 50 ms for the right one,
    # puts the left one down when it cannot get it, and tries again: a wait with a short
    # timeout ends by itself and changes, so the detector never sees the same stuck picture
    # twice.
    code = r"""
let forks: Vec<Lock> = (1..=3).map(|i| Lock::new().named(format!("fork {i}"))).collect();
let mut diners = Vec::new();
for i in 0..3 {
    let (left, right) = (forks[i].clone(), forks[(i + 1) % 3].clone());
    let mut p = Process::new(move || {
        let mut meals = 0;
        while meals < 5 {
            let _l = left.lock();
            if let Some(_r) = right.lock_timeout(0.05) { meals += 1; }
        }
    }).name(format!("Philosopher-{}", i + 1));
    p.start();
    diners.push(p);
}
for p in &diners { p.join(); }
println!("all ate");
"""
    res = run_cell(kc, code, timeout=180)
    no_report(res)
    assert "all ate" in res.stdout


# What Chromium measured of the picture: every box with the text drawn on it, every arrow with
# its ends and its label, all in the page's pixels (getBoundingClientRect: text as laid out in
# the real font, not as the renderer estimated it).
MEASURE_SVG = r"""() => {
  const svgs = document.querySelectorAll('svg');
  const svg = svgs[0];
  if (!svg) return {svgs: 0};
  const box = e => { const r = e.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
  const point = (e, x, y) => { const p = svg.createSVGPoint(); p.x = x; p.y = y; const q = p.matrixTransform(e.getScreenCTM()); return [q.x, q.y]; };
  const kids = Array.from(svg.children);
  const boxes = [], arrows = [];
  kids.forEach((e, i) => {
    const next = kids[i + 1];
    const label = next && next.tagName === 'text' ? {text: next.textContent, box: box(next), font: getComputedStyle(next).fontFamily} : null;
    if (e.tagName === 'rect') boxes.push({box: box(e), label});
    if (e.tagName === 'line') arrows.push({
      from: point(e, e.x1.baseVal.value, e.y1.baseVal.value),
      to: point(e, e.x2.baseVal.value, e.y2.baseVal.value),
      marker: e.getAttribute('marker-end'), label});
  });
  return {svgs: svgs.length, svg: box(svg), boxes, arrows,
          markers: svg.querySelectorAll('defs marker path').length,
          scripts: document.querySelectorAll('script').length};
}"""


def _overlap(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def _nearest_box(point, boxes) -> int:
    def distance(b):
        x, y = point
        dx = max(b["box"]["left"] - x, 0, x - b["box"]["right"])
        dy = max(b["box"]["top"] - y, 0, y - b["box"]["bottom"])
        return (dx * dx + dy * dy) ** 0.5
    return min(range(len(boxes)), key=lambda k: distance(boxes[k]))


def render_picture(browser, html: str, tmp_path) -> dict:
    """Opens the report's HTML in Chromium with every request refused (the picture must need
    none) and returns MEASURE_SVG's figures."""
    return measure_offline(browser, html, MEASURE_SVG, tmp_path, "deadlock")


def assert_picture_of_cycle(figures: dict, cycle: list[tuple[str, str]]) -> None:
    """``cycle``: (the party's name as the box shows it, the lock it waits for), in the order of
    the cycle; each party waits for the next one. A lock's name is drawn as code: in a monospace
    font, without the backticks the plain text uses as code marks."""
    shown = f"measured: {figures}"
    assert figures["svgs"] == 1 and figures["scripts"] == 0 and not figures["requests"], shown
    boxes, arrows = figures["boxes"], figures["arrows"]
    assert len(boxes) == len(cycle) and len(arrows) == len(cycle), shown
    names = [b["label"]["text"] if b["label"] else None for b in boxes]
    assert sorted(names) == sorted(who for who, _ in cycle), shown
    for b in boxes:
        # The name is drawn inside its box, and the box inside the picture.
        assert inside(b["label"]["box"], b["box"]), f"{b['label']['text']!r} overflows its box: {b}"
        assert inside(b["box"], figures["svg"]), f"box {b['label']['text']!r} outside the picture: {b}"
    waits_for = {who: (lock, cycle[(k + 1) % len(cycle)][0]) for k, (who, lock) in enumerate(cycle)}
    assert figures["markers"] == 1, shown
    for a in arrows:
        assert a["marker"] == "url(#dl-arrow)", shown
        start, end = names[_nearest_box(a["from"], boxes)], names[_nearest_box(a["to"], boxes)]
        assert a["label"] is not None, shown
        # Each arrow goes from a party to the one holding what it waits for, labelled with the lock.
        assert (a["label"]["text"], end) == waits_for[start], f"arrow {start} -> {end} labelled {a['label']['text']!r}: {shown}"
        assert "monospace" in a["label"]["font"], f"lock {a['label']['text']!r} not drawn as code: {shown}"
        # The arrows start and end outside the boxes (at their edges), and their labels cover no box.
        for p in (a["from"], a["to"]):
            assert not any(inside({"left": p[0], "top": p[1], "right": p[0], "bottom": p[1]}, b["box"], slack=-0.5) for b in boxes), f"arrow end {p} inside a box: {shown}"
        assert inside(a["label"]["box"], figures["svg"]), f"label {a['label']['text']!r} outside the picture: {shown}"
        assert not any(_overlap(a["label"]["box"], b["box"]) for b in boxes), f"label {a['label']['text']!r} covers a box: {shown}"


def test_the_picture_of_three_philosophers_renders_in_chromium(fresh_kernel, browser, tmp_path):
    """The SVG the kernel sends, rendered by Chromium: one box per philosopher with its name inside,
    an arrow from each to the next labelled with the fork it waits for, nothing outside its box."""
    km, kc = fresh_kernel
    report, _, _ = until_deadlock(km, kc, PHILOSOPHERS, "all seated")
    text = text_of(report)
    who = [f"Philosopher-{i} (pid {pid_of(text, f'Philosopher-{i}')})" for i in (1, 2, 3)]
    figures = render_picture(browser, report["data"]["text/html"], tmp_path)
    assert_picture_of_cycle(figures, [(who[0], "fork 2"), (who[1], "fork 3"), (who[2], "fork 1")])


def test_the_picture_of_two_locks_renders_in_chromium(fresh_kernel, browser, tmp_path):
    """Two parties: their two arrows run side by side, each labelled, each from one box to the other."""
    km, kc = fresh_kernel
    report, _, _ = until_deadlock(km, kc, TWO_LOCKS, "started")
    text = text_of(report)
    ab, ba = f"AB (pid {pid_of(text, 'AB')})", f"BA (pid {pid_of(text, 'BA')})"
    figures = render_picture(browser, report["data"]["text/html"], tmp_path)
    assert_picture_of_cycle(figures, [(ab, "b"), (ba, "a")])


def test_report_times(capsys):
    """Prints the measured delays (figures for BENCHMARKS.md; asserted above)."""
    with capsys.disabled():
        for k, v in TIMES.items():
            print(f"\ndeadlock report delay, {k}: {v:.2f} s")
