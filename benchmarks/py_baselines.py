#!/usr/bin/env python3
"""Python baselines for the support-crate benchmarks.

Each benchmark has the same shape as the Rust bench binary of the same key in
support-crate/benches/, so benchmarks/run.py can put the two side by side:

    process_start_join   fork-context Process(target=noop).start(); .join()   µs per process
    queue_ints           a child puts small ints, the parent gets them         items per second
    lock_uncontended     Lock.acquire(); Lock.release() in one process          ns per pair
    value_lock_2proc     two processes: with v.get_lock(): v.value += 1        ns per increment
    pipe_raw_8b          os.pipe, a child writes 8-byte messages, parent reads messages per second

Every figure is the median of several repetitions. The output is one JSON line per result
(prefixed with BENCH so run.py can pick them out of any other output).

Run alone:  python3 benchmarks/py_baselines.py [--quick] [KEY ...]   (no KEY: all of them)
"""

import json
import multiprocessing
import os
import statistics
import sys
import time

CTX = multiprocessing.get_context("fork")  # the model our crate offers (and Linux's default)
QUICK = "--quick" in sys.argv or os.environ.get("MULTIPROC_BENCH_QUICK") == "1"
REPS = 3 if QUICK else 5


def emit(key, values, unit, better, note):
    """Prints one result: the median of the repetitions, plus the spread for the report."""
    print(
        "BENCH "
        + json.dumps(
            {
                "key": key,
                "impl": "python",
                "value": statistics.median(values),
                "min": min(values),
                "max": max(values),
                "reps": len(values),
                "unit": unit,
                "better": better,
                "note": note,
            }
        ),
        flush=True,
    )


def noop():
    pass


def bench_process_start_join():
    n = 100 if QUICK else 300
    values = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        for _ in range(n):
            p = CTX.Process(target=noop)
            p.start()
            p.join()
        values.append((time.perf_counter() - t0) / n * 1e6)
    emit("process_start_join", values, "µs/process", "lower",
         f"{n} × Process(target=noop).start(); join()")


def queue_producer(q, n):
    for i in range(n):
        q.put(i)


def bench_queue_ints():
    n = 50_000 if QUICK else 200_000
    values = []
    for _ in range(REPS):
        q = CTX.Queue()
        p = CTX.Process(target=queue_producer, args=(q, n))
        t0 = time.perf_counter()
        p.start()
        total = 0
        for _ in range(n):
            total += q.get()
        elapsed = time.perf_counter() - t0
        p.join()
        assert total == n * (n - 1) // 2, "lost or duplicated items"
        values.append(n / elapsed)
    emit("queue_ints", values, "items/s", "higher",
         f"child puts 0..{n}, parent gets all (includes the child's start)")


def bench_lock_uncontended():
    n = 300_000 if QUICK else 1_000_000
    lock = CTX.Lock()
    acquire, release = lock.acquire, lock.release
    values = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        for _ in range(n):
            acquire()
            release()
        values.append((time.perf_counter() - t0) / n * 1e9)
    emit("lock_uncontended", values, "ns/acquire+release", "lower",
         f"{n} × acquire(); release() (bound methods, loop overhead included)")


def value_incrementer(v, n):
    lock = v.get_lock()
    for _ in range(n):
        with lock:
            v.value += 1


def bench_value_lock_2proc():
    n = 50_000 if QUICK else 200_000
    values = []
    for _ in range(REPS):
        v = CTX.Value("q", 0)
        procs = [CTX.Process(target=value_incrementer, args=(v, n)) for _ in range(2)]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - t0
        assert v.value == 2 * n, f"lost increments: {v.value} != {2 * n}"
        values.append(elapsed / (2 * n) * 1e9)
    emit("value_lock_2proc", values, "ns/increment", "lower",
         f"2 processes × {n} × (with v.get_lock(): v.value += 1)")


def bench_pipe_raw_8b():
    n = 100_000 if QUICK else 500_000
    values = []
    for _ in range(REPS):
        r, w = os.pipe()
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            msg = b"12345678"
            write = os.write
            for _ in range(n):
                write(w, msg)
            os._exit(0)
        os.close(w)
        read = os.read
        got = 0
        # A pipe is a byte stream: a read may return several messages or part of one.
        while got < n * 8:
            chunk = read(r, 8)
            if not chunk:
                break
            got += len(chunk)
        elapsed = time.perf_counter() - t0
        os.close(r)
        os.waitpid(pid, 0)
        assert got == n * 8, f"short read: {got}"
        values.append(n / elapsed)
    emit("pipe_raw_8b", values, "messages/s", "higher",
         f"child os.write()s {n} 8-byte messages, parent os.read(fd, 8)s them")


BENCHES = {
    "process_start_join": bench_process_start_join,
    "queue_ints": bench_queue_ints,
    "lock_uncontended": bench_lock_uncontended,
    "value_lock_2proc": bench_value_lock_2proc,
    "pipe_raw_8b": bench_pipe_raw_8b,
}


def main():
    keys = [a for a in sys.argv[1:] if not a.startswith("--")] or list(BENCHES)
    for key in keys:
        BENCHES[key]()


if __name__ == "__main__":
    main()
