#!/usr/bin/env bash
# The system packages the project needs, in one place: scripts/install.sh runs this first (so
# `make lab`, `make test`, `make slides` and the Binder image all check the same list), and
# .ci/run goes through `make test`.
#
#   scripts/system-deps.sh [lab|slides|test]      (default: lab)
#
#   lab     a C/C++ compiler (rustc links with cc; the zmq crate compiles its vendored libzmq),
#           make, Python's venv module, Rust's cargo, and OpenMPI with libclang (lesson
#           28-MessagePassingMPI builds its programs against rsmpi, whose bindgen needs libclang,
#           and runs them with mpiexec)
#   slides  lab + npm (scripts/web-assets.sh fetches reveal.js from the npm registry)
#   test    slides + Chromium (tests/test_slides.py renders every deck in it) + debootstrap
#           (tests/test_rootfs.py builds a Debian root filesystem to run binder/Dockerfile's steps)
#
# What is missing is installed with apt-get (Debian, Ubuntu) when this runs as root or sudo works
# without a password; otherwise it stops, before anything is built, with one line saying what to
# install. Rust is never installed here: it comes from rustup (https://rustup.rs).
set -euo pipefail

what="${1:-lab}"
case "$what" in
    lab|slides|test) ;;
    *) echo "system-deps.sh: unknown set '$what' (lab, slides or test)" >&2; exit 2 ;;
esac

# Debian package names of what is missing.
need=()
command -v cc >/dev/null && command -v c++ >/dev/null || need+=(gcc g++ libc6-dev)
command -v make >/dev/null || need+=(make)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
{ command -v mpiexec >/dev/null && command -v mpicc >/dev/null; } || need+=(openmpi-bin libopenmpi-dev)
compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null || compgen -G '/usr/lib/*/libclang.so*' >/dev/null \
    || need+=(libclang-dev)
if [ "$what" != lab ]; then
    command -v npm >/dev/null || need+=(npm)
fi
if [ "$what" = test ]; then
    command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
        || command -v google-chrome >/dev/null || need+=(chromium)
    command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
fi

if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo=(sudo)
    else
        sudo=(none)
    fi
    if ! command -v apt-get >/dev/null || [ "${sudo[*]}" = none ]; then
        echo "system-deps.sh: please install ${need[*]} (Debian/Ubuntu: sudo apt-get install ${need[*]}; other systems: their packages), then run this again" >&2
        exit 1
    fi
    echo "==> installing ${need[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"
fi

command -v cargo >/dev/null || {
    echo "system-deps.sh: please install Rust 1.95 or newer with rustup (https://rustup.rs), then run this again" >&2
    exit 1
}
