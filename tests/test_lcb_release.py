"""LiveCodeBench release files in the hub's format: private tests decoded without running any
pickled code, release slices, and the test sets named in the problems and reports."""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from pathlib import Path

import pytest

from asap.data import sources
from asap.data.benchmarks import normalise_benchmark
from asap.data.lcb_release import decode_private_tests
from asap.eval.grading import which_tests
from asap.repro.io import DataError, write_jsonl
from asap.repro.params import load_params
from tests.real_data import benchmark_problems

REPO = Path(__file__).resolve().parents[1]


def packed(obj: object) -> str:
    """The hub's encoding: base64 of zlib of a pickle."""
    return base64.b64encode(zlib.compress(pickle.dumps(obj))).decode()


def hub_row(problem: dict, private: list[dict]) -> dict:
    """A code_generation_lite row for a real problem of the committed slice."""
    return {
        "question_title": problem["task_id"],
        "question_content": problem["question"],
        "platform": "atcoder",
        "question_id": problem["task_id"],
        "contest_id": "c",
        "contest_date": problem["date"] + "T00:00:00",
        "starter_code": problem["starter_code"] or "",
        "difficulty": problem["difficulty"],
        "public_test_cases": json.dumps(
            [{**case, "testtype": "stdin"} for case in problem["tests"]["cases"]]
        ),
        "private_test_cases": packed(json.dumps(private)),
        "metadata": "{}",
    }


class Trap:
    """Unpickling this would call `Path.touch` on the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_private_tests_decode_from_the_hub_format() -> None:
    cases = [{"input": "1\n", "output": "2\n", "testtype": "stdin"}]
    assert decode_private_tests(packed(json.dumps(cases)), "row") == cases
    assert decode_private_tests(json.dumps(cases), "row") == cases  # some rows hold plain JSON
    assert decode_private_tests("", "row") == []


def test_unsafe_or_malformed_private_tests_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(DataError, match=r"row 7: .*unsafe or malformed pickle: refused global"):
        decode_private_tests(packed(Trap(marker)), "row 7")
    assert not marker.exists()  # nothing in the pickle ran
    with pytest.raises(DataError, match="not str"):
        decode_private_tests(packed([1, 2]), "row")
    with pytest.raises(DataError, match="not JSON"):
        decode_private_tests(packed("{broken"), "row")
    with pytest.raises(DataError, match="lacks string input/output"):
        decode_private_tests(packed(json.dumps([{"input": 1}])), "row")
    with pytest.raises(DataError, match="neither JSON nor base64/zlib"):
        decode_private_tests("not base64 at all!", "row")


def test_release_files_give_the_slices_with_public_and_private_tests(tmp_path: Path) -> None:
    real = [p for p in benchmark_problems("lcb_v1_v3") if p["test_type"] == "stdin"][:2]
    late = [p for p in benchmark_problems("lcb_v4_v5") if p["test_type"] == "stdin"][:1]
    private = [{"input": "999\n", "output": "x\n", "testtype": "stdin"}]
    write_jsonl(tmp_path / "test.jsonl", [hub_row(p, private) for p in real])
    write_jsonl(tmp_path / "test4.jsonl", [hub_row(p, private) for p in late])
    spec = {"root": str(tmp_path), "releases": {"v1": "test.jsonl", "v4": "test4.jsonl"}}
    source = sources.describe(spec)
    early = list(normalise_benchmark("lcb_v1_v3", sources.iter_rows(spec), source))
    later = list(normalise_benchmark("lcb_v4_v5", sources.iter_rows(spec), source))
    assert [p["task_id"] for p in early] == [p["task_id"] for p in real]
    assert [p["task_id"] for p in later] == [p["task_id"] for p in late]
    for got, want in zip(early, real, strict=True):
        assert got["release"] == "v1" and got["tests"]["sets"] == ["public", "private"]
        assert got["tests"]["cases"] == want["tests"]["cases"] + [
            {"input": "999\n", "output": "x\n"}
        ]
    assert which_tests(early) == "public+private"
    assert which_tests(real) == "public"  # the committed slice: public tests only
    assert which_tests(benchmark_problems("humaneval")[:3]) == "benchmark"


def test_bad_release_file_names_the_record(tmp_path: Path) -> None:
    problem = benchmark_problems("lcb_v1_v3")[0]
    row = dict(hub_row(problem, []), private_test_cases=packed(Trap(tmp_path / "ran")))
    write_jsonl(tmp_path / "test.jsonl", [row])
    spec = {"root": str(tmp_path), "releases": {"v1": "test.jsonl"}}
    with pytest.raises(DataError, match=rf"test\.jsonl record 1 \({problem['task_id']}\)"):
        list(sources.iter_rows(spec))
    with pytest.raises(DataError, match="releases"):
        list(sources.iter_rows({"root": str(tmp_path), "releases": {}}))


def test_paper_profile_loads_the_hub_release_files() -> None:
    benchmarks = load_params(REPO / "params.yaml")["paper"]["data"]["benchmarks"]
    assert benchmarks["lcb_v1_v3"]["hub"] == "livecodebench/code_generation_lite"
    assert benchmarks["lcb_v1_v3"]["releases"] == {
        "v1": "test.jsonl",
        "v2": "test2.jsonl",
        "v3": "test3.jsonl",
    }
    assert benchmarks["lcb_v4_v5"]["releases"] == {"v4": "test4.jsonl", "v5": "test5.jsonl"}
