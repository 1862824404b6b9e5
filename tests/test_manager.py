"""A Manager in the real kernel (lesson 20-Managers): its server process outlives the cell that
started it and serves later cells; the stop button in a later cell stops that cell's processes,
not the manager; a kernel shutdown leaves no server behind.
"""

from __future__ import annotations

import re

from conftest import run_cell, start_kernel
from test_processes import interrupt_and_time, ok, proc_state


def running(pid: int) -> bool:
    """`pid` exists and has not finished (a zombie has finished)."""
    return proc_state(pid) not in (None, "Z", "X")


def test_a_manager_serves_later_cells_survives_their_stop_button_and_ends_with_the_kernel(kernel_spec_dir):
    km, kc = start_kernel()
    try:
        res = ok(run_cell(kc, 'let mgr = Manager::start();\nlet d = mgr.dict::<i32, i32>();\nprintln!("server {}", mgr.pid());', timeout=300))
        server = int(re.search(r"server (\d+)", res.stdout).group(1))
        assert running(server)

        code = """
let mut workers: Vec<Process> = (0..4).map(|i| { let d = d.clone(); Process::new(move || { d.insert(i, i * 2); }) }).collect();
workers.iter_mut().for_each(|p| p.start());
workers.iter_mut().for_each(|p| p.join());
println!("{:?}", d.to_btreemap());
"""
        assert ok(run_cell(kc, code)).stdout == "{0: 0, 1: 2, 2: 4, 3: 6}\n"

        # The stop button while a child of this cell is using the manager.
        code = """
let child_d = d.clone();
let mut p = Process::new(move || { for i in 100.. { child_d.insert(i, i); } });
p.start();
while d.len() < 50 {}
println!("child is busy");
sleep(100000.0);
"""
        reply, _ = interrupt_and_time(km, kc, code, "child is busy")
        assert reply["status"] == "error" and reply["ename"] == "Interrupted", reply
        # Only the cell's child was stopped (Manager-1, then Process-2..5 above, then this one) ...
        assert re.search(r"Terminated: \d+ \(Process-6\)\.$", reply["evalue"]), reply["evalue"]
        assert running(server), "the stop button of a later cell ended the manager"  # ... not the manager
        res = ok(run_cell(kc, 'println!("{:?} {}", d.get(&3), mgr.is_alive());'))
        assert res.stdout == "Some(6) true\n"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    assert not running(server), f"manager server {server} outlived the kernel"
