"""A method the profile does not run flows through sft and eval as explicit not-run markers."""

from __future__ import annotations

import pytest

from asap.eval import run as eval_run
from asap.methods import get_method
from asap.report.stats import load_summary
from asap.repro import not_run
from asap.repro.io import DataError, read_json, write_json
from stages import sft as sft_stage

REASON = "classifier weights not available offline"


def test_sft_writes_markers_for_a_disabled_method(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    method = get_method("llmlingua2")
    write_json(
        sft_stage.COMPRESSION_REPORTS / "llmlingua2.json", not_run.record("llmlingua2", REASON)
    )
    dataset = tmp_path / "data/sft/llmlingua2.jsonl"
    assert sft_stage.skip_not_run(method, dataset, "Embedded profile: a test run.") == 0
    assert not_run.reason_in(tmp_path / "models/llmlingua2") == REASON
    assert not_run.is_not_run(read_json(tmp_path / "reports/train/llmlingua2.json"))
    assert (tmp_path / "reports/figures/train_loss_llmlingua2.png").read_bytes()[:4] == b"\x89PNG"


def test_sft_refuses_an_empty_dataset_of_a_method_that_ran(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_json(sft_stage.COMPRESSION_REPORTS / "spirit.json", {"method": "spirit", "records": 0})
    with pytest.raises(DataError, match="empty SFT dataset"):
        sft_stage.skip_not_run(get_method("spirit"), tmp_path / "data/sft/spirit.jsonl")


def test_eval_writes_not_run_cells_that_stats_reads_as_gaps(tmp_path):
    params = {
        "output_dir": str(tmp_path / "data/eval"),
        "cache_dir": str(tmp_path / "data/eval_cache"),
        "reports_dir": str(tmp_path / "reports/eval"),
        "budgets": {"humaneval": 64},
        "sweep": {"methods": ["tokenskip"], "budgets": {"humaneval": [32]}},
    }
    eval_run.write_not_run(params, "tokenskip", "humaneval", REASON)
    for budget in (32, 64):
        report = read_json(tmp_path / f"reports/eval/tokenskip/humaneval/{budget}.json")
        assert report["reason"] == REASON and report["budget"] == budget
        assert load_summary(tmp_path / "reports/eval", "tokenskip", "humaneval", budget) is None
    assert not_run.reason_in(tmp_path / "data/eval/tokenskip/humaneval") == REASON
    assert (tmp_path / "data/eval_cache/tokenskip/humaneval").is_dir()
