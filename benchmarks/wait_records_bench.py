"""Overhead of the deadlock detector's wait-for records on the support crate's lock and queue.

Builds the `lock` and `queue` benches (support-crate/benches) twice: at a base commit without
the records (default: the merge base with `main` of the commit that added them, given with
--base) and at the working tree. Then runs them interleaved, base / new-off / new-on, so the
three are measured in the same run on the same machine state:

- *off*: the new code outside the kernel (no wait table: a record is one `OnceLock` look);
- *on*: the new code with a wait table mapped, as inside the kernel (a memfd made here and
  passed in `MULTIPROC_KERNEL_WAITS_FD`), so every wait that sleeps writes a record.

Prints one line per figure: the best over all rounds of each run's best repetition (on a shared,
loaded machine the best is the figure least disturbed by others), and the ratios new/base
(1.00 = no change; for items/s, below 1 is slower).

    python3 benchmarks/wait_records_bench.py --base e9bb495 [--rounds 15] [--quick]

`--benches manager --base none` measures the Manager's proxy calls (`benches/manager.rs`) off and
on only: that bench is newer than the records, and *off* (no table: one `OnceLock` look per
call) is then the baseline of *on*.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHES = ["lock", "queue"]
TABLE_BYTES = 1024 * 128  # multiproc::sys::waits::TABLE_BYTES


def build(tree: Path, target: Path, keep: Path, benches: list[str]) -> dict[str, Path]:
    """Builds the benches of `tree` into `target` and copies them into `keep` (the next build
    may reuse the same file names); returns bench name -> executable."""
    out = {}
    for b in benches:
        proc = subprocess.run(
            ["cargo", "bench", "--locked", "-p", "multiproc", "--bench", b, "--no-run", "--message-format=json"],
            cwd=tree, env={**os.environ, "CARGO_TARGET_DIR": str(target)}, capture_output=True, text=True, check=True,
        )
        for line in proc.stdout.splitlines():
            msg = json.loads(line)
            if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["target"]["name"] == b:
                keep.mkdir(parents=True, exist_ok=True)
                out[b] = keep / b
                shutil.copy2(msg["executable"], out[b])
    return out


def build_base_and_new(base_commit: str | None, benches: list[str], tmp: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """Builds the benches at `base_commit` (in a detached worktree under `tmp`, removed after the
    build; none if `base_commit` is None) and at the working tree; returns (base, new), each
    bench name -> executable."""
    base = {}
    if base_commit is not None:
        base_tree = tmp / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), base_commit], cwd=REPO, check=True, capture_output=True)
        try:
            # Two target folders: cargo hashes a path package relative to its workspace, so the
            # base tree's build would overwrite ours in a shared folder (and count as fresh).
            base = build(base_tree, REPO / "target-bench-base", tmp / "base-bin", benches)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=REPO, check=False, capture_output=True)
    return base, build(REPO, REPO / "target", tmp / "new-bin", benches)


def bench_env(quick: bool, fd: int | None, fd_env: str) -> tuple[dict[str, str], tuple[int, ...]]:
    """The environment of a bench run (none of the kernel's variables but `fd_env`, set to the
    descriptor `fd` when given) and the descriptors to pass."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MULTIPROC_KERNEL")}
    if quick:
        env["MULTIPROC_BENCH_QUICK"] = "1"
    if fd is None:
        return env, ()
    env[fd_env] = str(fd)
    return env, (fd,)


def run(exe: Path, quick: bool, fd: int | None, fd_env: str = "MULTIPROC_KERNEL_WAITS_FD") -> dict[str, float]:
    """Runs one bench; returns figure -> its best repetition."""
    env, fds = bench_env(quick, fd, fd_env)
    proc = subprocess.run([str(exe)], env=env, pass_fds=fds, capture_output=True, text=True, check=True)
    res = {}
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH "):
            d = json.loads(line[6:])
            # The fastest repetition: the least disturbed by other load on a shared machine.
            res[f"{d['key']} ({d['unit']})"] = d["max"] if d["better"] == "higher" else d["min"]
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="main", help="commit without the wait records ('none': off and on only)")
    ap.add_argument("--benches", default=",".join(BENCHES), help="comma-separated support-crate benches")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    benches = a.benches.split(",")
    with_base = a.base != "none"
    with tempfile.TemporaryDirectory() as tmp:
        base, new = build_base_and_new(a.base if with_base else None, benches, Path(tmp))
        fd = os.memfd_create("waits-bench", 0)
        os.ftruncate(fd, TABLE_BYTES)
        results: dict[str, dict[str, list[float]]] = {}
        for round_ in range(a.rounds):
            for b in benches:
                trio = ([("base", base[b], None)] if with_base else []) + [("off", new[b], None), ("on", new[b], fd)]
                # A different order each round, so a slow spell of the machine is not always
                # charged to the same variant.
                k = round_ % len(trio)
                for label, exe, table in trio[k:] + trio[:k]:
                    for key, value in run(exe, a.quick, table).items():
                        results.setdefault(key, {}).setdefault(label, []).append(value)
    if not with_base:
        print(f"{'figure':48} {'off':>10} {'on':>10} {'on/off':>8}")
    else:
        print(f"{'figure':48} {'base':>10} {'off':>10} {'on':>10} {'off/base':>9} {'on/base':>8}")
    for key, by in results.items():
        best = max if "/s" in key else min
        m = {k: best(v) for k, v in by.items()}
        if not with_base:
            print(f"{key:48} {m['off']:10.2f} {m['on']:10.2f} {m['on'] / m['off']:8.3f}")
            continue
        print(f"{key:48} {m['base']:10.2f} {m['off']:10.2f} {m['on']:10.2f} {m['off'] / m['base']:9.3f} {m['on'] / m['base']:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
