"""MPI programs in the real kernel (lesson 28-MessagePassingMPI, `multiproc::mpi`): a cell's
program is built against rsmpi and run with the system's `mpiexec`; every rank's lines arrive
labelled with the rank; a compile error shows the cell's line numbers; a timeout and the stop
button end every rank, and nothing the launch started is left running.
"""

from __future__ import annotations

import re
import shutil
import time
from collections import Counter

import pytest

from conftest import descendants, run_cell, start_kernel, stop_kernel
from test_processes import interrupt_and_time, kernel_pid, ok

pytestmark = pytest.mark.skipif(shutil.which("mpiexec") is None, reason="OpenMPI is not installed (scripts/system-deps.sh)")

# The first build of rsmpi in a fresh cache takes minutes on a busy machine.
FIRST_BUILD_S = 900


@pytest.fixture(scope="module")
def mpi_kernel(kernel_spec_dir):
    km, kc = start_kernel()
    try:
        ok(run_cell(kc, 'println!("{}", multiproc::mpi::warm().is_ok());', timeout=FIRST_BUILD_S))
        yield km, kc
    finally:
        stop_kernel(km, kc)


def launched_processes(km) -> set[int]:
    return set(descendants(kernel_pid(km)))


def left_running(km, before: set[int]) -> set[int]:
    """Processes below the kernel that were not there `before`, once killed ones had up to 10 s
    to be reaped (the kernel reaps adopted orphans; a rank SIGKILLed may need that moment)."""
    deadline = time.monotonic() + 10
    while (extra := launched_processes(km) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    return extra


def test_every_rank_prints_live_with_its_rank_and_the_run_reports_each_ranks_lines(mpi_kernel):
    km, kc = mpi_kernel
    before = launched_processes(km)
    code = '''let run = mpiexec(4).run(r#"
use mpi::traits::*;
fn main() {
    let universe = mpi::initialize().unwrap();
    let world = universe.world();
    println!("hello from {} of {}", world.rank(), world.size());
}
"#);
println!("success={} lines_of_2={:?}", run.success(), run.lines_of(2));
'''
    res = ok(run_cell(kc, code, timeout=300))
    lines = res.stdout.splitlines()
    assert Counter(lines[:4]) == Counter(f"[rank {r}] hello from {r} of 4" for r in range(4)), res.stdout
    assert lines[4:] == ['success=true lines_of_2=["hello from 2 of 4"]'], res.stdout
    assert not left_running(km, before)


def test_a_compile_error_shows_rustcs_message_with_the_cells_line_numbers(mpi_kernel):
    km, kc = mpi_kernel
    code = '''mpiexec(2).run(r#"
fn main() {
    let n: i32 = "four";
}
"#);
'''
    res = run_cell(kc, code, timeout=300)
    assert res.status == "error"
    assert "error[E0308]: mismatched types" in res.stderr, res.stderr
    assert "--> cell:3:18" in res.stderr, res.stderr
    assert re.search(r"^3 \|     let n: i32 = \"four\";$", res.stderr, re.M), res.stderr
    assert "src/main.rs" not in res.stderr
    assert "did not compile" in res.errors[0]["evalue"], res.errors


def test_a_deadlocked_program_is_ended_by_its_timeout_with_every_rank(mpi_kernel):
    km, kc = mpi_kernel
    before = launched_processes(km)
    code = '''let run = mpiexec(2).timeout(std::time::Duration::from_secs(6)).run(r#"
use mpi::traits::*;
fn main() {
    let universe = mpi::initialize().unwrap();
    let world = universe.world();
    let other = 1 - world.rank();
    println!("sending");
    world.process_at_rank(other).synchronous_send(&7i32);
    println!("never printed");
}
"#);
println!("timed_out={}", run.timed_out);
'''
    res = ok(run_cell(kc, code, timeout=300))
    # A rank that was slow to start may be ended before it printed: only these lines can appear.
    ranks = [line for line in res.stdout.splitlines() if line.startswith("[rank")]
    assert set(ranks) <= {"[rank 0] sending", "[rank 1] sending"} and len(ranks) == len(set(ranks)), res.stdout
    assert "still running after 6 s (a deadlock?): every rank was ended" in res.stdout
    assert "never printed" not in res.stdout
    assert res.stdout.splitlines()[-1] == "timed_out=true"
    assert not left_running(km, before)


def test_the_stop_button_ends_every_rank(mpi_kernel):
    km, kc = mpi_kernel
    ok(run_cell(kc, "let kept = 5;"))
    before = launched_processes(km)
    code = '''mpiexec(3).run(r#"
use mpi::traits::*;
fn main() {
    let universe = mpi::initialize().unwrap();
    println!("rank {} waits", universe.world().rank());
    loop { std::thread::sleep(std::time::Duration::from_secs(1)); }
}
"#);
'''
    reply, _ = interrupt_and_time(km, kc, code, "waits")
    assert reply["status"] == "error" and reply["ename"] == "Interrupted", reply
    assert not left_running(km, before)
    assert ok(run_cell(kc, 'println!("{kept}");')).stdout == "5\n"
