"""binder/Dockerfile's steps, really run in a Debian root filesystem, then used as its student.

No container engine runs on CI machines, so the image is reproduced with what they have: a
Debian root filesystem from debootstrap, overlay mounts, chroot and a private mount and PID
namespace (``unshare``), as root. The Dockerfile is the one source of truth: its base image tag
gives the Debian suite and the Python version family, its ENV and ARG lines the environment, its
apt-get line the packages, and its RUN, COPY, USER, WORKDIR and CMD lines, in order, what is
done. Two steps cannot be done as written: the base image (``python:3.11.x-slim-bookworm`` is
stood in for by Debian's python3 with a virtualenv at /usr/local, see scripts/debian-rootfs.sh)
and the rustup download (the machine's own toolchain is copied into /opt/rust instead, since
CI machines cannot download a toolchain).

Layers, like Docker's build cache. Cached between runs under ``$RC_ROOTFS_CACHE`` (default
``build/rootfs-cache`` in the clone: ignored by git, removed by `make clean`, so a clean clone
starts cold): the base (debootstrap + Python + the apt-get step, keyed by a hash of those), the
toolchain copy, and the kernel's cargo target folder and registry as built inside the root
filesystem (cargo itself decides what is stale). The registry's lowest layer is this machine's
own, read-only, so no crate is downloaded twice. Each run starts fresh from those in
``target/rootfs-test/`` (the build folder): the remaining Dockerfile steps as root
(``scripts/install.sh --no-venv --prune``, the chown, ...), each writing into a new overlay
layer; then the student's layer on top, with an empty ``$HOME`` bind-mounted over the image's
home and a fresh /tmp. What the student's layer holds afterwards is exactly what the student
wrote outside $HOME and /tmp.

It runs in CI (``CI`` set, as .ci/run does) and with ``RC_ROOTFS_TEST=1`` (`make test-rootfs`);
elsewhere it skips and says why. Every mount lives in the namespace of one command and vanishes
with it, whatever happens (a failing or killed test leaves no mount behind). The time of each
phase goes to ``target/rootfs-test/times.json`` and every line of ``build.log`` carries the
seconds since its command started; README.md gives the measured cold and warm times.

This catches what tests/test_binder.py (text only) cannot: ``--prune`` deleting something the
kernel needs at run time, a cache or registry the student cannot write, a kernelspec pointing
at a file only root can read or that the build step deleted, a path that only exists for root.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from pathlib import Path

import nbformat
import pytest

from test_binder import DOCKERFILE, instructions
from test_notebooks import _has_error, apply_check, load_python_checks, output_text

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "debian-rootfs.sh"
STUDENT = "tests/rootfs_student.py"
LESSONS = ["00-Start-here.ipynb", "05-ExecutionOrderAndResources.ipynb"]
# Two kernels started at once, each answering its first cell (timed from their start): with the
# image's prebuilt support crate about a second each (measured 0.7-1.4 s on a loaded 2-core
# machine); a kernel that compiles the support crate at start-up takes minutes (measured 2 min).
FIRST_CELL_BOUND_S = 45
# A no-op cargo build of the MPI bindings the image built (a rebuild compiles rsmpi: minutes).
MPI_WARM_BOUND_S = 60
RUN_DIR = REPO / "target" / "rootfs-test"
SRC = "/opt/rust-concurrency/src"
TARGET = SRC + "/target"
REGISTRY = "/opt/rust/registry"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# What the base image (python:3.11.x-slim-bookworm) sets before the Dockerfile's own ENV lines.
BASE_ENV = {"PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def cache_dir() -> Path:
    """Where the layers that outlive a run are kept: the project's build folder (ignored by git,
    removed by `make clean`), so a clean clone starts cold; ``$RC_ROOTFS_CACHE`` moves it (for
    example outside the clone, to keep it between CI runs)."""
    if os.environ.get("RC_ROOTFS_CACHE"):
        return Path(os.environ["RC_ROOTFS_CACHE"])
    return REPO / "build" / "rootfs-cache"


def host_registry() -> Path | None:
    """This machine's cargo registry (``$CARGO_HOME/registry``), which `make test`'s own build
    filled with every crate of Cargo.lock before this test runs; None if there is none."""
    home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
    registry = home / "registry"
    return registry if (registry / "cache").is_dir() else None


def not_asked_for() -> str | None:
    """Why this run leaves the test out, or None: it runs in CI (``CI`` set, as .ci/run does)
    and with ``RC_ROOTFS_TEST=1`` (`make test-rootfs`); ``RC_ROOTFS_TEST=0`` leaves it out."""
    asked = os.environ.get("RC_ROOTFS_TEST")
    if asked == "0":
        return "RC_ROOTFS_TEST=0"
    if asked or os.environ.get("CI"):
        return None
    return ("the root-filesystem test runs in CI (CI=true, as .ci/run sets) or with `make test-rootfs`: "
            "as root it builds a Debian image with the kernel inside (about 20 min cold on 2 idle cores)")


def unavailable() -> str | None:
    """Why this machine cannot run the test, or None."""
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot and overlay mounts); CI runs as root"
    for tool in ("unshare", "chroot", "rustup"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    if not (shutil.which("debootstrap") or Path("/usr/sbin/debootstrap").exists()):
        return "debootstrap is not installed (scripts/system-deps.sh test installs it)"
    return None


# ---------------------------------------------------------------- reading the Dockerfile


def image_spec() -> dict:
    """What the Dockerfile says, in build order."""
    steps, args, env, cmd, user, workdir, base = [], {}, dict(BASE_ENV), None, "root", "/", None

    def sub(s: str, table: dict) -> str:
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: table.get(m.group(1) or m.group(2), m.group(0)), s)

    for word, rest in instructions():
        if word == "FROM":
            base = rest.split()[0]
        elif word in ("ARG", "ENV"):
            for item in shlex.split(rest):
                key, eq, value = item.partition("=")
                value = sub(value, {**args, **env})
                (env if word == "ENV" else args)[key] = value if eq else args.get(key, "")
        elif word == "RUN":
            steps.append(("run", rest, user, workdir))
        elif word == "COPY":
            src, dest = shlex.split(rest)
            assert src == ".", f"COPY {rest}: only the build context is copied here"
            steps.append(("copy", sub(dest, {**args, **env}), user, workdir))
        elif word == "USER":
            user = sub(rest, {**args, **env})
        elif word == "WORKDIR":
            workdir = sub(rest, {**args, **env})
        elif word == "CMD":
            cmd = json.loads(rest)
    m = re.fullmatch(r"python:(\d+\.\d+)\.\d+-slim-(\w+)(@sha256:[0-9a-f]{64})?", base or "")
    assert m, f"FROM {base}: expected python:X.Y.Z-slim-<debian suite>"
    apt = [s for s in steps if s[0] == "run" and "apt-get install" in s[1]]
    assert len(apt) == 1, "one apt-get step"
    return {"python": m.group(1), "suite": m.group(2), "args": args, "env": env, "steps": steps,
            "apt": apt[0][1], "user": user, "workdir": workdir, "cmd": cmd}


# ---------------------------------------------------------------- running in the root filesystem


def overlay(lowers: list[Path], upper: Path) -> str:
    work = upper.parent / (upper.name + ".work")
    for d in (upper, work):
        d.mkdir(parents=True, exist_ok=True)
    return f"lowerdir={':'.join(map(str, lowers))},upperdir={upper},workdir={work},metacopy=on"


def in_rootfs(layers: dict, command: str, env: dict, *, uid: int | None = None, cwd: str = "/",
              home: Path | None = None, copy_to: str | None = None, timeout: int = 3600,
              log: Path | None = None) -> subprocess.CompletedProcess:
    """Runs ``command`` (``/bin/sh -c``) chrooted into ``layers``, in a private mount and PID
    namespace: every mount below and every process started vanish when it ends.

    ``layers``: mount point inside the root filesystem ("/" first) -> overlay options or a host
    folder to bind. ``home``: a host folder bind-mounted over ``env["HOME"]``. ``copy_to``: before
    the command, the repository (the files git would commit) is copied there, as Docker's
    ``COPY .`` does."""
    root = RUN_DIR / "mnt"
    root.mkdir(parents=True, exist_ok=True)
    lines = ["set -eu", f"root={shlex.quote(str(root))}"]
    for point, what in layers.items():
        target = "$root" + ("" if point == "/" else shlex.quote(point))
        if point != "/":
            lines.append(f"mkdir -p {target}")
        if isinstance(what, Path):
            lines.append(f"mount --bind {shlex.quote(str(what))} {target}")
        else:
            lines.append(f"mount -t overlay overlay -o {shlex.quote(what)} {target}")
    lines += [
        'mount -t proc proc "$root/proc"',
        'mount --rbind /dev "$root/dev"',
        'mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"',
        'mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"',
        'mount --bind /etc/resolv.conf "$root/etc/resolv.conf"',
        # This machine's trust store over the image's (read-only, in no layer): HTTPS from CI
        # machines may pass a proxy whose certificate authority only the machine trusts.
        f'if [ -f "$root{CA_BUNDLE}" ] && [ -f {CA_BUNDLE} ]; then mount --bind {CA_BUNDLE} "$root{CA_BUNDLE}";'
        f' mount -o remount,bind,ro "$root{CA_BUNDLE}"; fi',
    ]
    if home is not None:
        lines.append(f'mount --bind {shlex.quote(str(home))} "$root"{shlex.quote(env["HOME"])}')
    if copy_to is not None:
        lines.append(f'mkdir -p "$root"{shlex.quote(copy_to)}')
        lines.append(f"cd {shlex.quote(str(REPO))} && git ls-files -z --cached --others --exclude-standard"
                     f" | xargs -0 sh -c 'for f; do [ -e \"$f\" ] && printf \"%s\\0\" \"$f\"; done' sh"
                     f' | tar --null -T - -cf - | tar -C "$root"{shlex.quote(copy_to)} -xf -')
    userspec = [] if uid is None else [f"--userspec={uid}:{uid}"]
    envs = [f"{k}={v}" for k, v in env.items()]
    lines.append(shlex.join(["exec", "chroot", *userspec, str(root), "/usr/bin/env", "-i", *envs,
                             "/bin/sh", "-c", f"cd {shlex.quote(cwd)} && {command}"]))
    script = "\n".join(lines)
    argv = ["unshare", "--mount", "--pid", "--fork", "--kill-child", "bash", "-c", script]
    if log is None:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return logged(argv, log, command[:200], timeout)


def logged(argv: list[str], log: Path, title: str, timeout: int) -> subprocess.CompletedProcess:
    """Runs ``argv`` with its output appended to ``log``, each line stamped with the clock time
    and the seconds since the command started (the log is where a run's phases are timed)."""
    started = time.monotonic()
    with open(log, "a") as out:
        out.write(f"\n==== {time.strftime('%H:%M:%S')} {title}\n")
        out.flush()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")

        def copy() -> None:
            for line in proc.stdout:
                out.write(f"{time.strftime('%H:%M:%S')} +{time.monotonic() - started:6.1f}s {line}")
                out.flush()

        reader = threading.Thread(target=copy, daemon=True)
        reader.start()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()  # unshare's --kill-child takes everything inside with it
            proc.wait()
            reader.join(timeout=10)
            raise
        reader.join(timeout=10)
        out.write(f"==== exit {proc.returncode} after {time.monotonic() - started:.1f} s\n")
    return subprocess.CompletedProcess(argv, proc.returncode)


def tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else ""


def layer_key(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() + b"\0")
    return h.hexdigest()[:16]


@pytest.fixture(scope="module")
def image():
    """Builds the image's root filesystem (cached layers + this run's root-owned layers)."""
    why_not = not_asked_for()
    why = unavailable()
    if why_not:
        pytest.skip(why_not + (f"; this machine cannot run it anyway: {why}" if why else ""))
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the root-filesystem test cannot run on this CI machine: {why}", pytrace=False)
        pytest.skip(why)
    spec = image_spec()
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    log = RUN_DIR / "build.log"
    times = {}

    # Cached layers: the base (debootstrap, Python, the apt-get step) and the toolchain copy.
    base = cache / f"base-{layer_key(SCRIPT.read_text(), spec['suite'], spec['apt'])}"
    toolchain_name = spec["args"]["RUST_TOOLCHAIN"]
    toolchain = cache / f"toolchain-{toolchain_name}-{layer_key(SCRIPT.read_text(), rustc_version(toolchain_name))}"
    for cmd in (["base", str(base), spec["suite"], spec["apt"]], ["toolchain", str(toolchain), toolchain_name]):
        started = time.monotonic()
        run = logged(["bash", str(SCRIPT), *cmd], log, f"scripts/debian-rootfs.sh {cmd[0]}", 3600)
        assert run.returncode == 0, f"scripts/debian-rootfs.sh {cmd[0]} failed:\n{tail(log)}"
        times[f"{cmd[0]} layer"] = time.monotonic() - started
        record_times(times)

    build_env = {**spec["args"], **spec["env"], "DEBIAN_FRONTEND": "noninteractive"}
    assert build_env["RUSTUP_HOME"] == build_env["CARGO_HOME"] == "/opt/rust", "the toolchain copy assumes /opt/rust"
    lowers = [toolchain, base]

    # The kernel's cargo target folder and registry, built inside the root filesystem at the
    # image's paths (so cargo's fingerprints match) and kept in the cache; install.sh's own
    # build below then finds it fresh. The throwaway root layer holds nothing else we keep.
    # The registry's lowest layer is this machine's own (read-only): `make test` has just built
    # the same Cargo.lock, so every crate the image's builds need (the kernel, the support
    # crate, rsmpi) is there already, and cargo downloads none of them again; what cargo adds
    # goes into the cache's layer above it. Compiled crates cannot be shared that way: cargo's
    # fingerprint of a registry crate holds the absolute path of its sources, which is under
    # /opt/rust in the image and under this machine's CARGO_HOME here, so every one rebuilds.
    started = time.monotonic()
    target_cache, registry_cache = cache / "cargo-target", cache / "cargo-registry"
    target_cache.mkdir(exist_ok=True)
    registry_lowers = [r for r in [host_registry()] if r]
    registry_mount = overlay(registry_lowers, registry_cache) if registry_lowers else registry_cache
    registry_cache.mkdir(exist_ok=True)
    pre = in_rootfs({"/": overlay(lowers, RUN_DIR / "prebuild"), TARGET: target_cache, REGISTRY: registry_mount},
                    "cargo build --release --locked -p rust-concurrency-kernel", build_env, cwd=SRC, copy_to=SRC, log=log)
    assert pre.returncode == 0, f"building the kernel in the root filesystem failed:\n{tail(log)}"
    for d in ("prebuild", "prebuild.work"):
        shutil.rmtree(RUN_DIR / d)
    times["kernel build into the cache"] = time.monotonic() - started
    record_times(times)

    # This run's layers, one overlay upper folder per mount, stacked step by step.
    uppers = {"/": RUN_DIR / "root", TARGET: RUN_DIR / "target", REGISTRY: RUN_DIR / "registry"}
    lower_of = {"/": lowers, TARGET: [target_cache], REGISTRY: [registry_cache, *registry_lowers]}
    layers = {p: overlay(lower_of[p], uppers[p]) for p in uppers}
    for kind, text, user, workdir in spec["steps"]:
        if kind == "run" and text == spec["apt"]:
            continue  # in the base layer
        if kind == "run" and "sh.rustup.rs" in text:
            # The toolchain layer stands in for rustup's download; the step's own check remains.
            text = text.split("&&", 1)[1] if "&&" in text else "true"
        assert user == "root", f"a RUN or COPY as {user}: the test runs build steps as root only"
        started = time.monotonic()
        if kind == "copy":
            proc = in_rootfs(layers, "true", build_env, copy_to=text, log=log)
        else:
            proc = in_rootfs(layers, text, build_env, cwd=workdir, log=log)
        times[f"{kind.upper()} {text[:70]}"] = time.monotonic() - started
        record_times(times)
        assert proc.returncode == 0, f"Dockerfile step {kind.upper()} {text!r} failed:\n{tail(log)}"
    yield {"spec": spec, "lowers": lowers, "uppers": uppers, "lower_of": lower_of, "times": times, "log": log}


def record_times(times: dict, say: bool = False) -> None:
    """The run's phases in seconds, with the load average they ran under: printed, and kept in
    target/rootfs-test/times.json (README.md quotes them)."""
    record = {"phases_s": {k: round(v, 1) for k, v in times.items()}, "total_s": round(sum(times.values()), 1),
              "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3], "cpus": os.cpu_count()}
    (RUN_DIR / "times.json").write_text(json.dumps(record, indent=1) + "\n")
    if say:
        print("rootfs test times:", json.dumps(record))


def rustc_version(toolchain: str) -> str:
    return subprocess.run(["rustc", f"+{toolchain}", "-vV"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def student(image):
    """The student's session: uid 1000, an empty $HOME, a fresh layer to catch every write."""
    spec = image["spec"]
    uid = int(spec["args"]["NB_UID"])
    home = RUN_DIR / "home"
    home.mkdir()
    os.chown(home, uid, uid)
    uppers = {p: RUN_DIR / f"student-{'root' if p == '/' else Path(p).name}" for p in image["uppers"]}
    layers = {p: overlay([image["uppers"][p], *image["lower_of"][p]], uppers[p]) for p in uppers}
    env = {**spec["env"], "RC_IMAGE_CMD": json.dumps(spec["cmd"]), "LANG": "C.UTF-8",
           # The lessons run unattended, with pauses shortened, as in tests/test_notebooks.py.
           "MULTIPROC_UNATTENDED": "1", "MULTIPROC_TIME_SCALE": "0.01"}
    log = RUN_DIR / "student.log"
    started = time.monotonic()
    proc = in_rootfs(layers, shlex.join(["python3", f"{SRC}/{STUDENT}", *LESSONS]), env, uid=uid,
                     cwd=spec["workdir"], home=home, log=log, timeout=2400)
    image["times"]["student session"] = time.monotonic() - started
    record_times(image["times"], say=True)
    results_file = home / "results" / "results.json"
    assert proc.returncode == 0 and results_file.exists(), f"the student's session failed:\n{tail(log)}"
    return {"results": json.loads(results_file.read_text()), "home": home, "uppers": uppers, "log": log}


# ---------------------------------------------------------------- the checks


def test_dockerfile_describes_what_this_test_reproduces():
    spec = image_spec()
    assert spec["user"] != "root" and spec["args"]["NB_UID"] == "1000"
    assert spec["env"]["HOME"] == f"/home/{spec['args']['NB_USER']}" == spec["workdir"]
    assert any(k == "copy" and d == SRC for k, d, *_ in spec["steps"]), f"COPY . {SRC}"
    assert spec["env"]["RUST_CONCURRENCY_CACHE"].startswith("/opt/")
    assert spec["cmd"][:2] == ["jupyter", "lab"]


def test_same_python_version_family(student, image):
    assert student["results"]["python"].startswith(image["spec"]["python"] + "."), student["results"]["python"]
    assert student["results"]["uid"] == int(image["spec"]["args"]["NB_UID"])


def test_server_lists_and_starts_the_kernel_as_the_student(student):
    server = student["results"]["server"]
    assert "error" not in server, f"{server}\n{tail(RUN_DIR / 'home' / 'results' / 'server.log')}"
    assert "rust-concurrency" in server["kernelspecs"], server
    argv0 = server["spec"]["argv"][0]
    assert not argv0.startswith("/home/"), f"the kernelspec runs {argv0}, under the home a volume hides"
    cell = server.get("kernel_cell", {})
    assert cell.get("status") == "ok" and cell["stdout"].strip() == "served 42", f"{server}\n{tail(student['log'])}"
    assert server["kernel_state"] == "idle", server


def test_two_kernels_at_once_answer_their_first_cell_without_a_cold_compile(student):
    cells = student["results"]["first_cells"]
    for i, cell in enumerate(cells):
        assert cell.get("status") == "ok", f"kernel {i}: {cell}\n{tail(student['log'])}"
        assert cell["stdout"].strip() == f"kernel {i} says 42", cell
        assert cell["seconds"] < FIRST_CELL_BOUND_S, (
            f"kernel {i}'s first cell was answered {cell['seconds']} s after its start (bound {FIRST_CELL_BOUND_S} s): a cold compile?")


def test_the_student_never_rebuilds_the_support_crate(student, image):
    # The image ships the support crate built for cells; a kernel that cannot find or use it
    # builds it again under the cache root (minutes at a student's first start).
    cache = image["spec"]["env"]["RUST_CONCURRENCY_CACHE"]
    rebuilt = [p for p in student_writes(student, image) if p.startswith(f"{cache}/prebuilt/")]
    assert not rebuilt, f"the student's kernel rebuilt the support crate: {rebuilt[:10]}"


def test_mpi_bindings_built_at_install_serve_the_student(student):
    mpi = student["results"]["mpi_warm"]
    assert "Ok(())" in mpi.get("stdout", ""), f"{mpi}\n{tail(student['log'])}"
    assert mpi["seconds"] < MPI_WARM_BOUND_S, f"the MPI bindings were rebuilt ({mpi['seconds']} s)"


def test_a_students_dep_cell_builds_with_the_images_cargo_home(student, image):
    # A student may add a crate in a cell of their own: evcxr then runs the real cargo as the
    # student, with the image's CARGO_HOME. Offline, of a crate the registry holds, cargo only
    # writes its lock files there and goes on without them when it cannot: a CARGO_HOME the
    # student does not own passes here (a download into it, on Binder, would not).
    dep = student["results"]["dep"]
    cargo_home = image["spec"]["env"]["CARGO_HOME"]
    for key in ("dep", "use"):
        cell = dep.get(key, {})
        assert cell.get("status") == "ok", (
            f"a student's `:dep` cell ({key}) failed as uid {student['results']['uid']} with CARGO_HOME={cargo_home}:"
            f" {dep.get('error') or cell.get('output', '')[-2000:]}")
    assert dep["use"]["output"].strip() == "crossbeam-queue says 42", dep


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_runs_and_prints_what_it_promises(student, name):
    run = student["results"]["notebooks"][name]
    nb = nbformat.read(student["home"] / "results" / name, as_version=4)
    assert run["error"] is None, f"{name}: {run['error']}"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = f"{name} cell {i} (id {cell.get('id')})"
        if "raises-exception" in cell.metadata.get("tags", []):
            assert _has_error(cell), f"{where}: tagged raises-exception but did not raise"
        if cell.metadata.get("rc_check"):
            apply_check(cell.metadata["rc_check"], cell, where)
    for key, fn in load_python_checks().get(name, {}).items():
        cell = nb.cells[key] if isinstance(key, int) else next(c for c in nb.cells if c.get("id") == key)
        fn(output_text(cell), cell)


def student_writes(student, image) -> list[str]:
    """Paths (inside the root filesystem) the student's layers hold: everything it wrote outside
    the bind-mounted $HOME and the /tmp tmpfs. A folder only counts when nothing written below
    it explains it (overlayfs copies up the parents of what it writes)."""
    found = []
    for point, upper in student["uppers"].items():
        for dirpath, dirnames, filenames in os.walk(upper):
            rel = Path(dirpath).relative_to(upper)
            for name in filenames:
                found.append(str(Path(point) / rel / name))
            if not dirnames and not filenames and rel != Path("."):
                found.append(str(Path(point) / rel) + "/")
    return sorted(found)


def test_nothing_written_outside_home_the_cache_and_tmp(student, image):
    cache = image["spec"]["env"]["RUST_CONCURRENCY_CACHE"]
    # Cargo's own lock and tracking files in CARGO_HOME, taken on every cargo build (a student's
    # `:dep` cell, the MPI programs): the one write outside, and why the Dockerfile chowns /opt/rust.
    cargo_home = image["spec"]["env"]["CARGO_HOME"]
    cargo_locks = {f"{cargo_home}/{name}" for name in (".package-cache", ".package-cache-mutate", ".global-cache")}
    outside = [p for p in student_writes(student, image)
               if not (p == cache or p.startswith(cache + "/")) and p not in cargo_locks]
    assert not outside, f"the student wrote outside $HOME, {cache} and /tmp: {outside[:40]}"
