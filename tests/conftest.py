"""Shared fixtures for the tests that drive the real kernel through jupyter_client.

API other test files build on:

- ``kernel_spec_dir`` (session): installs the kernelspec of the already-built kernel binary
  (env ``RC_KERNEL_BIN`` or ``<repo>/target/release/rust-concurrency-kernel``) into a temporary
  prefix and points ``JUPYTER_PATH`` at it.
- ``kernel`` (module): ``(km, kc)`` of a running kernel, shut down after the module.
- ``fresh_kernel`` (function): the same, for tests that kill, interrupt or restart it.
- ``run_cell(kc, code, ...) -> CellResult``: runs one cell and gathers every IOPub message
  whose parent is that request, up to its ``idle`` status. ``outputs``, ``stdout`` and ``stderr``
  are what a frontend holds at the end (``frontend_outputs``: ``clear_output`` and
  ``update_display_data`` applied); ``messages`` and ``streams`` are the raw messages as they
  arrived (for timing).
- ``frontend_outputs(messages) -> list``: the nbformat outputs a frontend keeps from IOPub
  messages, the way nbclient builds them (one output per message, nothing merged).
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KERNEL_NAME = "rust-concurrency"

# Kernels started by the tests run the lessons fast and never wait for a person.
os.environ.setdefault("MULTIPROC_TIME_SCALE", "0.01")
os.environ.setdefault("MULTIPROC_UNATTENDED", "1")


def kernel_binary() -> Path:
    """The kernel binary under test (built beforehand, never by the tests)."""
    env = os.environ.get("RC_KERNEL_BIN")
    path = Path(env) if env else REPO / "target" / "release" / "rust-concurrency-kernel"
    if not path.is_file():
        pytest.fail(
            f"kernel binary not found at {path}: build it first with "
            "`cargo build --release -p rust-concurrency-kernel` or set RC_KERNEL_BIN",
            pytrace=False,
        )
    return path.resolve()


@pytest.fixture(scope="session")
def kernel_spec_dir(tmp_path_factory) -> Path:
    """Installs the kernelspec into a temporary prefix; returns the kernelspec directory."""
    binary = kernel_binary()
    prefix = tmp_path_factory.mktemp("jupyter-prefix")
    proc = subprocess.run(
        [str(binary), "install", "--prefix", str(prefix), "--no-warm-up"],
        capture_output=True,
        text=True,
        # The first install on a machine builds the support crate for cells (minutes on a
        # loaded 2-core machine); later ones find it in the cache.
        timeout=900,
    )
    if proc.returncode != 0:
        pytest.fail(f"kernel install failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    data_dir = prefix / "share" / "jupyter"
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(data_dir) + (os.pathsep + old if old else "")
    spec = data_dir / "kernels" / KERNEL_NAME
    assert (spec / "kernel.json").is_file(), f"no kernel.json in {spec}"
    yield spec
    if old is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = old


def start_kernel():
    """Starts a kernel of our kernelspec; returns ``(km, kc)`` once it answered kernel_info."""
    from jupyter_client.manager import start_new_kernel

    return start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=180)


def stop_kernel(km, kc) -> None:
    try:
        kc.stop_channels()
    finally:
        km.shutdown_kernel(now=False)


def running_kernel():
    """Yields ``(km, kc)`` of a started kernel and stops it afterwards (for fixtures)."""
    km, kc = start_kernel()
    try:
        yield km, kc
    finally:
        stop_kernel(km, kc)


@pytest.fixture(scope="module")
def kernel(kernel_spec_dir):
    """A running kernel shared by the tests of one module: ``(km, kc)``."""
    yield from running_kernel()


@pytest.fixture
def fresh_kernel(kernel_spec_dir):
    """A kernel of its own for one test (which may interrupt, kill or restart it)."""
    yield from running_kernel()


@dataclass
class CellResult:
    """Everything one ``execute_request`` produced."""

    reply: dict
    status: str
    # every raw stream message, in arrival order, even those a later clear_output removed:
    # (stream name, text, time.monotonic() when the message arrived here)
    streams: list = field(default_factory=list)
    # the outputs a frontend holds at the end (frontend_outputs), as nbformat output dicts
    outputs: list = field(default_factory=list)
    # the text of the stdout / stderr stream outputs in ``outputs``
    stdout: str = ""
    stderr: str = ""
    # raw display_data and update_display_data messages (whole messages)
    displays: list = field(default_factory=list)
    # execute_result contents
    results: list = field(default_factory=list)
    # error contents
    errors: list = field(default_factory=list)
    # every IOPub message whose parent is this request, in arrival order
    messages: list = field(default_factory=list)


def collect_iopub(kc, msg_id: str, timeout: float) -> list:
    """IOPub messages for ``msg_id`` up to and including its ``idle`` status.

    Each message gets ``msg["_arrival"] = time.monotonic()`` when it was read, and
    ``msg["_arrival_us"]``, the wall clock in µs (to compare with a process's CLOCK_REALTIME
    stamps; benchmarks/kernel_bench.py measures output latency with it)."""
    deadline = time.monotonic() + timeout
    out = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no idle status for {msg_id} within {timeout} s; got {[m['msg_type'] for m in out]}")
        try:
            msg = kc.get_iopub_msg(timeout=remaining)
        except queue.Empty:
            continue
        msg["_arrival"] = time.monotonic()
        msg["_arrival_us"] = time.time_ns() // 1000
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        out.append(msg)
        if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
            return out


def iopub_until(kc, msg_id: str, stop, timeout: float = 120) -> list:
    """IOPub messages of ``msg_id`` (each with ``msg["_arrival"] = time.monotonic()``) up to and
    including the first for which ``stop(msg)`` is true; the cell may still be running then (e.g.
    for a test that presses stop next). Fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            m = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        m["_arrival"] = time.monotonic()
        seen.append(m)
        if stop(m):
            return seen
    raise TimeoutError(f"nothing awaited came within {timeout} s; got {[(m['msg_type'], m['content']) for m in seen]}")


def until_output(kc, msg_id: str, marker: str, timeout: float = 120) -> list:
    """IOPub messages of ``msg_id`` up to the first stream text holding ``marker``."""
    return iopub_until(kc, msg_id, lambda m: m["msg_type"] == "stream" and marker in m["content"]["text"], timeout)


def frontend_outputs(messages: list) -> list:
    """The outputs a frontend keeps from ``messages``, as nbformat output dicts.

    Follows nbclient (and the Jupyter messaging spec): each ``stream``, ``display_data``,
    ``execute_result`` and ``error`` message adds one output; ``clear_output`` empties the list,
    with ``wait: true`` only when the next output arrives; ``update_display_data`` replaces the
    data of the outputs shown with that ``display_id``. Streams are not merged (nbclient does
    not merge them, so neither does the saved notebook)."""
    from nbformat.v4 import output_from_msg

    outputs: list = []
    ids: list = []  # display id (or None) of each output
    clear_next = False
    for msg in messages:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "clear_output":
            if content.get("wait"):
                clear_next = True
            else:
                outputs, ids, clear_next = [], [], False
        elif kind in ("stream", "display_data", "execute_result", "error"):
            if clear_next:
                outputs, ids, clear_next = [], [], False
            outputs.append(output_from_msg(msg))
            ids.append(content.get("transient", {}).get("display_id"))
        elif kind == "update_display_data":
            target = content.get("transient", {}).get("display_id")
            for out, shown in zip(outputs, ids):
                if target is not None and shown == target:
                    out["data"] = content.get("data", {})
                    out["metadata"] = content.get("metadata", {})
    return outputs


def _answer_stdin(kc, answers: list) -> bool:
    """Answers one pending input_request, if any; True when it did."""
    try:
        req = kc.get_stdin_msg(timeout=0.05)
    except queue.Empty:
        return False
    if req["msg_type"] == "input_request":
        kc.input(answers.pop(0) if answers else "")
    return True


def run_cell(kc, code: str, timeout: float = 120, allow_stdin: bool = False, stdin_answers=None, **kwargs) -> CellResult:
    """Runs ``code`` and returns its reply and every IOPub message it produced.

    With ``allow_stdin`` each ``input_request`` is answered with the next of ``stdin_answers``
    (an empty line when they run out). Extra keyword arguments go to ``kc.execute``
    (``silent``, ``store_history``, ``stop_on_error``)."""
    answers = list(stdin_answers or [])
    msg_id = kc.execute(code, allow_stdin=allow_stdin, **kwargs)
    deadline = time.monotonic() + timeout
    reply = None
    # Wait for the shell reply; meanwhile answer stdin requests (the cell blocks on them).
    while reply is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no execute_reply within {timeout} s for {code!r}")
        if allow_stdin and _answer_stdin(kc, answers):
            continue
        try:
            msg = kc.get_shell_msg(timeout=min(remaining, 0.1 if allow_stdin else remaining))
        except queue.Empty:
            continue
        if msg.get("parent_header", {}).get("msg_id") == msg_id:
            reply = msg
    messages = collect_iopub(kc, msg_id, max(1.0, deadline - time.monotonic()))
    res = CellResult(reply=reply["content"], status=reply["content"].get("status", ""), messages=messages)
    for m in messages:
        t, c = m["msg_type"], m["content"]
        if t == "stream":
            res.streams.append((c["name"], c["text"], m["_arrival"]))
        elif t in ("display_data", "update_display_data"):
            res.displays.append(m)
        elif t == "execute_result":
            res.results.append(c)
        elif t == "error":
            res.errors.append(c)
    res.outputs = frontend_outputs(messages)
    shown = [o for o in res.outputs if o["output_type"] == "stream"]
    res.stdout = "".join(o["text"] for o in shown if o["name"] == "stdout")
    res.stderr = "".join(o["text"] for o in shown if o["name"] == "stderr")
    return res


def _stat_after_name(pid) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    return stat[stat.rfind(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    """Pids of every living process whose ancestor chain contains ``pid`` (read from /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_after_name(entry)
        if fields is not None:
            parents[int(entry)] = int(fields[1])
    found = []
    for p in parents:
        q = p
        seen = 0
        while q in parents and q > 1 and seen < 1000:
            q = parents[q]
            seen += 1
            if q == pid:
                found.append(p)
                break
    return found


def rss_kib(pid: int, tree: bool = False) -> int:
    """VmRSS of ``pid`` (with ``tree``: summed over it and all its descendants), in KiB."""
    total = 0
    for p in [pid, *descendants(pid)] if tree else [pid]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue  # it exited meanwhile
        total += sum(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return total


def count_zombies(kernel_pid: int) -> int:
    """How many processes in the kernel's process tree (the runtime, the processes cells
    started, their children) have finished but were never reaped (state ``Z``)."""
    return sum(1 for p in descendants(kernel_pid) if (_stat_after_name(p) or ["?"])[0] == "Z")


# Flags that let Debian's Chromium run headless, as root, on a machine without network.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright, one for the whole session (the slides and the
    JupyterLab tests): Playwright's sync API allows one instance per thread, a second
    `sync_playwright()` while the first is open fails. (Chromium's own `--print-to-pdf` prints
    as soon as the page loaded, sometimes before reveal.js laid out the print pages: Playwright
    lets the test wait for reveal.js's own "ready" and "pdf-ready" signals instead.)"""
    # A hard import: a missing package must fail the run, not skip the slides silently.
    import playwright.sync_api as sync_api
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert exe, "Chromium is needed for the slides tests (Debian: apt-get install chromium)"
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS)
        yield b
        b.close()


def measure_offline(browser, html: str, measure: str, tmp_path, name: str, height: int = 800) -> dict:
    """Writes ``html`` (a display's HTML) into a page of its own, opens it in Chromium with every
    request refused (a kernel's picture must need none), evaluates ``measure`` (a JavaScript
    function returning a dict of figures in the page's pixels) and returns its figures, plus
    ``requests``: what the page tried to load. A screenshot goes to ``tmp_path/<name>.png``."""
    page_file = tmp_path / f"{name}.html"
    page_file.write_text(f'<!doctype html><html><head><meta charset="utf-8"></head><body>{html}</body></html>', encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": height})
    requests = []
    context.route(lambda url: not url.startswith(page_file.as_uri()), lambda route: route.abort("internetdisconnected"))
    page = context.new_page()
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(page_file.as_uri())
        figures = page.evaluate(measure)
        page.screenshot(path=str(tmp_path / f"{name}.png"))
    finally:
        context.close()
    figures["requests"] = [u for u in requests if u != page_file.as_uri()]
    return figures


def inside(inner: dict, outer: dict, slack: float = 0.5) -> bool:
    """True if the box ``inner`` (left, top, right, bottom) lies within ``outer``, give or take
    ``slack`` pixels."""
    return (inner["left"] >= outer["left"] - slack and inner["top"] >= outer["top"] - slack
            and inner["right"] <= outer["right"] + slack and inner["bottom"] <= outer["bottom"] + slack)
