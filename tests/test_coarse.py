"""Coarse pruning (asap.teacher.coarse): answer parsing and validation, resampling against a real
loopback server in both modes, and the anchor + coarse stages against a real `transformers serve`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from asap.data.steps import join_steps, split_steps
from asap.repro.io import DataError, read_json, read_jsonl, write_jsonl
from asap.teacher.client import Teacher, TeacherConfig
from asap.teacher.coarse import (
    INPUT_FIELDS,
    CoarseResult,
    CoarseSettings,
    coarse_record,
    coarse_report,
    judge,
    parse_selection,
    prune_record,
    reject_shared_selections,
    require_text_fields,
)
from tests.dvc_repos import wait_until
from tests.loopback import LoopbackServer
from tests.real_data import train_records

STEPS = [
    "Read n and the list of heights.",
    "Hmm, wait. Maybe the heights can be negative? No, the statement says 1 <= h <= 10^9.",
    "The answer is the number of positions where the height is larger than all before it.",
    "Let me double check with the first sample: 3 1 4 gives 2. Yes.",
    "So keep a running maximum and count the times it grows.",
]
RECORD = {
    "id": "1/A",
    "question": "Count the visible buildings.",
    "cot": join_steps(STEPS),
    "anchor": "Track the running maximum and count new maxima.",
    "answer": "```python\nprint(1)\n```",
    "code": "print(1)",
    "source": "test",
    "meta": {},
}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("1, 3, 5", [0, 2, 4]),
        ("Steps to keep: 5, 1, 3, 3", [0, 2, 4]),
        ("**1, 2-4**", [0, 1, 2, 3]),
        ("[1] [5]", [0, 4]),
        ("1 and 5.", [0, 4]),
        ("I keep the reading step and the final step.\n\n1, 5", [0, 4]),
        ("Keep 2; 4", [1, 3]),
    ],
)
def test_parse_selection_accepts_lists_and_ranges(answer: str, expected: list[int]) -> None:
    assert parse_selection(answer, 5) == expected


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("", "unparseable"),
        ("All of them are important.", "unparseable"),
        ("1. Read the input 2. Count", "unparseable"),
        ("1, 5\nThese are the steps that matter.", "unparseable"),  # text after the list
        ("To complete the sequence:\n1 2\n3 4\nProvide an answer with text", "unparseable"),
        ("1, 6", "out_of_range"),
        ("0, 2", "out_of_range"),
        ("4-2", "out_of_range"),
    ],
)
def test_parse_selection_rejects_invalid_answers(answer: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_selection(answer, 5)


def test_judge_rewrite_and_select() -> None:
    rewrite = CoarseSettings(mode="rewrite")
    kept = join_steps([STEPS[0], STEPS[2].replace("larger", "bigger"), STEPS[4]])
    outcome = judge(STEPS, kept, truncated=False, settings=rewrite)
    assert (outcome.reason, outcome.kept) == ("accepted", [0, 2, 4])
    assert outcome.steps == split_steps(kept)  # the teacher's wording (paper)
    original = judge(STEPS, kept, False, CoarseSettings(mode="rewrite", rewrite_output="original"))
    assert original.steps == [STEPS[0], STEPS[2], STEPS[4]]
    invented = join_steps([STEPS[0], "Use a Fenwick tree over compressed coordinates."])
    assert judge(STEPS, invented, False, rewrite).reason == "no_match"
    assert judge(STEPS, join_steps([STEPS[4], STEPS[0]]), False, rewrite).reason == "no_match"
    assert judge(STEPS, " \n\n ", False, rewrite).reason == "empty"
    assert judge(STEPS, kept, True, rewrite).reason == "truncated"
    lenient = CoarseSettings(mode="rewrite", accept_truncated=True)
    assert judge(STEPS, kept, True, lenient).accepted

    select = CoarseSettings(mode="select")
    outcome = judge(STEPS, "2, 4", False, select)
    assert (outcome.kept, outcome.steps) == ([1, 3], [STEPS[1], STEPS[3]])
    assert judge(STEPS, "9", False, select).reason == "out_of_range"
    assert judge(STEPS, "1-5", False, select).reason == "keeps_all"  # prunes nothing
    assert judge(STEPS, "1, 2, 3, 4, 5", False, select).reason == "keeps_all"


def test_a_selection_repeated_by_another_record_is_not_accepted() -> None:
    def result(record_id: str, kept: list[int] | None, steps: int = 5) -> CoarseResult:
        outcome = CoarseResult(id=record_id, steps_before=steps, reasons=["truncated", "accepted"])
        if kept is not None:
            outcome.cot, outcome.kept = join_steps([STEPS[i] for i in kept]), kept
        return outcome

    # 1/A and 2/B name the same steps of CoTs of different lengths: a copied pattern
    results = [result("1/A", [0, 1, 3]), result("2/B", [0, 1, 3], 7), result("3/C", [0, 2])]
    results.append(result("4/D", None))
    select = CoarseSettings(mode="select")
    reject_shared_selections(results, select)
    assert [r.accepted for r in results] == [False, False, True, False]
    assert [r.reasons[-1] for r in results[:3]] == ["same_as_other", "same_as_other", "accepted"]
    assert results[0].attempts == 2 and results[0].kept is None
    report = coarse_report(results, select)
    assert report["attempt_outcomes"]["same_as_other"] == 2
    assert report["failed_ids"] == ["1/A", "2/B", "4/D"]

    again = [result("1/A", [0, 1, 3]), result("2/B", [0, 1, 3], 7)]
    reject_shared_selections(again, CoarseSettings(mode="select", distinct_selections=False))
    reject_shared_selections(again, CoarseSettings(mode="rewrite"))
    assert all(r.accepted for r in again)  # off, or rewrite mode: nothing is changed


def test_settings_are_validated() -> None:
    with pytest.raises(DataError, match="mode"):
        CoarseSettings.from_params({"mode": "summarise"})
    with pytest.raises(DataError, match="unknown coarse settings"):
        CoarseSettings.from_params({"treshold": 0.6})
    with pytest.raises(DataError, match="max_attempts"):
        CoarseSettings.from_params({"max_attempts": 0})


def test_records_without_the_needed_fields_are_named() -> None:
    with pytest.raises(DataError, match=r"x.jsonl: record 2 \(id '2/B'\).*anchor"):
        require_text_fields(
            [RECORD, {**RECORD, "id": "2/B", "anchor": None}], INPUT_FIELDS, "x.jsonl"
        )


def scripted(answers: list[str]) -> Any:
    """A responder giving `answers` in order (the last one repeats)."""
    queue = list(answers)

    def respond(body: dict[str, Any]) -> str:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return respond


def loopback_teacher(server: LoopbackServer, cache: Path | None) -> Teacher:
    config = TeacherConfig(model="loopback", base_url=server.base_url, max_retries=1)
    return Teacher(config, cache)


@pytest.mark.parametrize(
    ("mode", "answers"),
    [
        ("select", ["The important steps are the first and the last ones.", "1, 3, 5"]),
        ("rewrite", ["Read the input, then count maxima.", join_steps(STEPS[0::2])]),
    ],
)
def test_resampling_until_valid(tmp_path: Path, mode: str, answers: list[str]) -> None:
    settings = CoarseSettings(mode=mode, max_attempts=4, temperature=0.0, resample_temperature=2.0)
    with LoopbackServer(responder=scripted(answers)) as server:
        result = prune_record(loopback_teacher(server, tmp_path), RECORD, settings)
        assert server.count == 2
        assert [body["temperature"] for body in server.requests] == [0.0, 2.0]
        rerun = prune_record(loopback_teacher(server, tmp_path), RECORD, settings)
        assert server.count == 2  # both attempts come from the cache
    assert result.accepted and result.attempts == 2
    assert result.reasons == ["unparseable" if mode == "select" else "no_match", "accepted"]
    assert result.cot == join_steps([STEPS[0], STEPS[2], STEPS[4]])
    assert result.kept == [0, 2, 4]
    assert result.output_tokens == [len(a.split()) for a in answers]
    assert rerun == result
    out = coarse_record(RECORD, result, "drop")
    assert out is not None
    assert (out["coarse_attempts"], out["coarse_accepted"], out["cot"]) == (2, True, result.cot)
    assert {k: out[k] for k in ("id", "question", "answer", "code")} == {
        k: RECORD[k] for k in ("id", "question", "answer", "code")
    }


@pytest.mark.parametrize("mode", ["select", "rewrite"])
def test_a_record_that_never_validates_follows_on_failure(mode: str) -> None:
    settings = CoarseSettings(mode=mode, max_attempts=3)
    with LoopbackServer(responder=lambda body: "No idea, sorry.") as server:
        result = prune_record(loopback_teacher(server, None), RECORD, settings)
        assert server.count == 3  # exactly max_attempts requests, then stop
    assert not result.accepted and result.attempts == 3
    assert coarse_record(RECORD, result, "drop") is None
    kept = coarse_record(RECORD, result, "keep_original")
    assert kept is not None
    assert (kept["cot"], kept["coarse_accepted"], kept["coarse_attempts"]) == (
        RECORD["cot"],
        False,
        3,
    )


def test_report_counts_acceptance_attempts_and_tokens() -> None:
    settings = CoarseSettings(mode="select", max_attempts=2)
    records = [RECORD, {**RECORD, "id": "2/B"}, {**RECORD, "id": "3/C"}]
    answers = {"1/A": ["2, 3"], "2/B": ["nothing", "4"], "3/C": ["nothing"]}

    def respond(body: dict[str, Any]) -> tuple[str, str]:
        match = re.search(r"ID: (\S+)", body["messages"][0]["content"])
        assert match is not None
        record_id = match.group(1)
        queue = answers[record_id]
        return (queue.pop(0) if len(queue) > 1 else queue[0]), "stop"

    records = [{**r, "question": f"{r['question']}\nID: {r['id']}"} for r in records]
    with LoopbackServer(responder=respond) as server:
        teacher = loopback_teacher(server, None)
        results = teacher.map(lambda r: prune_record(teacher, r, settings), records)
    report = coarse_report(results, settings, {"1/A": 100, "2/B": 300, "3/C": 5000})
    assert report["cot_tokens"] == {
        "accepted": {"records": 2, "mean": 200.0, "median": 200.0, "max": 300},
        "failed": {"records": 1, "mean": 5000.0, "median": 5000, "max": 5000},
    }
    assert [r["cot_tokens"] for r in report["per_record"]] == [100, 300, 5000]
    assert report["mode"] == "select"
    assert (report["records"], report["accepted"]) == (3, 2)
    assert report["acceptance_rate"] == pytest.approx(2 / 3)
    assert report["failed_ids"] == ["3/C"] and report["dropped_ids"] == []
    assert report["attempts_histogram"] == {"1": 1, "2": 2}
    assert report["accepted_at_attempt"] == {"1": 1, "2": 1}
    assert report["attempt_outcomes"]["unparseable"] == 3
    assert report["output_tokens"]["per_record"] == {"1/A": 2, "2/B": 2, "3/C": 2}
    assert report["steps"] == {"before": 15, "before_accepted": 10, "after_accepted": 3}


# -- the stages against a real `transformers serve` ------------------------------------------


def _stage_params(max_tokens: int) -> dict[str, Any]:
    teacher = {
        "base_url": None,
        "model": "models/base",
        "api_key_env": None,
        "top_p": 1.0,
        "max_tokens": max_tokens,
        "concurrency": 1,
        "timeout": 600,
        "max_retries": 1,
        "seed": 0,
    }
    # float32: no property here depends on precision, and bf16 is emulated on most CPUs
    serve = {"dtype": "float32", "startup_timeout_s": 600}
    return {
        "profile": "embedded",
        "embedded": {
            "anchor": {"teacher": {**teacher, "temperature": 0.0}, "serve": serve},
            "coarse": {
                "mode": "select",
                "threshold": 0.6,
                "autojunk": False,
                "max_attempts": 2,
                "temperature": 0.0,
                "resample_temperature": 1.0,
                "on_failure": "keep_original",
                "accept_truncated": True,
                "rewrite_output": "teacher",
                "teacher": teacher,
                "serve": serve,
            },
        },
    }


def _run_stage(workspace: Path, stage: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", f"stages.{stage}"],
        cwd=workspace,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _processes_in(workspace: Path) -> list[int]:
    """Pids of live processes whose working directory is `workspace` (e.g. a leftover server)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == workspace:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _wait_for(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return bool(condition())


@pytest.mark.slow
def test_anchor_and_coarse_stages_with_a_local_transformers_server(
    tmp_path: Path, tiny_model_dir: Path, repo_root: Path
) -> None:
    """The server's life cycle, kill and resume, caching and the select rule: none depends on
    what the teacher has learnt, so a tiny random model with the embedded tokenizer serves
    (its answers are mostly unparseable: every record then keeps its original steps)."""
    workspace = tmp_path.resolve()
    (workspace / "models").mkdir()
    (workspace / "models" / "base").symlink_to(tiny_model_dir.resolve())
    (workspace / "params.yaml").write_text(yaml.safe_dump(_stage_params(max_tokens=6)))
    # two real training records, CoTs cut to 8 steps to keep the prompts short
    records = train_records()[:2]
    records = [{**r, "cot": join_steps(split_steps(r["cot"])[:8])} for r in records]
    write_jsonl(workspace / "data" / "train" / "cots.jsonl", records)
    cache = workspace / "data" / "cache" / "anchor"

    # Kill the anchor stage (SIGKILL: no cleanup runs) after its first finished response.
    stage = subprocess.Popen(
        [sys.executable, "-m", "stages.anchor"],
        cwd=workspace,
        env={**os.environ, "PYTHONPATH": str(repo_root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(stage, lambda: any(cache.rglob("*.json")))
    finally:
        stage.send_signal(signal.SIGKILL)
        stage.wait()
    assert _wait_for(lambda: not _processes_in(workspace), 30), "the server outlived its stage"
    finished = len(list(cache.rglob("*.json")))
    assert finished >= 1

    out = _run_stage(workspace, "anchor")
    assert f"{2 - finished} requested, {finished} from cache" in out
    anchored = list(read_jsonl(workspace / "data" / "anchor" / "cots.jsonl"))
    assert [r["id"] for r in anchored] == [r["id"] for r in records]
    assert all(isinstance(r["anchor"], str) for r in anchored)
    anchor_report = read_json(workspace / "reports" / "anchor.json")
    assert set(anchor_report["output_tokens"]["per_record"]) == {r["id"] for r in records}
    assert all(0 < n <= 6 for n in anchor_report["output_tokens"]["per_record"].values())

    out = _run_stage(workspace, "coarse")
    coarse = list(read_jsonl(workspace / "data" / "coarse" / "cots.jsonl"))
    report = read_json(workspace / "reports" / "coarse.json")
    assert report["mode"] == "select" and report["records"] == 2
    assert len(coarse) == 2  # keep_original: nobody is dropped
    for record, result in zip(coarse, report["per_record"], strict=True):
        assert record["coarse_attempts"] == result["attempts"]
        assert 1 <= result["attempts"] <= 2
        assert record["coarse_accepted"] == result["accepted"]
        steps = split_steps(record["cot"])
        original = split_steps(next(r["cot"] for r in records if r["id"] == record["id"]))
        assert set(steps) <= set(original)  # select keeps original steps verbatim
    assert _wait_for(lambda: not _processes_in(workspace), 30)

    # Everything is cached now: reruns make no request and start no server.
    for name in ("anchor", "coarse"):
        before = json.dumps(read_json(workspace / "reports" / f"{name}.json"), sort_keys=True)
        assert "0 requested" in _run_stage(workspace, name)
        after = json.dumps(read_json(workspace / "reports" / f"{name}.json"), sort_keys=True)
        assert before == after
