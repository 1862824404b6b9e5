"""Overhead of the timeline's recording places on the support crate's lock and queue, recording off.

Builds the `lock` and `queue` benches (support-crate/benches) at a base commit without the
timeline (--base) and at the working tree (`wait_records_bench.build_base_and_new`), then runs
them interleaved, base / off / off-in-kernel, the order rotating each round, so all three are
measured in the same run on the same machine state:

- *off*: the new code outside the kernel (no log: the first look turns the switch off);
- *off, log mapped*: the new code with a log made as the kernel makes it (a memfd passed in
  `MULTIPROC_KERNEL_TIMELINE_FD`) and recording off, as in every cell without `:timeline`.

Both pay the same one relaxed load and branch per recording place. What recording *on* costs
is measured by `cargo bench -p multiproc --bench timeline` (on against off in one run).

Prints one line per figure: the best over all rounds of each run's best repetition, and the
ratios against base (1.00 = no change; for items/s, below 1 is slower).

    python3 benchmarks/timeline_bench.py --base a6a1e15 [--rounds 9] [--quick]

Timings on a shared machine move by ±10 % between runs of the same code; `--instructions` also
counts the instructions each bench's main process executes (valgrind's callgrind, exact and
independent of the load; the benches do a fixed amount of work), base against new.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wait_records_bench import BENCHES, bench_env, build_base_and_new, run  # noqa: E402

LOG_BYTES = (16384 + 1) * 128  # multiproc::sys::timeline::LOG_BYTES
TIMELINE_FD_ENV = "MULTIPROC_KERNEL_TIMELINE_FD"


def instructions(exe: Path, log_fd: int | None) -> int:
    """Instructions executed by the bench's main process (the children are counted apart)."""
    env, fds = bench_env(True, log_fd, TIMELINE_FD_ENV)
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.%p", str(exe)],
                              env=env, pass_fds=fds, capture_output=True, text=True, check=True)
    # One "Collected" line per process; the main process's ends last.
    counts = re.findall(r"==(\d+)== Collected : (\d+)", proc.stderr)
    return int(counts[-1][1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="commit without the timeline")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--instructions", action="store_true", help="also count instructions (valgrind)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base, new = build_base_and_new(a.base, BENCHES, Path(tmp))
        # A log as the kernel makes it, recording off (the header is all zeros).
        fd = os.memfd_create("timeline-bench", 0)
        os.ftruncate(fd, LOG_BYTES)
        results: dict[str, dict[str, list[float]]] = {}
        for round_ in range(a.rounds):
            for b in BENCHES:
                trio = [("base", base[b], None), ("off", new[b], None), ("mapped", new[b], fd)]
                k = round_ % 3
                for label, exe, log in trio[k:] + trio[:k]:
                    for key, value in run(exe, a.quick, log, TIMELINE_FD_ENV).items():
                        results.setdefault(key, {}).setdefault(label, []).append(value)
        counted = {b: {label: instructions(exe, log) for label, exe, log in
                       [("base", base[b], None), ("off", new[b], None), ("mapped", new[b], fd)]} for b in BENCHES} if a.instructions else {}
    print(f"{'figure':48} {'base':>10} {'off':>10} {'mapped':>10} {'off/base':>9} {'map/base':>9}")
    for key, by in results.items():
        best = max if "/s" in key else min
        m = {k: best(v) for k, v in by.items()}
        print(f"{key:48} {m['base']:10.2f} {m['off']:10.2f} {m['mapped']:10.2f} {m['off'] / m['base']:9.3f} {m['mapped'] / m['base']:9.3f}")
    for b, m in counted.items():
        print(f"{b + ' bench, instructions (main process)':48} {m['base']:10d} {m['off']:10d} {m['mapped']:10d} {m['off'] / m['base']:9.3f} {m['mapped'] / m['base']:9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
