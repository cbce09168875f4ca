# The two Quick start commands. Everything installs into .venv from PyPI, so a fresh machine
# with Python 3.10+, a Rust toolchain and network access to PyPI/crates.io is enough.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test build venv bench

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Build tools and test dependencies (the package itself depends on numpy alone).
$(VENV)/.deps: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "maturin>=1.9.4,<2" numpy pytest hypothesis
	touch $@

venv: $(VENV)/.deps

build: $(VENV)/.deps
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release -q

# The demo's extras (ferrograd[examples]): scikit-learn's bundled digits, tqdm, matplotlib.
$(VENV)/.examples: $(VENV)/.deps
	$(BIN)/pip install -q scikit-learn tqdm matplotlib
	touch $@

demo: build $(VENV)/.examples
	$(BIN)/python -m ferrograd.examples.digits

test: $(VENV)/.examples
	cargo test --release
	$(MAKE) build
	$(BIN)/python -m pytest -q

bench: build
	$(BIN)/python bench/bench.py
