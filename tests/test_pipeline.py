"""A real `dvc repro` of the foundation stages in a temporary clone of the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from asap.repro.io import read_json, read_jsonl
from tests.dvc_repos import QUICK_S, STAGE_S

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    result = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=STAGE_S
    )
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def clone(repo_root, tmp_path_factory) -> Path:
    """A clone of its own (no stage run) for tests that edit its inputs."""
    target = tmp_path_factory.mktemp("clone") / "repo"
    _run(["git", "clone", "--quiet", str(repo_root), str(target)], repo_root)
    return target


def test_foundation_stages_reproduce_and_stay_cached(foundation_clone):
    """`foundation_clone` (conftest) ran `dvc repro data base_model` in a fresh clone."""
    clone = foundation_clone
    report = read_json(clone / "reports/data.json")
    assert report["train"]["kept"] == len(list(read_jsonl(clone / "data/train/cots.jsonl")))
    for name, entry in report["benchmarks"].items():
        assert entry["problems"] == entry["expected"], name
    assert (clone / "models/base/model.safetensors").stat().st_size > 400_000_000
    assert (clone / "models/base/chat_template.jinja").exists()

    status = _run(["dvc", "status", "data", "base_model"], clone)
    assert "up to date" in status.stdout
    again = _run(["dvc", "repro", "data", "base_model"], clone)
    assert "Running stage" not in again.stdout  # the time it takes: benchmarks/bench_noop_repro.py


def test_malformed_raw_line_stops_the_stage_with_file_and_line(clone):
    raw = (
        clone / "data/raw/codeforces_cots/codeforces_cots_solutions_py_decontaminated_sample.jsonl"
    )
    original = raw.read_bytes()
    try:
        raw.write_bytes(original + b'{"id": "broken"\n')
        env = dict(os.environ, DVC_NO_ANALYTICS="1")
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        result = subprocess.run(
            [sys.executable, "-m", "stages.data"],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=QUICK_S,
        )
        lines = original.count(b"\n") + 1
        assert result.returncode != 0
        assert f"{raw.relative_to(clone)}:{lines}: malformed JSON" in result.stderr
    finally:
        raw.write_bytes(original)
