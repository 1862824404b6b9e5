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


def _round_lines(lines: list[str], pattern: str) -> list[tuple[int, re.Match]]:
    """(line index, match) of the lines that match ``pattern`` in full, in output order."""
    return [(i, m) for i, line in enumerate(lines) if (m := re.fullmatch(pattern, line))]


def signal_round_by_round(text: str, cell) -> None:
    """15 ``Semaphore(0)`` signal: the consumer's round-k line follows the producer's round-k line
    (forced: the k-th ``acquire`` returns only after the k-th ``release``, which follows the print)."""
    lines = _lines(text)
    made = _round_lines(lines, r"producer: item \d+ is ready \(round (\d)\)")
    got = _round_lines(lines, r"consumer: got item \d+ \(round (\d)\)")
    assert [m.group(1) for _, m in made] == [m.group(1) for _, m in got] == list("12345"), text
    for (i, _), (j, _) in zip(made, got):
        assert i < j, f"a consumer line came before its producer line:\n{text}"


def channel_round_by_round(text: str, cell) -> None:
    """15 channel: round k's item arrives after it was announced, with the same value (the value
    travels with the message)."""
    lines = _lines(text)
    made = _round_lines(lines, r"producer thread: item (\d+) is ready \(round (\d)\)")
    got = _round_lines(lines, r"main thread: got item (\d+) \(round (\d)\)")
    assert [m.group(2) for _, m in made] == [m.group(2) for _, m in got] == list("12345"), text
    for (i, a), (j, b) in zip(made, got):
        assert i < j and a.group(1) == b.group(1), text


def nobody_runs_before_the_gun(text: str, cell) -> None:
    """15 ``Event``: every runner's "running!" comes after the starter's BANG (``wait`` returns
    only once the flag is set, and the starter prints before ``set``)."""
    lines = _lines(text)
    bang = lines.index("starter: BANG")
    running = [i for i, line in enumerate(lines) if line.endswith(": running!")]
    assert len(running) == 3 and min(running) > bang, text


def everyone_reached_before_anyone_passed(text: str, cell) -> None:
    """15 ``Barrier``: all three "reached" lines come before any "passed" line."""
    lines = _lines(text)
    reached = [i for i, line in enumerate(lines) if " reached the barrier at " in line]
    passed = [i for i, line in enumerate(lines) if " passed the barrier at " in line]
    assert len(reached) == len(passed) == 3 and max(reached) < min(passed), text


def each_item_once_after_its_put(text: str, cell) -> None:
    """16 producer and three consumers: items 0..9 each taken exactly once (a multiset, whoever
    took it); item k's "got" line follows the producer's "putting item k" (printed before the
    ``put`` the ``get`` waits for); "join returned" follows every "got" line (each was printed
    before its ``task_done``, and ``join`` waits for all ten)."""
    lines = _lines(text)
    got = [(i, re.fullmatch(r"consumer-[123] got item (\d)", line)) for i, line in enumerate(lines)]
    got = [(i, int(m.group(1))) for i, m in got if m]
    assert sorted(item for _, item in got) == list(range(10)), text
    putting = {int(m.group(1)): i for i, line in enumerate(lines) if (m := re.fullmatch(r"producer: putting item (\d)", line))}
    assert sorted(putting) == list(range(10)), text
    for i, item in got:
        assert putting[item] < i, f"item {item} was got before it was put:\n{text}"
    joined = lines.index("producer: join returned, all 10 items are done")
    assert all(i < joined for i, _ in got), f"join returned before every item was done:\n{text}"


def three_tasks_each_in_order(text: str, cell) -> None:
    """26 the Cookbook's three tasks: each task's steps in order, then its result line, and every
    result before the final list (tasks interleave at each await; only their own order is forced)."""
    lines = _lines(text)
    tasks = {"factorial(10)": (range(2, 11), "factorial(10) = 3628800"),
             "fibonacci(10)": (range(1, 11), "fibonacci(10) = 55"),
             "binomial(20, 10)": (range(1, 11), "binomial(20, 10) = 184756")}
    final = lines.index("results: [3628800, 55, 184756]")
    for name, (steps, result) in tasks.items():
        own = [line for line in lines if line.startswith(name)]
        assert own == [f"{name}: step {i}" for i in steps] + [result], f"{name} lines out of order:\n{text}"
        assert lines.index(result) < final, text


def nothing_after(marker: str, prefix: str):
    """26 cancellation: no line starting with ``prefix`` after the line ``marker`` (the dropped
    future or aborted task is never polled again), and at least one before it."""
    def check(text: str, cell) -> None:
        lines = _lines(text)
        at = lines.index(marker)
        assert any(line.startswith(prefix) for line in lines[:at]), text
        late = [line for line in lines[at:] if line.startswith(prefix)]
        assert not late, f"{prefix!r} after {marker!r}: {late}\n{text}"
    return check


CHECKS = {
    "05-ExecutionOrderAndResources.ipynb": {"nb05-07": ten_whole_lines_any_order},
    "07-Communication.ipynb": {"nb07-04": send_name_once},
    "09-QueueExerciseSolution.ipynb": {"nb09-05": five_names_round_by_round},
    "15-SemaphoresEventsConditionsBarriers.ipynb": {
        "nb15-04": signal_round_by_round,
        "nb15-07": channel_round_by_round,
        "nb15-15": nobody_runs_before_the_gun,
        "nb15-34": everyone_reached_before_anyone_passed,
    },
    "16-ThreadQueues.ipynb": {"nb16-08": each_item_once_after_its_put},
    "26-AsyncTasksAndFutures.ipynb": {
        "nb26-07": three_tasks_each_in_order,
        "nb26-20": nothing_after("time is up: the ticker future is dropped", "A: tick"),
        "nb26-22": nothing_after("aborted: the task was cancelled", "B: tick"),
    },
}
