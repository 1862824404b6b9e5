"""The build store (kernel/src/evaluation/build_store.rs): a cell build finished once, in any
kernel and cache slot of a cache root, is taken from `<cache>/build-store/` instead of running
rustc again. The builder appends one line per lookup to `build-store/log` (`hit`, `miss`,
`kept`, `not kept`), and notes `stored` in the slot's `rust-concurrency-build` when a build
came from the store: the tests read both."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import KERNEL_NAME, run_cell, stop_kernel

CELL = "(1..=4).map(|i| i * i).sum::<i32>()"
ERROR = 'let n: i32 = "three";'


def start(cache: Path, **extra: str):
    from jupyter_client.manager import start_new_kernel

    env = {**os.environ, "RUST_CONCURRENCY_CACHE": str(cache), **extra}
    return start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=180, env=env)


def log_lines(cache: Path) -> list[str]:
    log = cache / "build-store" / "log"
    return [line.split(" ", 1)[1] for line in log.read_text().splitlines()] if log.exists() else []


def outcomes(kc) -> list:
    """What a student sees of one working cell and one compile error."""
    r = run_cell(kc, CELL)
    assert r.status == "ok", r.errors
    e = run_cell(kc, ERROR)
    assert e.status == "error"
    return [r.results[0]["data"]["text/plain"], r.stdout, r.stderr, [(x["ename"], x["evalue"], x["traceback"]) for x in e.errors]]


def test_a_second_kernel_takes_start_up_a_cell_and_an_error_from_the_store(kernel_spec_dir, tmp_path):
    cache = tmp_path / "cache"
    km_a, kc_a = start(cache)
    try:
        first = outcomes(kc_a)
        assert first[0] == "30"
        assert "mismatched types" in first[3][0][1]
        built = log_lines(cache)
        assert any(line.startswith("kept") for line in built), built
        # The second kernel starts while the first holds slot-0: it works in slot-1.
        km_b, kc_b = start(cache)
        try:
            second = outcomes(kc_b)
            notes = {p.parent.parent.parent.name: p.read_text().strip() for p in cache.glob("slot-*/evcxr/target/rust-concurrency-build")}
        finally:
            stop_kernel(km_b, kc_b)
    finally:
        stop_kernel(km_a, kc_a)
    assert second == first
    assert notes.get("slot-1") == "stored", notes
    later = log_lines(cache)[len(built):]
    # Start-up (evcxr's `42` twice, the preload), the cell, the error: all from the store.
    assert len(later) >= 5, later
    assert all(line.startswith("hit") for line in later), later


def test_the_store_off_gives_the_same_outputs_and_keeps_nothing(kernel_spec_dir, tmp_path):
    cache = tmp_path / "cache"
    km, kc = start(cache)
    try:
        stored = outcomes(kc)
    finally:
        stop_kernel(km, kc)
    before = log_lines(cache)
    km, kc = start(cache, RUST_CONCURRENCY_BUILD_STORE="0")
    try:
        off = outcomes(kc)
        note = (cache / "slot-0" / "evcxr" / "target" / "rust-concurrency-build").read_text().strip()
    finally:
        stop_kernel(km, kc)
    assert off == stored
    assert note == "direct"
    assert log_lines(cache) == before


def test_an_included_file_is_read_again_after_it_changed(kernel_spec_dir, tmp_path):
    """The same cell in a restarted kernel is the same source, so only the dep-info rule
    (nothing kept that read another file) makes it read the changed file."""
    data = tmp_path / "data.txt"
    cache = tmp_path / "cache"
    cell = f'include_str!("{data}")'
    seen = []
    for text in ["first", "second"]:
        data.write_text(text)
        km, kc = start(cache)
        try:
            r = run_cell(kc, cell)
            seen.append(r.results[0]["data"]["text/plain"] if r.results else r.errors)
        finally:
            stop_kernel(km, kc)
    assert seen == ['"first"', '"second"']
    assert "not kept" in [line.rsplit(" ", 1)[0] for line in log_lines(cache)]
