"""Lessons leave nothing behind: no stray processes, shared-memory objects, FIFOs, Unix socket
files or POSIX message queues after any cell, after a restart and after a shutdown (issue 11,
"Kernel"; sockets and message queues: issue 13).

Each lesson of ``LESSONS`` runs cell by cell in a real kernel (started by ``jupyter_client``).
After every cell, after ``restart_kernel`` and after ``shutdown_kernel`` the test counts:

- **stray processes**: every live process whose environment carries this run's token (the test
  starts the kernel with ``RC_LEAK_TOKEN=<random>``; every process forked or executed below it
  inherits the variable, even one that was orphaned or double-forked away from the kernel's tree),
  except the kernel itself and its runtime (the process evcxr starts with ``EVCXR_IS_RUNTIME=1``).
  Zombies are not counted here (``test_zombies.py`` counts those).
- **shared-memory objects**: entries of ``/dev/shm`` that were not there when the kernel started
  (other programs' entries that one of their own processes holds open are not counted, so a busy
  machine does not fail the test; one that creates and leaves entries during the run would).
- **FIFOs** in the temporary folder: the kernel gets a private ``TMPDIR``, so everything a lesson
  makes in ``std::env::temp_dir()`` is there; FIFOs anywhere below it count, and new FIFOs in
  ``/tmp`` too (for a lesson that hard-codes the path).
- **Unix socket files**, counted like FIFOs: below the private ``TMPDIR`` (where lesson 27's
  ``lesson_path`` puts them) and new ones in ``/tmp``. A socket bound to an abstract name (the
  manager's, lesson 20) has no file and ends with its processes, which are counted.
- **POSIX message queues**: entries of the ``mqueue`` file system that were not there when the
  kernel started, counted like ``/dev/shm`` (a queue that another program's process holds open
  is not counted). The system lists its queues only in a mounted ``mqueue`` file system: the
  test uses ``/dev/mqueue`` where it is mounted, else mounts one of its own for the session
  (root only; where neither works the queues are not counted and the self-test says so by
  skipping).

``test_the_leak_counter_sees_each_kind_of_leak`` is the counter's self-test: deliberately leaking
cells must be reported, each kind by its name, so a lesson test that passes means something.

Every lesson from 15 on is counted (``LESSONS``). A lesson that keeps a process alive
across cells on purpose (a daemon it terminates later, a manager held in a variable until its
``shutdown`` cell) names that span in ``KEPT_ON_PURPOSE``: after the cells of the span at most
that many processes may run; after the span's last cell, none.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from conftest import KERNEL_NAME, run_cell
from test_notebooks import EXPECTED_NOTEBOOKS

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
SHM = Path("/dev/shm")
DEV_MQUEUE = Path("/dev/mqueue")
CELL_TIMEOUT = 300

# The lessons from 15 on (processes, shared memory, servers, pools, MPI, async): each starts
# things that could outlive a cell.
LESSONS = [name for name in EXPECTED_NOTEBOOKS if name[:2].isdigit() and int(name[:2]) >= 15]

# lesson -> (first cell of the span, cell that ends it, processes allowed in between)
KEPT_ON_PURPOSE = {
    # the heartbeat daemon, started in one cell and terminated in the next
    "17-ProcessLifecycle.ipynb": ("nb17-23", "nb17-24", 1),
    # `mgr`'s server process, from `Manager::start` to `mgr.shutdown()`
    "20-Managers.ipynb": ("nb20-07", "nb20-36", 1),
}


# ------------------------------------------------------------------------------- the counter


def _environ(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []


def _stat(pid: int) -> tuple[str, str, int] | None:
    """(command name, state, parent pid) of a live pid, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rfind(")") + 2:].split()
    return text[text.find("(") + 1:text.rfind(")")], rest[0], int(rest[1])


def _pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def _open_elsewhere(paths: set[Path], ours: set[int]) -> set[Path]:
    """Those of ``paths`` that a process outside ``ours`` has open or mapped."""
    found: set[Path] = set()
    wanted = {str(p) for p in paths}
    for pid in _pids():
        if pid in ours:
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target in wanted:
                    found.add(Path(target))
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        found.update(Path(w) for w in wanted if w in maps)
    return found


def _special_files(folder: Path, kind, recursive: bool = True) -> set[Path]:
    """The files in ``folder`` (and below it when ``recursive``) whose mode satisfies ``kind``
    (``stat.S_ISFIFO``, ``stat.S_ISSOCK``)."""
    out: set[Path] = set()
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            try:
                if kind(path.lstat().st_mode):
                    out.add(path)
            except OSError:
                pass
        if not recursive:
            break
    return out


def _fifos(folder: Path, recursive: bool = True) -> set[Path]:
    """The FIFOs in ``folder`` (and below it when ``recursive``)."""
    return _special_files(folder, stat.S_ISFIFO, recursive)


def _sockets(folder: Path, recursive: bool = True) -> set[Path]:
    """The Unix socket files in ``folder`` (and below it when ``recursive``)."""
    return _special_files(folder, stat.S_ISSOCK, recursive)


def _mqueue_mounts() -> list[Path]:
    """Where an ``mqueue`` file system is mounted (from /proc/mounts)."""
    found = []
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "mqueue":
            found.append(Path(fields[1].replace("\\040", " ")))
    return found


def _mqueue_open_elsewhere(names: set[str], ours: set[int]) -> set[str]:
    """Those of the queue ``names`` that a process outside ``ours`` has open (a message-queue
    descriptor's /proc link reads ``/<name>``; it is never mapped)."""
    found: set[str] = set()
    wanted = {f"/{n}": n for n in names}
    for pid in _pids():
        if pid in ours:
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target in wanted:
                found.add(wanted[target])
    return found


def _mq_unlink(name: str) -> None:
    """Removes the message queue ``/name`` if it exists (libc's ``mq_unlink``, through ctypes:
    Python's standard library has no binding)."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("rt") or ctypes.util.find_library("c"), use_errno=True)
    libc.mq_unlink(f"/{name}".encode())


@dataclass
class Leaks:
    processes: list[str] = field(default_factory=list)
    shm: list[str] = field(default_factory=list)
    fifos: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    mqueues: list[str] = field(default_factory=list)

    def files(self) -> bool:
        """Something other than processes is left."""
        return bool(self.shm or self.fifos or self.sockets or self.mqueues)

    def __bool__(self) -> bool:
        return bool(self.processes) or self.files()

    def __str__(self) -> str:
        return (f"stray processes {self.processes}, /dev/shm objects {self.shm}, FIFOs {self.fifos}, "
                f"Unix socket files {self.sockets}, message queues {self.mqueues}")


class LeakCounter:
    """Counts what a kernel started with :meth:`env` left behind (see the module docstring)."""

    def __init__(self, tmpdir: Path, mqueue: Path | None):
        self.token = f"RC_LEAK_TOKEN={uuid.uuid4().hex}".encode()
        self.tmpdir = tmpdir
        self.mqueue = mqueue  # a mounted mqueue file system, or None: queues not counted
        self.shm_before = set(SHM.iterdir())
        self.tmp_fifos_before = _fifos(Path("/tmp"), recursive=False)
        self.tmp_sockets_before = _sockets(Path("/tmp"), recursive=False)
        self.mqueues_before = self._mqueues()

    def _mqueues(self) -> set[str]:
        return {p.name for p in self.mqueue.iterdir()} if self.mqueue is not None else set()

    def env(self) -> dict:
        key, value = self.token.decode().split("=", 1)
        return dict(os.environ, **{key: value, "TMPDIR": str(self.tmpdir)})

    def ours(self) -> set[int]:
        """Every live process of this kernel session (zombies included)."""
        return {pid for pid in _pids() if self.token in _environ(pid)}

    def count(self, kernel_pid: int | None) -> Leaks:
        """What is left now; ``kernel_pid``: the running kernel (None after a shutdown)."""
        ours = self.ours()
        allowed = set()
        if kernel_pid is not None:
            allowed.add(kernel_pid)
            allowed.update(p for p in ours if (_stat(p) or ("", "", 0))[2] == kernel_pid
                           and b"EVCXR_IS_RUNTIME=1" in _environ(p))
        leaks = Leaks()
        for pid in sorted(ours - allowed):
            st = _stat(pid)
            if st is not None and st[1] != "Z":
                leaks.processes.append(f"{pid} {st[0]} (state {st[1]}, parent {st[2]})")
        new_shm = set(SHM.iterdir()) - self.shm_before
        new_shm -= _open_elsewhere(new_shm, ours) if new_shm else set()
        leaks.shm = sorted(p.name for p in new_shm if p.exists())
        fifos = _fifos(self.tmpdir) | (_fifos(Path("/tmp"), recursive=False) - self.tmp_fifos_before)
        leaks.fifos = sorted(str(p) for p in fifos)
        sockets = _sockets(self.tmpdir) | (_sockets(Path("/tmp"), recursive=False) - self.tmp_sockets_before)
        leaks.sockets = sorted(str(p) for p in sockets)
        new_mq = self._mqueues() - self.mqueues_before
        new_mq -= _mqueue_open_elsewhere(new_mq, ours) if new_mq else set()
        leaks.mqueues = sorted(f"/{n}" for n in new_mq if (self.mqueue / n).exists())
        return leaks

    def settled(self, kernel_pid: int | None, timeout: float = 10.0) -> Leaks:
        """``count`` once nothing is left, or what is still left after ``timeout`` s: a process
        that a cell joined, or a kernel that was shut down, may take a moment to disappear from
        /proc (this waits for the system, it does not stand in for the lesson's own joins)."""
        deadline = time.monotonic() + timeout
        while True:
            leaks = self.count(kernel_pid)
            if not leaks or time.monotonic() > deadline:
                return leaks
            time.sleep(0.1)


# ------------------------------------------------------------------------------ running cells


class Session:
    """A kernel for one lesson, started with the counter's environment."""

    def __init__(self, counter: LeakCounter):
        from jupyter_client.manager import KernelManager

        self.counter = counter
        self.km = KernelManager(kernel_name=KERNEL_NAME)
        self.km.start_kernel(env=counter.env())
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=180)

    @property
    def kernel_pid(self) -> int:
        return self.km.provisioner.process.pid

    def run(self, source: str, may_fail: bool = False, where: str = ""):
        res = run_cell(self.kc, source, timeout=CELL_TIMEOUT)
        if not may_fail:
            assert res.status == "ok", f"{where}: {res.errors} {res.stderr}"
        return res

    def leaks_now(self) -> Leaks:
        return self.counter.settled(self.kernel_pid)

    def restart(self) -> None:
        self.km.restart_kernel(now=False)
        self.kc.wait_for_ready(timeout=180)
        # The new kernel compiles its start-up code in the background; one cell waits for it.
        self.run("let after_restart = ();", where="first cell after the restart")

    def shutdown(self) -> Leaks:
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=False)
        return self.counter.settled(None)


def code_cells(name: str) -> list[tuple[str, str, bool]]:
    """``(cell id, source, may fail)`` of every code cell of a lesson, in order."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    return [(c.get("id", f"cell {i}"), c.source, "raises-exception" in c.metadata.get("tags", []))
            for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def run_and_count(session: Session, cells, name: str) -> list[str]:
    """Runs the cells; returns one line per moment something was left behind."""
    found = []
    first, last, allowed = KEPT_ON_PURPOSE.get(name, (None, None, 0))
    ids = [cell_id for cell_id, _, _ in cells]
    assert first is None or (first in ids and last in ids), f"KEPT_ON_PURPOSE names cells {name} lacks"
    in_span = False
    for cell_id, source, may_fail in cells:
        session.run(source, may_fail=may_fail, where=f"{name} {cell_id}")
        in_span = (in_span or cell_id == first) and cell_id != last
        leaks = session.leaks_now()
        if in_span and not leaks.files() and len(leaks.processes) <= allowed:
            continue
        if leaks:
            found.append(f"after cell {cell_id}: {leaks}")
    session.restart()
    leaks = session.leaks_now()
    if leaks:
        found.append(f"after the restart: {leaks}")
    return found


@pytest.fixture(scope="session")
def mqueue_view(tmp_path_factory):
    """A mounted mqueue file system: /dev/mqueue if mounted, else one mounted here for the
    session (needs root); None where neither works."""
    mounts = _mqueue_mounts()
    if DEV_MQUEUE in mounts:
        yield DEV_MQUEUE
        return
    if mounts:
        yield mounts[0]
        return
    target = tmp_path_factory.mktemp("mqueue")
    try:
        mounted = subprocess.run(["mount", "-t", "mqueue", "none", str(target)], capture_output=True).returncode == 0
    except OSError:
        mounted = False
    yield target if mounted else None
    if mounted:
        subprocess.run(["umount", str(target)], check=False)


@pytest.fixture
def counter(tmp_path, kernel_spec_dir, mqueue_view):
    tmpdir = tmp_path / "kernel-tmp"
    tmpdir.mkdir()
    return LeakCounter(tmpdir, mqueue_view)


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_leaves_nothing_behind(name, counter, monkeypatch):
    monkeypatch.setenv("MULTIPROC_TIME_SCALE", "0.01")
    monkeypatch.setenv("MULTIPROC_UNATTENDED", "1")
    session = Session(counter)
    try:
        found = run_and_count(session, code_cells(name), name)
    finally:
        after_shutdown = session.shutdown()
    if after_shutdown:
        found.append(f"after the shutdown: {after_shutdown}")
    assert not found, f"{name} left things behind:\n" + "\n".join(found)


def test_the_leak_counter_sees_each_kind_of_leak(counter, monkeypatch):
    monkeypatch.setenv("MULTIPROC_TIME_SCALE", "0.01")
    shm_name = f"rc_leak_selftest_{uuid.uuid4().hex[:8]}"
    fifo = counter.tmpdir / "selftest.fifo"
    sock = counter.tmpdir / "selftest.sock"
    mq_name = f"rc_leak_selftest_mq_{uuid.uuid4().hex[:8]}"
    leaking = [
        ("clean", 'let mut p = Process::new(|| println!("joined")); p.start(); p.join();', False),
        ("daemon", "let mut d = Process::new(|| loop { sleep(1.0) }).daemon(true); d.start();", False),
        ("shm", f'SharedMemory::create("{shm_name}", 8).unwrap().close(); // closed, never unlinked', False),
        ("fifo", 'nix::unistd::mkfifo(&std::env::temp_dir().join("selftest.fifo"), '
                 'nix::sys::stat::Mode::S_IRWXU).unwrap();', False),
        ("socket", 'drop(std::os::unix::net::UnixListener::bind(std::env::temp_dir().join("selftest.sock"))'
                   '.unwrap()); // closed; the file stays', False),
        ("mqueue", f'nix::mqueue::mq_close(nix::mqueue::mq_open("/{mq_name}", nix::mqueue::MQ_OFlag::O_CREAT '
                   '| nix::mqueue::MQ_OFlag::O_RDWR, nix::sys::stat::Mode::S_IRWXU, '
                   'Some(&nix::mqueue::MqAttr::new(0, 4, 16, 0))).unwrap()).unwrap(); '
                   '// closed, never unlinked', False),
    ]
    session = Session(counter)
    try:
        found = run_and_count(session, leaking, "self-test")
    finally:
        after_shutdown = session.shutdown()
        left_shm, left_fifo, left_sock = (SHM / shm_name).exists(), fifo.exists(), sock.exists()
        (SHM / shm_name).unlink(missing_ok=True)
        fifo.unlink(missing_ok=True)
        sock.unlink(missing_ok=True)
        left_mq = counter.mqueue is not None and (counter.mqueue / mq_name).exists()
        _mq_unlink(mq_name)  # also where no mqueue file system shows the queue
    text = "\n".join(found)
    assert not any(line.startswith("after cell clean") for line in found), text
    assert any(line.startswith("after cell daemon: stray processes ['") for line in found), text
    assert any(line.startswith("after cell shm:") and shm_name in line for line in found), text
    assert any(line.startswith("after cell fifo:") and "selftest.fifo" in line for line in found), text
    assert any(line.startswith("after cell socket:") and "Unix socket files ['" in line
               and "selftest.sock" in line for line in found), text
    # The restart ends the daemon; the kernel cannot know the name and the FIFO are garbage.
    restart = next((line for line in found if line.startswith("after the restart")), "")
    assert "stray processes []" in restart and shm_name in restart and "selftest.fifo" in restart, text
    assert "selftest.sock" in restart, text
    assert left_shm and left_fifo and left_sock
    assert after_shutdown.processes == [], after_shutdown
    # And what the test removed itself is no longer counted.
    assert not counter.count(None), counter.count(None)
    if counter.mqueue is None:
        pytest.skip("no mqueue file system is mounted and none could be mounted (not root?): "
                    "message queues were not counted")
    assert any(line.startswith("after cell mqueue:") and f"message queues ['/{mq_name}']" in line
               for line in found), text
    assert mq_name in restart and left_mq, text
