"""MPI programs in the real kernel (lesson 28-MessagePassingMPI, `multiproc::mpi`): a cell's
program is built against rsmpi and run with the system's `mpiexec`; every rank's lines arrive
labelled with the rank; a compile error shows the cell's line numbers; a timeout and the stop
button end every rank, and nothing the launch started is left running.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

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


def program_copies() -> list[Path]:
    """The private copies of built programs launches run (`run-<pid>` in the cache's `mpi/`)."""
    root = os.environ.get("RUST_CONCURRENCY_CACHE")
    if root is None:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = Path(xdg) / "rust-concurrency" if xdg else Path.home() / ".cache" / "rust-concurrency"
    return sorted((Path(root) / "mpi").glob("run-*"))


def launched_processes(km) -> set[int]:
    return set(descendants(kernel_pid(km)))


def left_running(km, kc, before: set[int]) -> dict[int, str]:
    """Processes below the kernel that were not there `before`, after one more cell (the kernel
    reaps orphans it adopted, such as a launcher's shell, between cells) and once killed ones had
    up to 10 s to be reaped."""
    ok(run_cell(kc, "let reaped = ();"))
    deadline = time.monotonic() + 10
    while (extra := launched_processes(km) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    return {p: _cmdline(p) for p in extra}


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        with open(f"/proc/{pid}/stat") as f:
            return f"{cmd} [stat: {f.read()[:60]}]"
    except OSError:
        return "(gone)"


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
    assert not left_running(km, kc, before)


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


def test_warnings_about_the_program_show_with_the_cells_line_numbers_and_it_still_runs(mpi_kernel):
    km, kc = mpi_kernel
    code = '''mpiexec(1).run(r#"
fn main() {
    let unused = 1;
    println!("ran");
}
"#);
'''
    res = ok(run_cell(kc, code, timeout=300))
    assert "warning: unused variable: `unused`" in res.stderr and "--> cell:3:9" in res.stderr, res.stderr
    assert res.stdout == "[rank 0] ran\n"


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
    assert not left_running(km, kc, before)


def test_warming_leaves_no_copy_of_its_program(mpi_kernel):
    # The fixture (and `install`) ran `warm()`: it builds a program but launches nothing, so no
    # private copy may stay in the cache (a later test would see it as a stopped launch's).
    assert program_copies() == []


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
    assert not left_running(km, kc, before)
    assert program_copies() == [], "the stopped launch left its copy of the program"
    assert ok(run_cell(kc, 'println!("{kept}");')).stdout == "5\n"


# ------------------------------------------------ the same program on two hosts (a host file)

FAKE_SSH = """#!/bin/sh
# ssh stand-in: runs the command in the network namespace that has the host's address (with
# bash, not sh: the kernel leaves zombies named sh, its own tools, to their parents).
while [ $# -gt 0 ]; do case "$1" in -*) shift ;; *) break ;; esac; done
host="$1"; shift
case "$host" in {a_ip}) ns={a} ;; {b_ip}) ns={b} ;; *) echo "unknown host $host" >&2; exit 255 ;; esac
exec ip netns exec "$ns" bash -c "$*"
"""

MPIEXEC = """#!/bin/sh
# mpiexec on test host A; Open MPI reaches host B through the ssh stand-in, over the veth link only.
export OMPI_MCA_plm_rsh_agent={fake_ssh}
export OMPI_MCA_oob_tcp_if_include=10.199.0.0/24
export OMPI_MCA_btl_tcp_if_include=10.199.0.0/24
export OMPI_MCA_btl=self,tcp
exec ip netns exec {a} {mpiexec} "$@"
"""


@pytest.fixture
def two_hosts(tmp_path, monkeypatch):
    """Two test hosts: network namespaces joined by a veth pair (10.199.0.1 and .2), an ssh
    stand-in that enters them, a host file, and `mpiexec` on PATH running on host A."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    tag = os.getpid() % 100000
    a, b, va, vb = f"rcmpiA{tag}", f"rcmpiB{tag}", f"rcva{tag}", f"rcvb{tag}"
    if subprocess.run(["ip", "netns", "add", a], capture_output=True).returncode != 0:
        pytest.skip("cannot create network namespaces here")
    try:
        for cmd in (f"netns add {b}", f"link add {va} type veth peer name {vb}",
                    f"link set {va} netns {a}", f"link set {vb} netns {b}",
                    f"-n {a} addr add 10.199.0.1/24 dev {va}", f"-n {b} addr add 10.199.0.2/24 dev {vb}",
                    f"-n {a} link set {va} up", f"-n {b} link set {vb} up",
                    f"-n {a} link set lo up", f"-n {b} link set lo up"):
            subprocess.run(["ip", *cmd.split()], check=True)
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        fake_ssh = tmp_path / "fake-ssh"
        fake_ssh.write_text(FAKE_SSH.format(a_ip="10.199.0.1", b_ip="10.199.0.2", a=a, b=b))
        (bin_dir / "mpiexec").write_text(MPIEXEC.format(fake_ssh=fake_ssh, a=a, mpiexec=shutil.which("mpiexec")))
        for script in (fake_ssh, bin_dir / "mpiexec"):
            script.chmod(0o755)
        hosts = tmp_path / "hosts"
        hosts.write_text("10.199.0.1 slots=2\n10.199.0.2 slots=2\n")
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
        yield hosts
    finally:
        subprocess.run(["ip", "netns", "del", a], capture_output=True)
        subprocess.run(["ip", "netns", "del", b], capture_output=True)


def test_the_same_program_runs_on_two_hosts_from_a_host_file(kernel_spec_dir, two_hosts):
    km, kc = start_kernel()  # started with the PATH whose mpiexec runs on host A
    try:
        ok(run_cell(kc, "let started = ();", timeout=300))  # the runtime is part of `before`
        before = launched_processes(km)
        code = '''let run = mpiexec(4).hostfile("%s").run(r#"
use mpi::point_to_point::send_receive;
use mpi::traits::*;

fn main() {
    let universe = mpi::initialize().unwrap();
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size());
    let next = world.process_at_rank((rank + 1) %% size);
    let previous = world.process_at_rank((rank + size - 1) %% size);
    let (got, _): (i32, _) = send_receive(&(rank * 10), &next, &previous);
    let net = std::fs::read_link("/proc/self/ns/net").unwrap();
    println!("got {got} in {}", net.display());
}
"#);
println!("success={}", run.success());
''' % two_hosts
        res = ok(run_cell(kc, code, timeout=FIRST_BUILD_S))
        got = dict(re.findall(r"^\[rank (\d)\] got (\d+) in net:\[\d+\]$", res.stdout, re.M))
        assert got == {"0": "30", "1": "0", "2": "10", "3": "20"}, res.stdout
        nets = dict(re.findall(r"^\[rank (\d)\] got \d+ in (net:\[\d+\])$", res.stdout, re.M))
        # Ranks 0 and 1 fill host A's two slots, 2 and 3 host B's: two namespaces, messages over TCP.
        assert nets["0"] == nets["1"] != nets["2"] == nets["3"], res.stdout
        assert res.stdout.splitlines()[-1] == "success=true"
        assert not left_running(km, kc, before)
    finally:
        stop_kernel(km, kc)
