#!/usr/bin/env python3
"""Kernel benchmarks: our kernel beside the stock evcxr_jupyter 0.22 kernel, in one run.

Both kernels are started through jupyter_client from kernelspecs installed into a temporary
JUPYTER_PATH (nothing is written to the user's Jupyter directories). For each kernel:

    kernel_ready_s        start request → first kernel_info reply
    first_cell_s          start request → reply of the first cell: for ours a cell that starts
                          and joins a `Process` (the support crate is preloaded); for stock a
                          trivial cell (stock has no support crate)
    first_process_cell_s  start request → a cell using `Process` done; for stock in a second,
                          fresh kernel after `:dep multiproc = { path = ... }`
    first_process_cell_Nk_s  N (2, 3) kernels started at the same moment, as when a student opens
                          three notebooks: start → that cell done, the slowest of the N
    trivial_cell_ms       median (and p90) of 50 trivial cells `1 + 1`, send → idle status
    trivial_cell_cpu_ms   CPU time (user + system) of the kernel and everything it ran, per
                          trivial cell: far less sensitive to the machine's load than wall time
    start_cpu_s           the same, from the start request to the first cell done
    probe_cell_ms         median of 10 cells `let vK = vec![1, 2, 3];` (an untyped `let` whose
                          type the kernel must find out before evcxr can persist it)
    completion_first_ms   the kernel's first complete_request (`Process::ne` / `String::fr`)
    completion_p95_ms     p95 of the next 20 complete_requests (five prefixes, four rounds)
    idle_after_completion_rss_mb  the tree's VmRSS after those completions
    idle_rss_mb           sum of VmRSS over the kernel process and all its descendants, read
                          from /proc after the trivial cells (counts shared pages once per
                          process, so it is the pessimistic figure)
    idle_pss_mb           the same tree's proportional set size (smaps_rollup): shared pages
                          divided among their users, the fairer "what does one student cost"
    output_latency_*      a process prints 500 lines, 1 ms apart, each carrying its
                          CLOCK_REALTIME write time in µs; this script stamps each IOPub stream
                          message on arrival (CLOCK_REALTIME) → p50/p99/max delay per line.
                          Variants: `own` (the cell's own process prints), `fork` (a child made
                          with a bare libc fork prints, same code in both kernels) and `process`
                          (a child started with multiproc's `Process`, ours only).

Output: one `BENCH {json}` line per figure (the format benchmarks/run.py collects), and a
`PENDING {json}` line for a kernel that could not be measured, with the reason.

Usage: kernel_bench.py [--only ours|stock] [--trivial N] [--no-stock-install] [--no-stock-dep]
                       [--concurrent N ...]
Environment: RC_KERNEL_BIN (our kernel binary; default target/release/rust-concurrency-kernel),
STOCK_EVCXR_ROOT (default build/stock; evcxr_jupyter 0.22.0 is `cargo install`ed there if missing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The tests' IOPub loop (tests/conftest.py), one for both.
sys.path.insert(0, str(REPO / "tests"))
from conftest import collect_iopub  # noqa: E402
OURS_NAME = "rust-concurrency"
STOCK_NAME = "rust"
LAT_LINES = 500
LAT_GAP_US = 1000
TIMEOUT = 300  # seconds for any single step (a cold stock kernel compiles a lot)


def bench(key, impl, value, unit, better, note, **extra):
    rec = {"key": key, "impl": impl, "value": value, "unit": unit, "better": better, "note": note}
    if impl == "ours":
        # RUST_CONCURRENCY_BUILD_STORE=0 (--store-off): our kernel without its build store.
        rec["build_store"] = os.environ.get("RUST_CONCURRENCY_BUILD_STORE", "1") != "0"
    rec.update(extra)
    print("BENCH " + json.dumps(rec), flush=True)


def pending(impl, reason):
    print("PENDING " + json.dumps({"impl": impl, "reason": reason}), flush=True)


def log(msg):
    print(f"[kernel_bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- installing the kernelspecs


def install_ours(tmp: Path) -> str | None:
    """Installs our kernelspec (with its compile-cache warm-up) into tmp; returns an error or None."""
    binary = Path(os.environ.get("RC_KERNEL_BIN", REPO / "target" / "release" / "rust-concurrency-kernel"))
    if not binary.is_file():
        return f"kernel binary {binary} not built (cargo build --release -p rust-concurrency-kernel)"
    prefix = tmp / "ours"
    log(f"installing our kernelspec from {binary} (warms the compile cache)")
    proc = subprocess.run([str(binary), "install", "--prefix", str(prefix)],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        return f"`{binary.name} install --prefix` failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[:300]}"
    data = prefix / "share" / "jupyter"
    if not (data / "kernels" / OURS_NAME / "kernel.json").is_file():
        return f"install wrote no kernels/{OURS_NAME}/kernel.json under {data}"
    add_jupyter_path(data)
    return None


def stock_binary() -> Path:
    root = Path(os.environ.get("STOCK_EVCXR_ROOT", REPO / "build" / "stock"))
    return root / "bin" / "evcxr_jupyter"


def install_stock(tmp: Path, may_install: bool) -> str | None:
    """Installs evcxr_jupyter 0.22.0 if missing, then its kernelspec into tmp."""
    binary = stock_binary()
    if not binary.is_file() and not may_install:
        return f"{binary} is not installed (and --no-stock-install was given)"
    if not binary.is_file():
        log(f"installing evcxr_jupyter 0.22.0 into {binary.parent.parent} (takes a while)")
        proc = subprocess.run(
            ["nice", "-n", "19", "cargo", "install", "evcxr_jupyter", "--version", "0.22.0",
             "--locked", "--root", str(binary.parent.parent)],
            capture_output=True, text=True)
        if proc.returncode != 0 or not binary.is_file():
            return f"cargo install evcxr_jupyter failed: {proc.stderr.strip()[-300:]}"
    # evcxr_jupyter --install writes $JUPYTER_PATH/kernels/rust/kernel.json when JUPYTER_PATH is
    # set (see its install.rs), so a temporary directory keeps the user's Jupyter setup untouched.
    data = tmp / "stock"
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, JUPYTER_PATH=str(data))
    proc = subprocess.run([str(binary), "--install"], capture_output=True, text=True, env=env, timeout=60)
    if proc.returncode != 0 or not (data / "kernels" / STOCK_NAME / "kernel.json").is_file():
        return f"evcxr_jupyter --install failed: {(proc.stderr or proc.stdout).strip()[:300]}"
    add_jupyter_path(data)
    return None


def add_jupyter_path(data: Path):
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(data) + (os.pathsep + old if old else "")


# ---------------------------------------------------------------- talking to a kernel


def run_cell(kc, code, timeout=TIMEOUT, on_stream=None):
    """Executes `code`; returns (seconds from send to idle, reply content, stdout text).

    `on_stream(text, arrival_us)` is called for every stream message, with the wall-clock time
    it arrived here (stamped by the tests' IOPub loop as each message is read).
    """
    t0 = time.perf_counter()
    msg_id = kc.execute(code, store_history=False)
    try:
        messages = collect_iopub(kc, msg_id, timeout)
    except TimeoutError:
        raise TimeoutError(f"cell did not finish within {timeout}s: {code[:60]!r}") from None
    elapsed = time.perf_counter() - t0
    out = []
    # Our kernel re-publishes a cell's outputs in canonical form at its end, after a
    # clear_output: only the messages before it are the live ones whose latency counts.
    live = True
    for msg in messages:
        if msg["msg_type"] == "clear_output":
            live, out = False, []
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
            if on_stream and live:
                on_stream(msg["content"]["text"], msg["_arrival_us"])
    reply = kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=timeout)
    return elapsed, reply["content"], "".join(out)


def check_ok(reply, out, what):
    if reply.get("status") != "ok":
        raise RuntimeError(f"{what} failed: {reply.get('ename')}: {reply.get('evalue')} "
                           f"{''.join(reply.get('traceback', []))[:500]} {out[:300]}")


def tree_memory_kb(root_pid: int) -> tuple[int, int, int]:
    """(sum of VmRSS, sum of Pss, number of processes) over root_pid and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: fields follow the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    rss = pss = count = 0
    todo = [root_pid]
    while todo:
        pid = todo.pop()
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
        except OSError:
            continue  # the process exited meanwhile
        count += 1
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
        todo.extend(children.get(pid, []))
    return rss, pss, count


def tree_cpu_s(root_pid: int) -> float:
    """CPU seconds (user + system) used so far by root_pid, its live descendants and every
    child they have waited for (cargo, rustc, the linker: /proc's cutime/cstime). Far less
    sensitive to the machine's load than wall time: the figure to compare on a busy machine."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total = 0
    todo = [root_pid]
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile (then its parent's cutime holds it, once reaped)
        # Fields after the name: utime, stime, cutime, cstime are the 12th to 15th.
        total += sum(int(f) for f in fields[11:15])
        todo.extend(children.get(pid, []))
    return total / tick


def latency_cell(variant: str) -> str:
    """A cell in which a process prints LAT_LINES timestamped lines, LAT_GAP_US apart."""
    body = f"""
        for i in 0..{LAT_LINES}u32 {{
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros();
            println!("LAT {{}} {{}}", i, t);
            std::thread::sleep(std::time::Duration::from_micros({LAT_GAP_US}));
        }}"""
    if variant == "own":
        return "{" + body + "\n}"
    if variant == "process":
        return ("{\n    let mut p = Process::new(|| {" + body + "\n    });\n"
                "    p.start();\n    p.join();\n}")
    if variant == "fork":
        # A bare fork with the C library's own functions, declared here so the identical cell
        # runs in the stock kernel, which has no support crate.
        return ("{\n    use std::io::Write;\n"
                "    unsafe extern \"C\" { fn fork() -> i32; fn _exit(code: i32) -> !; "
                "fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32; }\n"
                "    std::io::stdout().flush().unwrap();\n"
                "    let pid = unsafe { fork() };\n"
                "    if pid == 0 {" + body + "\n        std::io::stdout().flush().ok();\n"
                "        unsafe { _exit(0) }\n    }\n"
                "    let mut status = 0;\n    unsafe { waitpid(pid, &mut status, 0) };\n}")
    raise ValueError(variant)


def measure_latency(kc, impl, variant):
    delays = []

    def on_stream(text, arrival_us):
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "LAT":
                delays.append((arrival_us - int(parts[2])) / 1000.0)

    _, reply, out = run_cell(kc, latency_cell(variant), on_stream=on_stream)
    check_ok(reply, out, f"latency cell ({variant})")
    if len(delays) != LAT_LINES:
        log(f"{impl}/{variant}: got {len(delays)} of {LAT_LINES} timestamped lines")
    if not delays:
        return
    delays.sort()

    def pct(p):
        return delays[min(len(delays) - 1, int(round(p / 100 * (len(delays) - 1))))]

    note = f"{LAT_LINES} lines {LAT_GAP_US} µs apart; printer: {variant}; {len(delays)} received"
    bench(f"output_latency_{variant}_p50_ms", impl, pct(50), "ms", "lower", note)
    bench(f"output_latency_{variant}_p99_ms", impl, pct(99), "ms", "lower", note)
    bench(f"output_latency_{variant}_max_ms", impl, delays[-1], "ms", "lower", note)


FIRST_CELL_OURS = "{ let mut p = Process::new(|| println!(\"child\")); p.start(); p.join(); }"
FIRST_CELL_STOCK = "1 + 1"


@contextlib.contextmanager
def started_kernel(kernel_name: str):
    """Starts a kernel (lessons unattended) and yields (km, kc) once it answered kernel_info;
    shuts it down afterwards."""
    from jupyter_client.manager import KernelManager

    env = dict(os.environ)
    env.setdefault("MULTIPROC_UNATTENDED", "1")
    km = KernelManager(kernel_name=kernel_name)
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=TIMEOUT)
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def measure_stock_dep(kernel_name: str):
    """Stock only: a fresh kernel, then `:dep multiproc` and a cell that uses `Process`.

    This is what a student of the stock kernel would do to use the support crate, so it is the
    figure to set beside our `first_cell_s`.
    """
    log("stock: fresh kernel for `:dep multiproc` + Process cell")
    t0 = time.perf_counter()
    with started_kernel(kernel_name) as (_, kc):
        dep = f':dep multiproc = {{ path = "{REPO / "support-crate"}" }}\nuse multiproc::prelude::*;'
        _, reply, out = run_cell(kc, dep, timeout=900)
        check_ok(reply, out, ":dep multiproc")
        _, reply, out = run_cell(kc, FIRST_CELL_OURS, timeout=900)
        check_ok(reply, out, "Process cell")
        elapsed = time.perf_counter() - t0
        bench("first_process_cell_s", "stock", elapsed, "s", "lower",
              "start request → a cell using `Process` done, after `:dep multiproc` (path dependency, "
              "compiled by evcxr on first use; no :cache)")
        log(f"stock: first Process cell after {elapsed:.1f}s")


COMPLETION_PREFIXES_OURS = ["Process::ne", "v0.pu", "String::fr", "std::sync::", "Queue::ne"]
COMPLETION_PREFIXES_STOCK = ["String::fr", "v0.pu", "std::sync::", "Vec::with_", "std::thread::sp"]


def complete_ms(kc, code):
    """Seconds → ms for one complete_request with the cursor at the end; (ms, matches)."""
    t0 = time.perf_counter()
    msg_id = kc.complete(code, len(code))
    while True:
        reply = kc.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == msg_id:
            return (time.perf_counter() - t0) * 1000, reply["content"].get("matches", [])


def measure_completion(kc, km, impl):
    prefixes = COMPLETION_PREFIXES_OURS if impl == "ours" else COMPLETION_PREFIXES_STOCK
    first, matches = complete_ms(kc, prefixes[0])
    bench("completion_first_ms", impl, first, "ms", "lower",
          f"first complete_request of the kernel (`{prefixes[0]}`, {len(matches)} matches)")
    later = sorted(complete_ms(kc, p)[0] for _ in range(4) for p in prefixes)
    bench("completion_p95_ms", impl, later[int(0.95 * (len(later) - 1))], "ms", "lower",
          f"p95 of {len(later)} complete_requests ({', '.join(prefixes)})", median=statistics.median(later))
    rss, _, count = tree_memory_kb(km.provisioner.pid)
    bench("idle_after_completion_rss_mb", impl, rss / 1024, "MB", "lower",
          f"VmRSS summed over {count} processes after the completions")


def measure_concurrent_start(impl: str, kernel_name: str, n: int):
    """N kernels started at the same moment; each runs its first cell (ours: a `Process` cell,
    stock: `:dep multiproc` then that cell). Reports the slowest start → done."""
    import threading

    results: list = [None] * n

    def one(i):
        t0 = time.perf_counter()
        try:
            with started_kernel(kernel_name) as (_, kc):
                if impl == "stock":
                    dep = f':dep multiproc = {{ path = "{REPO / "support-crate"}" }}\nuse multiproc::prelude::*;'
                    _, reply, out = run_cell(kc, dep, timeout=900)
                    check_ok(reply, out, ":dep multiproc")
                _, reply, out = run_cell(kc, FIRST_CELL_OURS, timeout=900)
                check_ok(reply, out, "Process cell")
                results[i] = time.perf_counter() - t0
        except Exception as e:  # reported below
            results[i] = e

    log(f"{impl}: {n} kernels started together")
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [r for r in results if isinstance(r, Exception)]
    if errors:
        raise errors[0]
    bench(f"first_process_cell_{n}k_s", impl, max(results), "s", "lower",
          f"{n} kernels started at once → each one's first `Process` cell done, slowest of {n}"
          + (" (stock: after `:dep multiproc`)" if impl == "stock" else ""),
          all=[round(r, 2) for r in results])
    log(f"{impl}: {n} kernels: {', '.join(f'{r:.1f}s' for r in results)}")


def measure_kernel(impl: str, kernel_name: str, n_trivial: int):
    log(f"{impl}: starting kernel {kernel_name}")
    t0 = time.perf_counter()
    with started_kernel(kernel_name) as (km, kc):
        t_ready = time.perf_counter() - t0
        first = FIRST_CELL_OURS if impl == "ours" else FIRST_CELL_STOCK
        _, reply, out = run_cell(kc, first)
        t_first = time.perf_counter() - t0
        cpu_first = tree_cpu_s(km.provisioner.pid)
        check_ok(reply, out, "first cell")
        bench("start_cpu_s", impl, cpu_first, "s", "lower",
              "CPU time (user + system) of the kernel and all it ran, from start to the first "
              "cell done (see first_cell_s for that cell); the load-independent figure")
        bench("kernel_ready_s", impl, t_ready, "s", "lower", "start request → kernel_info reply")
        if impl == "ours":
            bench("first_process_cell_s", impl, t_first, "s", "lower",
                  "start request → a cell using `Process` done (support crate preloaded)")
        bench("first_cell_s", impl, t_first, "s", "lower",
              "start request → first cell done: " + ("a cell starting and joining a Process"
                                                       if impl == "ours" else "a trivial cell `1 + 1`"))
        log(f"{impl}: ready {t_ready:.2f}s, first cell {t_first:.2f}s")

        times = []
        cpu0 = tree_cpu_s(km.provisioner.pid)
        for _ in range(n_trivial):
            dt, reply, out = run_cell(kc, "1 + 1")
            check_ok(reply, out, "trivial cell")
            times.append(dt * 1000)
        cpu = (tree_cpu_s(km.provisioner.pid) - cpu0) / n_trivial
        bench("trivial_cell_cpu_ms", impl, cpu * 1000, "ms", "lower",
              f"CPU time (user + system) of the kernel and all it ran, per cell `1 + 1`, "
              f"over {n_trivial} cells; the load-independent figure")
        times.sort()
        bench("trivial_cell_ms", impl, statistics.median(times), "ms", "lower",
              f"median of {n_trivial} cells `1 + 1`, send → idle",
              p90=times[int(0.9 * (len(times) - 1))], min=times[0], max=times[-1])
        log(f"{impl}: trivial cell median {statistics.median(times):.1f} ms")

        times = []
        for k in range(10):
            dt, reply, out = run_cell(kc, f"let v{k} = vec![1, 2, 3];")
            check_ok(reply, out, "probe cell")
            times.append(dt * 1000)
        bench("probe_cell_ms", impl, statistics.median(times), "ms", "lower",
              "median of 10 cells `let vK = vec![1, 2, 3];`, send → idle", min=min(times), max=max(times))

        rss, pss, count = tree_memory_kb(km.provisioner.pid)
        bench("idle_rss_mb", impl, rss / 1024, "MB", "lower",
              f"VmRSS summed over {count} processes (kernel + descendants) after the trivial cells")
        bench("idle_pss_mb", impl, pss / 1024, "MB", "lower",
              f"Pss summed over the same {count} processes")

        measure_completion(kc, km, impl)

        for variant in ("own", "fork", "process") if impl == "ours" else ("own", "fork"):
            try:
                measure_latency(kc, impl, variant)
            except Exception as e:  # one failing variant should not hide the others
                log(f"{impl}: latency variant {variant} failed: {e}")
                pending(impl, f"output latency ({variant}): {str(e)[:200]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["ours", "stock"])
    ap.add_argument("--trivial", type=int, default=50)
    ap.add_argument("--no-stock-install", action="store_true",
                    help="do not `cargo install` evcxr_jupyter when it is missing (report it pending)")
    ap.add_argument("--no-stock-dep", action="store_true",
                    help="skip the stock kernel's `:dep multiproc` start-up measurement")
    ap.add_argument("--concurrent", type=int, nargs="*", default=[2, 3],
                    help="numbers of kernels to start together (default: 2 3; none to skip)")
    ap.add_argument("--store-off", action="store_true",
                    help="our kernel without its build store (RUST_CONCURRENCY_BUILD_STORE=0): "
                         "the baseline for the store; records carry build_store: false")
    args = ap.parse_args()
    if args.store_off:
        os.environ["RUST_CONCURRENCY_BUILD_STORE"] = "0"
    with tempfile.TemporaryDirectory(prefix="kernel-bench-") as tmp:
        tmp = Path(tmp)
        os.environ.pop("JUPYTER_PATH", None)
        todo = []
        if args.only in (None, "stock"):
            err = install_stock(tmp, not args.no_stock_install)
            if err:
                pending("stock", err)
            else:
                todo.append(("stock", STOCK_NAME))
        if args.only in (None, "ours"):
            err = install_ours(tmp)
            if err:
                pending("ours", err)
            else:
                todo.append(("ours", OURS_NAME))
        for impl, name in todo:
            try:
                measure_kernel(impl, name, args.trivial)
            except Exception as e:
                log(f"{impl}: {e}")
                pending(impl, f"{type(e).__name__}: {str(e)[:300]}")
            if impl == "stock" and not args.no_stock_dep:
                try:
                    measure_stock_dep(name)
                except Exception as e:
                    log(f"stock :dep: {e}")
                    pending("stock", f"`:dep multiproc` + Process cell: {type(e).__name__}: {str(e)[:300]}")
            if impl == "stock" and args.no_stock_dep:
                continue
            for n in args.concurrent:
                try:
                    measure_concurrent_start(impl, name, n)
                except Exception as e:
                    log(f"{impl}: {n} kernels: {e}")
                    pending(impl, f"{n} kernels started together: {type(e).__name__}: {str(e)[:300]}")


if __name__ == "__main__":
    main()
