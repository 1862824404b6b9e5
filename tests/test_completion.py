"""Completion and inspection through the real kernel (complete_request, inspect_request).

The kernel answers std and support-crate items from its index (built here once with the
kernel's hidden `build-index` command into a temporary data folder, as the installer does) and
adds evcxr's own answers for the student's names. Each prefix below must bring its expected
suggestion among the first ones, and no private or kernel-internal name may appear.

Latency is recorded, not asserted (timing belongs to benchmarks): run with `-s` to see it.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from conftest import kernel_binary, rss_kib, run_cell, running_kernel

# Names that are private to the support crate or the kernel's own plumbing.
PRIVATE = {"ring", "_items", "evcxr_display", "KernelShowFinalValue"}

# Cells run before the completions: persisted variables and imports the prefixes use. Most
# types are written out; `names` is left to the kernel's type probe.
SETUP = [
    "let v: Vec<i32> = vec![1];",
    "let q: Queue<i32> = Queue::new();",
    "let lock: Lock = Lock::new();",
    "let s: String = String::from(\"abc\");",
    # Untyped: the kernel's type probe writes the type in, and completion uses it.
    "let names = vec![String::from(\"Ana\")];",
    "use std::collections::HashMap;",
    "use std::thread;",
    "fn area(width: u32) -> u32 { width * width }",
    "struct Counter { n: u32 }\nimpl Counter { fn bump(&mut self) { self.n += 1; } }\nlet c: Counter = Counter { n: 0 };",
]

# (code before the cursor, expected suggestion, it must be among the first `top`)
CASES = [
    ("Proc", "Process", 3),
    ("let p = Process::ne", "new", 3),
    ("let q2: Queue<i32> = Queue::ne", "new", 3),
    ("let t = String::fr", "from", 5),
    ("std::sync::", "Arc", 10),
    ("std::thread::sp", "spawn", 3),
    ("v.pu", "push", 3),
    ("names.le", "len", 3),
    ("q.ge", "get", 3),
    ("lock.acq", "acquire", 3),
    ("current_process().", "name", 10),
    ("let w: Vec<u8> = Vec::with_", "with_capacity", 3),
    ("let m: HashMap<i32, i32> = HashMap::ne", "new", 3),
    ("s.tri", "trim", 3),
    ('"abc".to_up', "to_uppercase", 3),
    ("Lo", "Lock", 3),
    ("let a = std::sync::Arc::new(1);\nlet b = Arc::cl", "clone", 3),
    ("thread::sc", "scope", 3),
    ("println", "println!", 3),
    ("sle", "sleep", 3),
    ("let d = std::time::Dur", "Duration", 3),
]

LATENCIES: list[float] = []


@pytest.fixture(scope="module")
def kernel(kernel_spec_dir):
    """A kernel whose data folder holds a freshly built index, with the setup cells run.

    The index goes where the installer puts it: `index/` in the data folder that the
    kernelspec's `env` names (`RUST_CONCURRENCY_DATA`), since a kernelspec's env wins over ours.
    """
    spec = json.loads((kernel_spec_dir / "kernel.json").read_text())
    data = Path(spec["env"]["RUST_CONCURRENCY_DATA"])
    started = time.monotonic()
    proc = subprocess.run(
        [str(kernel_binary()), "build-index", "--out", str(data / "index")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    size = sum(f.stat().st_size for f in (data / "index").iterdir())
    print(f"\n[completion] index built in {time.monotonic() - started:.1f} s, {size / 1e6:.1f} MB on disk")
    for km, kc in running_kernel():
        for cell in SETUP:
            res = run_cell(kc, cell)
            assert res.status == "ok", (cell, res.errors)
        yield km, kc


def request(kc, kind: str, code: str, cursor: int | None = None) -> dict:
    """Sends complete_request or inspect_request; returns the reply's content (timed)."""
    cursor = len(code) if cursor is None else cursor
    started = time.monotonic()
    msg_id = kc.complete(code, cursor) if kind == "complete" else kc.inspect(code, cursor)
    while True:
        reply = kc.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    if kind == "complete":
        LATENCIES.append(time.monotonic() - started)
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply["content"]


def test_first_completion_memory(kernel):
    """The first completion loads the index: its cost in the kernel's memory is recorded."""
    km, kc = kernel
    pid = km.provisioner.process.pid
    before = rss_kib(pid)
    content = request(kc, "complete", "Proc")
    after = rss_kib(pid)
    print(f"\n[completion] first completion {LATENCIES[-1] * 1000:.0f} ms; kernel RSS {before / 1024:.1f} -> {after / 1024:.1f} MB")
    assert "Process" in content["matches"]


@pytest.mark.parametrize("code,expected,top", CASES, ids=[c[0] for c in CASES])
def test_prefix(kernel, code, expected, top):
    _, kc = kernel
    content = request(kc, "complete", code)
    matches = content["matches"]
    assert expected in matches[:top], f"{expected!r} not in the first {top} of {matches[:20]}"
    leaked = [m for m in matches if m in PRIVATE or m.startswith("_")]
    assert not leaked, f"private names offered: {leaked}"
    # The matches replace the word being typed.
    word = len(code) - len(code.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"))
    assert content["cursor_end"] == len(code)
    assert content["cursor_start"] == len(code) - word


@pytest.mark.parametrize(
    "code,expected",
    [("let x = are", "area"), ("fn f(width: u32) -> u32 {\n    wid", "width"), ("let y = c.bu", "bump"), ("let k = Cou", "Counter")],
    ids=["earlier fn", "parameter", "own type's method", "own type"],
)
def test_the_students_own_names(kernel, code, expected):
    _, kc = kernel
    matches = request(kc, "complete", code)["matches"]
    # evcxr inserts a method call with its parentheses (`bump();`).
    assert any(m.split("(")[0] == expected for m in matches[:5]), matches[:20]


def test_private_fields_and_plumbing_are_not_offered(kernel):
    _, kc = kernel
    for code in ("q.", "q.r", "v.", "Process::", ""):
        matches = request(kc, "complete", code)["matches"]
        assert not [m for m in matches if m in PRIVATE or m.startswith("_")], (code, matches)


def test_inspect_path_shows_signature_and_docs(kernel):
    _, kc = kernel
    content = request(kc, "inspect", "let p = Process::new(|| {});", len("let p = Process::ne"))
    assert content["found"], content
    text = content["data"]["text/plain"]
    assert "pub fn new" in text and "Process" in text, text
    print(f"\n[completion] inspect Process::new:\n{text[:400]}")
    assert "process" in text.split("\n\n", 1)[1].lower(), text


def test_inspect_method_of_a_variable(kernel):
    _, kc = kernel
    content = request(kc, "inspect", "q.put(1);", len("q.pu"))
    assert content["found"], content
    text = content["data"]["text/plain"]
    assert "pub fn put" in text, text
    print(f"\n[completion] inspect q.put:\n{text[:400]}")


def test_inspect_inside_call_parentheses(kernel):
    _, kc = kernel
    content = request(kc, "inspect", "let p = Process::new(", len("let p = Process::new("))
    assert content["found"], content
    assert "pub fn new" in content["data"]["text/plain"]


def test_latency_report(kernel):
    """Prints first and later completion latency (p95) over the requests of this module."""
    assert LATENCIES, "no completion was timed"
    later = sorted(LATENCIES[1:]) or [LATENCIES[0]]
    p95 = later[min(len(later) - 1, int(len(later) * 0.95))]
    print(f"\n[completion] first {LATENCIES[0] * 1000:.0f} ms, later p95 {p95 * 1000:.0f} ms over {len(later)} requests")
