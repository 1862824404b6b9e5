"""The stop button and async code (issue 12): a cell blocked in `aio::block_on` stops at once,
with the kernel's one "Stopped" message, keeps earlier variables, and leaves no runtime thread
(tokio's `spawn_blocking` workers included) and no task behind.

Real kernel, real tokio runtime, real interrupt (SIGINT through jupyter_client), as in
tests/test_processes.py. Threads are counted in /proc/<runtime pid>/task, from the cell's own
process (the runtime evcxr runs cells in).
"""

from __future__ import annotations

from conftest import run_cell
from test_processes import NOISE, interrupt_and_time, ok

# The cell process's thread count, as a cell prints it.
THREADS = 'println!("threads: {}", std::fs::read_dir("/proc/self/task").unwrap().count());'


def threads_now(kc) -> int:
    res = ok(run_cell(kc, THREADS))
    line = [t for t in res.stdout.splitlines() if t.startswith("threads: ")][-1]
    return int(line.split()[1])


def test_stop_ends_block_on_and_leaves_no_runtime_thread(fresh_kernel):
    km, kc = fresh_kernel
    ok(run_cell(kc, "let kept = 20;", timeout=300))
    # A first async cell, run to its end: the runtime it made is gone afterwards.
    res = ok(run_cell(kc, "aio::block_on(async { aio::spawn_blocking(|| 1).await.unwrap() + 1 })"))
    assert res.results[0]["data"]["text/plain"] == "2"
    before = threads_now(kc)
    code = r"""
let (_tx, rx) = tokio::sync::oneshot::channel::<u32>();
aio::block_on(async move {
    // a task asleep for ever, two blocking-pool threads, and the cell awaiting what never comes
    aio::spawn(async { aio::sleep(1e6).await });
    let a = aio::spawn_blocking(|| sleep(1e6));
    let b = aio::spawn_blocking(|| sleep(1e6));
    aio::sleep(0.05 / time_scale()).await; // let the two threads start
    println!("blocking now");
    let _ = (a, b);
    rx.await.unwrap()
});
"""
    reply, took = interrupt_and_time(km, kc, code, "blocking now")
    assert reply["status"] == "error"
    assert reply["ename"] == "Interrupted"
    assert reply["evalue"].startswith(
        "Stopped (you pressed ■) while the cell was waiting in aio::block_on. Variables from earlier cells are kept."
    ), reply["evalue"]
    assert reply["traceback"] == [reply["evalue"]]
    said = "\n".join(reply["traceback"])
    assert not any(word in said for word in NOISE), said
    assert took < 1.5, f"interrupt took {took:.2f} s"
    # Nothing left: the runtime and its blocking threads are gone, the variables are kept.
    assert threads_now(kc) <= before
    res = ok(run_cell(kc, "kept * 2 + 2"))
    assert res.results[0]["data"]["text/plain"] == "42"
    # The next async cell runs normally.
    res = ok(run_cell(kc, 'aio::block_on(async { tokio::join!(aio::sleep(0.01), async { "again" }).1 })'))
    assert res.results[0]["data"]["text/plain"] == '"again"'


def test_top_level_await_is_refused_with_a_pointer_to_block_on(fresh_kernel):
    """Documented decision (docs/architecture.md, "Async cells"): cells call `aio::block_on`;
    a top-level `.await` is not turned into a download-and-compile of tokio."""
    km, kc = fresh_kernel
    res = run_cell(kc, "let x = 1;\naio::sleep(0.01).await;", timeout=300)
    assert res.status == "error"
    assert len(res.errors) == 1, res.errors
    err = res.errors[0]
    assert err["ename"] == "CompilationError"
    text = err["evalue"] + "\n" + "\n".join(err["traceback"])
    assert "error[E0728]" in text and "cell line 2, column 18" in text and "aio::block_on(async {" in text, text
    assert "Compiling" not in res.stderr, res.stderr  # evcxr never started a build of tokio
    # Async code inside async blocks is untouched, and the session goes on normally.
    res = ok(run_cell(kc, "aio::block_on(async { aio::sleep(0.01).await; 7 })"))
    assert res.results[0]["data"]["text/plain"] == "7"
