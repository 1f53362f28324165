"""The paper profile, end to end, in miniature: `dvc exp run -S profile=paper` in a fresh clone
with only sizes and endpoints overridden (`tests/miniature.py`), then the README's
second-backbone recipe in a second clone that pulls the first run's outputs.

Every stage of the paper profile runs with its own settings: the rewrite-mode coarse stage at
temperature 2.0 with resampling and `on_failure: drop`, bf16 training with gradient
checkpointing, a 16k `max_seq_length` and a fractional warmup, the authors' extraction rule,
uncorrected Wilcoxon tests. The tables and figures must all be written, with no gap but the
second backbone's before its reports exist.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from asap.repro.io import read_json, read_jsonl
from tests.dvc_repos import run
from tests.miniature import BENCHMARKS, PaperRun, exp_run

# One worker runs the miniature paper run once and every test built on it (make test-e2e).
pytestmark = [pytest.mark.slow, pytest.mark.paper_run, pytest.mark.xdist_group("paper_run")]

TABLES = [f"table{n:02d}" for n in range(1, 13)] + ["wilcoxon"]
FIGURES = [f"budget_{name}.png" for name in BENCHMARKS] + ["compression_overview.png"]
SECOND_BACKBONE_TABLES = {"table04", "table12"}
# what the second clone runs: the student, and the methods of Tables 4 and 12 on it
SECOND_BACKBONE_SFT = {"sft@original", "sft@spirit", "sft@asap"}


def not_run_notes(clone: Path) -> dict[str, list[str]]:
    notes = {}
    for table in TABLES:
        text = (clone / "reports/tables" / f"{table}.md").read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if "not run" in line]
        if lines:
            notes[table] = lines
    return notes


def test_every_stage_of_the_paper_profile_runs(paper_run: PaperRun) -> None:
    clone = paper_run.clone
    listed = run(["dvc", "stage", "list", "--name-only"], clone).stdout.split()
    assert sorted(paper_run.ran) == sorted(listed)
    assert "up to date" in run(["dvc", "status"], clone).stdout
    assert read_json(clone / "reports/data.json")["provenance"]["profile"] == "paper"


def test_teacher_stages_rewrite_resample_and_keep_every_other_step(paper_run: PaperRun) -> None:
    clone = paper_run.clone
    coarse = read_json(clone / "reports/coarse.json")
    assert coarse["mode"] == "rewrite"
    assert coarse["accepted"] == coarse["records"] == 2
    assert coarse["attempts_histogram"] == {"2": 2}  # each record's first answer is no pruning
    resampled = [r for r in paper_run.teacher.requests if r.get("temperature") == 2.0]
    assert len(resampled) >= 4  # appendix A: pruning at temperature 2.0
    originals = {r["id"]: r for r in read_jsonl(clone / "data/train/cots.jsonl")}
    for record in read_jsonl(clone / "data/coarse/cots.jsonl"):
        steps = originals[record["id"]]["cot"].split("\n\n")
        assert record["cot"] == "\n\n".join(steps[::2]), record["id"]


def test_every_method_is_trained_with_the_paper_settings(paper_run: PaperRun) -> None:
    clone = paper_run.clone
    for method in read_json(clone / "reports/compression.json")["methods"]:
        report = read_json(clone / f"reports/train/{method}.json")
        assert report["status"] == "ok" and report["records_trained"] == 2, method
        assert (clone / f"models/{method}/model.safetensors").exists(), method
        config = read_json(clone / f"models/{method}/config.json")
        assert config["model_type"] == "qwen2" and config["dtype"] == "bfloat16", method


def test_every_table_and_figure_is_written_with_no_gap_but_the_second_backbone(
    paper_run: PaperRun,
) -> None:
    import matplotlib.image

    clone = paper_run.clone
    for table in TABLES:
        rows = body_rows(clone / "reports/tables" / f"{table}.md")
        tex = (clone / "reports/tables" / f"{table}.tex").read_text(encoding="utf-8")
        assert rows and tex.count("\\\\\n") >= len(rows), table  # every row in both renderings
    for figure in FIGURES:
        pixels = matplotlib.image.imread(clone / "reports/figures" / figure)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 200, figure
        assert pixels[..., :3].std() > 0.01, figure  # something is drawn, not a blank canvas
    assert set(not_run_notes(clone)) == SECOND_BACKBONE_TABLES
    # Table 1 shows each eval cell's own report: Pass@1 and tokens, row by row
    table1 = {row[0]: row[1:] for row in body_rows(clone / "reports/tables/table01.md")}
    for method in read_json(clone / "reports/compression.json")["methods"]:
        for benchmark in BENCHMARKS:
            cell = read_json(clone / f"reports/eval/{method}/{benchmark}/32.json")
            assert cell["n"] == 2 and cell.get("status") != "not_run", (method, benchmark)
        label = METHOD_LABELS.get(method)
        if label is not None:
            he = read_json(clone / f"reports/eval/{method}/humaneval/32.json")
            acc, tokens = table1[label][:2]
            assert float(acc) == round(100 * he["passed"] / he["n"], 2), (method, acc)
            assert float(tokens) == round(he["avg_tokens"]), (method, tokens)


# Table 1's row labels of the methods it shows (asap.report.tables names them)
METHOD_LABELS = {"original": "Original", "spirit": "SPIRIT", "asap": "ASAP"}


def body_rows(table: Path) -> list[list[str]]:
    """The body rows of a Markdown pipe table (after the header's separator), as cell texts
    without bold marks."""
    rows, body = [], False
    for line in table.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            body = False
            continue
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        if set(cells[0]) <= set(":-"):
            body = True
        elif body:
            rows.append(cells)
    return rows


def test_second_backbone_recipe_fills_tables_4_and_12(
    paper_run: PaperRun, tmp_path_factory
) -> None:
    """The README's recipe: a second clone pulls the first run, replaces only the student and
    runs the cells of Tables 4 and 12."""
    first = paper_run.clone
    # The first clone's cache is laid out as a DVC remote is: the second clone pulls from it,
    # and nothing is copied by a push beforehand.
    remote = first / ".dvc/cache"
    run(["dvc", "remote", "add", "--force", "--default", "shared", str(remote)], first)
    run(["git", "commit", "--quiet", "-am", "a shared remote"], first)

    second = tmp_path_factory.mktemp("llama") / "asap-llama8b"
    run(["git", "clone", "--quiet", str(first), str(second)], first)
    student = [
        "-S", "paper.sft_base_model.kind=local",
        "-S", "~paper.sft_base_model.target",
        "-S", f"+paper.sft_base_model.path={paper_run.inputs['student']}",
    ]  # fmt: skip
    cells = run(["asap", "stages", "--second-backbone"], second).stdout.split()
    ran = exp_run(second, ["--pull", *student, *cells])
    assert set(ran) == {"sft_base_model", "sft_records", *SECOND_BACKBONE_SFT, *cells}, ran
    config = read_json(second / "models/asap/config.json")
    assert config["model_type"] == "llama"

    for method in ("zero_shot", "original", "spirit", "asap"):  # the README's `cp -r`
        shutil.copytree(second / "reports/eval" / method, first / "reports/eval_llama8b" / method)
    run(["dvc", "repro", "--force", "--single-item", "stats"], first)
    assert set(not_run_notes(first)) == set()
    table4 = (first / "reports/tables/table04.md").read_text(encoding="utf-8")
    assert "—" not in table4.split("\n\n", 2)[1]  # every cell of the table body has a value
