#!/usr/bin/env bash
# Installs everything a lesson needs, idempotently. Used by `make lab`, `make test` (through
# the Makefile) and binder/Dockerfile, so CI exercises the same steps as the Binder image.
#
#   scripts/install.sh [--venv DIR | --no-venv] [--no-warm-up] [--prune] [--deps lab|slides|test]
#
# 0. System packages: scripts/system-deps.sh SET (default lab) installs what is missing with
#    apt-get, or stops with one line saying what to install (`make test` asks for the test set).
# 1. Python: creates the virtualenv DIR (default: <repo>/.venv) if missing and installs
#    requirements/lab.txt and tests/requirements.txt into it; with --no-venv installs them into
#    the `python3` found on PATH instead (the Binder image's system Python).
# 2. Builds the kernel: `cargo build --release --locked -p rust-concurrency-kernel`.
# 3. Installs the kernelspec with `--sys-prefix` of that Python (so it lands in the virtualenv or
#    the image's prefix, never in $HOME) and warms the compile cache (skipped with
#    --no-warm-up). The cache root is $RUST_CONCURRENCY_CACHE when set, else the kernel's
#    default under $XDG_CACHE_HOME or ~/.cache.
# 4. --prune deletes the intermediate build artifacts under target/release (gigabytes) and
#    keeps only the kernel binary: for images, not for development trees.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
use_venv=1
warm_up=1
prune=0
deps=lab

while [ $# -gt 0 ]; do
    case "$1" in
        --venv) venv="$(realpath -m "$2")"; shift 2 ;;
        --no-venv) use_venv=0; shift ;;
        --no-warm-up) warm_up=0; shift ;;
        --prune) prune=1; shift ;;
        --deps) deps="$2"; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# ---------------------------------------------------------------- 0. system packages
"$repo/scripts/system-deps.sh" "$deps"

# ---------------------------------------------------------------- 1. Python
requirements=("$repo/requirements/lab.txt" "$repo/tests/requirements.txt")
if [ "$use_venv" = 1 ]; then
    if [ ! -x "$venv/bin/python" ]; then
        say "creating the virtualenv $venv"
        python3 -m venv "$venv"
    fi
    python="$venv/bin/python"
else
    python="$(command -v python3)"
fi
pybin="$(dirname "$python")"
prefix="$("$python" -c 'import sys; print(sys.prefix)')"

# pip is idempotent but takes seconds even when nothing changes; a stamp holding the
# requirement files' checksum skips it when they did not change.
stamp="$prefix/.rust-concurrency-requirements"
want="$(cat "${requirements[@]}" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing Python packages into $prefix"
    req_args=()
    for r in "${requirements[@]}"; do req_args+=(-r "$r"); done
    "$python" -m pip install --disable-pip-version-check --no-cache-dir "${req_args[@]}"
    echo "$want" > "$stamp"
else
    say "Python packages up to date in $prefix"
fi

# ---------------------------------------------------------------- 2. the kernel
say "building the kernel (release)"
cargo build --release --locked -p rust-concurrency-kernel --manifest-path "$repo/Cargo.toml"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
kernel="$(realpath "$target_dir/release/rust-concurrency-kernel")"

# ---------------------------------------------------------------- 3. kernelspec + warm cache
# The kernel's `--sys-prefix` asks the `python3` first on PATH for sys.prefix, so the chosen
# Python's bin directory goes first.
install_args=(install --sys-prefix --support-crate "$repo/support-crate")
if [ "$warm_up" = 0 ]; then install_args+=(--no-warm-up); fi
say "installing the kernelspec into $prefix/share/jupyter/kernels$([ "$warm_up" = 1 ] && echo ' and warming the compile cache')"
PATH="$pybin:$PATH" "$kernel" "${install_args[@]}"
PATH="$pybin:$PATH" "$pybin/jupyter" kernelspec list

# ---------------------------------------------------------------- 4. prune
if [ "$prune" = 1 ]; then
    say "pruning intermediate build artifacts"
    find "$target_dir/release" -mindepth 1 -maxdepth 1 ! -name rust-concurrency-kernel -exec rm -rf {} +
    rm -rf "$target_dir/debug"
    # The support crate's build folders, target-debug0 and the like (the installed copy is under
    # <prefix>/share/rust-concurrency).
    if [ -n "${RUST_CONCURRENCY_CACHE:-}" ]; then rm -rf "$RUST_CONCURRENCY_CACHE"/prebuilt/target*; fi
fi
say "done: kernel $kernel"
