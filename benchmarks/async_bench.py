#!/usr/bin/env python3
"""What lesson 26's tokio costs the lessons (issue 12, "Async in the kernel").

The kernel links every cell against the prebuilt support crate; since lesson 26 the prebuilt
folder also holds the `aio` crate and tokio, given to cells as `--extern`s (support-crate/aio,
docs/architecture.md "Async cells"). This script measures, with the same kernel binary and A/B
interleaved in one run (the machine may be loaded by other work):

- `base`:  the support crate of BASE (default: the merge base of HEAD and `main`, before tokio), exported with `git archive`
  and named in the `MULTIPROC_SUPPORT_CRATE` of a kernelspec copy;
- `tokio`: this working tree's support crate (with `aio` and tokio in its prebuilt folder).

Per kernel: start -> kernel_info, start -> first cell done (a lesson without async: the
`Process` cell of benchmarks/kernel_bench.py), the median of N trivial cells `1 + 1`. And in a
third kernel of the `tokio` crate, start -> first *async* cell done (`aio::block_on` with a
spawned task and a sleep), then the same async cell again. Last, without a kernel (less noise):
rustc alone compiling a cell-like cdylib that uses the prelude, against each prebuilt library.

Usage: async_bench.py [--reps 3] [--trivial 10] [--base REV]
Needs the release kernel (`cargo build --release -p rust-concurrency-kernel`) and a warm cache
(the first kernel of each crate builds that crate's prebuilt library once, not timed: a warm-up
round runs first). Prints `BENCH {json}` lines and a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests"))

from kernel_bench import FIRST_CELL_OURS, OURS_NAME, check_ok, log, run_cell  # noqa: E402

ASYNC_CELL = "aio::block_on(async { let t = aio::spawn(async { aio::sleep(0.0).await; 20 }); t.await.unwrap() * 2 + 2 })"


def install(tmp: Path, crates: dict[str, Path]) -> None:
    """Our kernelspec, then one copy per crate (kernel `rc-bench-<name>`) whose kernel.json
    names that crate in `env` (the kernelspec's env wins over the caller's)."""
    binary = Path(os.environ.get("RC_KERNEL_BIN", REPO / "target" / "release" / "rust-concurrency-kernel"))
    prefix = tmp / "prefix"
    subprocess.run([str(binary), "install", "--prefix", str(prefix), "--no-warm-up"], check=True,
                   capture_output=True, timeout=900)
    data = prefix / "share" / "jupyter"
    spec = json.loads((data / "kernels" / OURS_NAME / "kernel.json").read_text())
    for name, crate in crates.items():
        spec["env"]["MULTIPROC_SUPPORT_CRATE"] = str(crate)
        spec["display_name"] = f"bench {name}"
        (data / "kernels" / f"rc-bench-{name}").mkdir()
        (data / "kernels" / f"rc-bench-{name}" / "kernel.json").write_text(json.dumps(spec))
    os.environ["JUPYTER_PATH"] = str(data) + (os.pathsep + os.environ["JUPYTER_PATH"] if os.environ.get("JUPYTER_PATH") else "")


def export_base(base: str, tmp: Path) -> Path:
    """The support crate at `base`, in its workspace (the kernel member is there for cargo only)."""
    dest = tmp / "base"
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", base, "support-crate", "kernel", "Cargo.toml", "Cargo.lock"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "support-crate"


def one_kernel(crate: str, first_cell: str, trivial: int, again: str | None = None, expect_aio: bool | None = None) -> dict:
    from jupyter_client.manager import KernelManager

    env = dict(os.environ, MULTIPROC_UNATTENDED="1")
    km = KernelManager(kernel_name=f"rc-bench-{crate}")
    t0 = time.perf_counter()
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=600)
        ready = time.perf_counter() - t0
        _, reply, out = run_cell(kc, first_cell, timeout=600)
        check_ok(reply, out, "first cell")
        first = time.perf_counter() - t0
        rec = {"ready_s": ready, "first_cell_s": first}
        if expect_aio is not None:
            # Sanity (warm-up only): the kernel really linked the crate it was given.
            _, reply, _ = run_cell(kc, "aio::block_on(async { 1 })", timeout=600)
            assert (reply.get("status") == "ok") == expect_aio, f"{crate}: aio present = {not expect_aio}?"
        if again:
            took, reply, out = run_cell(kc, again)
            check_ok(reply, out, "second cell")
            rec["again_ms"] = took * 1000
        times = []
        for _ in range(trivial):
            took, reply, out = run_cell(kc, "1 + 1")
            check_ok(reply, out, "1 + 1")
            times.append(took * 1000)
        rec["trivial_ms"] = statistics.median(times)
        return rec
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


# Cell-like crates for rustc alone: a trivial use of the prelude, and the `Process` cell.
CELL_SOURCES = {
    "trivial": "use multiproc::prelude::*;\n#[unsafe(no_mangle)] pub extern \"C\" fn cell() -> i32 { let _ = cpu_count(); 1 + 1 }\n",
    "process": "use multiproc::prelude::*;\n#[unsafe(no_mangle)] pub extern \"C\" fn cell() -> i32 { "
               + FIRST_CELL_OURS + " 1 }\n",
}


def prebuilt_dirs() -> dict[str, Path]:
    """The newest prebuilt library in the cache with tokio among its cells-extern, and the newest
    without (the two this run's kernels used)."""
    cache = Path(os.environ.get("RUST_CONCURRENCY_CACHE", Path.home() / ".cache" / "rust-concurrency"))
    found: dict[str, Path] = {}
    for m in sorted((cache / "prebuilt").glob("*/manifest"), key=lambda p: p.stat().st_mtime, reverse=True):
        found.setdefault("tokio" if "extern tokio " in m.read_text() else "base", m.parent)
    return found


def rustc_ms(prebuilt: Path, src: Path, out: Path) -> float:
    """One cell-like compile (a cdylib using the prelude) against a prebuilt library, with the
    `--extern`s a kernel passes, in ms."""
    lines = prebuilt.joinpath("manifest").read_text().splitlines()
    # Every `--extern` the kernel gives a cell: the support crate and its manifest's `extern` lines.
    externs = [f"multiproc={prebuilt / 'deps' / lines[1]}"]
    externs += [f"{name}={prebuilt / 'deps' / file}" for _, name, file in (line.split(" ") for line in lines[2:])]
    cmd = ["rustc", "--edition", "2024", "--crate-type", "cdylib", "-C", "opt-level=0", "-C", "debuginfo=0",
           *[arg for e in externs for arg in ("--extern", e)], "-L", f"dependency={prebuilt / 'deps'}",
           "-o", str(out), str(src)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return (time.perf_counter() - t0) * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--trivial", type=int, default=10)
    ap.add_argument("--base", default=None,
                    help="git revision of the support crate without tokio (default: where this branch left main, "
                         "so that nothing but tokio differs)")
    args = ap.parse_args()
    if args.base is None:
        args.base = subprocess.run(["git", "-C", str(REPO), "merge-base", "HEAD", "main"], check=True,
                                   capture_output=True, text=True).stdout.strip()[:10]
    with tempfile.TemporaryDirectory(prefix="async-bench-") as t:
        tmp = Path(t)
        install(tmp, {"base": export_base(args.base, tmp), "tokio": REPO / "support-crate"})
        runs = {"base": FIRST_CELL_OURS, "tokio": FIRST_CELL_OURS, "tokio-async": ASYNC_CELL}
        log("warm-up round (builds each crate's prebuilt library if missing; not counted)")
        for name, cell in runs.items():
            one_kernel(name.split("-")[0], cell, 1, expect_aio=name != "base")
        got: dict[str, list[dict]] = {name: [] for name in runs}
        for rep in range(args.reps):
            for name, cell in runs.items():
                rec = one_kernel(name.split("-")[0], cell, args.trivial, again=cell)
                log(f"rep {rep + 1} {name}: {rec}")
                got[name].append(rec)
        dirs = prebuilt_dirs()
        compiles: dict[tuple[str, str], list[float]] = {}
        for cell, text in CELL_SOURCES.items():
            src = tmp / f"{cell}.rs"
            src.write_text(text)
            for i in range(args.reps * 4):
                for name in ("base", "tokio"):
                    ms = rustc_ms(dirs[name], src, tmp / f"lib{cell}{i}{name}.so")
                    compiles.setdefault((cell, name), []).append(ms)
    med = {name: {k: statistics.median(r[k] for r in recs) for k in recs[0]} for name, recs in got.items()}
    rustc = {key: statistics.median(v) for key, v in compiles.items()}
    for (cell, name), v in rustc.items():
        print("BENCH " + json.dumps({"key": f"async_rustc_{cell}_cell_ms", "impl": name, "value": round(v, 1),
                                     "n": len(compiles[(cell, name)])}))
    for name, m in med.items():
        for k, v in m.items():
            print("BENCH " + json.dumps({"key": f"async_{k}", "impl": name, "value": round(v, 3), "reps": args.reps}))
    b, a, x = med["base"], med["tokio"], med["tokio-async"]
    rows = [
        ("Start → kernel_info reply", "ready_s", "s"),
        ("Start → first cell done", "first_cell_s", "s"),
        ("The same cell again", "again_ms", "ms"),
        (f"Trivial cell `1 + 1`, median of {args.trivial}", "trivial_ms", "ms"),
    ]
    print()
    print("| measure (median of %d, interleaved) | no tokio (`%s`) | this tree (aio + tokio) | ratio | this tree, first cell async |" % (args.reps, args.base))
    print("|---|---|---|---|---|")
    for label, k, unit in rows:
        fmt = "{:.2f}" if unit == "s" else "{:.0f}"
        print(f"| {label} | {fmt.format(b[k])} {unit} | {fmt.format(a[k])} {unit} | {a[k] / b[k]:.2f} | {fmt.format(x[k])} {unit} |")
    n = args.reps * 4
    for cell in CELL_SOURCES:
        b_ms, t_ms = rustc[(cell, "base")], rustc[(cell, "tokio")]
        print(f"| rustc alone, the {cell} cell as a cdylib, median of {n} | {b_ms:.0f} ms | {t_ms:.0f} ms | {t_ms / b_ms:.2f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
