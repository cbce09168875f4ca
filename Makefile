# The two Quick start commands. Everything installs into .venv from PyPI, so a fresh machine
# with Python 3.11+, a Rust toolchain and network access to PyPI/crates.io is enough.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint build venv bench fuzz

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Build tools and test dependencies (the package itself depends on numpy alone).
$(VENV)/.deps: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "maturin>=1.9.4,<2" numpy pytest hypothesis "ruff>=0.8"
	# ferrograd[mpi], for the multi-process tests (MPICH's launcher binds the loopback interface).
	$(BIN)/pip install -q mpich "mpi4py>=4"
	# ferrograd[onnx] and ONNX Runtime, which the export tests check the written models with.
	$(BIN)/pip install -q "onnx>=1.16" "onnxruntime>=1.18"
	touch $@

venv: $(VENV)/.deps

build: $(VENV)/.deps
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release -q

# The demo's extras (ferrograd[examples]): scikit-learn's bundled digits, tqdm, matplotlib.
$(VENV)/.examples: $(VENV)/.deps
	$(BIN)/pip install -q scikit-learn tqdm matplotlib
	touch $@

demo: build $(VENV)/.examples
	$(BIN)/python -m ferrograd.examples.digits --onnx

test: $(VENV)/.examples lint
	cargo test --release
	$(MAKE) build
	$(BIN)/python -m pytest -q

# Linters are part of the build: clippy on every target (with and without the binding layer) and
# ruff on the Python, both with warnings as errors.
lint: $(VENV)/.deps
	cargo clippy --release --all-targets -- -D warnings
	cargo clippy --release --all-targets --features python,buffer-protocol -- -D warnings
	$(BIN)/ruff check python tests bench examples docs tools

# The differential tests against PyTorch, run long: thousands of examples per test (profiles in
# tests/differential/conftest.py). TORCH_PY is a python that can import torch, numpy and
# hypothesis; ferrograd comes from this checkout's build: make fuzz TORCH_PY=/path/venv/bin/python
TORCH_PY ?= $(BIN)/python
fuzz: build
	FERROGRAD_FUZZ=1 PYTHONPATH=python $(TORCH_PY) -m pytest -q -p no:cacheprovider tests/differential

bench: build
	$(BIN)/python bench/bench.py
