"""Comparing two reproductions: only marked measurements may differ between runs."""

from __future__ import annotations

from pathlib import Path

from asap.repro.determinism import (
    DIFFERENT,
    IDENTICAL,
    MEASUREMENTS_ONLY,
    compare_checkouts,
    is_measurement_file,
    source_input_mismatches,
    strip_commit,
    strip_measurements,
)
from tests.dvc_repos import make_dvc_repo, run


def test_measurement_marks():
    assert is_measurement_file("data/eval/m/b/1024/timings.jsonl")
    assert is_measurement_file("reports/timings/train.json")
    assert not is_measurement_file("data/eval/m/b/1024/results.jsonl")
    assert not is_measurement_file("reports/timings_table.md")
    record = {"pass_at_1": 50.0, "avg_latency_s": 1.2, "runs": [{"wall_s": 3, "n": 1}]}
    assert strip_measurements(record) == {"pass_at_1": 50.0, "runs": [{"n": 1}]}


def test_source_inputs_and_commit() -> None:
    """Outputs of other stages, and folders that hold them, are compared where they are made;
    the git state of a provenance block is what `ignore_commit` leaves out."""

    def lock(code: str, made: str) -> dict:
        return {
            "make": {"deps": [{"path": "make.py", "md5": "1"}], "outs": [{"path": "out/a.json"}]},
            "use": {
                "deps": [{"path": "out", "md5": made}, {"path": "use.py", "md5": code}],
                "params": {"params.yaml": {"k": 1}},
            },
        }

    assert source_input_mismatches(lock("2", "3.dir"), lock("2", "4.dir"), "use") == []
    assert source_input_mismatches(lock("2", "3.dir"), lock("5", "3.dir"), "use") == ["use.py"]
    report = {"n": 1, "provenance": {"git": {"commit": "abc", "dirty": False}, "stage": "s"}}
    assert strip_commit(report) == {"n": 1, "provenance": {"stage": "s"}}


SCRIPT = """\
import json, os, random, time
from asap.repro.io import write_json, write_jsonl, write_text_atomic
write_jsonl("cell/results.jsonl", [{"task_id": "t1", "passed": True}])
write_jsonl("cell/timings.jsonl", [{"task_id": "t1", "latency_s": time.perf_counter()}])
write_json("report.json", {"pass_at_1": 100.0, "avg_latency_s": time.perf_counter()})
write_text_atomic("stable.txt", "same every run\\n")
write_text_atomic("noise.bin", os.urandom(8).hex())
"""

DVC_YAML = """\
stages:
  run:
    cmd: python run.py
    deps:
      - run.py
    outs:
      - cell
      - report.json
      - stable.txt
      - noise.bin
  stats:  # a stage that renders measurements (a latency column) in its tables
    cmd: python -c "import time; open('table.md', 'w').write(f'| 100.0 | {time.time()} |')"
    deps:
      - cell
    outs:
      - table.md
"""


def test_two_clones_differ_only_where_marked(tmp_path):
    origin = make_dvc_repo(tmp_path / "origin", {"run.py": SCRIPT, "dvc.yaml": DVC_YAML})
    clones = []
    for name in ("a", "b"):
        clone = tmp_path / name
        run(["git", "clone", "--quiet", str(origin), str(clone)], tmp_path)
        run(["dvc", "repro", "--quiet"], clone)
        clones.append(clone)
    results = {r.path: r for r in compare_checkouts(*clones)}
    assert results["stable.txt"].status == IDENTICAL
    assert results["cell"].status == MEASUREMENTS_ONLY
    assert results["report.json"].status == MEASUREMENTS_ONLY
    assert results["noise.bin"].status == DIFFERENT
    assert results["noise.bin"].detail == "noise.bin"
    assert results["table.md"].status == MEASUREMENTS_ONLY

    (clones[1] / "cell/results.jsonl").write_text('{"task_id": "t1", "passed": false}\n')
    run(["dvc", "commit", "--force", "--quiet"], clones[1])
    cell = {r.path: r for r in compare_checkouts(*clones)}["cell"]
    assert cell.status == DIFFERENT and cell.detail == "cell/results.jsonl"

    # another version of the code: its outputs are not compared; the stats stage, whose only
    # input is produced upstream, still is
    (clones[1] / "run.py").write_text(SCRIPT + "# changed\n")
    run(["dvc", "commit", "--force", "--quiet"], clones[1])
    by_stage = {}
    for result in compare_checkouts(*clones):
        by_stage.setdefault(result.stage, []).append(result)
    assert [(r.path, r.status) for r in by_stage["run"]] == [("", DIFFERENT)]
    assert by_stage["run"][0].detail == "not comparable: inputs differ: run.py"
    assert [r.path for r in by_stage["stats"]] == ["table.md"]


def test_stage_missing_from_one_lock_is_a_difference(tmp_path: Path):
    for name, stages in (("a", "x"), ("b", "y")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "dvc.lock").write_text(
            f"schema: '2.0'\nstages:\n  {stages}:\n    cmd: 'true'\n"
        )
    results = compare_checkouts(tmp_path / "a", tmp_path / "b")
    assert [(r.stage, r.status) for r in results] == [("x", DIFFERENT), ("y", DIFFERENT)]
