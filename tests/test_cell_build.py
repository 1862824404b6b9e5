"""Cells built without cargo (kernel/src/evaluation/cell_build.rs): evcxr's cargo runs reach the
kernel's cell builder, which runs rustc directly for evcxr's cell crate and leaves everything
else (here: a `:dep`) to the real cargo. Each kernel gets a cache root of its own, so the
builder's note (`<slot>/evcxr/target/rust-concurrency-build`) is this kernel's."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import KERNEL_NAME, run_cell, stop_kernel

NOTE = "rust-concurrency-build"


def start(cache: Path):
    from jupyter_client.manager import start_new_kernel

    env = {**os.environ, "RUST_CONCURRENCY_CACHE": str(cache)}
    return start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=180, env=env)


def ok(r) -> None:
    assert r.status == "ok", [(e["ename"], e["evalue"]) for e in r.errors]


def last_build(cache: Path) -> str:
    notes = list(cache.glob(f"slot-*/evcxr/target/{NOTE}"))
    assert len(notes) == 1, notes
    return notes[0].read_text().strip()


def test_cells_and_probes_are_built_without_cargo(kernel_spec_dir, tmp_path):
    km, kc = start(tmp_path / "cache")
    try:
        r = run_cell(kc, 'let mut p = Process::new(|| println!("hi"));\np.start();\np.join();')
        ok(r)
        assert r.stdout == "hi\n"
        assert last_build(tmp_path / "cache") == "direct"
        # An untyped `let`: the type probe's `check`, then the build.
        ok(run_cell(kc, "let v = vec![1, 2, 3];"))
        assert last_build(tmp_path / "cache") == "direct"
        r = run_cell(kc, "v.iter().sum::<i32>()")
        assert r.results[0]["data"]["text/plain"] == "6"
        # An error is reported as from cargo: the error itself, at the student's position.
        r = run_cell(kc, 'let n: i32 = "three";')
        assert r.status == "error"
        assert "mismatched types" in r.errors[0]["evalue"], r.errors
        assert last_build(tmp_path / "cache") == "direct"
        # What a cell runs sees the PATH the kernel was started with (the kernel put the
        # builder's folder and the toolchain's `bin/` in front of it for itself).
        r = run_cell(kc, 'std::env::var("PATH").unwrap()')
        assert r.results[0]["data"]["text/plain"] == '"' + os.environ["PATH"] + '"'
    finally:
        stop_kernel(km, kc)


def test_a_dependency_goes_to_cargo(kernel_spec_dir, tmp_path):
    lib = tmp_path / "tiny"
    (lib / "src").mkdir(parents=True)
    (lib / "Cargo.toml").write_text('[package]\nname = "tiny"\nversion = "0.1.0"\nedition = "2021"\n\n[workspace]\n')
    (lib / "src" / "lib.rs").write_text("pub fn answer() -> i32 { 42 }\n")
    km, kc = start(tmp_path / "cache")
    try:
        ok(run_cell(kc, "1 + 1"))
        assert last_build(tmp_path / "cache") == "direct"
        ok(run_cell(kc, f':dep tiny = {{ path = "{lib}" }}', timeout=300))
        r = run_cell(kc, "tiny::answer()", timeout=300)
        assert r.results[0]["data"]["text/plain"] == "42", r.errors
        assert last_build(tmp_path / "cache").startswith("cargo: the cell crate has dependencies")
    finally:
        stop_kernel(km, kc)


def test_a_dep_of_a_crate_every_cell_has_is_skipped_with_a_note(kernel):
    # rayon and crossbeam-channel come with the support crate (`cells-extern`); a second
    # `--extern` from evcxr's cargo would make rustc stop ("multiple candidates for `rlib`").
    km, kc = kernel
    r = run_cell(kc, ':dep rayon = "1"\nuse rayon::prelude::*;\nlet s: i32 = (1..=4).into_par_iter().sum();\nprintln!("sum {s}");', timeout=300)
    ok(r)
    assert r.stdout.splitlines()[0].startswith("note: `rayon` is already in every cell"), r.stdout
    assert "sum 10" in r.stdout
    r = run_cell(kc, ":dep crossbeam-channel = { version = \"0.5\" }", timeout=300)
    ok(r)
    assert "`crossbeam_channel` is already in every cell" in r.stdout, r.stdout
    # The cell's own line numbers are kept: an error on line 2 says line 2.
    r = run_cell(kc, ':dep rayon = "1"\nlet n: i32 = "two";')
    assert r.status == "error"
    assert any("cell:2:" in line for e in r.errors for line in e["traceback"]), r.errors
