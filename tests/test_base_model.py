"""Model folders: the SFT base as an alias of the scorer, or a second backbone of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from asap.eval.run import model_dir_for
from asap.model.base import ALIAS_FILE, build_base_model, resolve_model_dir
from asap.repro.io import DataError


def model_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    return path


def test_an_alias_resolves_to_its_target(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    model_folder(Path("models/base"))
    build_base_model({"kind": "alias", "target": "models/base"}, Path("models/sft_base"))
    assert [p.name for p in Path("models/sft_base").iterdir()] == [ALIAS_FILE]
    assert resolve_model_dir("models/sft_base") == Path("models/base")
    assert resolve_model_dir("models/base") == Path("models/base")
    params = {"base_model": "models/sft_base", "models_dir": "models"}
    assert model_dir_for(params, "zero_shot") == Path("models/base")
    assert model_dir_for(params, "asap") == Path("models/asap")


def test_a_broken_alias_is_named(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="not a model folder"):
        build_base_model({"kind": "alias", "target": "models/base"}, Path("models/sft_base"))
    assert not Path("models/sft_base").exists()
    model_folder(Path("models/base"))
    build_base_model({"kind": "alias", "target": "models/base"}, Path("models/sft_base"))
    with pytest.raises(DataError, match="not a model folder"):
        build_base_model({"kind": "alias", "target": "models/sft_base"}, Path("models/chain"))
    Path("models/chain").mkdir()
    (Path("models/chain") / ALIAS_FILE).write_text(json.dumps({"alias_of": "models/sft_base"}))
    with pytest.raises(DataError, match=r"models/chain/ALIAS\.json"):
        resolve_model_dir("models/chain")  # an alias of an alias is refused


def test_the_sft_base_stage_writes_the_alias(tmp_path: Path, repo_root: Path) -> None:
    model_folder(tmp_path / "models/base")
    section = {"sft_base_model": {"kind": "alias", "target": "models/base"}}
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump({"profile": "paper", "paper": section}), encoding="utf-8"
    )
    result = subprocess.run(
        [sys.executable, "-m", "stages.base_model", "--sft"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(repo_root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    alias = json.loads((tmp_path / "models/sft_base" / ALIAS_FILE).read_text())
    assert alias == {"alias_of": "models/base"}
