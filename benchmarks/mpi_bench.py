"""MPI point-to-point on this machine: rsmpi (Rust, the `mpi` crate on the system's Open MPI)
beside mpi4py (Python, the same Open MPI), two ranks on one machine.

    python3 benchmarks/mpi_bench.py     # needs mpiexec, cargo, and mpi4py in this Python
                                        # (benchmarks/requirements-mpi.txt)

Measures, medians of 5 launches: the one-way latency of an 8-byte message (half a ping-pong round
trip, 20 000 round trips) and the rate of 8-byte messages sent back to back (100 000 messages, one
acknowledgement at the end). mpi4py is timed with its buffer calls (`Send`/`Recv` on a bytearray,
like rsmpi) and with its pickling calls (`send`/`recv`, what the Cookbook uses). Prints `BENCH
{json}` lines and a Markdown table (pasted into BENCHMARKS.md).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "target" / "mpi-bench"
ROUND_TRIPS = 20_000
MESSAGES = 100_000
REPEATS = 5

RUST = r"""
use mpi::traits::*;
use std::time::Instant;

fn main() {
    let universe = mpi::initialize().unwrap();
    let world = universe.world();
    let other = world.process_at_rank(1 - world.rank());
    let (trips, messages): (usize, usize) = (%d, %d);
    let x = 7u64;
    world.barrier();
    let t = Instant::now();
    for _ in 0..trips {
        if world.rank() == 0 { other.send(&x); other.receive::<u64>(); }
        else { other.receive::<u64>(); other.send(&x); }
    }
    let latency = t.elapsed().as_secs_f64() / trips as f64 / 2.0;
    world.barrier();
    let t = Instant::now();
    if world.rank() == 0 {
        for _ in 0..messages { other.send(&x); }
        other.receive::<u64>();
    } else {
        for _ in 0..messages { other.receive::<u64>(); }
        other.send(&x);
    }
    let rate = messages as f64 / t.elapsed().as_secs_f64();
    if world.rank() == 0 { println!("{} {}", latency, rate); }
}
""" % (ROUND_TRIPS, MESSAGES)

PYTHON = r"""
import sys, time
from mpi4py import MPI
comm = MPI.COMM_WORLD
rank, other = comm.Get_rank(), 1 - comm.Get_rank()
trips, messages, pickled = %d, %d, sys.argv[1] == "pickle"
buf = bytearray(8)
if pickled:
    send = lambda: comm.send(7, dest=other)
    recv = lambda: comm.recv(source=other)
else:
    send = lambda: comm.Send([buf, MPI.BYTE], dest=other)
    recv = lambda: comm.Recv([buf, MPI.BYTE], source=other)
comm.Barrier()
t = time.perf_counter()
for _ in range(trips):
    if rank == 0: send(); recv()
    else: recv(); send()
latency = (time.perf_counter() - t) / trips / 2
comm.Barrier()
t = time.perf_counter()
if rank == 0:
    for _ in range(messages): send()
    recv()
else:
    for _ in range(messages): recv()
    send()
rate = messages / (time.perf_counter() - t)
if rank == 0: print(latency, rate)
""" % (ROUND_TRIPS, MESSAGES)


def mpiexec(*argv: str) -> list[str]:
    cmd = ["mpiexec", "--oversubscribe", "-n", "2"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd + list(argv)


def build_rust() -> Path:
    (BUILD / "src").mkdir(parents=True, exist_ok=True)
    (BUILD / "Cargo.toml").write_text('[package]\nname = "mpi-bench"\nversion = "0.1.0"\nedition = "2024"\n\n'
                                      '[dependencies]\nmpi = "0.8"\n\n[workspace]\n')
    (BUILD / "src" / "main.rs").write_text(RUST)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=BUILD, check=True)
    return BUILD / "target" / "release" / "mpi-bench"


def median_of(cmd: list[str]) -> tuple[float, float]:
    runs = []
    for _ in range(REPEATS):
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
        runs.append((float(out[0]), float(out[1])))
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    if shutil.which("mpiexec") is None:
        sys.exit("mpi_bench.py: mpiexec not found (scripts/system-deps.sh installs Open MPI)")
    rust = median_of(mpiexec(str(build_rust())))
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(PYTHON)
    rows = [("rsmpi (Rust), `send`/`receive`", rust),
            ("mpi4py, `Send`/`Recv` (buffers)", median_of(mpiexec(sys.executable, f.name, "buffer"))),
            ("mpi4py, `send`/`recv` (pickle)", median_of(mpiexec(sys.executable, f.name, "pickle")))]
    os.unlink(f.name)
    for name, (lat, rate) in rows:
        print("BENCH " + json.dumps({"name": name, "latency_us": lat * 1e6, "messages_per_s": rate}))
    print("\n| Binding | Latency, 8 bytes one way | Message rate, 8 bytes | Rust's advantage (latency / rate) |")
    print("|---|---:|---:|---:|")
    for name, (lat, rate) in rows:
        adv = "—" if name.startswith("rsmpi") else f"{lat / rust[0]:.2f}× / {rust[1] / rate:.2f}×"
        print(f"| {name} | {lat * 1e6:.2f} µs | {rate / 1e6:.3f} M/s | {adv} |")


if __name__ == "__main__":
    main()
