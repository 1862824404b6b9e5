"""What a student does in the Binder/JupyterHub image, run *inside* it by tests/test_rootfs.py.

Runs as the image's user (uid 1000) in the Debian root filesystem that test_rootfs.py built from
binder/Dockerfile, with an empty $HOME mounted over the image's home (as JupyterHub's persistent
volume is), using only what the image installed (its Python, its kernelspec, /opt). It:

1. starts a Jupyter server the way the image's CMD does and, through its REST API, lists the
   kernelspecs and starts a kernel (the server launches it as this user), then stops it;
2. starts two kernels at once with jupyter_client and times each one's first cell (from the
   kernels' start);
3. in a third kernel, runs a cell with a `:dep` on a crate of the image's registry, as a student
   may write in a cell of their own: cargo then runs as this user with the image's CARGO_HOME
   (offline here, so that it only uses the registry the image holds: on Binder it may download);
4. runs the lessons named on the command line through nbclient.

Everything it finds goes to ``$HOME/results/`` (results.json and the executed notebooks); the
test reads them from outside and asserts, so this script checks nothing itself.

    python3 rootfs_student.py NOTEBOOK...
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
from jupyter_client import BlockingKernelClient
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

HOME = Path(os.environ["HOME"])
RESULTS = HOME / "results"
SRC_NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KERNEL = "rust-concurrency"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_check(cmd: list[str]) -> dict:
    """The image's CMD (with a token and a local port), then the REST API's view of the kernel."""
    port, token = free_port(), secrets.token_hex(16)
    argv = [a for a in cmd if not a.startswith("--ip") and a != "notebooks/"]
    argv += ["--ip=127.0.0.1", f"--port={port}", f"--ServerApp.token={token}", "--ServerApp.open_browser=False"]
    log = open(RESULTS / "server.log", "w")
    server = subprocess.Popen(argv, cwd=HOME, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def api(path: str, method: str = "GET", body: dict | None = None):
        req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            data = r.read()
            return json.loads(data) if data else None

    out: dict = {"argv": argv}
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                out["status"] = api("/api/status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    out["error"] = f"server did not answer (exit {server.poll()})"
                    return out
                time.sleep(0.2)
        specs = api("/api/kernelspecs")
        out["kernelspecs"] = sorted(specs["kernelspecs"])
        out["spec"] = specs["kernelspecs"].get(KERNEL, {}).get("spec")
        started = time.monotonic()
        kernel = api("/api/kernels", "POST", {"name": KERNEL})
        # The kernel the server launched, reached through the connection file the server wrote
        # (as JupyterLab's websocket would): it answers kernel_info and runs a cell.
        kc = BlockingKernelClient(connection_file=str(HOME / ".local/share/jupyter/runtime" / f"kernel-{kernel['id']}.json"))
        kc.load_connection_file()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=120)
            outputs: list[str] = []
            reply = kc.execute_interactive('println!("served {}", 6 * 7);', timeout=300,
                                           output_hook=lambda m: outputs.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
            out["kernel_cell"] = {"status": reply["content"]["status"], "stdout": "".join(outputs),
                                  "seconds": round(time.monotonic() - started, 2)}
        finally:
            kc.stop_channels()
        out["kernel_state"] = api(f"/api/kernels/{kernel['id']}")["execution_state"]
        api(f"/api/kernels/{kernel['id']}", "DELETE")
    except Exception as e:  # reported, the test asserts on it
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    return out


def two_kernels() -> dict:
    """Two kernels started at once; each one's first cell is timed from its execute request."""
    managers = [KernelManager(kernel_name=KERNEL) for _ in range(2)]
    results: list[dict] = [{}, {}]
    launched = time.monotonic()
    for km in managers:
        km.start_kernel()
    clients = [km.client() for km in managers]

    def first_cell(i: int) -> None:
        kc = clients[i]
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=120)
            outputs: list[str] = []
            started = time.monotonic()
            reply = kc.execute_interactive(
                f'println!("kernel {i} says {{}}", 40 + 2);', timeout=600,
                output_hook=lambda m: outputs.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
            # From the start of both kernels: a kernel that compiles the support crate at
            # start-up is slow here, though its cell itself then is not.
            results[i] = {"seconds": round(time.monotonic() - launched, 2), "cell_seconds": round(time.monotonic() - started, 2),
                          "status": reply["content"]["status"], "stdout": "".join(outputs)}
        except Exception as e:
            results[i] = {"error": f"{type(e).__name__}: {e}"}

    threads = [threading.Thread(target=first_cell, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Lesson 28's MPI bindings were built into the image's cache at install time: a build now
    # only checks them (seconds), a cold one compiles rsmpi (minutes).
    mpi: dict = {}
    try:
        outputs = []
        started = time.monotonic()
        clients[0].execute_interactive('println!("mpi warm: {:?}", multiproc::mpi::warm());', timeout=900,
                                       output_hook=lambda m: outputs.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
        mpi = {"seconds": round(time.monotonic() - started, 2), "stdout": "".join(outputs)}
    except Exception as e:
        mpi = {"error": f"{type(e).__name__}: {e}"}
    for kc, km in zip(clients, managers):
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return {"first_cells": results, "mpi_warm": mpi}


# A student's own `:dep` cell, then a cell using the crate. crossbeam-queue is in the
# workspace's Cargo.lock (so the image's registry holds it) and, unlike crossbeam-channel, is not
# one of the crates cells already get from the prebuilt support crate; its one dependency,
# crossbeam-utils, is in the registry too, so cargo resolves it offline (parking_lot would not:
# it needs redox_syscall, which no Linux build downloads).
DEP_CELL = ':dep crossbeam-queue = "0.3"'
DEP_USE = """let q = std::sync::Arc::new(crossbeam_queue::ArrayQueue::new(4));
let q2 = q.clone();
std::thread::spawn(move || q2.push(6 * 7).unwrap()).join().unwrap();
println!("crossbeam-queue says {}", q.pop().unwrap());"""


def dep_cells() -> dict:
    """A kernel that runs a student's `:dep` cell (so evcxr runs the real cargo, as this user,
    with the image's CARGO_HOME), offline (CARGO_NET_OFFLINE), then a cell that uses the crate."""
    km = KernelManager(kernel_name=KERNEL)
    km.start_kernel(env={**os.environ, "CARGO_NET_OFFLINE": "true"})
    kc = km.client()
    kc.start_channels()
    out: dict = {}
    try:
        kc.wait_for_ready(timeout=120)
        for key, code in (("dep", DEP_CELL), ("use", DEP_USE)):
            texts: list[str] = []

            def hook(m: dict) -> None:
                if m["msg_type"] == "stream":
                    texts.append(m["content"].get("text", ""))
                elif m["msg_type"] == "error":
                    texts.append("\n".join([m["content"].get("evalue", ""), *m["content"].get("traceback", [])]))

            started = time.monotonic()
            reply = kc.execute_interactive(code, timeout=900, output_hook=hook)
            out[key] = {"status": reply["content"]["status"], "output": "".join(texts),
                        "seconds": round(time.monotonic() - started, 2)}
            if out[key]["status"] != "ok":
                break
    except Exception as e:
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return out


def run_notebook(name: str) -> dict:
    """Runs one lesson from the student's copy in $HOME (handed out as nbgitpuller would)."""
    shutil.copy(SRC_NOTEBOOKS / name, HOME / name)
    nb = nbformat.read(HOME / name, as_version=4)
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=300, startup_timeout=180, allow_errors=False,
                            resources={"metadata": {"path": str(HOME)}})
    started = time.monotonic()
    error = None
    try:
        client.execute()
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
    nbformat.write(nb, RESULTS / name)
    return {"seconds": round(time.monotonic() - started, 1), "error": error}


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    cmd = json.loads(os.environ["RC_IMAGE_CMD"])
    results = {"uid": os.getuid(), "python": sys.version.split()[0], "server": server_check(cmd)}
    results.update(two_kernels())
    results["dep"] = dep_cells()
    results["notebooks"] = {name: run_notebook(name) for name in sys.argv[1:]}
    (RESULTS / "results.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
