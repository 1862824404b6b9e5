#!/usr/bin/env python3
"""IPC mechanisms on this machine: the support crate and std/nix (Rust) beside Python's
`multiprocessing`, `socket` and `os`, the same shapes measured in the same run.

    python3 benchmarks/ipc_bench.py [--reps 3] [--trips 5000] [--messages 50000]

Builds `support-crate/examples/ipc_bench.rs` (cargo --release) and runs it for each mechanism,
interleaved with the Python counterpart (Rust, Python, Rust, Python, ...), `--reps` times each:

    pipe    multiproc::Pipe            multiprocessing.Pipe (fork context)
    queue   multiproc::Queue, two      multiprocessing.Queue, two
    unix    UnixStream::pair           socket.socketpair (AF_UNIX)
    tcp     TcpStream on 127.0.0.1     socket on 127.0.0.1, TCP_NODELAY on both
    fifo    two named FIFOs, File      two named FIFOs, os.read/os.write
    mqueue  nix::mqueue, two queues    ctypes on libc's mq_* (the standard library has none)
    shm     two multiproc::Value<u64>  two multiprocessing.Value('Q') (lock=True), spin hand-over
    value   Value += 1 under its lock  with v.get_lock(): v.value += 1  (one process)

Each message is one integer (8 bytes on the byte channels; serialized by Pipe and Queue: postcard
in Rust, pickle in Python). A child process echoes `--trips` messages, each round trip timed on
its own (median and 99th percentile), then sends `--messages` back to back (the one-way rate,
timed from the parent's "go" to the last message). Shared memory has no message rate: its row
gives the hand-over round trip, and the `value` row the rate of locked updates. Reported: the
median over the repetitions of each figure. Prints `BENCH {json}` lines and a Markdown table.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CTX = multiprocessing.get_context("fork")
MECHANISMS = ["pipe", "queue", "unix", "tcp", "fifo", "mqueue", "shm", "value"]
LABELS = {
    "pipe": ("`Pipe` (serialized)", "`multiproc::Pipe`", "`multiprocessing.Pipe`"),
    "queue": ("process `Queue` (serialized)", "`multiproc::Queue`", "`multiprocessing.Queue`"),
    "unix": ("Unix socket pair", "`UnixStream::pair`", "`socket.socketpair`"),
    "tcp": ("TCP on 127.0.0.1", "`TcpStream`, nodelay", "`socket`, `TCP_NODELAY`"),
    "fifo": ("two named FIFOs", "`File` on `mkfifo`", "`os.read`/`os.write` on `os.mkfifo`"),
    "mqueue": ("two POSIX message queues", "`nix::mqueue`", "ctypes on libc `mq_*`"),
    "shm": ("shared memory, spin hand-over", "`Value<u64>` ×2", "`multiprocessing.Value('Q')` ×2"),
    "value": ("shared memory, locked `+= 1` (one process)", "`*v.lock() += 1`", "`with v.get_lock(): v.value += 1`"),
}


# ------------------------------------------------------------------------------ channels


class Bytes:
    """A byte stream or a pair of one-way ones (file descriptors): 8 bytes a message."""

    def __init__(self, rfd: int, wfd: int):
        self.rfd, self.wfd = rfd, wfd

    def send(self, x: int) -> None:
        os.write(self.wfd, x.to_bytes(8, "little"))

    def recv(self) -> int:
        b = os.read(self.rfd, 8)
        while len(b) < 8:  # a stream may deliver a message in parts
            more = os.read(self.rfd, 8 - len(b))
            if not more:
                raise EOFError
            b += more
        return int.from_bytes(b, "little")


class Conn:
    def __init__(self, c):
        self.send, self.recv = c.send, c.recv


class Queues:
    def __init__(self, inbox, outbox):
        self.recv, self.send = inbox.get, outbox.put


class Cells:
    """Two shared Values: a message is a new number in the cell; the reader spins (yielding)."""

    def __init__(self, inbox, outbox):
        self.inbox, self.outbox, self.seen = inbox, outbox, 0

    def send(self, x: int) -> None:
        self.outbox.value = x

    def recv(self) -> int:
        while True:
            x = self.inbox.value
            if x != self.seen:
                self.seen = x
                return x
            os.sched_yield()


class MqAttr(ctypes.Structure):
    _fields_ = [("mq_flags", ctypes.c_long), ("mq_maxmsg", ctypes.c_long), ("mq_msgsize", ctypes.c_long),
                ("mq_curmsgs", ctypes.c_long), ("pad", ctypes.c_long * 4)]


def _libc():
    lib = ctypes.CDLL(ctypes.util.find_library("rt") or ctypes.util.find_library("c"), use_errno=True)
    lib.mq_open.restype = ctypes.c_int
    lib.mq_send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint]
    lib.mq_receive.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint)]
    lib.mq_receive.restype = ctypes.c_ssize_t
    return lib


class MessageQueues:
    def __init__(self, lib, inbox: int, outbox: int):
        self.lib, self.inbox, self.outbox = lib, inbox, outbox
        self.buf, self.prio = ctypes.create_string_buffer(8), ctypes.c_uint(0)

    def send(self, x: int) -> None:
        if self.lib.mq_send(self.outbox, x.to_bytes(8, "little"), 8, 0) != 0:
            raise OSError(ctypes.get_errno(), "mq_send")

    def recv(self) -> int:
        if self.lib.mq_receive(self.inbox, self.buf, 8, ctypes.byref(self.prio)) != 8:
            raise OSError(ctypes.get_errno(), "mq_receive")
        return int.from_bytes(self.buf.raw, "little")


def mq_open(lib, name: str, flags: int, attr=None) -> int:
    fd = lib.mq_open(name.encode(), ctypes.c_int(flags), ctypes.c_uint(0o600),
                     ctypes.byref(attr) if attr is not None else None)
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"mq_open {name}")
    return fd


# ------------------------------------------------------------------------------ the measurement


def echo(ch, trips: int, messages: int) -> None:
    for _ in range(trips):
        ch.send(ch.recv())
    if messages:
        ch.recv()  # go
        for i in range(1, messages + 1):
            ch.send(i)


def drive(ch, trips: int, messages: int):
    rtts = []
    clock = time.perf_counter_ns
    for i in range(1, trips + 1):
        t = clock()
        ch.send(i)
        back = ch.recv()
        rtts.append((clock() - t) / 1000)
        assert back == i, "the echo sent back something else"
    rate = None
    if messages:
        t = time.perf_counter()
        ch.send(trips + 1)
        for i in range(1, messages + 1):
            assert ch.recv() == i, "a message was lost or reordered"
        rate = messages / (time.perf_counter() - t)
    return rtts, rate


def _child(make_end, trips, messages):
    echo(make_end(), trips, messages)


def measure(trips, messages, child_end, parent_end):
    child = CTX.Process(target=_child, args=(child_end, trips, messages))
    child.start()
    ch = parent_end()
    figures = drive(ch, trips, messages)
    child.join()
    assert child.exitcode == 0, f"the echo child failed ({child.exitcode})"
    return figures


def python_run(mechanism: str, trips: int, messages: int):
    tmp = tempfile.gettempdir()
    if mechanism == "pipe":
        a, b = CTX.Pipe()
        return measure(trips, messages, lambda: Conn(b), lambda: Conn(a))
    if mechanism == "queue":
        there, back = CTX.Queue(), CTX.Queue()
        return measure(trips, messages, lambda: Queues(there, back), lambda: Queues(back, there))
    if mechanism == "unix":
        a, b = socket.socketpair()
        figures = measure(trips, messages, lambda: Bytes(b.fileno(), b.fileno()), lambda: Bytes(a.fileno(), a.fileno()))
        a.close(), b.close()
        return figures
    if mechanism == "tcp":
        listener = socket.create_server(("127.0.0.1", 0))
        address = listener.getsockname()

        def child_end():
            s = socket.create_connection(address)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            child_end.keep = s
            return Bytes(s.fileno(), s.fileno())

        def parent_end():
            s, _ = listener.accept()
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            parent_end.keep = s
            return Bytes(s.fileno(), s.fileno())

        figures = measure(trips, messages, child_end, parent_end)
        parent_end.keep.close(), listener.close()
        return figures
    if mechanism == "fifo":
        there = os.path.join(tmp, f"ipc-bench-py-{os.getpid()}-there")
        back = os.path.join(tmp, f"ipc-bench-py-{os.getpid()}-back")
        for p in (there, back):
            os.mkfifo(p, 0o600)
        ends = {}

        def parent_end():
            ends["w"] = os.open(there, os.O_WRONLY)  # the child's order: no deadlock
            ends["r"] = os.open(back, os.O_RDONLY)
            return Bytes(ends["r"], ends["w"])

        try:
            return measure(trips, messages, lambda: Bytes(os.open(there, os.O_RDONLY), os.open(back, os.O_WRONLY)),
                           parent_end)
        finally:
            for fd in ends.values():
                os.close(fd)
            for p in (there, back):
                os.unlink(p)
    if mechanism == "mqueue":
        lib = _libc()
        there, back = f"/ipc-bench-py-{os.getpid()}-there", f"/ipc-bench-py-{os.getpid()}-back"
        attr = MqAttr(0, 10, 8, 0)
        for name in (there, back):
            os.close(mq_open(lib, name, os.O_CREAT | os.O_EXCL | os.O_RDWR, attr))
        try:
            ends = MessageQueues(lib, mq_open(lib, back, os.O_RDONLY), mq_open(lib, there, os.O_WRONLY))
            child = lambda: MessageQueues(_libc(), mq_open(lib, there, os.O_RDONLY), mq_open(lib, back, os.O_WRONLY))
            figures = measure(trips, messages, child, lambda: ends)
            os.close(ends.inbox), os.close(ends.outbox)
            return figures
        finally:
            for name in (there, back):
                lib.mq_unlink(name.encode())
    if mechanism == "shm":
        there, back = CTX.Value("Q", 0), CTX.Value("Q", 0)
        return measure(trips, 0, lambda: Cells(there, back), lambda: Cells(back, there))
    if mechanism == "value":
        v = CTX.Value("Q", 0)
        t = time.perf_counter()
        for _ in range(messages):
            with v.get_lock():
                v.value += 1
        rate = messages / (time.perf_counter() - t)
        assert v.value == messages
        return [], rate
    raise SystemExit(f"unknown mechanism {mechanism!r}")


def summarize(rtts, rate):
    rtts = sorted(rtts)
    pick = lambda p: rtts[round((len(rtts) - 1) * p)] if rtts else None
    return {"rtt_median_us": pick(0.5), "rtt_p99_us": pick(0.99), "rate_per_s": rate}


# ------------------------------------------------------------------------------ main


def build_rust() -> Path:
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", "-p", "multiproc", "--example", "ipc_bench"],
                   cwd=REPO, check=True)
    return REPO / "target" / "release" / "examples" / "ipc_bench"


def rust_run(binary: Path, mechanism: str, trips: int, messages: int) -> dict:
    out = subprocess.run([str(binary), mechanism, str(trips), str(messages)], check=True, capture_output=True,
                         text=True, timeout=600).stdout
    line = next(l for l in out.splitlines() if l.startswith("IPC "))
    return json.loads(line[4:])


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_us(v):
    return "—" if v is None else (f"{v:.1f}" if v >= 10 else f"{v:.2f}")


def fmt_rate(v):
    if v is None:
        return "—"
    return f"{v / 1e6:.2f} M/s" if v >= 1e6 else f"{v / 1e3:.0f} k/s"


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.1f}×"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--trips", type=int, default=5000)
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("mechanisms", nargs="*", default=MECHANISMS)
    args = ap.parse_args()
    binary = build_rust()
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = {}
    for m in args.mechanisms:
        runs = {"rust": [], "python": []}
        for _ in range(args.reps):
            runs["rust"].append(rust_run(binary, m, args.trips, args.messages))
            runs["python"].append(summarize(*python_run(m, args.trips, args.messages)))
        keys = ("rtt_median_us", "rtt_p99_us", "rate_per_s")
        rows[m] = {impl: {k: median(r[k] for r in rs) for k in keys} for impl, rs in runs.items()}
        for impl, fig in rows[m].items():
            spread = {f"{k}_all": [r[k] for r in runs[impl]] for k in keys}
            print("BENCH " + json.dumps({"key": f"ipc_{m}", "impl": impl, **fig, **spread, "reps": args.reps,
                                         "trips": args.trips, "messages": args.messages}), flush=True)
    load_after = os.getloadavg()
    print(f"\nMeasured {started}, {os.cpu_count()} cores, load average {load_before[0]:.1f} before and "
          f"{load_after[0]:.1f} after; {args.reps} interleaved repetitions, {args.trips} round trips and "
          f"{args.messages} messages each.\n")
    print("| Mechanism | Rust · Python | Round trip, median (µs) | Round trip, p99 (µs) | One-way rate |")
    print("|---|---|---:|---:|---:|")
    for m, fig in rows.items():
        r, p = fig["rust"], fig["python"]
        what, rust_name, py_name = LABELS[m]
        cells = [f"{fmt_us(r[k])} · {fmt_us(p[k])} ({ratio(p[k], r[k])})" if r[k] is not None else "—"
                 for k in ("rtt_median_us", "rtt_p99_us")]
        rate = (f"{fmt_rate(r['rate_per_s'])} · {fmt_rate(p['rate_per_s'])} ({ratio(r['rate_per_s'], p['rate_per_s'])})"
                if r["rate_per_s"] is not None else "—")
        print(f"| {what} | {rust_name} · {py_name} | {cells[0]} | {cells[1]} | {rate} |")

if __name__ == "__main__":
    main()
