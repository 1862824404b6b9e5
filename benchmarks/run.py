#!/usr/bin/env python3
"""Runs every benchmark in one go and writes BENCHMARKS.md (this is what `make bench` runs).

1. the support crate's bench binaries (`cargo bench -p multiproc --benches`, support-crate/benches/),
2. the Python `multiprocessing` baselines (benchmarks/py_baselines.py), with the same shapes,
3. the kernel benchmarks (benchmarks/kernel_bench.py): our kernel beside stock evcxr_jupyter 0.22.

Every part prints `BENCH {json}` lines (and `PENDING {json}` for what could not run); this
script collects them, writes them all to benchmarks/results.json, and renders the tables with
ratios and the issue's targets into BENCHMARKS.md at the repository root.

Usage: run.py [--quick] [--no-kernel] [--no-crate] [--no-python] [--no-build-kernel]
              [--kernel-args=ARGS] [--merge] [--output FILE]
Run it on an otherwise idle machine: everything here is timed on the wall clock.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
COMMAND = "make bench"

# (label, rust key(s) in order of preference, python key, target kind, target value)
# target kinds: "ratio" = Rust at least N× better than Python; "max" = Rust value at most N.
CRATE_ROWS = [
    ("Process start + join", ["process_start_join"], "process_start_join", "ratio", 5),
    ("Queue: small ints, child → parent", ["queue_ints"], "queue_ints", "ratio", 10),
    ("Lock uncontended: acquire + release", ["lock_uncontended"], "lock_uncontended", "max", 25),
    ("Lock uncontended: RAII guard", ["lock_uncontended_guard"], "lock_uncontended", "max", 25),
    ("2 processes increment a `Value` under its lock", ["value_lock_2proc"], "value_lock_2proc", "max", 200),
    ("2 processes increment a shared counter under a `Lock`", ["lock_counter_2proc"], "value_lock_2proc",
     "max", 200),
    ("Raw pipe, 8-byte messages (no crate code; transport floor)", ["pipe_raw_8b"], "pipe_raw_8b", None, None),
    ("Raw fork + _exit + waitpid (no crate code; process floor)", ["fork_waitpid_raw"], None, None, None),
]

# (label, key, target kind, target value for ours)
KERNEL_ROWS = [
    ("Start → kernel_info reply", "kernel_ready_s", None, None),
    ("Start → first cell done (ours: uses `Process`; stock: `1 + 1`)", "first_cell_s", None, None),
    ("Start → first cell using `Process` done (stock: after `:dep multiproc`)", "first_process_cell_s", "max", 1.5),
    ("2 kernels started together → first `Process` cell done, slowest", "first_process_cell_2k_s", "max", 1.5),
    ("3 kernels started together → first `Process` cell done, slowest", "first_process_cell_3k_s", "max", 1.5),
    ("Trivial cell `1 + 1`, median of 50", "trivial_cell_ms", "max", 150),
    ("Trivial cell `1 + 1`, CPU time of the kernel and all it ran, per cell", "trivial_cell_cpu_ms", None, None),
    ("Start → first cell done, CPU time of the kernel and all it ran", "start_cpu_s", None, None),
    ("Cell with an untyped `let` (`let v = vec![1, 2, 3];`), median of 10", "probe_cell_ms", None, None),
    ("First completion request", "completion_first_ms", "max", 300),
    ("Later completion requests, p95", "completion_p95_ms", "max", 100),
    ("Idle memory, RSS summed over the process tree", "idle_rss_mb", "max", 60),
    ("Idle memory after completions, RSS", "idle_after_completion_rss_mb", "max", 60),
    ("Idle memory, PSS summed over the process tree", "idle_pss_mb", "max", 60),
    ("Output latency p50, the cell's own process prints", "output_latency_own_p50_ms", "max", 5),
    ("Output latency p99, the cell's own process prints", "output_latency_own_p99_ms", "max", 5),
    ("Output latency p50, a bare-`fork` child prints", "output_latency_fork_p50_ms", "max", 5),
    ("Output latency p99, a bare-`fork` child prints", "output_latency_fork_p99_ms", "max", 5),
    ("Output latency max, a bare-`fork` child prints", "output_latency_fork_max_ms", None, None),
    ("Output latency p50, a `Process` child prints", "output_latency_process_p50_ms", "max", 5),
    ("Output latency p99, a `Process` child prints", "output_latency_process_p99_ms", "max", 5),
    ("Output latency max, a `Process` child prints", "output_latency_process_max_ms", None, None),
]


# Rust bench binary → the Python baselines measured right after it.
PAIRS = [
    ("process", ["process_start_join"]),
    ("queue", ["queue_ints"]),
    ("lock", ["lock_uncontended"]),
    ("value", ["value_lock_2proc"]),
    ("pipe_raw", ["pipe_raw_8b"]),
]


def available_rust_benches():
    """Bench binaries present in support-crate/benches/ (one file each)."""
    return sorted(p.stem for p in (REPO / "support-crate" / "benches").glob("*.rs"))


UNITS = {"s": "s", "ms": "ms", "mb": "MB"}


def log(msg):
    print(f"[run.py] {msg}", file=sys.stderr, flush=True)


def run_part(name, cmd, env=None, timeout=None):
    """Runs one part, streaming its stderr, and returns (results, pendings, error or None)."""
    log(f"{name}: {shlex.join(cmd)}")
    try:
        proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [], [], f"timed out after {timeout}s"
    results, pendings = [], []
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH "):
            results.append(json.loads(line[6:]))
        elif line.startswith("PENDING "):
            pendings.append(json.loads(line[8:]))
    err = None if proc.returncode == 0 else f"exit status {proc.returncode}"
    return results, pendings, err


def cmd_out(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def machine_info():
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = f"{int(line.split()[1]) / 1024 / 1024:.1f} GB"
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem_gb,
        "os": f"{platform.system()} {platform.release()}",
        "rustc": cmd_out(["rustc", "--version"]),
        "python": platform.python_version(),
    }


def fmt(v):
    if v is None:
        return "—"
    if abs(v) >= 10_000:
        return f"{v:,.0f}"
    if abs(v) >= 100 or v == int(v):
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def advantage(ours, base, better):
    """How many times better `ours` is than `base` (> 1 means ours is better)."""
    if ours is None or base is None or ours == 0 or base == 0:
        return None
    return base / ours if better == "lower" else ours / base


def target_cell(kind, target, value, ratio, unit):
    if kind is None:
        return "—"
    if kind == "ratio":
        if ratio is None:
            return f"≥ {target}× (pending)"
        return f"≥ {target}×: {'**met**' if ratio >= target else '**missed**'}"
    if value is None:
        return f"≤ {fmt(target)} {unit} (pending)"
    return f"≤ {fmt(target)} {unit}: {'**met**' if value <= target else '**missed**'}"


def render(results, pendings, errors, info, started, finished, load_before, load_after, argv,
           results_name):
    by = {}
    for r in results:
        by[(r["key"], r["impl"])] = r
    lines = []
    a = lines.append
    a("# Benchmarks")
    a("")
    a("Produced by `benchmarks/run.py`; reproduce with:")
    a("")
    a("```sh")
    a(COMMAND)
    a("```")
    a("")
    a(f"(This file was written by `{shlex.join(argv)}`; `make bench` runs the full set.)")
    a("")
    a("## Machine and run")
    a("")
    a(f"- Date (UTC): {started} → {finished}")
    a(f"- CPU: {info['cpu']}, {info['cores']} cores; memory {info['memory']}; {info['os']}")
    a(f"- {info['rustc']}; Python {info['python']} (`multiprocessing` fork context)")
    a(f"- Load average (1/5/15 min) before: {' / '.join(f'{x:.2f}' for x in load_before)}; "
      f"after: {' / '.join(f'{x:.2f}' for x in load_after)}. Figures are medians of 5 repetitions "
      "of wall-clock time, Rust and Python measured in the same run; a loaded machine inflates all "
      "of them, and process start-up and cross-process figures the most.")
    a("")
    a("## Support crate (`multiproc`) beside Python `multiprocessing`")
    a("")
    a("Rust: `support-crate/benches/*.rs` (release build, `std::time::Instant`). "
      "Python: `benchmarks/py_baselines.py`. *Advantage* = how many times better the Rust figure is.")
    a("")
    a("| Benchmark | Rust | Python | Unit | Advantage | Target (issue #2) |")
    a("|---|---:|---:|---|---:|---|")
    for label, rkeys, pkey, kind, target in CRATE_ROWS:
        rust = next((by[(k, "rust")] for k in rkeys if (k, "rust") in by), None)
        py = by.get((pkey, "python")) if pkey else None
        unit = (rust or py or {}).get("unit", "")
        if unit == "" and kind == "max":
            unit = "ns"
        better = (rust or py or {}).get("better", "lower")
        rv = rust["value"] if rust else None
        pv = py["value"] if py else None
        adv = advantage(rv, pv, better)
        a(f"| {label} | {fmt(rv) if rust else 'pending'} | {fmt(pv) if pkey else '—'} | {unit} | "
          f"{(fmt(adv) + '×') if adv else '—'} | {target_cell(kind, target, rv, adv, unit.split('/')[0])} |")
    a("")
    a("What each figure times (the `note` of each result):")
    a("")
    for r in results:
        if r["impl"] in ("rust", "python"):
            spread = f" (min {fmt(r['min'])}, max {fmt(r['max'])})" if "min" in r else ""
            a(f"- `{r['key']}` {r['impl']}: {r['note']}{spread}")
    a("")
    a("## Kernel: ours beside stock `evcxr_jupyter` 0.22.0")
    a("")
    a("`benchmarks/kernel_bench.py` starts both kernels through `jupyter_client` from kernelspecs in a "
      "temporary `JUPYTER_PATH` (stock installed with `cargo install evcxr_jupyter --version 0.22.0 "
      "--locked --root build/stock`, its kernelspec by `evcxr_jupyter --install`; ours by "
      "`rust-concurrency-kernel install --prefix`, which also warms the compile cache). "
      "Output latency: a process prints 500 lines 1 ms apart, each with its CLOCK_REALTIME write time "
      "in µs; the script stamps each IOPub `stream` message on arrival.")
    a("")
    a("| Measure | Ours | Stock evcxr_jupyter | Advantage | Target for ours (issue #15) |")
    a("|---|---:|---:|---:|---|")
    for label, key, kind, target in KERNEL_ROWS:
        ours = by.get((key, "ours"))
        stock = by.get((key, "stock"))
        unit = (ours or stock or {}).get("unit", "")
        better = (ours or stock or {}).get("better", "lower")
        ov = ours["value"] if ours else None
        sv = stock["value"] if stock else None
        adv = advantage(ov, sv, better)
        ocell = f"{fmt(ov)} {unit}" if ours else "pending"
        if key.startswith("output_latency_process") and not stock:
            scell = "n/a (no support crate)"
        else:
            scell = f"{fmt(sv)} {unit}" if stock else "pending"
        a(f"| {label} | {ocell} | {scell} | {(fmt(adv) + '×') if adv else '—'} | "
          f"{target_cell(kind, target, ov, adv, unit or UNITS.get(key.rsplit('_', 1)[-1], ''))} |")
    extra = [r for r in results if r["impl"] in ("ours", "stock") and "p90" in r]
    if extra:
        a("")
        for r in extra:
            a(f"- trivial cell, {r['impl']}: median {fmt(r['value'])} ms, p90 {fmt(r['p90'])} ms, "
              f"min {fmt(r['min'])} ms, max {fmt(r['max'])} ms")
    if pendings or errors:
        a("")
        a("## Pending or failed in this run")
        a("")
        for p in pendings:
            a(f"- {p['impl']}: {p['reason']}")
        for name, err in errors:
            a(f"- {name}: {err}")
    a("")
    a(f"Raw results of this run: `{results_name}`.")
    a("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    ap.add_argument("--no-kernel", action="store_true")
    ap.add_argument("--no-crate", action="store_true")
    ap.add_argument("--no-python", action="store_true")
    ap.add_argument("--no-build-kernel", action="store_true",
                    help="use the kernel binary as it is (RC_KERNEL_BIN or target/release)")
    ap.add_argument("--kernel-args", default="",
                    help="extra arguments for kernel_bench.py; write --kernel-args=--no-stock-install (with '=')")
    ap.add_argument("--merge", action="store_true",
                    help="keep results of the previous run (benchmarks/results.json) that this run "
                         "did not measure, e.g. after re-running only the kernels")
    ap.add_argument("--output", default=str(REPO / "BENCHMARKS.md"))
    args = ap.parse_args()

    # Results of the default report go to benchmarks/results.json; a report written elsewhere
    # (a trial run) keeps its raw results beside it, so it never overwrites the real ones.
    out = Path(args.output).resolve()
    results_path = HERE / "results.json" if out == REPO / "BENCHMARKS.md" else out.with_suffix(".json")
    info = machine_info()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    load_before = os.getloadavg()
    quick = ["--quick"] if args.quick else []
    results, pendings, errors = [], [], []

    env = dict(os.environ)
    if args.quick:
        env["MULTIPROC_BENCH_QUICK"] = "1"
    rust_benches = [] if args.no_crate else available_rust_benches()
    built = []
    for rust_bench in rust_benches:
        # Compile everything first so that compiling never overlaps a measurement; one bench
        # that does not build only loses its own rows.
        log(f"building rust bench {rust_bench}")
        build = subprocess.run(["cargo", "bench", "-q", "-p", "multiproc", "--no-run", "--bench", rust_bench],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if build.returncode == 0:
            built.append(rust_bench)
        else:
            first_error = next((l for l in build.stderr.splitlines() if l.startswith("error")), "build failed")
            errors.append((f"rust bench {rust_bench}", f"does not build: {first_error}"))
    missing_ok = set(rust_benches) - set(built)
    rust_benches = built
    # Each Rust bench binary runs right before the Python baselines it is compared with, so a
    # change in the machine's load during the run hits both sides of a row alike.
    for rust_bench, py_keys in PAIRS:
        if rust_bench in rust_benches:
            r, p, e = run_part(f"rust {rust_bench}",
                               ["cargo", "bench", "-q", "-p", "multiproc", "--bench", rust_bench], env=env)
            results += r
            pendings += p
            if e:
                errors.append((f"rust bench {rust_bench}", e))
        elif not args.no_crate and rust_bench not in missing_ok:
            errors.append((f"rust bench {rust_bench}", "not present in support-crate/benches (yet)"))
        if py_keys and not args.no_python:
            r, p, e = run_part(f"python {' '.join(py_keys)}",
                               [sys.executable, str(HERE / "py_baselines.py")] + py_keys, env=env)
            results += r
            pendings += p
            if e:
                errors.append((f"python baselines {' '.join(py_keys)}", e))
    if not args.no_kernel:
        kenv = dict(env)
        if not args.no_build_kernel and "RC_KERNEL_BIN" not in env:
            log("building the kernel (release)")
            subprocess.run(["cargo", "build", "--release", "-p", "rust-concurrency-kernel"], cwd=REPO)
            target = Path(env.get("CARGO_TARGET_DIR", REPO / "target"))
            kenv["RC_KERNEL_BIN"] = str(target / "release" / "rust-concurrency-kernel")
        # jupyter_client lives in the project's venv (tests/requirements.txt).
        venv_py = REPO / ".venv" / "bin" / "python"
        py = str(venv_py) if venv_py.exists() else sys.executable
        r, p, e = run_part("kernels", [py, str(HERE / "kernel_bench.py")] + shlex.split(args.kernel_args),
                           env=kenv)
        results += r
        pendings += p
        if e:
            errors.append(("kernel benchmarks", e))

    finished = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    load_after = os.getloadavg()
    if args.merge and results_path.exists():
        prev = json.loads(results_path.read_text())
        fresh = {(r["key"], r["impl"]) for r in results}
        measured_impls = {r["impl"] for r in results}
        kept = [r for r in prev["results"] if (r["key"], r["impl"]) not in fresh]
        for r in kept:
            r.setdefault("run", prev["started"])
        results = kept + results
        pendings = [p for p in prev.get("pending", []) if p["impl"] not in measured_impls] + pendings
        started = f"{prev['started'].split(' (')[0]} (earlier run, merged) and {started}"
        load_before = prev["load_before"]
    results_path.write_text(json.dumps(
        {"started": started, "finished": finished, "machine": info, "load_before": load_before,
         "load_after": load_after, "results": results, "pending": pendings,
         "errors": errors}, indent=1, ensure_ascii=False) + "\n")
    md = render(results, pendings, errors, info, started, finished, load_before, load_after,
                ["python3", "benchmarks/run.py"] + sys.argv[1:],
                os.path.relpath(results_path, REPO))
    # Sections written by other scripts (benchmarks/memory_bench.py's "Memory per student") are
    # measured separately: keep them, after the sections this script renders.
    if out.exists():
        previous = out.read_text()
        marker = "\n## Memory per student"
        if marker in previous:
            md = md.rstrip("\n") + "\n" + previous[previous.index(marker):]
    Path(args.output).write_text(md)
    log(f"wrote {out} and {results_path}")


if __name__ == "__main__":
    main()
