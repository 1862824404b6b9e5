#!/usr/bin/env bash
# Builds, once, the Debian root filesystems that tests/test_rootfs.py runs binder/Dockerfile's
# steps in (no container engine runs on CI machines, so the image is reproduced with debootstrap,
# overlay mounts and chroot). Two cached layers, each a plain directory:
#
#   scripts/debian-rootfs.sh base DIR SUITE APT_COMMAND
#       DIR: `debootstrap --variant=minbase SUITE` (deb.debian.org), then Debian's python3 and
#       python3-venv with a virtualenv made *at* /usr/local, standing in for the Dockerfile's
#       FROM python:3.11.x-slim-bookworm (that image's Python is /usr/local/bin/python3, prefix
#       /usr/local, and pip may install into it; Debian's own python3 refuses pip, PEP 668),
#       then APT_COMMAND, the Dockerfile's apt-get RUN line, run as is with /bin/sh -c.
#   scripts/debian-rootfs.sh toolchain DIR TOOLCHAIN
#       DIR/opt/rust: the machine's own rustup toolchain TOOLCHAIN (e.g. 1.95.0), copied in
#       without its HTML docs, with rustup and its proxies (cargo, rustc, ...) in DIR/opt/rust/bin,
#       laid out as the Dockerfile's `RUSTUP_HOME=CARGO_HOME=/opt/rust` rustup install leaves it.
#       The Dockerfile downloads the toolchain with rustup; CI machines cannot, so it is copied.
#
# A layer is built in DIR.partial and renamed to DIR when complete: an interrupted build leaves
# no DIR behind and starts over next time. An existing DIR is left alone (the caller names DIR
# after a hash of what goes into it). Needs root (debootstrap, chroot, mounts) and debootstrap
# (scripts/system-deps.sh test installs it).
set -euo pipefail

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

kind="${1:?usage: debian-rootfs.sh base DIR SUITE APT_COMMAND | toolchain DIR TOOLCHAIN}"
dir="${2:?missing DIR}"
if [ -d "$dir" ]; then exit 0; fi
partial="$dir.partial"
rm -rf "$partial"
mkdir -p "$partial"

# Runs a command in the chroot in a private mount namespace: /proc, /dev and the machine's DNS
# set-up are mounted for it and vanish with the namespace, whatever happens.
in_chroot() {
    unshare --mount --pid --fork --kill-child bash -euc '
        root="$1"; shift
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        mount --bind /etc/resolv.conf "$root/etc/resolv.conf"
        exec chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"
    ' in_chroot "$partial" "$@"
}

case "$kind" in
    base)
        suite="${3:?missing SUITE}"
        apt_command="${4:?missing APT_COMMAND}"
        say "debootstrap $suite into $partial (about a minute)"
        debootstrap --variant=minbase "$suite" "$partial" http://deb.debian.org/debian
        touch "$partial/etc/resolv.conf"
        say "Python: Debian's python3 with a virtualenv at /usr/local (stands in for the python image)"
        in_chroot sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends python3 python3-venv \
            && python3 -m venv /usr/local && /usr/local/bin/python3 -m pip --version'
        say "the Dockerfile's apt-get step"
        in_chroot /bin/sh -c "$apt_command"
        in_chroot apt-get clean
        ;;
    toolchain)
        toolchain="${3:?missing TOOLCHAIN}"
        sysroot="$(rustc "+$toolchain" --print sysroot)"
        rustup="$(command -v rustup)"
        triple="$(rustc "+$toolchain" -vV | sed -n 's/^host: //p')"
        say "copying the toolchain $sysroot into $partial/opt/rust/toolchains/$toolchain-$triple"
        dest="$partial/opt/rust/toolchains/$toolchain-$triple"
        mkdir -p "$dest" "$partial/opt/rust/bin"
        tar -C "$(realpath "$sysroot")" --exclude=./share/doc -cf - . | tar -C "$dest" -xf -
        cp "$(realpath "$rustup")" "$partial/opt/rust/bin/rustup"
        for proxy in cargo rustc rustdoc rust-gdb rust-lldb cargo-fmt rustfmt cargo-clippy clippy-driver; do
            ln -s rustup "$partial/opt/rust/bin/$proxy"
        done
        printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\nauto_self_update = "disable"\n' \
            "$toolchain-$triple" > "$partial/opt/rust/settings.toml"
        ;;
    *) echo "debian-rootfs.sh: unknown layer '$kind' (base or toolchain)" >&2; exit 2 ;;
esac
mv "$partial" "$dir"
say "layer ready: $dir"
