"""The eval stage's choice of budgets, model folders and problem slices."""

from __future__ import annotations

from pathlib import Path

import pytest

from asap.io import DataError, write_jsonl
from stages.eval import budgets_for, load_problems, model_dir_for

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
