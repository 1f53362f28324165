# Two entry points for a fresh machine (see README):
#   make repro   install into .venv, then run the whole pipeline with `dvc repro`
#   make test    install into .venv, then run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Extra pip arguments for the torch wheel, e.g. TORCH_PIP_ARGS="--index-url <CPU wheel index>"
# on machines whose default index serves CUDA builds only.
TORCH_PIP_ARGS ?=

export PATH := $(abspath $(BIN)):$(PATH)
export DVC_NO_ANALYTICS := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup repro test lint clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH_PIP_ARGS) torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,serve]"
	touch $@

repro: $(STAMP)
	dvc repro
	dvc status

test: $(STAMP)
	pytest

lint: $(STAMP)
	ruff check asap stages tests benchmarks
	ruff format --check asap stages tests benchmarks

clean-venv:
	rm -rf $(VENV)
