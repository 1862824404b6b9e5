"""The explorer of runs and labelled output, in the real kernel (issue 14).

``:labels on`` starts every output line with the writer's name (processes made by the support
crate, the notebook's own process, its threads); ``explore`` runs a closure in fresh processes
and shows one display with the histogram, the runs' own output staying out of the cell. The
order of lines across processes is never asserted: only what each line says about its writer.
"""

from __future__ import annotations

import queue
import re
import time

from conftest import descendants, run_cell

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def ok(res):
    assert res.status == "ok", (res.errors, res.stderr)
    return res


def plain(text: str) -> list[str]:
    return ANSI.sub("", text).splitlines()


PRINTERS = r"""
let mut ps: Vec<Process> = ["alpha", "beta"].iter().map(|n| {
    let mut p = Process::new(move || { println!("hello from {n}"); eprintln!("oops from {n}"); }).name(*n);
    p.start();
    p
}).collect();
for p in &ps { p.join(); }
std::thread::Builder::new().name("helper".into()).spawn(|| println!("from a thread")).unwrap().join().unwrap();
println!("main done");
"""


def test_labels_name_every_writer_until_turned_off(kernel):
    _, kc = kernel
    res = ok(run_cell(kc, ":labels on", timeout=300))
    assert res.outputs == []
    res = ok(run_cell(kc, PRINTERS, timeout=300))
    out = plain(res.stdout)
    assert sorted(out) == sorted([
        "[alpha] hello from alpha",
        "[beta] hello from beta",
        "[thread 'helper'] from a thread",
        "[MainProcess] main done",
    ]), res.stdout
    assert sorted(plain(res.stderr)) == ["[alpha] oops from alpha", "[beta] oops from beta"], res.stderr
    # Coloured: each label is wrapped in an ANSI colour code.
    assert "\x1b[" in res.stdout
    # The switch and code in one cell; then off again.
    res = ok(run_cell(kc, ":labels off\nprintln!(\"plain again\");"))
    assert res.stdout == "plain again\n"
    res = ok(run_cell(kc, PRINTERS))
    assert sorted(res.stdout.splitlines()) == sorted(["hello from alpha", "hello from beta", "from a thread", "main done"])


def test_a_child_printing_at_once_is_labelled_with_its_name(kernel):
    """A child prints right after the fork, often before its parent's `Started` reached the
    kernel: its own `Hello`, sent first, names it."""
    _, kc = kernel
    code = r"""
:labels on
let kids: Vec<Process> = (0..20).map(|i| { let mut p = Process::new(move || println!("{i}")).name(format!("kid {i}")); p.start(); p }).collect();
for k in &kids { k.join(); }
"""
    for _ in range(3):
        res = ok(run_cell(kc, code, timeout=300))
        assert sorted(plain(res.stdout)) == sorted(f"[kid {i}] {i}" for i in range(20)), res.stdout
    ok(run_cell(kc, ":labels off"))


def test_labels_with_a_wrong_word_says_what_it_takes(kernel):
    _, kc = kernel
    res = run_cell(kc, ":labels loud")
    assert res.status == "error"
    assert res.errors[0]["ename"] == "CommandError"
    assert "`:labels` takes `on` or `off`" in res.errors[0]["evalue"]


def test_explore_shows_one_histogram_and_keeps_runs_output_out_of_the_cell(kernel):
    _, kc = kernel
    code = r"""
let outcomes = explore(6, || {
    let mut p = Process::new(|| println!("child says hi"));
    p.start();
    p.join();
    println!("{}", p.get_name());
    current_process().name().to_string()
});
println!("{} runs, {} outcome(s)", outcomes.runs(), outcomes.distinct());
outcomes
"""
    res = ok(run_cell(kc, code, timeout=300))
    assert res.stdout == "6 runs, 1 outcome(s)\n", res.stdout
    shown = [d for d in res.displays if d["msg_type"] == "display_data"]
    assert len(shown) == 1
    data = shown[0]["content"]["data"]
    assert "<table" in data["text/html"] and "6 (100%)" in data["text/html"]
    text = data["text/plain"]
    assert text.startswith("explore: 6 runs, 1 different outcome"), text
    # Every run named its processes as the notebook would: the same outcome six times.
    assert re.search(r"^      child says hi\n      Process-\d+\n      MainProcess$", text, re.M), text
    # The final value `outcomes` adds nothing (it was shown already).
    assert res.results == []


def test_stop_button_ends_an_exploration_and_leaves_no_run_behind(fresh_kernel):
    km, kc = fresh_kernel
    ok(run_cell(kc, "let kept = 5;", timeout=300))
    kpid = km.provisioner.process.pid
    before = set(descendants(kpid))
    code = r"""
println!("exploring now");
Explore::runs(3).timeout(600.0).run(|| {
    let mut p = Process::new(|| multiproc::lesson::sleep(1000.0));
    p.start();
    p.join();
});
"""
    msg_id = kc.execute(code)
    deadline = time.monotonic() + 120
    while True:
        assert time.monotonic() < deadline, "the cell never started exploring"
        try:
            m = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream" and "exploring now" in m["content"]["text"]:
            break
    # Wait until a run and its child exist (the run's process group is two processes).
    while len(set(descendants(kpid)) - before) < 2:
        assert time.monotonic() < deadline, "no run started"
        time.sleep(0.05)
    t0 = time.monotonic()
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=30)["content"]
    assert reply["status"] == "error" and reply["ename"] == "Interrupted", reply
    assert time.monotonic() - t0 < 5
    res = ok(run_cell(kc, "kept + 1"))
    assert res.results[0]["data"]["text/plain"] == "6"
    left = set(descendants(kpid)) - before
    states = {}
    for p in left:
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
            states[p] = s[s.rfind(")") + 2]
        except OSError:
            pass
    assert all(v == "Z" for v in states.values()), f"still running: {states}"


def test_a_seed_perturbs_a_lock_made_in_an_earlier_cell_and_replays(kernel):
    """Every cell has its own copy of the support crate; the noise must reach the copy whose code
    runs in the exploration, and give each run the decisions of its seed."""
    _, kc = kernel
    ok(run_cell(kc, "let early = Lock::new();"))
    code = r"""
use multiproc::sys::perturb;
let traces = Explore::runs(3).seed(99).quiet().run(|| {
    for _ in 0..64 { early.acquire(); early.release(); }
    (perturb::is_on(), perturb::trace())
});
let mut right = 0;
for o in traces.outcomes() {
    for &run in o.run_numbers() {
        let seed = perturb::run_seed(99, (run - 1) as u64);
        let bits = (0..64u64).fold(0u64, |t, k| (t << 1) | u64::from(perturb::decision(seed, k) != perturb::Pause::None));
        if o.text() == format!("(true, {bits})") { right += 1; }
    }
}
println!("{right} of {} runs made their seed's decisions; noise here: {}", traces.runs(), perturb::is_on());
"""
    res = ok(run_cell(kc, code))
    assert res.stdout == "3 of 3 runs made their seed's decisions; noise here: false\n", res.stdout


def test_histogram_renders_in_chromium_from_nbconvert_html(kernel, browser, tmp_path):
    """The histogram as a saved notebook shows it: nbconvert's HTML of the cell, opened in
    Chromium with every network request refused, has one row per outcome and bars in the ratio
    of the counts. The runs count in shared memory made before `explore` (it keeps counting
    across runs, as the docs warn), which makes the outcomes known in advance."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbformat.v4 import new_code_cell, new_notebook, output_from_msg

    _, kc = kernel
    code = r"""
let runs_so_far = Value::new(0u32);
Explore::runs(5).timeout(0.5).run(|| {
    let n = runs_so_far.with_lock(|n| { *n += 1; *n });
    if n == 5 { multiproc::lesson::sleep(1000.0); }
    if n % 2 == 0 { "even" } else { "odd" }
});
"""
    res = ok(run_cell(kc, code, timeout=300))
    shown = [m for m in res.displays if m["msg_type"] == "display_data"]
    assert len(shown) == 1
    cell = new_code_cell(code, outputs=[output_from_msg(shown[0])])
    nb = new_notebook(cells=[cell], metadata={"kernelspec": {"name": "rust-concurrency", "display_name": "Rust", "language": "rust"}})
    html, _ = HTMLExporter().from_notebook_node(nbformat.from_dict(nb))
    page_file = tmp_path / "explore.html"
    page_file.write_text(html)
    page = browser.new_page()
    refused = []  # what nbconvert's template asks of the network (a CDN's script): refused, not needed
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else (refused.append(route.request.url), route.abort()))
    page.goto(page_file.as_uri())
    rows = page.evaluate("""() => [...document.querySelectorAll('.multiproc-explore tr')].slice(1).map(tr => ({
        count: tr.cells[0].innerText, bar: tr.cells[1].firstElementChild.getBoundingClientRect().width,
        text: tr.cells[2].innerText.trim() }))""")
    page.close()
    assert [r["text"] for r in rows] == ["odd", "even", "timed out (after 0.5 s)"], rows
    assert [r["count"] for r in rows] == ["2 (40%)", "2 (40%)", "1 (20%)"], rows
    assert rows[0]["bar"] > 0 and abs(rows[0]["bar"] - rows[1]["bar"]) < 1 and abs(rows[0]["bar"] - 2 * rows[2]["bar"]) < 2, rows
