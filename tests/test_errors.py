"""Compile errors read like rustc's own, in the cell's line numbers.

Each case runs a cell in the real kernel and compiles the same lines as a small standalone
program with ``rustc`` (the toolchain evcxr uses). The program is the cell's lines inside
``fn main() { … }``, so rustc's line N is the cell's line N - 1; after that shift (and
``src/main.rs`` read as ``cell``) the kernel's first error must be rustc's first error, line
for line: the same first line, the same labels in the same order under the same source
lines, the same notes, and the suggestion as rustc shows it (the changed line, ``+++`` under
the insertion or ``-``/``+`` lines for a replacement).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import run_cell

CASES = {
    # The typo in lesson 00: rustc suggests the similar name, as a changed line.
    "typo": ('let name = String::from("Ana");\nprintln!("Hello, {}!", nmae);', "E0425"),
    # Use of a moved value: "consider cloning", the `.clone()` insertion marked.
    "moved": ('let s = String::from("x");\nlet t = s;\nprintln!("{} {}", s, t);', "E0382"),
    # Lesson 05's lock moved into a process's closure in a loop: a suggestion that adds a line.
    "moved-in-loop": (
        'let lock1 = String::from("x");\nfor i in 0..3 {\n    let f = move || println!("{} {i}", lock1);\n    f();\n}',
        "E0382",
    ),
    # A missing `mut`: the `mut ` insertion on the `let` line.
    "borrow-mut": ("let v = Vec::new();\nv.push(1);\nprintln!(\"{:?}\", v);", "E0596"),
    "assign-twice": ("let x = 5;\nprintln!(\"{x}\");\nx = 6;\nprintln!(\"{x}\");", "E0384"),
    # Wrong argument count, with rustc's note pointing at the function in the same cell.
    "arguments": ("fn add(a: i32, b: i32) -> i32 { a + b }\nlet r = add(1);\nprintln!(\"{r}\");", "E0061"),
    "mismatched": ('let n: i32 = "five";\nprintln!("{n}");', "E0308"),
}


def rustc_first_error(tmp_path, cell: str) -> str:
    """rustc's first error for the cell's lines as a program, in the cell's line numbers."""
    src = tmp_path / "main.rs"
    src.write_text("fn main() {\n" + cell + "\n}\n")
    proc = subprocess.run(
        ["rustc", "--edition", "2021", "--color", "never", "--emit", "metadata", "-o", str(tmp_path / "out"), src.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0, "the case must not compile"
    blocks = re.split(r"\n(?=(?:error|warning)[\[:])", proc.stderr)
    first = next(b for b in blocks if b.startswith("error"))

    def shift(line: str) -> str:
        line = re.sub(r"--> main\.rs:(\d+):(\d+)", lambda m: f"--> cell:{int(m[1]) - 1}:{m[2]}", line)
        return re.sub(r"^(\s*)(\d+)( [|+~-])", lambda m: f"{m[1]}{int(m[2]) - 1}{m[3]}", line)

    return "\n".join(shift(line) for line in first.rstrip().splitlines())


@pytest.mark.skipif(shutil.which("rustc") is None, reason="needs rustc (the kernel needs it too)")
@pytest.mark.parametrize("case", list(CASES))
def test_compile_error_is_rustcs_in_cell_lines(kernel, tmp_path, case):
    _, kc = kernel
    code, expected_code = CASES[case]
    res = run_cell(kc, code, timeout=300)
    assert res.status == "error" and len(res.errors) == 1, (res.errors, res.stderr)
    err = res.errors[0]
    assert err["ename"] == "CompilationError"
    ours = err["traceback"][0].rstrip()
    theirs = rustc_first_error(tmp_path, code)
    assert theirs.startswith(f"error[{expected_code}]"), theirs
    assert ours == theirs, f"kernel:\n{ours}\n\nrustc:\n{theirs}"
    # Nothing of the generated file shows through.
    assert "lib.rs" not in ours and "evcxr" not in ours


def test_typo_suggests_the_name_on_the_changed_line(kernel):
    # What lesson 00 promises: the compiler "even suggests `name`", shown where it goes.
    _, kc = kernel
    res = run_cell(kc, 'let name = String::from("Ana");\nprintln!("Hello, {}!", nmae);')
    tb = res.errors[0]["traceback"][0]
    assert tb.startswith("error[E0425]: cannot find value `nmae` in this scope\n --> cell:2:24\n"), tb
    assert "help: a local variable with a similar name exists" in tb
    assert '2 + println!("Hello, {}!", name);' in tb, tb


def test_missing_mut_is_marked_on_the_let_line(kernel):
    _, kc = kernel
    res = run_cell(kc, "let v = Vec::new();\nv.push(1);")
    tb = res.errors[0]["traceback"][0]
    assert "1 | let mut v = Vec::new();\n  |     +++" in tb, tb
    assert "\n\nmut" not in tb


def test_errors_come_first_and_earlier_warnings_never_appear(kernel):
    _, kc = kernel
    # An earlier cell whose code has a warning (an unused variable) compiles and runs.
    ok = run_cell(kc, "fn helper_with_a_warning() -> i32 { let never_used = 1; 2 }")
    assert ok.status == "ok", ok.errors
    # A failing cell with a warning of its own before the error.
    res = run_cell(kc, "let unused_here = 1;\nlet n: i32 = \"five\";\nhelper_with_a_warning();")
    assert res.status == "error"
    err = res.errors[0]
    assert err["evalue"] == "mismatched types"
    assert err["traceback"][0].startswith("error[E0308]: mismatched types"), err["traceback"]
    everything = "\n".join(err["traceback"])
    assert "never_used" not in everything, everything
    assert "warning" not in err["traceback"][0]
