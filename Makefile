# hanport developer entry points. `make demo` and `make test` do all set-up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
PIP     := $(VENV)/bin/pip
STAMP   := $(VENV)/.deps-stamp
BUILD   := $(VENV)/.build-stamp
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)
PY_SRC  := $(shell find python -name '*.py' -o -name '*.pyi' 2>/dev/null)
RS_SRC  := $(shell find rust -name '*.rs' 2>/dev/null) Cargo.toml Cargo.lock pyproject.toml

.PHONY: help
help:
	@echo "make demo    build, then decode the bundled real captures"
	@echo "make test    every check CI runs: fmt, clippy, cargo test, ruff, mypy+stubtest, pytest, bench smoke"
	@echo "make bench   full benchmarks (criterion + pytest-benchmark)"
	@echo "make build   (re)build the extension into .venv"

$(STAMP): requirements-dev.txt
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

$(BUILD): $(STAMP) $(RS_SRC)
	maturin develop --release --locked --quiet
	touch $@

.PHONY: venv build
venv: $(STAMP)
build: $(BUILD)

.PHONY: demo
demo: $(BUILD)
	$(PY) -m hanport demo

.PHONY: lint-rust
lint-rust: $(STAMP)
	cargo fmt --all -- --check
	cargo clippy --locked --all-targets --features python -- -D warnings

.PHONY: test-rust
test-rust:
	cargo test --locked
	cargo rustc --locked --lib --no-default-features --crate-type rlib --quiet
	cargo test --locked --benches --quiet

.PHONY: lint-python
lint-python: $(BUILD)
	ruff format --check .
	ruff check .
	mypy
	$(PY) -m mypy.stubtest hanport._core --allowlist .stubtest-allowlist

.PHONY: test-python
test-python: $(BUILD)
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(PY) -m pytest -q tests
	$(PY) -m pytest -q benches/python

.PHONY: test
test: lint-rust test-rust lint-python test-python

.PHONY: bench
bench: $(BUILD)
	cargo bench --locked --bench framing
	cargo bench --locked --bench bulk
	cargo bench --locked --bench noloss
	$(PY) -m pytest benches/python --benchmark-enable --benchmark-json=bench-report.json

.PHONY: format
format: $(STAMP)
	cargo fmt --all
	ruff format .
	ruff check --fix .
