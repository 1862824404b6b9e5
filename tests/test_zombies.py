"""Processes a cell started and never joined leave no zombies under the kernel.

The runtime reaps the finished processes of the support crate after every cell
(`multiproc::process::reap_finished`), keeping the exit code for a handle that is joined later.
"""

import pytest

from conftest import count_zombies, run_cell


def ok(res):
    assert res.status == "ok", (res.errors, res.stderr)
    return res


@pytest.fixture
def kc_and_pid(kernel):
    """The module's kernel client and the kernel's pid (the root of its process tree)."""
    km, kc = kernel
    return kc, km.provisioner.process.pid


def test_anonymous_processes_leave_no_zombies_at_the_next_cell(kc_and_pid):
    kc, kpid = kc_and_pid
    # Ten processes whose handles are dropped at once: nobody can join them.
    ok(run_cell(kc, "for _ in 0..10 { let mut p = Process::new(|| {}); p.start(); }"))
    # The cell above ended once its processes had exited; the next cell reaps them.
    ok(run_cell(kc, "let after_the_anonymous_ones = 1;"))
    assert count_zombies(kpid) == 0


def test_a_handle_joined_cells_later_still_gets_its_exit_code(kc_and_pid):
    kc, kpid = kc_and_pid
    ok(run_cell(kc, 'let mut kept = Process::new(|| panic!("exit code 1 on purpose")); kept.start();'))
    ok(run_cell(kc, "let in_between = 2;"))
    assert count_zombies(kpid) == 0
    res = ok(run_cell(kc, "kept.join(); kept.exitcode()"))
    assert res.results[0]["data"]["text/plain"] == "Some(1)"
