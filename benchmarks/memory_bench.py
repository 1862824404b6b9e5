"""Peak memory of one rust-concurrency kernel while it compiles and runs lesson cells.

Usage (from the repository root, kernel built with `cargo build --release`):

    .venv/bin/python benchmarks/memory_bench.py [runs]

A sampler thread reads, every 50 ms, Rss and Pss from /proc/<pid>/smaps_rollup of the kernel
process and all its descendants (runtime, cargo, rustc, linker, `Process` children) and sums
them. Each phase (start incl. preload, trivial cell, Process cell, compile-error cell) reports
its peak, then four completion requests; "idle" is the tree right after start and after the
last step. Sizes in MiB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("MULTIPROC_UNATTENDED", "1")

from conftest import KERNEL_NAME, descendants, kernel_binary, run_cell  # noqa: E402

CELLS = {
    "trivial": "1 + 1",
    # The shape of notebooks/03-MultipleProcesses.ipynb: functions, then Processes that print.
    "processes": """
fn say_hi2(n: &str) {
    println!("Hi {} from process {}", n, current_process().pid());
}
fn many_greetings() {
    println!("Hi from process {} (main process)", current_process().pid());
    let name = "Jimmy";
    let mut ps: Vec<Process> = (0..4).map(|_| Process::new(move || say_hi2(name))).collect();
    for p in ps.iter_mut() { p.start(); }
    for p in ps.iter_mut() { p.join(); }
}
many_greetings();
""",
    # An untyped `let`: the kernel finds the type with a compile-only probe before evcxr runs it.
    "probe": "let v = vec![1, 2, 3];",
    "compile_error": """
let name = "Jimmy";
let mut p1 = Process::new(move || say_hi2(name, name));
p1.start();
""",
}


def tree_kb(root: int) -> tuple[int, int, int]:
    """(Rss, Pss, process count) summed over root and its descendants, in KiB."""
    rss = pss = n = 0
    for pid in [root, *descendants(root)]:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue  # exited between listing and reading
        n += 1
        for line in text.splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1])
            elif line.startswith("Pss:"):
                pss += int(line.split()[1])
    return rss, pss, n


class Sampler(threading.Thread):
    """Samples the tree of ``self.root`` every 50 ms, keeping the peak per phase."""

    def __init__(self):
        super().__init__(daemon=True)
        self.root = None
        self.phase = "start"
        self.peaks: dict[str, list] = {}  # phase -> [rss, pss, procs at peak rss, samples]
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.05):
            root = self.root or self.find_root()
            if root is None:
                continue
            rss, pss, n = tree_kb(root)
            p = self.peaks.setdefault(self.phase, [0, 0, 0, 0])
            if rss > p[0]:
                p[0], p[2] = rss, n
            p[1] = max(p[1], pss)
            p[3] += 1

    def find_root(self):
        # Before start_new_kernel returns we do not know the pid: take our own child kernel.
        for pid in descendants(os.getpid()):
            try:
                if Path(f"/proc/{pid}/exe").resolve() == kernel_binary():
                    return pid
            except OSError:
                pass
        return None


def one_run(i: int) -> None:
    from jupyter_client.manager import start_new_kernel

    s = Sampler()
    s.start()
    t0 = time.monotonic()
    km, kc = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=300)
    s.root = km.provisioner.pid
    s.phase = "idle"
    print(f"run {i}: start {time.monotonic() - t0:.1f} s")
    idle = tree_kb(s.root)
    try:
        for name, code in CELLS.items():
            s.phase = name
            t = time.monotonic()
            r = run_cell(kc, code, timeout=300)
            lines = r.stdout.count("Hi ")
            print(f"  {name}: {r.status} in {time.monotonic() - t:.1f} s, {lines} greeting lines")
        s.phase = "completion"
        for code in ["Process::ne", "v.pu", "String::fr", "std::sync::"]:
            kc.complete(code, len(code))
            kc.get_shell_msg(timeout=60)
        time.sleep(0.2)  # lets the 50 ms sampler see the tree after the completions (a measurement pause)
        print("  completion: 4 requests")
        s.phase = "end"
        end = tree_kb(s.root)
    finally:
        s.stop.set()
        s.join()
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    mb = lambda kb: f"{kb / 1024:7.0f}"  # noqa: E731
    print(f"  {'phase':19} {'RSS MiB':>8} {'PSS MiB':>8} procs samples")
    print(f"  {'idle (start)':19} {mb(idle[0])} {mb(idle[1])} {idle[2]:5}")
    for phase in ["start", *CELLS, "completion"]:
        rss, pss, n, k = s.peaks.get(phase, [0, 0, 0, 0])
        print(f"  {'peak ' + phase:19} {mb(rss)} {mb(pss)} {n:5} {k:7}")
    print(f"  {'idle (end)':19} {mb(end[0])} {mb(end[1])} {end[2]:5}")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as prefix:
        # Like tests/conftest.py: the kernelspec of the built binary in a temporary prefix.
        subprocess.run([str(kernel_binary()), "install", "--prefix", prefix, "--no-warm-up"],
                       check=True, capture_output=True, timeout=900)
        # The completion index a full install writes (--no-warm-up skips it), so the completion
        # phase measures the kernel with its index, not a background build of one.
        subprocess.run([str(kernel_binary()), "build-index", "--out",
                        str(Path(prefix) / "share" / "rust-concurrency" / "index")],
                       check=True, capture_output=True, timeout=300)
        os.environ["JUPYTER_PATH"] = str(Path(prefix) / "share" / "jupyter")
        for i in range(1, runs + 1):
            one_run(i)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
