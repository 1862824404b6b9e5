# The two commands:
#   make lab    set everything up (virtualenv, kernel, kernelspec, warm compile cache) and open
#               JupyterLab on the lessons
#   make test   the same setup, then every test: cargo's (with doctests) and the Python ones
#               (protocol, conformance, processes, every notebook end to end, slides)
# Also: make slides | check-notebooks | uninstall | clean | bench   (make help)
#
# scripts/install.sh does the setup; binder/Dockerfile calls the same script. It starts with
# scripts/system-deps.sh, which installs the system packages the target needs (compiler, npm,
# Chromium) with apt-get where it can, else stops with one line saying what to install.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
JUPYTER := $(VENV)/bin/jupyter
# Lessons run unattended (input() takes its default) with pauses shortened, for tests and decks.
UNATTENDED := MULTIPROC_UNATTENDED=1 MULTIPROC_TIME_SCALE=0.01
# The kernel binary the Python tests drive (tests/conftest.py reads RC_KERNEL_BIN).
export RC_KERNEL_BIN ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/release/rust-concurrency-kernel

.PHONY: help install lab test test-rootfs cargo-test pytest check-notebooks slides uninstall clean bench

help:
	@echo "make lab              install everything and open JupyterLab on notebooks/"
	@echo "make test             install everything and run every test"
	@echo "make test-rootfs      the Binder image's steps in a Debian root filesystem (root; slow cold)"
	@echo "make slides           execute every notebook and export reveal.js decks into slides/"
	@echo "make check-notebooks  run every notebook unattended in the kernel and check its output"
	@echo "make uninstall        remove the kernelspec and the compile cache"
	@echo "make clean            remove build products, decks and test artifacts (keeps .venv)"
	@echo "make bench            run the benchmarks and write BENCHMARKS.md"

# The system packages install.sh checks for: `lab` (compiler, make, venv, cargo), `slides` (+ npm),
# `test` (+ npm and Chromium). A target-specific value also holds for its `install` prerequisite.
DEPS = lab
test: DEPS = test
slides: DEPS = slides

install:
	scripts/install.sh --venv $(VENV) --deps $(DEPS)

# JupyterLab refuses to start as root unless told --allow-root; as root (a plain container) it
# gets that flag, since there is no other user to run as.
lab: install
	exec $(JUPYTER) lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

# `--release` reuses the release build that install.sh just made (the kernel's dependencies
# take minutes to compile; a second, debug build of them would double that).
cargo-test:
	cargo test --workspace --release --locked

# pytest's exit status 5 ("no tests collected") fails the target like any other failure.
pytest:
	$(PY) -m pytest tests -v

test: install
	$(MAKE) cargo-test
	$(MAKE) pytest

check-notebooks: install
	$(PY) -m pytest tests/test_notebooks.py -v

slides: install
	scripts/web-assets.sh slides
	$(UNATTENDED) $(JUPYTER) nbconvert --config scripts/nbconvert_slides.py --to slides --execute \
	    --output-dir slides notebooks/*.ipynb
	@echo "decks in slides/: open slides/<lesson>.slides.html; add ?print-pdf to print (README.md)"

uninstall:
	if [ -x $(JUPYTER) ]; then $(JUPYTER) kernelspec remove -y rust-concurrency || true; fi
	if command -v jupyter >/dev/null; then jupyter kernelspec remove -y rust-concurrency 2>/dev/null || true; fi
	rm -rf "$${RUST_CONCURRENCY_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/rust-concurrency}"

clean:
	cargo clean
	rm -rf slides build tests/artifacts

bench: install
	@if [ -f benchmarks/run.py ]; then $(PY) benchmarks/run.py; \
	else echo "make bench: benchmarks/run.py is missing, nothing to run" >&2; exit 1; fi

# The Binder/JupyterHub image reproduced in a Debian root filesystem (tests/test_rootfs.py): needs
# root and debootstrap. `make test` runs it only in CI (CI=true, as .ci/run sets) and skips it
# elsewhere; this target runs it alone. Its layers are cached in build/rootfs-cache (make clean
# removes them); README.md ("What CI verifies of the image") gives its cold and warm times.
test-rootfs: install
	RC_ROOTFS_TEST=1 $(PY) -m pytest tests/test_rootfs.py -v
