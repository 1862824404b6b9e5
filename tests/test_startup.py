"""The kernel's start-up design (issue 15): no std analysis by rust-analyzer, the support crate
as a prebuilt library, the kernel's own evcxr settings, and the type probe that writes the types
of untyped `let`s into the cell (kernel/src/evaluation/annotate.rs)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from conftest import KERNEL_NAME, rss_kib, run_cell, stop_kernel

PROCESS_CELL = 'let mut p = Process::new(|| println!("child says hi"));\np.start();\np.join();'


def start(cwd: Path | None = None, **env):
    """A kernel of our kernelspec, started in ``cwd`` with extra environment variables."""
    from jupyter_client.manager import start_new_kernel

    kw = {"env": {**os.environ, **env}}
    if cwd is not None:
        kw["cwd"] = str(cwd)
    return start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=180, **kw)


def ok(r) -> None:
    assert r.status == "ok", [(e["ename"], e["evalue"], "\n".join(e["traceback"])) for e in r.errors]


def value(r) -> str:
    ok(r)
    assert len(r.results) == 1, r.results
    return r.results[0]["data"]["text/plain"]


def test_first_cell_uses_process_without_dep(fresh_kernel):
    _, kc = fresh_kernel
    r = run_cell(kc, PROCESS_CELL)
    ok(r)
    assert r.stdout == "child says hi\n"


# --- the type probe -----------------------------------------------------------------------


# (cell whose `let`s need the probe, a later cell using the variables, its value)
PROBED = {
    "vec": ("let v = vec![1, 2, 3];", "v.iter().sum::<i32>()", "6"),
    "typed support-crate type": ('let q: Queue<String> = Queue::new();\nq.put("a".to_string());', "q.get()", '"a"'),
    "untyped support-crate type": ('let q2 = Queue::<String>::new();\nq2.put("b".to_string());', "q2.get()", '"b"'),
    "tuple pattern": ('let (a, mut b) = (1, "x".to_string());\nb.push(\'y\');', "(a + 1, b)", '(2, "xy")'),
    "thread handle": ("let h = std::thread::spawn(|| 5);", "h.join().unwrap()", "5"),
    "placeholder in a type": ("let hs: Vec<_> = (0..3).map(|i| i * 2).collect();", "hs.len()", "3"),
    "shadowed name": ("let s = 41;\nlet s = (s + 1).to_string();", "s.len()", "2"),
}


@pytest.mark.parametrize("case", PROBED)
def test_probed_lets_are_kept_for_later_cells(kernel, case):
    _, kc = kernel
    cell, later, expected = PROBED[case]
    ok(run_cell(kc, cell))
    assert value(run_cell(kc, later)) == expected


def test_closure_gets_a_clear_message(kernel):
    _, kc = kernel
    r = run_cell(kc, "let f = |x: i32| x + 1;")
    assert r.status == "error"
    (err,) = r.errors
    assert "`f` is a closure" in err["evalue"], err
    assert "Box<dyn Fn" in err["evalue"]
    # An iterator that holds a closure cannot be kept either; the message says so.
    r = run_cell(kc, "let doubled = (0..3).map(|x| x * 2);")
    assert r.status == "error"
    assert "`doubled` holds a closure" in r.errors[0]["evalue"], r.errors[0]
    # The kernel goes on; the next cell works.
    assert value(run_cell(kc, "{ let f = |x: i32| x + 1; f(1) }")) == "2"


def test_error_columns_on_an_annotated_line_are_the_students(kernel):
    _, kc = kernel
    code = 'let t = String::from("a") + 5;'
    r = run_cell(kc, code)
    assert r.status == "error"
    tb = "\n".join(r.errors[0]["traceback"])
    assert f"--> cell:1:{code.index('5') + 1}" in tb, tb
    assert code in tb


def test_borrow_error_positions_on_an_annotated_line(kernel):
    _, kc = kernel
    code = "let m = vec![1];\nlet n = m;\nlet o = m;"
    r = run_cell(kc, code)
    assert r.status == "error"
    assert r.errors[0]["evalue"].startswith("use of moved value"), r.errors[0]
    tb = "\n".join(r.errors[0]["traceback"])
    # The use on line 3, column 9, and the move under `m` of `let n = m;` (column 9): not
    # shifted by a written-in type, and the student's own lines shown.
    assert "--> cell:3:9" in tb, tb
    assert "2 | let n = m;\n  |         - value moved here" in tb, tb
    assert "std::vec::Vec" not in tb, tb


def test_error_message_is_the_error_not_an_earlier_warning(kernel):
    _, kc = kernel
    ok(run_cell(kc, "fn leaves_a_warning() { let unused = 1; }"))
    r = run_cell(kc, 'let z: i32 = "text";')
    assert r.status == "error"
    assert r.errors[0]["evalue"] == "mismatched types", r.errors[0]


# --- the kernel's own settings ------------------------------------------------------------


def test_students_evcxr_toml_does_not_change_the_kernel(kernel_spec_dir, tmp_path):
    (tmp_path / "evcxr.toml").write_text('[evcxr]\nopt_level = "2"\nprelude = "let from_student_toml = 1;"\n')
    km, kc = start(cwd=tmp_path)
    try:
        # `:opt` toggles: 0 -> 2, so it prints 2 when the level was the kernel's 0.
        r = run_cell(kc, ":opt")
        ok(r)
        shown = r.stdout + "".join(m["content"]["data"].get("text/plain", "") for m in r.messages if "data" in m["content"])
        assert "Optimization: 2" in shown, r.messages
        ok(run_cell(kc, ":opt 0"))
        r = run_cell(kc, "from_student_toml")
        assert r.status == "error"
        # Cells still run in the folder the kernel was started in.
        assert value(run_cell(kc, "std::env::current_dir().unwrap()")) == repr(str(tmp_path)).replace("'", '"')
    finally:
        stop_kernel(km, kc)


def test_a_broken_mold_on_path_does_not_stop_the_kernel(kernel_spec_dir, tmp_path):
    mold = tmp_path / "mold"
    mold.write_text("#!/bin/sh\necho 'mold: broken install' >&2\nexit 1\n")
    mold.chmod(0o755)
    km, kc = start(PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    try:
        ok(run_cell(kc, PROCESS_CELL))
        assert value(run_cell(kc, "1 + 1")) == "2"
    finally:
        stop_kernel(km, kc)


# --- regression: rust-analyzer must not analyse std again -------------------------------------


def start_and_measure(**env) -> tuple[float, int]:
    """Seconds from start to a finished first Process cell, and the kernel tree's idle RSS."""
    t0 = time.monotonic()
    km, kc = start(**env)
    try:
        ok(run_cell(kc, PROCESS_CELL))
        elapsed = time.monotonic() - t0
        ok(run_cell(kc, "1 + 1"))
        return elapsed, rss_kib(km.provisioner.process.pid, tree=True)
    finally:
        stop_kernel(km, kc)


def test_rust_analyzer_does_not_analyse_std(kernel_spec_dir):
    """Compared with the same kernel told to analyse std again (RUST_CONCURRENCY_STD_ANALYSIS=1,
    started in the same run): std's analysis costs ≈ 250 MB and seconds of CPU at every start,
    so a kernel that analyses it again (after an evcxr or rust-analyzer update) fails here."""
    lean_time, lean_rss = start_and_measure()
    std_time, std_rss = start_and_measure(RUST_CONCURRENCY_STD_ANALYSIS="1")
    assert lean_rss * 3 < std_rss, f"idle RSS {lean_rss} KiB vs {std_rss} KiB with std analysed"
    assert lean_time < std_time, f"start {lean_time:.1f} s vs {std_time:.1f} s with std analysed"
