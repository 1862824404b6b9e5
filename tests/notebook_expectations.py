"""Checks of lesson output that an ``rc_check`` dict cannot express (see tests/test_notebooks.py).

``CHECKS[notebook file][cell id](output_text, cell)`` asserts after the notebook ran. Only orders
that the lesson's code really forces are asserted: a line printed after ``Queue.get`` comes after
the line its sender printed before the matching ``put``; lines of one process keep their order.
"""

from __future__ import annotations

import re


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def five_names_round_by_round(text: str, cell) -> None:
    """08 ``send_name2()``: round k's greeting follows the parent's k-th announcement (forced by
    the blocking ``get``), and the child's own lines keep their order."""
    lines = _lines(text)
    sends = [i for i, line in enumerate(lines) if line == "(main process) Ok, I'll send the name"]
    hellos = [i for i, line in enumerate(lines) if line.startswith("(child process) Well, hi ")]
    waits = [i for i, line in enumerate(lines) if line.startswith("(child process) Waiting for name ")]
    assert len(sends) == len(hellos) == len(waits) == 5, text
    for k in range(5):
        assert lines[hellos[k]] == f"(child process) Well, hi George{k}", text
        assert lines[waits[k]] == f"(child process) Waiting for name {k}", text
        assert sends[k] < hellos[k], f"greeting {k} printed before the name was sent:\n{text}"
        assert waits[k] < hellos[k], text
        if k:
            assert hellos[k - 1] < waits[k], text


def send_name_once(text: str, cell) -> None:
    """06 ``send_name()``: exactly three lines; the greeting follows the parent's announcement."""
    lines = _lines(text)
    assert sorted(lines) == sorted([
        "(child process) Waiting for name...",
        "(parent process) Ok, I'll send the name",
        "(child process) Well, hi Jimmy",
    ]), text
    assert lines.index("(parent process) Ok, I'll send the name") < lines.index("(child process) Well, hi Jimmy"), text


def ten_whole_lines_any_order(text: str, cell) -> None:
    """04 whole-line greetings: the parent's line first, then children 0..9 each exactly once."""
    lines = [line for line in _lines(text) if line.startswith("Hi ")]  # not the cell's value, if shown
    assert re.fullmatch(r"Hi from process \d+ \(parent process\)", lines[0]), text
    children = [re.fullmatch(r"Hi Jimmy from process (\d) - pid \d+", line) for line in lines[1:]]
    assert all(children), text
    names = sorted(m.group(1) for m in children)
    assert names == [str(i) for i in range(10)], text


def nine_jobs_each_squared_once(text: str, cell) -> None:
    """18 ``JoinableQueue``: jobs 1..9 each squared exactly once (by any of the three workers),
    and every worker line comes before the line printed after ``join``."""
    lines = _lines(text)
    jobs = [re.fullmatch(r"worker [123]: (\d) squared is (\d+)", line) for line in lines[:-1]]
    assert all(jobs) and len(jobs) == 9, text
    assert sorted((int(m.group(1)), int(m.group(2))) for m in jobs) == [(n, n * n) for n in range(1, 10)], text
    assert lines[-1] == "join returned: all 9 jobs are done", text


CHECKS = {
    "05-ExecutionOrderAndResources.ipynb": {"nb05-07": ten_whole_lines_any_order},
    "07-Communication.ipynb": {"nb07-04": send_name_once},
    "09-QueueExerciseSolution.ipynb": {"nb09-05": five_names_round_by_round},
    "18-PipesAndProcessQueues.ipynb": {"nb18-21": nine_jobs_each_squared_once},
}
