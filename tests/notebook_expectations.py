"""Checks of lesson output that an ``rc_check`` dict cannot express (see tests/test_notebooks.py).

``CHECKS[notebook file][cell id](output_text, cell)`` asserts after the notebook ran. Only orders
that the lesson's code really forces are asserted: a line printed after ``Queue.get`` comes after
the line its sender printed before the matching ``put``; lines of one process keep their order.
"""

from __future__ import annotations

import re
from collections import Counter


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


def labelled_runners_run_after_the_gun(text: str, cell) -> None:
    """15, labelled: every runner's "running!" line (labelled with its name) comes after the
    starter's labelled BANG (printed before ``set``; ``wait`` returns only once it is set)."""
    lines = _lines(text)
    bang = [i for i, line in enumerate(lines) if line.endswith("[MainProcess]\x1b[0m BANG")]
    running = [i for i, line in enumerate(lines) if re.search(r"\[(Huey|Dewey|Louie)\]\x1b\[0m running!$", line)]
    assert len(bang) == 1 and len(running) == 3 and min(running) > bang[0], text


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


def coroutine_b_returns_before_a_sees_the_end(text: str, cell) -> None:
    """24 ``use_countdown``: B prints its last line before its sender is dropped, so before A's
    ``recv`` reports the end; A's own lines keep their order."""
    lines = _lines(text)
    assert [line for line in lines if line.startswith("A")] == ["A got 3", "A got 2", "A got 1", "A: B returned"], text
    assert lines.index("B: nothing left, returning") < lines.index("A: B returned"), text


def _clock_lines(text: str) -> list[tuple[float, str]]:
    """``[ 1.23] what`` lines (a loop's or scheduler's clock, printed by its one thread)."""
    found = [re.fullmatch(r"\[\s*([\d.]+)\] (.*)", line) for line in _lines(text)]
    return [(float(m.group(1)), m.group(2)) for m in found if m]


def _runs_in_time(text: str, due: dict[str, float]) -> None:
    """Every line starting with a key of ``due`` is there once and its time is at least the due
    time; and the clock never goes back from one line to the next (one thread prints them all)."""
    lines = _clock_lines(text)
    times = [t for t, _ in lines]
    assert times == sorted(times), f"the clock went back:\n{text}"
    for start, at_least in due.items():
        hits = [t for t, what in lines if what.startswith(start)]
        assert len(hits) == 1, f"{start!r}: {len(hits)} lines\n{text}"
        assert hits[0] >= at_least, f"{start!r} ran at {hits[0]}, before its time {at_least}\n{text}"


def scheduler_events_not_before_their_time(text: str, cell) -> None:
    """25 ``five_events``: each action at or after its due time, in clock order."""
    _runs_in_time(text, {"A:": 1.0, "B:": 2.0, "C:": 3.0, "D:": 3.0, "E:": 3.5, "the queue is empty": 3.5})


def loop_timers_not_before_their_time(text: str, cell) -> None:
    """25 ``soon_and_later``: timers at or after their delay, in clock order."""
    _runs_in_time(text, {"soon 1": 0.0, "later: 0.5 s": 0.5, "later: 1 s": 1.0, "stop": 1.5})


def tasks_a_second_apart(text: str, cell) -> None:
    """25 ``pass_the_turn``: the k-th task runs at least k - 1 seconds after the first."""
    tasks = [(t, what) for t, what in _clock_lines(text) if what.startswith("task ")]
    assert [what for _, what in tasks] == ["task A", "task B", "task C"] * 2 + ["task A"], text
    for k, (t, _) in enumerate(tasks):
        assert t >= k, f"task {k + 1} ran at {t}, before {k} s\n{text}"


def exec_keeps_the_pid(text: str, cell) -> None:
    """21 the Cookbook's exec recipe: the called program runs in the caller's process (same pid)."""
    before = re.search(r"^caller: pid (\d+), about to exec$", text, re.MULTILINE)
    after = re.search(r"^called program: pid (\d+), ", text, re.MULTILINE)
    assert before and after, text
    assert before.group(1) == after.group(1), f"exec should keep the pid:\n{text}"


def fork_returns_twice(text: str, cell) -> None:
    """21 raw fork: the child's parent is the parent, and waitpid reports the child's pid and 7."""
    parent = re.search(r"^parent: pid (\d+)$", text, re.MULTILINE)
    child = re.search(r"^child: pid (\d+), my parent is (\d+)$", text, re.MULTILINE)
    waited = re.search(r"^parent: child (\d+) exited with code 7$", text, re.MULTILINE)
    assert parent and child and waited, text
    assert child.group(2) == parent.group(1) and waited.group(1) == child.group(1) != parent.group(1), text


def nine_jobs_each_squared_once(text: str, cell) -> None:
    """18 ``JoinableQueue``: jobs 1..9 each squared exactly once (by any of the three workers),
    and every worker line comes before the line printed after ``join``."""
    lines = _lines(text)
    jobs = [re.fullmatch(r"worker [123]: (\d) squared is (\d+)", line) for line in lines[:-1]]
    assert all(jobs) and len(jobs) == 9, text
    assert sorted((int(m.group(1)), int(m.group(2))) for m in jobs) == [(n, n * n) for n in range(1, 10)], text
    assert lines[-1] == "join returned: all 9 jobs are done", text


def lost_worker_seen_and_tasks_redone(text: str, cell) -> None:
    """29 pipeline: the three ready workers are the three that end; exactly one ends with -9 and
    it finished nothing after it started task 4 (it died there); every task 1..9 finished exactly
    once; each task was re-sent only after a "nothing for 2 s" line, and task 4 among them; the
    results line follows every "finished" line (all printed by the notebook's own process)."""
    lines = _lines(text)
    ready = {m.group(1) for line in lines if (m := re.fullmatch(r"sink: worker (\d+) is ready", line))}
    ended = {m.group(1): m.group(2) for line in lines if (m := re.fullmatch(r"worker (\d+): exit code Some\((-?\d+)\)", line))}
    assert len(ready) == 3 and set(ended) == ready, text
    killed = [pid for pid, code in ended.items() if code == "-9"]
    assert len(killed) == 1, text
    finished = [(i, m.group(1), int(m.group(2))) for i, line in enumerate(lines)
                if (m := re.fullmatch(r"sink: worker (\d+) finished task (\d): \d+", line))]
    assert sorted(task for _, _, task in finished) == list(range(1, 10)), text
    started_4 = [i for i, line in enumerate(lines) if line == f"sink: worker {killed[0]} started task 4"]
    if started_4:
        assert not [t for i, pid, t in finished if pid == killed[0] and i > started_4[0]], text
    quiet = [i for i, line in enumerate(lines) if line.startswith("sink: nothing for 2 s, tasks ")]
    resent = [(i, int(m.group(1))) for i, line in enumerate(lines)
              if (m := re.fullmatch(r"ventilator: re-sending task (\d) \(attempt \d\)", line))]
    assert quiet and all(i > quiet[0] for i, _ in resent) and 4 in {t for _, t in resent}, text
    results = lines.index("results: {1: 1, 2: 4, 3: 9, 4: 16, 5: 25, 6: 36, 7: 49, 8: 64, 9: 81}")
    assert all(i < results for i, _, _ in finished), text


def mpi_rank_lines_exactly(text: str, cell) -> None:
    """28 MPI cells: the ``[rank R]`` lines are exactly the cell's ``contains`` rank lines, each
    once, in any order (ranks are separate processes; each prints its lines once)."""
    ranks = Counter(line for line in _lines(text) if line.startswith("[rank "))
    wanted = Counter(s for s in cell.metadata["rc_check"]["contains"] if s.startswith("[rank "))
    assert ranks == wanted, f"rank lines {sorted(ranks.elements())}, expected {sorted(wanted.elements())}:\n{text}"


def mpi_deadlock_ended(text: str, cell) -> None:
    """28 ``nb28-15``: a rank prints at most its "sending" line (a rank slow to start may be ended
    before it printed); nothing after the send; the timeout notice comes once."""
    ranks = [line for line in _lines(text) if line.startswith("[rank ")]
    allowed = {"[rank 0] sending to rank 1", "[rank 1] sending to rank 0"}
    assert set(ranks) <= allowed and len(ranks) == len(set(ranks)), text
    assert text.count("still running after 10 s") == 1, text


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


def csp_poison_travels_down(text: str, cell) -> None:
    """29 CSP producer -> three squarers -> collector: every squarer stops after the producer's
    closing line (its loop ends only once the producer's Sender is gone) and before the
    collector's line (whose loop ends only once every squarer's Sender is gone); the squarers'
    counts add up to 30 and are the collector's per-squarer counts."""
    lines = _lines(text)
    closing = lines.index("producer: sent 1..=30, closing")
    stops = [(i, int(m.group(1)), int(m.group(2))) for i, line in enumerate(lines)
             if (m := re.fullmatch(r"squarer ([123]): input closed, stopping \(numbers squared: (\d+)\)", line))]
    collector = [(i, m.group(1)) for i, line in enumerate(lines)
                 if (m := re.fullmatch(r"collector: every squarer has stopped; numbers per squarer \[(\d+, \d+, \d+)\]", line))]
    assert len(collector) == 1 and sorted(sid for _, sid, _ in stops) == [1, 2, 3], text
    assert all(closing < i < collector[0][0] for i, _, _ in stops), f"a squarer stopped out of order:\n{text}"
    per = [int(x) for x in collector[0][1].split(", ")]
    assert sum(per) == 30 and all(per[sid - 1] == done for _, sid, done in stops), text


def csp_poison_travels_up(text: str, cell) -> None:
    """29 CSP select!: the listener got 8 messages, each talker's in its own order (numbers 1, 2, ...;
    the sentence's words in turn); each talker stopped after the listener's last line, and its
    count of sent messages is what the listener got from it (a bounded(0) send completes only
    when the message is taken)."""
    lines = _lines(text)
    numbers = [int(m.group(1)) for line in lines if (m := re.fullmatch(r"listener: number (\d+)", line))]
    words = [m.group(1) for line in lines if (m := re.fullmatch(r"listener: word (\w+)", line))]
    assert len(numbers) + len(words) == 8, text
    assert numbers == list(range(1, len(numbers) + 1)), text
    sentence = "the quick brown fox".split()
    assert words == [sentence[i % 4] for i in range(len(words))], text
    enough = lines.index("listener: 8 messages are enough, returning")
    counter = [i for i, line in enumerate(lines) if line == f"counter: the listener is gone, stopping (numbers taken: {len(numbers)})"]
    talker = [i for i, line in enumerate(lines) if line == f"talker: the listener is gone, stopping (words taken: {len(words)})"]
    assert len(counter) == 1 and len(talker) == 1, text
    assert enough < counter[0] and enough < talker[0], text


CHECKS = {
    "05-ExecutionOrderAndResources.ipynb": {"nb05-07": ten_whole_lines_any_order},
    "07-Communication.ipynb": {"nb07-04": send_name_once},
    "09-QueueExerciseSolution.ipynb": {"nb09-05": five_names_round_by_round},
    "15-SemaphoresEventsConditionsBarriers.ipynb": {
        "nb15-04": signal_round_by_round,
        "nb15-07": channel_round_by_round,
        "nb15-15": nobody_runs_before_the_gun,
        "nb15-16-labels": labelled_runners_run_after_the_gun,
        "nb15-34": everyone_reached_before_anyone_passed,
    },
    "16-ThreadQueues.ipynb": {"nb16-08": each_item_once_after_its_put},
    "24-GeneratorsAndCoroutines.ipynb": {"nb24-24": coroutine_b_returns_before_a_sees_the_end},
    "25-EventLoopTimersCallbacks.ipynb": {
        "nb25-12": scheduler_events_not_before_their_time,
        "nb25-15": loop_timers_not_before_their_time,
        "nb25-18": tasks_a_second_apart,
    },
    "21-SubprocessExecFork.ipynb": {"nb21-14": exec_keeps_the_pid, "nb21-25": fork_returns_twice},
    "18-PipesAndProcessQueues.ipynb": {"nb18-21": nine_jobs_each_squared_once},
    "29-DistributedTasks.ipynb": {
        "nb29-15": lost_worker_seen_and_tasks_redone,
        "nb29-30": csp_poison_travels_down,
        "nb29-32": csp_poison_travels_up,
    },
    "28-MessagePassingMPI.ipynb": {
        **{f"nb28-{n:02d}": mpi_rank_lines_exactly for n in (6, 9, 17, 19, 21, 23, 26, 28, 30)},
        "nb28-15": mpi_deadlock_ended,
    },
    "26-AsyncTasksAndFutures.ipynb": {
        "nb26-07": three_tasks_each_in_order,
        "nb26-20": nothing_after("time is up: the ticker future is dropped", "A: tick"),
        "nb26-22": nothing_after("aborted: the task was cancelled", "B: tick"),
    },
}
