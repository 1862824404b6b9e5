"""binder/Dockerfile follows mybinder.org's rules and builds with scripts/install.sh.

No container engine runs in CI, so the image cannot be built here; instead this test reads the
Dockerfile and checks the rules from mybinder.org's user guide (docs/tutorials/dockerfile.md) and
the JupyterHub layout (everything outside $HOME under /opt), and that the install script it calls
accepts exactly the options it passes. `make test` runs scripts/install.sh itself, so the build
steps are exercised on every CI run; the last test here also runs its --no-venv branch (the one
the image uses) against the project's virtualenv.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "binder" / "Dockerfile"
INSTALL = REPO / "scripts" / "install.sh"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def values(kind: str) -> list[str]:
    return [args for word, args in instructions() if word == kind]


def declared() -> dict[str, str]:
    """ARG defaults and ENV values (KEY=VALUE forms)."""
    found = {}
    for word, args in instructions():
        if word in ("ARG", "ENV"):
            for item in shlex.split(args):
                key, eq, value = item.partition("=")
                if eq:
                    # Expanded against what was declared before, as Docker does.
                    found[key] = _substitute(value, found)
    return found


def _substitute(s: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), m.group(0)), s)


def expand(s: str) -> str:
    return _substitute(s, declared())


def test_base_image_is_pinned():
    froms = values("FROM")
    assert len(froms) == 1, "one stage: repo2docker runs the final image as is"
    image = froms[0].split()[0]
    m = re.fullmatch(r"([\w./-]+):([\w.-]+)(@sha256:[0-9a-f]{64})?", image)
    assert m, f"FROM {image}: needs an explicit tag"
    assert m.group(2) != "latest" and re.search(r"\d+\.\d+\.\d+", m.group(2)), "pin an exact release tag"


def test_user_with_uid_1000_and_a_home():
    env = declared()
    assert env.get("NB_UID") == "1000"
    assert expand("${HOME}") == f"/home/{env['NB_USER']}"
    creates = [r for r in values("RUN") if re.search(r"\b(useradd|adduser)\b", r)]
    assert creates and "${NB_UID}" in creates[0] and "${NB_USER}" in creates[0]
    assert values("USER")[-1] in ("${NB_USER}", env["NB_USER"]), "the image must not run as root"


def test_no_entrypoint():
    entry = values("ENTRYPOINT")
    assert entry in ([], ["[]"]), "an ENTRYPOINT must exec the server command; we need none"


def test_repository_copied_into_home_and_owned_by_the_user():
    assert any(re.fullmatch(r"\.\s+\$\{HOME\}", c) for c in values("COPY")), "COPY . ${HOME}"
    chowns = [r for r in values("RUN") if "chown -R ${NB_UID}" in r]
    assert chowns and "${HOME}" in chowns[0]


def test_everything_outside_home_lives_under_opt():
    env = declared()
    for key in ("RUSTUP_HOME", "CARGO_HOME", "RUST_CONCURRENCY_CACHE"):
        assert env[key].startswith("/opt/"), f"{key}={env[key]}: a JupyterHub home volume would hide it"
    assert "/opt/rust/bin" in env["PATH"].split(":")
    for key, value in env.items():
        assert key == "HOME" or "/home/" not in value, f"{key}={value} points into $HOME"
    # The student must be able to write the cache and cargo's registry (cargo locks them).
    chown = next(r for r in values("RUN") if "chown -R ${NB_UID}" in r)
    assert "/opt/rust " in chown + " " and "/opt/rust-concurrency" in chown


def test_toolchain_matches_the_workspace():
    wanted = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["rust-version"]
    toolchain = declared()["RUST_TOOLCHAIN"]
    assert toolchain == wanted or toolchain.startswith(wanted + "."), f"{toolchain} vs rust-version {wanted}"
    rustup = next(r for r in values("RUN") if "sh.rustup.rs" in r)
    assert "--default-toolchain ${RUST_TOOLCHAIN}" in rustup and "rust-src" in rustup


def test_jupyterlab_is_installed_by_the_install_script():
    lab = (REPO / "requirements" / "lab.txt").read_text()
    assert re.search(r"^jupyterlab\b", lab, re.MULTILINE)
    assert "requirements/lab.txt" in INSTALL.read_text()


def test_build_calls_install_sh_with_options_it_accepts():
    calls = [r for r in values("RUN") if "scripts/install.sh" in r]
    assert len(calls) == 1, "the image is built by scripts/install.sh, like `make lab`"
    opts = [w for w in shlex.split(calls[0].split("scripts/install.sh", 1)[1].split("&&")[0]) if w.startswith("-")]
    assert "--no-venv" in opts, "the image's own Python gets the packages and the kernelspec"
    accepted = set(re.findall(r"^\s*(--[\w-]+)\)", INSTALL.read_text(), re.MULTILINE))
    assert set(opts) <= accepted, f"install.sh does not accept {set(opts) - accepted}"
    assert "--no-warm-up" not in opts, "the image must carry a warm compile cache"
    # The kernelspec goes to the Python prefix, outside $HOME.
    assert "install --sys-prefix" in INSTALL.read_text().replace('install_args=(', "")


def test_binder_folder_holds_only_the_dockerfile_config():
    ignored = {"environment.yml", "requirements.txt", "apt.txt", "postBuild", "start", "runtime.txt",
               "Pipfile", "setup.py", "install.R", "Project.toml", "default.nix", "pyproject.toml"}
    present = {p.name for p in (REPO / "binder").iterdir()}
    assert not present & ignored, f"repo2docker ignores {present & ignored} beside a Dockerfile"
    assert not (REPO / ".binder").exists(), "binder/ and .binder/ together make repo2docker fail"


def test_install_sh_without_venv_uses_the_python_on_path():
    # The image's branch (--no-venv): "python3" on PATH is the target Python. Here that is the
    # project's virtualenv (its packages are installed, so pip is skipped by the stamp; the
    # kernel is built, so cargo only checks it). The kernelspec must land in that prefix.
    venv_bin = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{venv_bin}:{os.environ['PATH']}")
    run = subprocess.run(["bash", str(INSTALL), "--no-venv", "--no-warm-up"], env=env,
                         capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    spec = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "rust-concurrency" / "kernel.json"
    assert spec.exists(), f"no kernelspec at {spec}:\n{run.stdout[-2000:]}"
