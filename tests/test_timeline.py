"""The timeline of a cell (issue 14): real processes in the real kernel, drawn in Chromium.

`:timeline` at the top of a cell makes the kernel record what the cell's processes did and show
it after the cell as one display: a text summary and an inline SVG. The known cell has three
workers, one lock and one queue: each worker takes the lock, puts one item while holding it and
lets go; the notebook's process takes the three items and joins the workers. What that code
forces is what is checked: one row per process with its name and pid, one lock hold per worker
that never overlaps another (the lock), each put inside its worker's hold, one arrow per item
from the worker that put it to the row that took it, three joins on the notebook's row. The SVG
is rendered in headless Chromium with every request refused and measured there, in the page's
pixels.

Blocked time is forced with two locks taken in opposite orders and waits with a timeout (lesson
15's deadlock that ends by itself): each process holds one lock until its own wait for the other
has timed out, so both must wait.
"""

from __future__ import annotations

import re

from conftest import collect_iopub, inside, measure_offline, run_cell, until_output

KNOWN_CELL = r""":timeline
let pen = Lock::new().named("pen");
let results: Queue<u32> = Queue::new().named("results");
let mut workers = Vec::new();
for i in 0..3u32 {
    let (pen, results) = (pen.clone(), results.clone());
    let mut p = Process::new(move || {
        let _held = pen.lock();
        results.put(i);
    }).name(format!("Worker-{i}"));
    p.start();
    workers.push(p);
}
let mut got: Vec<u32> = (0..3).map(|_| results.get()).collect();
for p in &workers { p.join(); }
got.sort();
println!("got {got:?}");
"""

TWO_LOCKS = r""":timeline
let a = Lock::new().named("a");
let b = Lock::new().named("b");
let both = Barrier::new(2);
let mut ps = Vec::new();
for (name, first, second) in [("AB", a.clone(), b.clone()), ("BA", b.clone(), a.clone())] {
    let both = both.clone();
    let mut p = Process::new(move || {
        let _first = first.lock();
        both.wait();
        let got = second.acquire_timeout(0.3);
        if got { second.release(); }
    }).name(name);
    p.start();
    ps.push(p);
}
for p in &ps { p.join(); }
println!("done");
"""

# Ping-pong over one duplex pipe: the parent sends i, the child receives it and answers i + 100.
# Causality orders every message: the child's answer is sent after it received the ping, and
# the parent's next ping after it received the answer.
PING_PONG = r""":timeline
let (here, there) = Pipe::new::<u32>();
let mut p = Process::new(move || {
    for _ in 0..3 {
        let i = there.recv().unwrap();
        there.send(i + 100);
    }
}).name("Echo");
p.start();
let mut answers = Vec::new();
for i in 0..3u32 {
    here.send(i);
    answers.push(here.recv().unwrap());
}
p.join();
println!("answers {answers:?}");
"""


def recorded(kc, code: str, printed: str) -> tuple[dict, str]:
    """Runs a `:timeline` cell that must succeed and print ``printed``; returns its timeline
    display and that display's text."""
    res = run_cell(kc, code, timeout=180)
    assert res.status == "ok", res.errors
    assert printed in res.stdout, res.stdout
    shown = timeline_of(res)
    return shown, shown["data"]["text/plain"]


def timeline_of(res) -> dict:
    shown = [d["content"] for d in res.displays if "rc-timeline" in d["content"]["data"].get("text/html", "")]
    assert len(shown) == 1, f"expected one timeline display, got {len(shown)}: {res.messages}"
    return shown[0]


MEASURE = r"""() => {
  const svgs = document.querySelectorAll('svg');
  const svg = document.querySelector('svg.rc-timeline');
  if (!svg) return {svgs: svgs.length};
  const box = e => { const r = e.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
  const point = (e, x, y) => { const p = svg.createSVGPoint(); p.x = x; p.y = y; const q = p.matrixTransform(e.getScreenCTM()); return [q.x, q.y]; };
  const title = e => { const t = e.querySelector('title'); return t ? t.textContent : null; };
  const rows = Array.from(svg.querySelectorAll('g.row')).map(g => ({
    label: g.querySelector('text.row-label').textContent, labelBox: box(g.querySelector('text.row-label')),
    bar: box(g.querySelector('rect.run')), title: title(g)}));
  const spans = kind => Array.from(svg.querySelectorAll('g.span.' + kind)).map(g => ({box: box(g.querySelector('rect')), title: title(g),
    ns: [Number(g.dataset.startNs), Number(g.dataset.endNs)]}));
  const arrows = Array.from(svg.querySelectorAll('g.item')).map(g => {
    const l = g.querySelector('line.arrow');
    const tip = g.querySelector('polygon.arrow-head').points[0];
    return {from: point(l, l.x1.baseVal.value, l.y1.baseVal.value), to: point(g.querySelector('polygon'), tip.x, tip.y), title: title(g)};
  });
  return {svgs: svgs.length, svg: box(svg), rows, holds: spans('hold'), blocked: spans('blocked'), joins: spans('join'), arrows,
          panics: svg.querySelectorAll('line.exit.panicked').length,
          scripts: document.querySelectorAll('script').length};
}"""


def render(browser, html: str, tmp_path) -> dict:
    """Opens the display's HTML in a page of its own, offline, and returns MEASURE's figures."""
    return measure_offline(browser, html, MEASURE, tmp_path, "timeline", height=900)


def row_at(figures: dict, y: float) -> str | None:
    """The label of the row whose bar band (the bar and 10 px either side) holds height y."""
    for r in figures["rows"]:
        mid = (r["bar"]["top"] + r["bar"]["bottom"]) / 2
        if abs(y - mid) <= 10:
            return r["label"]
    return None


def test_the_timeline_of_three_workers_one_lock_and_a_queue_in_chromium(kernel, browser, tmp_path):
    km, kc = kernel
    shown, text = recorded(kc, KNOWN_CELL, "got [0, 1, 2]")
    pids = {name: int(pid) for name, pid in re.findall(r"^(MainProcess|Worker-\d) \(pid (\d+)\)", text, re.M)}
    assert sorted(pids) == ["MainProcess", "Worker-0", "Worker-1", "Worker-2"], text
    main = f"MainProcess (pid {pids['MainProcess']})"
    workers = [f"Worker-{i} (pid {pids[f'Worker-{i}']})" for i in range(3)]

    fig = render(browser, shown["data"]["text/html"], tmp_path)
    seen = f"measured: {fig}"
    assert fig["svgs"] == 1 and fig["scripts"] == 0 and not fig["requests"], seen
    # The rows: the notebook's process first, then the three workers, each once.
    labels = [r["label"] for r in fig["rows"]]
    assert labels[0] == main and sorted(labels[1:]) == sorted(workers), seen
    for r in fig["rows"]:
        assert inside(r["bar"], fig["svg"]) and inside(r["labelBox"], fig["svg"]), seen
        assert r["labelBox"]["bottom"] <= r["bar"]["top"], f"the name sits above its bar: {r}"

    # One hold of `pen` per worker, on its row; no two overlap in time (it is one lock).
    holds = fig["holds"]
    assert len(holds) == 3, seen
    by_worker, ns_by_worker = {}, {}
    for h in holds:
        who = row_at(fig, (h["box"]["top"] + h["box"]["bottom"]) / 2)
        assert who in workers and "`pen`" in h["title"], f"hold {h} on row {who}"
        by_worker[who] = h["box"]
        ns_by_worker[who] = h["ns"]
    assert sorted(by_worker) == sorted(workers), seen
    # (In time, from the drawn element's data: a short hold is drawn a few pixels wide.)
    spans = sorted(ns_by_worker.values())
    for first, second in zip(spans, spans[1:]):
        assert first[1] <= second[0], f"two holds of one lock overlap: {spans}"
    lefts = sorted(b["left"] for b in by_worker.values())
    assert [by_worker[w]["left"] for w in sorted(by_worker, key=lambda w: ns_by_worker[w][0])] == lefts, "drawn in time order"

    # One arrow per item, from the worker that put it (during its hold) to the row that took it.
    arrows = fig["arrows"]
    assert len(arrows) == 3, seen
    putters = []
    for a in arrows:
        src, dst = row_at(fig, a["from"][1]), row_at(fig, a["to"][1])
        assert src in workers and dst == main, f"arrow {a} goes from {src} to {dst}"
        hold = by_worker[src]
        assert hold["left"] - 1.0 <= a["from"][0] <= hold["right"] + 1.0, f"put outside its hold: {a} {hold}"
        assert a["to"][0] >= a["from"][0] - 1.0, f"taken before it was put: {a}"
        assert "`results`" in a["title"] and src in a["title"] and main in a["title"], a
        putters.append(src)
    assert sorted(putters) == sorted(workers), seen

    # Three joins on the notebook's row, the last one after every worker's bar ended.
    joins = fig["joins"]
    assert len(joins) == 3 and all(row_at(fig, (j["box"]["top"] + j["box"]["bottom"]) / 2) == main for j in joins), seen
    assert all(w in " ".join(j["title"] for j in joins) for w in workers), seen
    last_exit = max(r["bar"]["right"] for r in fig["rows"] if r["label"] in workers)
    assert max(j["box"]["right"] for j in joins) >= last_exit - 1.0, seen
    # Nothing drawn outside the picture.
    for s in holds + joins + fig["blocked"]:
        assert inside(s["box"], fig["svg"]), s


def test_blocked_time_is_drawn_with_what_it_waited_for(kernel, browser, tmp_path):
    km, kc = kernel
    res = run_cell(kc, TWO_LOCKS, timeout=180)
    assert res.status == "ok", res.errors
    shown = timeline_of(res)
    text = shown["data"]["text/plain"]
    fig = render(browser, shown["data"]["text/html"], tmp_path)
    pids = dict(re.findall(r"^(AB|BA) \(pid (\d+)\)", text, re.M))
    ab, ba = f"AB (pid {pids['AB']})", f"BA (pid {pids['BA']})"
    waits = {}
    for b in fig["blocked"]:
        who = row_at(fig, (b["box"]["top"] + b["box"]["bottom"]) / 2)
        waits.setdefault(who, []).append(b)
    # AB waits for `b`, BA for `a`: each holds the other's lock until its own wait gave up.
    assert any("`b`" in b["title"] and "acquire_timeout" in b["title"] for b in waits.get(ab, [])), fig
    assert any("`a`" in b["title"] for b in waits.get(ba, [])), fig
    # Each wait lies over a hold of the process's first lock (it waited while holding it).
    for who, lock in ((ab, "`a`"), (ba, "`b`")):
        holds = [h["box"] for h in fig["holds"] if lock in h["title"] and row_at(fig, (h["box"]["top"] + h["box"]["bottom"]) / 2) == who]
        assert holds, fig
        w = max(waits[who], key=lambda b: b["box"]["right"] - b["box"]["left"])["box"]
        assert any(h["left"] - 1 <= w["left"] and w["right"] <= h["right"] + 1 for h in holds), (who, w, holds)
    assert "waited in Lock::acquire_timeout on `b`" in text


def test_the_switch_for_one_cell_and_for_every_cell(kernel):
    km, kc = kernel
    # Without the switch, no timeline.
    res = run_cell(kc, 'println!("plain");')
    assert res.status == "ok" and not [d for d in res.displays if "rc-timeline" in str(d["content"])]
    # `:timeline on` alone records nothing itself, then every cell until `:timeline off`.
    res = run_cell(kc, ":timeline on")
    assert res.status == "ok" and not res.displays
    for _ in range(2):
        res = run_cell(kc, "let q: Queue<u8> = Queue::new(); q.put(1); q.get();")
        assert "item 1 of `" in timeline_of(res)["data"]["text/plain"]
    res = run_cell(kc, ":timeline off\nprintln!(\"after\");")
    assert res.status == "ok" and "after" in res.stdout
    assert not [d for d in res.displays if "rc-timeline" in str(d["content"])]
    # With `:labels` in front, both apply.
    res = run_cell(kc, ":labels off\n:timeline\nprintln!(\"x\");")
    assert res.status == "ok" and "x" in res.stdout
    timeline_of(res)


def test_a_bad_switch_is_one_clear_error_and_the_kernel_lives_on(kernel):
    km, kc = kernel
    res = run_cell(kc, ":timeline sometimes\nprintln!(\"no\");")
    assert res.status == "error"
    assert "`:timeline` takes nothing, `on` or `off`" in res.errors[0]["evalue"]
    assert "no" not in res.stdout
    res = run_cell(kc, 'println!("alive");')
    assert res.status == "ok" and "alive" in res.stdout


def test_a_thread_of_the_notebook_has_a_row_of_its_own(kernel):
    """A thread the cell spawns is drawn on its own row, named, below the notebook's process."""
    km, kc = kernel
    res = run_cell(kc, """:timeline
let q: Queue<u32> = Queue::new().named("q");
let q2 = q.clone();
let worker = std::thread::Builder::new().name("worker".into()).spawn(move || q2.put(7)).unwrap();
worker.join().unwrap();
println!("got {}", q.get());
""")
    assert res.status == "ok" and "got 7" in res.stdout
    text = timeline_of(res)["data"]["text/plain"]
    rows = [line.split(":")[0] for line in text.splitlines()[1:] if not line.startswith("item ")]
    assert rows[0].startswith("MainProcess (pid ") and rows[1] == "thread 'worker' of MainProcess", text
    assert re.search(r"^item 1 of `q`: put by thread 'worker' of MainProcess at .*, taken by MainProcess \(pid \d+\)", text, re.M), text


def test_pipe_messages_are_arrows_from_each_send_to_its_recv_in_chromium(kernel, browser, tmp_path):
    """Each message of a ping-pong is one arrow from the row that sent it to the row that received
    it, and the arrows follow one another: an answer leaves after its ping arrived."""
    km, kc = kernel
    shown, text = recorded(kc, PING_PONG, "answers [100, 101, 102]")
    pids = dict(re.findall(r"^(MainProcess|Echo) \(pid (\d+)\)", text, re.M))
    main, echo = f"MainProcess (pid {pids['MainProcess']})", f"Echo (pid {pids['Echo']})"
    assert text.count("a message on a pipe: sent by ") == 6, text

    fig = render(browser, shown["data"]["text/html"], tmp_path)
    seen = f"measured: {fig}"
    assert fig["svgs"] == 1 and fig["scripts"] == 0 and not fig["requests"], seen
    arrows = sorted(fig["arrows"], key=lambda a: a["from"][0])
    assert len(arrows) == 6, seen
    directions = [(row_at(fig, a["from"][1]), row_at(fig, a["to"][1])) for a in arrows]
    assert directions == [(main, echo), (echo, main)] * 3, directions
    for a in arrows:
        assert "a message on a pipe" in a["title"], a
        assert a["to"][0] >= a["from"][0] - 1.0, f"received before it was sent: {a}"
    for earlier, later in zip(arrows, arrows[1:]):
        assert later["from"][0] >= earlier["to"][0] - 1.0, f"a message left before the one it answers arrived: {earlier} {later}"


def test_a_panicking_child_has_its_row_end_with_the_panic(kernel, browser, tmp_path):
    """The child panics after taking a lock: its row ends at its exit, marked as a panic (in the
    words and in red in the picture), and its hold ends before that."""
    km, kc = kernel
    shown, text = recorded(kc, r""":timeline
let pen = Lock::new().named("pen");
let p2 = pen.clone();
let mut p = Process::new(move || {
    let _held = p2.lock();
    panic!("out of ink");
}).name("Doomed");
p.start();
p.join();
println!("exit code {:?}", p.exitcode());
""", "exit code Some(1)")
    doomed = re.search(r"^Doomed \(pid \d+\): .*$", text, re.M)
    assert doomed and "(panicked)" in doomed.group(0) and "held lock `pen`" in doomed.group(0), text
    fig = render(browser, shown["data"]["text/html"], tmp_path)
    row = next(r for r in fig["rows"] if r["label"].startswith("Doomed"))
    assert "then panicked" in row["title"], row
    assert fig["panics"] == 1, fig
    hold = next(h for h in fig["holds"] if "`pen`" in h["title"])
    assert hold["box"]["right"] <= row["bar"]["right"] + 1.0, (hold, row)


def test_the_stop_button_in_a_timeline_cell_leaves_the_kernel_usable(kernel):
    """Stop pressed while a recorded cell waits in join: the cell ends with the interrupt and
    still shows its timeline, and the next recorded cell is drawn as usual (nothing of the
    stopped cell in it)."""
    km, kc = kernel
    code = r""":timeline
let mut p = Process::new(|| loop { multiproc::lesson::sleep(0.05); }).name("Forever");
p.start();
println!("started");
p.join();
"""
    msg_id = kc.execute(code)
    until_output(kc, msg_id, "started")
    km.interrupt_kernel()
    rest = collect_iopub(kc, msg_id, 60)
    reply = kc.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=60)
    assert reply["content"]["status"] == "error", reply["content"]
    displays = [m["content"]["data"].get("text/plain", "") for m in rest if m["msg_type"] == "display_data"]
    errors = [m["content"] for m in rest if m["msg_type"] == "error"]
    timelines = [d for d in displays if d.startswith("Timeline of this cell")]
    assert [e["ename"] for e in errors] == ["Interrupted"], errors
    # What ran until the stop is drawn: the child (ended by the stop) and the parent's join.
    assert len(timelines) == 1, displays
    assert re.search(r"^Forever \(pid \d+\)", timelines[0], re.M) and "joined Forever" in timelines[0], timelines[0]
    # The kernel is usable, and the next recorded cell has its own timeline.
    res = run_cell(kc, ':timeline\nlet q: Queue<u8> = Queue::new().named("after"); q.put(1); println!("{}", q.get());', timeout=120)
    assert res.status == "ok" and "1" in res.stdout, res.errors
    text = timeline_of(res)["data"]["text/plain"]
    assert "item 1 of `after`" in text and "Forever" not in text, text
