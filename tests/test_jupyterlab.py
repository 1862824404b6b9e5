"""The lock lesson as a student sees it: JupyterLab in headless Chromium, Run All, and every line of
the locked cells' outputs whole (issue 9); and issue 14's displays (an `explore` histogram, a
deadlock report with its picture) as JupyterLab shows them: whole lines, nothing wider than its
output area, the picture inside its box.

A JupyterLab server (from this Python environment) runs on 127.0.0.1 with a temporary root holding
a copy of 05-ExecutionOrderAndResources.ipynb and the kernelspec from conftest's
``kernel_spec_dir``. Chromium (Debian's, driven by Playwright as in test_slides.py) opens the
notebook and runs every cell through JupyterLab's own "Run All Cells" command; once the kernel is
idle the test reads the rendered output areas of the locked cells from the DOM. Windowing is off
(a user setting in the temporary settings folder) so that every cell is in the DOM. A screenshot of
each checked cell goes to tests/artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from conftest import inside

# The `browser` fixture (conftest.py): Debian's Chromium through Playwright, failing (not
# skipping) when either is missing.

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts"
NOTEBOOK = "05-ExecutionOrderAndResources.ipynb"
# Cell id -> the pattern every rendered line of its output must match in full.
LOCKED_CELLS = {
    "nb05-10": r"Hi from process \d+ \(main process\)|Hi p\d from process \d+",
    "nb05-16": r"Hi g\d from process \d+",
}
RUN_ALL_TIMEOUT_MS = 600_000

# Issue 14's displays, in a notebook made here: an `explore` histogram whose outcomes are
# longer than the ≈17 characters the decks' styles used to leave them, a timeline (its rows and
# arrows as JupyterLab draws them), and a real deadlock (two locks taken in opposite orders),
# which the test ends with the stop button as a student would.
ISSUE14_NOTEBOOK = "issue14-displays.ipynb"
EXPLORE_CELL = r"""
let outcomes = explore(6, || {
    if std::process::id() % 2 == 0 { "this run had an even pid\nand printed two lines" } else { "this run had an odd pid, one long line" }
});
"""
# A recorded cell: two named workers put one item each on a queue the notebook takes them from.
TIMELINE_CELL = r"""
:timeline
let q: Queue<u32> = Queue::new().named("results");
let mut ws: Vec<Process> = (0..2).map(|i| { let q = q.clone(); Process::new(move || q.put(i)).name(format!("Worker-{i}")) }).collect();
for w in ws.iter_mut() { w.start(); }
let got: u32 = (0..2).map(|_| q.get()).sum();
for w in ws.iter_mut() { w.join(); }
println!("sum {got}");
"""
DEADLOCK_CELL = r"""
let a = Lock::new().named("a");
let b = Lock::new().named("b");
let both = Barrier::new(2);
let mut p = { let (a, b, both) = (a.clone(), b.clone(), both.clone());
    Process::new(move || { let _a = a.lock(); both.wait().unwrap(); let _b = b.lock(); }).name("AB") };
let mut q = { let (a, b, both) = (a.clone(), b.clone(), both.clone());
    Process::new(move || { let _b = b.lock(); both.wait().unwrap(); let _a = a.lock(); }).name("BA") };
p.start();
q.start();
p.join();
q.join();
"""


def _issue14_notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "rust-concurrency", "display_name": "Rust (concurrency)", "language": "rust"},
                   "language_info": {"name": "rust"}}
    nb.cells = [nbformat.v4.new_code_cell(c.strip()) for c in (EXPLORE_CELL, TIMELINE_CELL, DEADLOCK_CELL)]
    return nb


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET"):
    req = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="module")
def lab(kernel_spec_dir, tmp_path_factory):
    """``(base url, token)`` of a JupyterLab server whose root holds a copy of the lesson."""
    root = tmp_path_factory.mktemp("lab-root")
    shutil.copy(REPO / "notebooks" / NOTEBOOK, root / NOTEBOOK)
    nbformat.write(_issue14_notebook(), root / ISSUE14_NOTEBOOK)
    home = tmp_path_factory.mktemp("lab-home")
    settings = home / "settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    env = dict(os.environ)  # JUPYTER_PATH (our kernelspec) comes from kernel_spec_dir
    env.update({
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    })
    port, token = _free_port(), secrets.token_hex(16)
    log = open(home / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"jupyter lab exited:\n{(home / 'server.log').read_text()[-3000:]}"
            try:
                _api(base, token, "/api/status")
                break
            except OSError:
                assert time.monotonic() < deadline, f"jupyter lab did not answer:\n{(home / 'server.log').read_text()[-3000:]}"
                time.sleep(0.2)
        yield base, token
    finally:
        try:
            for k in _api(base, token, "/api/kernels") or []:
                _api(base, token, f"/api/kernels/{k['id']}", method="DELETE")
        except OSError:
            pass
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_locked_cells_show_whole_lines_in_jupyterlab(lab, browser):
    base, token = lab
    cells = nbformat.read(REPO / "notebooks" / NOTEBOOK, as_version=4).cells
    index = {c.get("id"): i for i, c in enumerate(cells)}
    missing = set(LOCKED_CELLS) - set(index)
    assert not missing, f"{NOTEBOOK} has no cells {sorted(missing)}"

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext", timeout=120_000)
    # The student's "Run > Run All Cells", as JupyterLab's command: it resolves when the cells ran
    # (false here: the lesson's cell tagged raises-exception fails on purpose, after the locked
    # cells; their outputs are checked below whatever follows them).
    page.evaluate(
        """async () => {
            const app = window.jupyterapp;
            const panel = app.shell.currentWidget;
            await panel.sessionContext.ready;
            return await app.commands.execute('notebook:run-all-cells');
        }""")
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
        timeout=RUN_ALL_TIMEOUT_MS)

    rendered = page.evaluate(
        """() => Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')).map(cell =>
            Array.from(cell.querySelectorAll('.jp-OutputArea-child')).map(child => {
                const out = child.querySelector('.jp-OutputArea-output');
                return {mime: out ? out.getAttribute('data-mime-type') : null, text: out ? out.innerText : ''};
            }))""")
    assert len(rendered) == len(cells), f"{len(rendered)} cells in the DOM, {len(cells)} in the notebook"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for cell_id, pattern in LOCKED_CELLS.items():
        cell = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(index[cell_id])
        cell.scroll_into_view_if_needed()
        cell.screenshot(path=str(ARTIFACTS / f"jupyterlab-05-{cell_id}.png"))
        outputs = rendered[index[cell_id]]
        where = f"{NOTEBOOK} cell {cell_id} in JupyterLab"
        assert [o["mime"] for o in outputs] == ["application/vnd.jupyter.stdout"], (
            f"{where}: expected one stdout output area, got {outputs}")
        lines = [line for line in outputs[0]["text"].split("\n") if line != ""]
        assert len(lines) >= 10, f"{where}: only {len(lines)} lines: {lines}"
        broken = [line for line in lines if not re.fullmatch(pattern, line)]
        assert not broken, f"{where}: lines not whole (/{pattern}/): {broken}\nall lines: {lines}"
    page.close()


# What JupyterLab shows of the two displays, measured in the page: the output area's own box and
# whether anything inside it is wider than it (a scroll bar or a cut); every outcome's `pre` with
# its lines as written and as laid out; the deadlock picture's boxes, arrows and labels.
MEASURE_ISSUE14 = r"""() => {
  const box = e => { const r = e.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height}; };
  const cells = Array.from(window.jupyterapp.shell.currentWidget.node.querySelectorAll('.jp-Notebook .jp-Cell'));
  const area = cell => cell.querySelector('.jp-OutputArea-output[data-mime-type="text/html"]');
  const out = {};
  const ex = area(cells[0]);
  if (ex) {
    out.explore = {area: box(ex), overflow: ex.scrollWidth - ex.clientWidth, text: ex.innerText,
      pres: Array.from(ex.querySelectorAll('.multiproc-explore pre')).map(p => {
        const cs = getComputedStyle(p);
        const inner = p.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom);
        return {text: p.textContent, lines: p.textContent.split('\n').length,
                shown: Math.round(inner / parseFloat(cs.lineHeight)), cut: p.scrollWidth - p.clientWidth, box: box(p)};
      })};
  }
  const tl = area(cells[1]);
  if (tl) {
    const svg = tl.querySelector('svg.rc-timeline');
    out.timeline = {area: box(tl), overflow: tl.scrollWidth - tl.clientWidth, svg: svg ? box(svg) : null,
      rows: svg ? Array.from(svg.querySelectorAll('g.row')).map(g => ({label: g.querySelector('text.row-label').textContent,
        bar: box(g.querySelector('rect.run')), title: g.querySelector('title').textContent})) : [],
      arrows: svg ? svg.querySelectorAll('g.item').length : 0};
  }
  const dl = area(cells[2]);
  if (dl) {
    const svg = dl.querySelector('svg');
    out.deadlock = {area: box(dl), overflow: dl.scrollWidth - dl.clientWidth, text: dl.innerText,
      svgs: dl.querySelectorAll('svg').length, svg: svg ? box(svg) : null,
      shapes: svg ? Array.from(svg.querySelectorAll('rect, line, text')).map(e => ({tag: e.tagName, text: e.textContent, box: box(e)})) : []};
  }
  return out;
}"""


def test_an_explore_histogram_a_timeline_and_a_deadlock_report_read_well_in_jupyterlab(lab, browser):
    base, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # `reset`: a fresh workspace, so the lesson the other test opened is not restored beside it.
        page.goto(f"{base}/lab/tree/{ISSUE14_NOTEBOOK}?reset&token={token}")
        page.wait_for_function(
            "name => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.context.path === name", arg=ISSUE14_NOTEBOOK, timeout=120_000)
        # Run All, not awaited: the second cell deadlocks and waits for the stop button.
        page.evaluate(
            """async () => {
                const app = window.jupyterapp;
                await app.shell.currentWidget.sessionContext.ready;
                app.commands.execute('notebook:run-all-cells');
            }""")
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.node.querySelector('.jp-Cell .rc-deadlock svg')",
            timeout=RUN_ALL_TIMEOUT_MS)
        page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.interrupt()")
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
            timeout=120_000)
        seen = page.evaluate(MEASURE_ISSUE14)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
        for k, name in ((0, "explore"), (1, "timeline"), (2, "deadlock")):
            cells.nth(k).scroll_into_view_if_needed()
            cells.nth(k).screenshot(path=str(ARTIFACTS / f"jupyterlab-issue14-{name}.png"))
    finally:
        page.close()

    shown = f"measured in JupyterLab: {json.dumps(seen, indent=1)}"
    ex = seen.get("explore")
    assert ex, f"no explore histogram shown: {shown}"
    assert ex["text"].startswith("explore: 6 runs"), shown
    assert ex["overflow"] <= 0, f"the histogram is wider than its output area: {shown}"
    assert ex["pres"], shown
    outcomes = {p["text"] for p in ex["pres"]}
    assert outcomes <= {"this run had an even pid\nand printed two lines", "this run had an odd pid, one long line"}, shown
    for p in ex["pres"]:
        assert p["shown"] == p["lines"] and p["cut"] <= 0, f"outcome {p['text']!r} wrapped or cut: {shown}"
        assert inside(p["box"], ex["area"]), shown

    tl = seen.get("timeline")
    assert tl and tl["svg"], f"no timeline shown: {shown}"
    assert tl["overflow"] <= 0 and inside(tl["svg"], tl["area"]), f"the timeline does not fit its output area: {shown}"
    labels = [r["label"] for r in tl["rows"]]
    assert re.fullmatch(r"MainProcess \(pid \d+\)", labels[0]) and len(labels) == 3, shown
    assert sorted(re.sub(r" \(pid \d+\)", "", x) for x in labels[1:]) == ["Worker-0", "Worker-1"], shown
    for r in tl["rows"]:
        assert r["bar"]["width"] > 0 and inside(r["bar"], tl["svg"]) and r["label"] in r["title"], shown
    assert tl["arrows"] == 2, shown

    dl = seen.get("deadlock")
    assert dl, f"no deadlock report shown: {shown}"
    assert dl["svgs"] == 1 and dl["svg"], shown
    assert dl["overflow"] <= 0 and inside(dl["svg"], dl["area"]), f"the picture does not fit its output area: {shown}"
    assert re.search(r"Deadlock: (AB|BA) \(pid \d+\) holds lock (a|b) and waits for lock (a|b)", dl["text"]), shown
    assert "`" not in dl["text"], f"code marks shown as backticks: {shown}"
    texts = [e for e in dl["shapes"] if e["tag"] == "text"]
    # Two boxes named with their pids, two arrows labelled with the bare lock names.
    assert len([t for t in texts if re.fullmatch(r"(AB|BA) \(pid \d+\)", t["text"])]) == 2, shown
    assert sorted(t["text"] for t in texts if "(pid" not in t["text"]) == ["a", "b"], shown
    for e in dl["shapes"]:
        assert inside(e["box"], dl["svg"]), f"{e['tag']} {e['text']!r} outside the picture: {shown}"
