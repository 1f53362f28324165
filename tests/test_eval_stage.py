"""The eval stage: budgets, model folders, problem slices, and a real run of one cell."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from asap.eval.run import budgets_for, load_problems, model_dir_for
from asap.repro.io import DataError, read_json, read_jsonl, write_jsonl
from asap.repro.verify import dvc_md5
from tests.dvc_repos import STAGE_S
from tests.real_data import benchmark_problems

PARAMS = {
    "budgets": {"humaneval": 6144, "leetcode": 10240},
    "sweep": {"methods": ["zero_shot", "asap"], "budgets": {"humaneval": [1024, 6144]}},
    "base_model": "models/base",
    "models_dir": "models",
}


def test_budgets_main_and_sweep() -> None:
    assert budgets_for(PARAMS, "asap", "humaneval") == [1024, 6144]
    assert budgets_for(PARAMS, "original", "humaneval") == [6144]
    assert budgets_for(PARAMS, "zero_shot", "leetcode") == [10240]


def test_model_folders() -> None:
    assert model_dir_for(PARAMS, "zero_shot") == Path("models/base")
    assert model_dir_for(PARAMS, "spirit") == Path("models/spirit")
    with pytest.raises(KeyError):
        model_dir_for(PARAMS, "nonsense")


def test_problem_slice_keeps_task_order(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "humaneval.jsonl", ({"task_id": f"t/{i}"} for i in range(5)))
    params = {"benchmarks_dir": str(tmp_path), "problems": 2}
    assert [p["task_id"] for p in load_problems(params, "humaneval")] == ["t/0", "t/1"]
    assert len(load_problems({**params, "problems": None}, "humaneval")) == 5
    (tmp_path / "leetcode.jsonl").write_text('{"task_id": "x"}\n{broken\n')
    with pytest.raises(DataError, match=r"leetcode\.jsonl:2"):
        load_problems(params, "leetcode")


@pytest.mark.slow
def test_stage_evaluates_every_benchmark_with_provenance_and_reuses_generations(
    repo_root: Path, base_model_dir: Path, tmp_path: Path
) -> None:
    params = yaml.safe_load((repo_root / "params.yaml").read_text(encoding="utf-8"))
    section = params["embedded"]["eval"]
    section.update(base_model=str(base_model_dir), problems=2, sweep={})
    section["budgets"].update(humaneval=16, leetcode=16)
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump(
            {"profile": "embedded", "benchmarks": ["humaneval", "leetcode"],
             "embedded": {"eval": section}}
        ),
        encoding="utf-8",
    )  # fmt: skip
    for benchmark in ("humaneval", "leetcode"):
        write_jsonl(tmp_path / f"data/benchmarks/{benchmark}.jsonl", benchmark_problems(benchmark))
    shutil.copytree(repo_root / "configs/prompts", tmp_path / "configs/prompts")
    env = {**os.environ, "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"}

    def run_stage() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "stages.eval", "--method", "zero_shot"],
            cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
            timeout=STAGE_S,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    first = run_stage()
    assert "eval zero_shot humaneval 16: batch 1/1" in first
    assert "eval zero_shot leetcode 16: batch 1/1" in first
    cell = tmp_path / "data/eval/zero_shot/humaneval/16"
    results = list(read_jsonl(cell / "results.jsonl"))
    assert [r["task_id"] for r in results] == ["HumanEval/0", "HumanEval/1"]
    assert all(r["tokens"] <= 16 and r["statuses"] for r in results)
    summary = read_json(tmp_path / "reports/eval/zero_shot/humaneval/16.json")
    assert summary["n"] == 2 and summary["budget"] == 16
    assert summary["tests_used"] == "benchmark" and summary["invalid"] == {}
    leetcode = read_json(tmp_path / "reports/eval/zero_shot/leetcode/16.json")
    assert leetcode["n"] == 2 and leetcode["benchmark"] == "leetcode"
    origin = summary["provenance"]
    assert origin == leetcode["provenance"]  # one stage, one model load
    assert origin["stage"] == "eval@zero_shot" and origin["profile"] == "embedded"
    for benchmark in ("humaneval", "leetcode"):
        path = f"data/benchmarks/{benchmark}.jsonl"
        assert origin["inputs"][path] == dvc_md5(tmp_path / path)
    assert origin["inputs"][base_model_dir.as_posix()].endswith(".dir")

    generations = (cell / "generations.jsonl").read_bytes()
    assert "batch" not in run_stage()  # every generation comes from the cache
    assert (cell / "generations.jsonl").read_bytes() == generations


def test_stage_refuses_an_unknown_benchmark_in_params(tmp_path: Path, repo_root: Path) -> None:
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump({"profile": "p", "benchmarks": ["humaneval", "mbpp"], "p": {"eval": {}}}),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "stages.eval", "--method", "zero_shot"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(repo_root)},
        capture_output=True, text=True, check=False, timeout=STAGE_S,
    )  # fmt: skip
    assert done.returncode != 0 and "unknown ['mbpp']" in done.stderr
