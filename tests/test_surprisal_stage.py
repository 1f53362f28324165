"""End to end: the `asap surprisal` CLI on the real CoTs, and the stage's resumable cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from asap.data.steps import join_steps, split_steps
from asap.repro.io import read_jsonl, write_jsonl
from tests.dvc_repos import STAGE_S, wait_until
from tests.real_data import write_train_records

pytestmark = pytest.mark.slow


def env(repo_root: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(repo_root), "HF_HUB_OFFLINE": "1"}


def test_cli_round_trip_on_real_cots(repo_root: Path, base_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    source = write_train_records(tmp_path / "cots.jsonl")
    output, budget = tmp_path / "pruned.jsonl", 1024
    command = [sys.executable, "-m", "asap.cli", "surprisal", "--model", str(base_model_dir)]
    command += ["--input", str(source), "--output", str(output), "--budget", str(budget)]
    command += ["--dtype", "float32", "--device", "cpu"]  # no property here depends on precision
    subprocess.run(command, check=True, env=env(repo_root), cwd=tmp_path, timeout=STAGE_S)

    tokenizer = AutoTokenizer.from_pretrained(str(base_model_dir))
    count = lambda text: len(tokenizer(text, add_special_tokens=False).input_ids)  # noqa: E731
    inputs, outputs = list(read_jsonl(source)), list(read_jsonl(output))
    assert [r["id"] for r in outputs] == [r["id"] for r in inputs]
    for record, out in zip(inputs, outputs, strict=True):
        assert {k: out[k] for k in record} == record  # input fields kept verbatim
        steps = split_steps(record["cot"])
        assert out["steps"] == steps
        assert len(out["surprisal"]) == len(out["kept"]) == len(steps)
        assert all(value >= 0 for value in out["surprisal"])
        kept = [s for s, k in zip(steps, out["kept"], strict=True) if k]
        assert out["pruned_cot"] == join_steps(kept)
        assert out["tokens_before"] == count(join_steps(steps)) > budget
        assert out["tokens_after"] == count(out["pruned_cot"]) <= budget
        assert not out["over_budget"] and 0 < len(kept) < len(steps)
        # the removed steps are the least surprising ones
        removed = [v for v, k in zip(out["surprisal"], out["kept"], strict=True) if not k]
        assert max(removed) <= min(
            v for v, k in zip(out["surprisal"], out["kept"], strict=True) if k
        )


def write_stage_params(folder: Path, model: Path, budget: int) -> None:
    params = {
        "profile": "embedded",
        "embedded": {
            "surprisal": {
                "input": "cots.jsonl",
                "input_label": "coarse",
                "original": "cots.jsonl",
                "method": "asap",
                "scorer": str(model),
                "dtype": "float32",
                "device": "cpu",
                "context": "raw",
                "mode": "global",
                "budget": budget,
                "batch_size": 1,
                "max_context": None,
                "chunk_records": 1,
            }
        },
    }
    (folder / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")


def run_stage(folder: Path, repo_root: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "stages.surprisal"],
        cwd=folder,
        env=env(repo_root),
        capture_output=True,
        text=True,
        check=True,
        timeout=STAGE_S,
    )
    return done.stdout


def test_stage_resumes_after_a_kill_and_reuses_scores(
    repo_root: Path, base_model_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    records = [
        {
            "id": f"r{n}",
            "question": f"Print the sum of the first {n} squares.",
            "cot": join_steps(
                [
                    f"Okay, we need 1^2 + ... + {n}^2.",
                    "Hmm, a loop works, but there is a formula.",
                    "The formula is n(n+1)(2n+1)/6.",
                    f"Check: for {n} that gives {n * (n + 1) * (2 * n + 1) // 6}.",
                    "Wait, let me double check the formula once more.",
                    "Yes, it is right. Write the code.",
                ]
            ),
            "answer": f"```python\nn = {n}\nprint(n * (n + 1) * (2 * n + 1) // 6)\n```",
        }
        for n in (3, 5, 7, 11)
    ]
    write_jsonl(tmp_path / "cots.jsonl", records)
    write_stage_params(tmp_path, base_model_dir, budget=40)
    cache = tmp_path / "data" / "surprisal" / "asap"

    # kill the stage once the first record's scores are cached
    process = subprocess.Popen(
        [sys.executable, "-m", "stages.surprisal"],
        cwd=tmp_path,
        env=env(repo_root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(process, lambda: list(cache.rglob("*.json")))
    process.send_signal(signal.SIGKILL)
    process.wait()
    entries = [json.loads(path.read_text()) for path in cache.rglob("*.json")]
    done = len(entries)
    assert not list(cache.rglob("*.tmp"))  # atomic writes leave no partial entry behind
    for entry in entries:  # each complete: the six steps of a record, scored
        assert len(entry["surprisal"]) == len(entry["tokens"]) == 6
        assert all(value >= 0 for value in entry["surprisal"]) and min(entry["tokens"]) > 0

    out = run_stage(tmp_path, repo_root)
    assert f"{done} records cached, {len(records) - done} to score" in out
    report = json.loads((tmp_path / "reports" / "pruning.json").read_text())
    assert (tmp_path / "reports" / "figures" / "pruning_tokens.png").stat().st_size > 0
    pruned = list(read_jsonl(tmp_path / "data" / "sft" / "asap.jsonl"))
    assert [r["id"] for r in pruned] == [r["id"] for r in records]
    assert all(r["method"] == "asap" for r in pruned)
    assert report["records"] == len(records) and report["stage_order"] == ["original", "surprisal"]
    assert all(r["surprisal"]["tokens"] <= 40 for r in report["per_record"])
    assert report["provenance"]["stage"] == "surprisal"
    assert base_model_dir.as_posix() in report["provenance"]["inputs"]
    assert (
        report["stages"]["surprisal"]["tokens_after"]
        < report["stages"]["surprisal"]["tokens_before"]
    )

    # a rerun with a new budget scores nothing and prunes again from the same scores: one
    # removal order, so the steps kept at 40 tokens are among those kept at 60
    write_stage_params(tmp_path, base_model_dir, budget=60)
    out = run_stage(tmp_path, repo_root)
    assert f"{len(records)} records cached, 0 to score" in out
    repruned = list(read_jsonl(tmp_path / "data" / "sft" / "asap.jsonl"))
    assert sum(len(r["cot"]) for r in repruned) > sum(len(r["cot"]) for r in pruned)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model_dir))
    for record, at_40, at_60 in zip(records, pruned, repruned, strict=True):
        steps = split_steps(record["cot"])
        kept_40, kept_60 = split_steps(at_40["cot"]), split_steps(at_60["cot"])
        assert kept_40 == [s for s in steps if s in kept_40]  # in order, none made up
        assert kept_60 == [s for s in steps if s in kept_60]
        assert set(kept_40) <= set(kept_60)
        assert len(tokenizer(at_60["cot"], add_special_tokens=False).input_ids) <= 60
