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
	@echo "make fuzz    fuzz every target (FUZZ_SECONDS=20 each; nightly + cargo-fuzz)"
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
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(PY) -m pytest -q --durations=10 tests
	$(PY) -m pytest -q benches/python

# A short time-boxed pass of every fuzz target (the corpus and the regressions are also replayed
# on stable by `cargo test`, tests/corpus_replay.rs). libFuzzer needs a nightly toolchain; where
# there is none, the pass is skipped with a message.
.PHONY: fuzz-smoke
fuzz-smoke:
	@if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then \
	  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2; \
	  fuzz/run.sh $${FUZZ_SMOKE_SECONDS:-5}; \
	else echo "fuzz smoke pass skipped: no nightly toolchain"; fi

.PHONY: fuzz
fuzz:
	fuzz/run.sh $(or $(FUZZ_SECONDS),20)

.PHONY: test
test: lint-rust test-rust lint-python test-python fuzz-smoke

.PHONY: bench
bench: $(BUILD)
	cargo bench --locked --bench framing
	cargo bench --locked --bench bulk
	cargo bench --locked --bench noloss
	cargo bench --locked --bench intl
	$(PY) -m pytest benches/python --benchmark-enable --benchmark-json=bench-report.json

.PHONY: format
format: $(STAMP)
	cargo fmt --all
	ruff format .
	ruff check --fix .
