# Two entry points for a new user: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch; installed in the same pip command so nothing pulls CUDA wheels.
TORCH ?= torch==2.13.0
CORES ?= 8
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test install clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)" -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/snakemake --cores $(CORES) train_all

# The layers (import-linter contracts in pyproject.toml), then the tests.
test: install
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

clean:
	rm -rf results logs .snakemake benchmarks/prepare benchmarks/features benchmarks/train benchmarks/interpolate benchmarks/evaluate benchmarks/report
