# Two entry points for a fresh machine (see README):
#   make repro   install into .venv, then run the whole pipeline with `dvc repro`
#   make test    install into .venv, then run the test suite (make test-e2e: the miniature
#                paper run and the sharing tests; CI runs both)
# and one for GPU machines (the paper profile; see README "GPU machines"):
#   make setup-gpu   install into .venv-gpu: CUDA torch, vLLM, Unsloth (constraints-gpu.txt)
PYTHON ?= python3
# pip itself is pinned: its resolver decides what gets installed, and older releases
# download every wheel in full during `--dry-run` (CUDA builds included).
PIP_VERSION := 26.3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
GPU_VENV := .venv-gpu
GPU_STAMP := $(GPU_VENV)/.installed
GPU_EXTRAS := dev,serve,gpu
# What `make setup-gpu` installs; `make resolve-gpu` (run by tests/test_gpu_setup.py in CI)
# resolves exactly this with pip's resolver, reading wheel metadata only.
GPU_REQUIREMENTS := -c constraints-gpu.txt -e ".[$(GPU_EXTRAS)]"
RESOLVE_FLAGS := --dry-run --ignore-installed --use-feature=fast-deps --quiet
# The pip that resolves (a pip of PIP_VERSION) and where the resolution report goes.
RESOLVER ?= $(BIN)/python -m pip
GPU_REPORT ?= gpu-resolution.json
# Extra pip arguments for the torch wheel, e.g. TORCH_PIP_ARGS="--index-url <CPU wheel index>"
# on machines whose default index serves CUDA builds only.
TORCH_PIP_ARGS ?=

export PATH := $(abspath $(BIN)):$(PATH)
export DVC_NO_ANALYTICS := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup repro test test-e2e lint clean-venv setup-gpu resolve-gpu constraints-gpu

setup: $(STAMP)

# torch first (its CPU build, 2.13.0 as pinned in constraints.txt), then everything else.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/pip install --quiet $(TORCH_PIP_ARGS) -c constraints.txt torch
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,serve,remote,remote-tests]"
	touch $@

# A second environment for GPU machines: torch 2.14.0 (the CUDA build on the package index,
# the one vLLM 0.33 is built against), vLLM and Unsloth, every version from constraints-gpu.txt.
setup-gpu: $(GPU_STAMP)

$(GPU_STAMP): pyproject.toml constraints-gpu.txt
	test -x $(GPU_VENV)/bin/python || $(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/python -m pip install --quiet pip==$(PIP_VERSION)
	$(GPU_VENV)/bin/pip install --quiet $(GPU_REQUIREMENTS)
	touch $@

# pip's resolution of the GPU set-up, written to GPU_REPORT; installs and downloads nothing.
resolve-gpu:
	$(RESOLVER) install $(RESOLVE_FLAGS) --report $(GPU_REPORT) $(GPU_REQUIREMENTS)

# Regenerate constraints-gpu.txt from the pyproject ranges alone (after a deliberate upgrade).
constraints-gpu:
	$(RESOLVER) install $(RESOLVE_FLAGS) --report - -e ".[$(GPU_EXTRAS)]" \
	  | $(BIN)/python -m asap.repro.pip_report - > constraints-gpu.txt.new
	mv constraints-gpu.txt.new constraints-gpu.txt

repro: $(STAMP)
	dvc repro
	dvc status

# The default test run: every test but the miniature paper run and the remote-sharing tests
# built on it, in TEST_WORKERS parallel workers. Tests are spread one by one, so that the
# longest files do not each hold a worker to the end; tests that share an expensive module
# fixture carry one `xdist_group` mark and stay on one worker.
# test-e2e runs those (one long chain on one worker); CI (.ci/run) runs both.
TEST_WORKERS ?= 2

test: $(STAMP)
	pytest -n $(TEST_WORKERS) --dist loadgroup -m "not paper_run"

test-e2e: $(STAMP)
	pytest -m paper_run

lint: $(STAMP)
	ruff check asap stages tests benchmarks
	ruff format --check asap stages tests benchmarks

clean-venv:
	rm -rf $(VENV)
