"""Benchmark normalisation on the real benchmark files."""

from __future__ import annotations

import pytest

from asap.data import sources
from asap.data.benchmarks import BENCHMARKS, normalise_benchmark
from asap.repro.io import DataError
from asap.repro.params import load_params

FIELDS = {
    "task_id",
    "benchmark",
    "source",
    "question",
    "description",
    "entry_point",
    "starter_code",
    "setup_code",
    "reference",
    "test_type",
    "tests",
    "date",
    "release",
    "difficulty",
}


@pytest.fixture(scope="module")
def problems(repo_root):
    specs = load_params(repo_root / "params.yaml")["embedded"]["data"]["benchmarks"]
    out = {}
    for name, spec in specs.items():
        spec = {"path": str(repo_root / spec["path"])}
        out[name] = list(normalise_benchmark(name, sources.iter_rows(spec), "test"))
    return out


def test_every_benchmark_has_its_paper_size(problems):
    assert set(problems) == set(BENCHMARKS)
    for name, items in problems.items():
        assert len(items) == BENCHMARKS[name].size, name
        assert len({p["task_id"] for p in items}) == len(items)
        for problem in items:
            assert set(problem) == FIELDS


def test_livecodebench_slices_follow_release_files(problems):
    assert {p["release"] for p in problems["lcb_v1_v3"]} == {"v1", "v2", "v3"}
    assert {p["release"] for p in problems["lcb_v4_v5"]} == {"v4", "v5"}
    functional = [p for p in problems["lcb_v1_v3"] if p["test_type"] == "functional"]
    stdin = [p for p in problems["lcb_v1_v3"] if p["test_type"] == "stdin"]
    assert len(functional) == 181 + 54 + 48 and len(stdin) == 219 + 57 + 53
    for problem in functional:
        assert f"def {problem['tests']['func_name']}(" in problem["starter_code"]
    untested = [p["task_id"] for p in problems["lcb_v1_v3"] if not p["tests"]["cases"]]
    assert untested == ["abc350_c"]  # documented upstream gap: no public tests


def test_reference_solutions_and_tests_are_carried(problems):
    he = problems["humaneval"][0]
    assert he["task_id"] == "HumanEval/0" and "def check(candidate)" in he["tests"]["check"]
    assert he["reference"].startswith(he["question"])
    plus = problems["humanevalplus"][0]["tests"]
    assert plus["base_input"] and plus["plus_input"] and plus["atol"] == 0.0
    leet = problems["leetcode"][0]
    assert (
        leet["entry_point"].startswith("Solution().") and "from typing import" in leet["setup_code"]
    )


def test_bad_row_names_the_record():
    with pytest.raises(DataError, match="humaneval record HumanEval/9: KeyError"):
        list(normalise_benchmark("humaneval", [{"task_id": "HumanEval/9"}], "x.jsonl"))
    with pytest.raises(DataError, match="unknown benchmark"):
        list(normalise_benchmark("mbpp", [], "x"))
