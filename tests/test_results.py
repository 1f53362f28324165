"""The tidy results frames: one row per evaluated problem, per-cell numbers by groupby."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from asap.report import results
from asap.repro.io import DataError, read_json, write_json
from tests.eval_fixtures import rows_for, write_cell


@pytest.fixture
def cells(tmp_path: Path) -> Path:
    write_cell(tmp_path, "asap", "humaneval", 64, rows_for(6, 2, 100, 1.0))
    write_cell(tmp_path, "asap", "humaneval", 32, rows_for(6, 3, 50, 0.5))
    write_cell(tmp_path, "original", "leetcode", 64, rows_for(4, 2, 300, 2.0, seed=1))
    report = tmp_path / "reports/eval/asap/humaneval/64.json"
    write_json(
        report,
        {
            **read_json(report),
            "provenance": {
                "inputs": {
                    "data/benchmarks/humaneval.jsonl": "d" * 32,
                    "data/benchmarks/leetcode.jsonl": "e" * 32,
                    "models/asap": "m" * 32 + ".dir",
                }
            },
        },
    )
    return tmp_path


def frame_of(root: Path) -> pd.DataFrame:
    return results.results_frame(root / "data/eval", root / "reports/eval")


def test_one_row_per_problem_with_status_and_the_cells_hashes(cells: Path) -> None:
    frame = frame_of(cells)
    assert list(frame.columns) == results.RESULT_COLUMNS
    assert len(frame) == 6 + 6 + 4
    cell = frame[(frame.method == "asap") & (frame.budget == 64)]
    assert cell.task_id.tolist() == [f"task/{i}" for i in range(6)]
    assert cell.status.tolist() == ["passed", "wrong_answer"] * 3
    assert set(cell.model) == {"models/asap"} and set(cell.model_md5) == {"m" * 32 + ".dir"}
    assert set(cell.data_md5) == {"d" * 32}  # the cell's own benchmark, not the stage's others
    other = frame[frame.method == "original"]
    assert set(other.model_md5) == {""}  # a report without provenance: unknown, not invented


def test_summaries_equal_every_cells_metrics_json(cells: Path) -> None:
    per_cell = results.summaries(frame_of(cells))
    for (method, benchmark, budget), row in per_cell.iterrows():
        report = read_json(cells / f"reports/eval/{method}/{benchmark}/{budget}.json")
        summary = results.summary(row)
        assert summary.n == report["n"]
        assert summary.passed == report["passed"]
        for key in ("pass_at_1", "avg_tokens", "avg_latency_s"):
            assert getattr(summary, key) == pytest.approx(report[key], abs=1e-9), key
    assert ("spirit", "humaneval", 64) not in per_cell.index


def test_the_readme_example_recomputes_a_table_1_cell_from_the_csv(
    cells: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**One results table.**") :]
    example = section[section.index("```python\n") + 10 : section.index("\n```\n")]
    results.write_csv(frame_of(cells), cells / "reports/results.csv")
    monkeypatch.chdir(cells)
    exec(compile(example, "README.md", "exec"), {})
    printed = dict(line.split() for line in capsys.readouterr().out.splitlines()[:3])
    report = read_json(cells / "reports/eval/asap/humaneval/64.json")
    assert float(printed["acc"]) == pytest.approx(report["pass_at_1"])
    assert float(printed["tok"]) == pytest.approx(report["avg_tokens"])
    assert float(printed["lat"]) == pytest.approx(report["avg_latency_s"])


def test_outcomes_pair_problems_at_the_main_budget_and_mark_absent_cells(cells: Path) -> None:
    found = results.outcomes(frame_of(cells), ["asap", "spirit"], {"humaneval": 64})
    assert found[("spirit", "humaneval")] is None
    asap = found[("asap", "humaneval")]
    assert asap is not None and sorted(asap) == [f"task/{i}" for i in range(6)]
    assert asap["task/0"].passed and not asap["task/1"].passed


def test_a_cell_whose_metrics_disagree_with_its_rows_is_refused(cells: Path) -> None:
    report = cells / "reports/eval/original/leetcode/64.json"
    write_json(report, {**read_json(report), "passed": 4})
    with pytest.raises(DataError, match=r"original/leetcode/64: metrics say n=4, passed=4"):
        frame_of(cells)


def test_a_cell_folder_not_named_by_a_budget_is_refused(cells: Path) -> None:
    write_cell(cells, "asap", "leetcode", 64, rows_for(2, 2, 10, 1.0))
    (cells / "data/eval/asap/leetcode/64").rename(cells / "data/eval/asap/leetcode/main")
    with pytest.raises(DataError, match=r"asap/leetcode/main: a cell folder must be named"):
        frame_of(cells)


def test_compression_and_training_frames_keep_methods_not_run_with_their_reason(
    tmp_path: Path,
) -> None:
    path = tmp_path / "compression.json"
    write_json(
        path,
        {
            "methods": {
                "asap": {"status": "ok", "records": 4, "achieved_ratio": 0.29},
                "tokenskip": {"status": "not_run", "reason": "no classifier offline"},
            }
        },
    )
    frame = results.compression_frame(path).set_index("method")
    assert frame.loc["asap", "achieved_ratio"] == 0.29
    assert frame.loc["tokenskip", "status"] == "not_run"
    assert frame.loc["tokenskip", "reason"] == "no classifier offline"
    assert results.compression_frame(tmp_path / "absent.json").empty
    path.write_text('{"methods": []}', encoding="utf-8")
    with pytest.raises(DataError, match=r"compression\.json: expected a 'methods' mapping"):
        results.compression_frame(path)
    write_json(path, {"methods": {"spirit": {"status": "ok", "achieved_ratio": "half"}}})
    with pytest.raises(DataError, match=r"compression\.json: method 'spirit' has no numeric"):
        results.compression_frame(path)

    training = results.training_frame({"asap": {"tokens_per_sample": 300}, "tokenskip": None})
    assert training.method.tolist() == ["asap"]
    assert training.loc[0, "tokens_per_sample"] == 300
