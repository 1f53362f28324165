"""Tables in the paper's layout: golden files, best-value marking, gaps, and the stats stage."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from asap.report import build as reports
from asap.report import results, tables
from asap.report.stats import Summary
from asap.report.tables import GAP
from asap.repro.io import DataError, read_json, read_jsonl, write_json
from tests.dvc_repos import STAGE_S
from tests.eval_fixtures import rows_for, write_cell

GOLDEN = Path(__file__).parent / "golden"

# The paper's Table 1 (DeepSeek-R1-Distill-Qwen-7B): Acc, Tok, Lat per benchmark.
PAPER_TABLE1 = """
zero_shot         73.78 3051 1.16 68.29 3051 1.16 42.16 7088 3.59 25.37 8336 5.15 19.74 8680 4.95
original          78.05 2973 1.12 75.61 2973 1.12 52.12 6611 3.15 30.97 8289 4.83 25.00 8485 4.72
selective_context 59.76 2979 1.13 54.88 2979 1.13 30.23 7025 3.75 16.79 8558 5.35 15.79 8461 4.90
llmlingua2        71.34 3075 1.19 68.29 3075 1.19 38.89 6953 3.60 22.76 8474 5.31 17.54 8513 4.81
tokenskip         76.83 2823 1.07 73.78 2823 1.07 32.35 7095 3.85 20.15 8400 5.37 18.42 8503 4.87
spirit            83.54 2764 1.07 75.61 2764 1.07 50.82 6524 3.09 33.58 7892 4.62 25.00 8186 4.45
asap              84.15 2464 0.98 78.66 2464 0.98 54.74 5177 2.09 36.19 6035 2.61 27.63 7541 3.48
"""
BUDGETS = {
    "humaneval": 6144,
    "humanevalplus": 6144,
    "lcb_v1_v3": 10240,
    "lcb_v4_v5": 10240,
    "leetcode": 10240,
}


def paper_cells() -> dict[tuple[str, str], Summary]:
    cells = {}
    for line in PAPER_TABLE1.strip().splitlines():
        method, *numbers = line.split()
        for i, benchmark in enumerate(tables.BENCHMARK_HEADERS):
            acc, tok, lat = (float(x) for x in numbers[3 * i : 3 * i + 3])
            cells[(method, benchmark)] = Summary(100, round(acc), acc, tok, lat)
    return cells


def paper_frame(skip: str | None = None, budgets: dict[str, int] = BUDGETS) -> tables.Cells:
    """The paper's Table 1 as a `summaries` frame (one row per cell), `skip` left out."""
    rows = [
        {"method": m, "benchmark": b, "budget": budgets[b], **vars(summary)}
        for (m, b), summary in paper_cells().items()
        if m != skip and b in budgets
    ]
    return tables.Cells(pd.DataFrame(rows).set_index(["method", "benchmark", "budget"]))


def test_table1_matches_golden_markdown_and_latex():
    table = tables.table1(paper_frame(skip="llmlingua2"), BUDGETS, "embedded")
    assert tables.to_markdown(table) == (GOLDEN / "table01.md").read_text(encoding="utf-8")
    assert tables.to_latex(table) == (GOLDEN / "table01.tex").read_text(encoding="utf-8")


def test_paper_numbers_make_every_best_value_asap():
    # The paper: ASAP has the best accuracy, fewest tokens and lowest latency everywhere.
    table = tables.table1(paper_frame(), BUDGETS, "paper")
    for label, flags in table.panels[0].bold.iterrows():
        assert flags.all() == (label == "ASAP")
        assert flags.any() == (label == "ASAP")
    assert not any("not run" in note for note in table.notes)


def test_ties_at_printed_precision_are_all_bold():
    texts = pd.DataFrame(
        {"acc": ["25.00", "25.00", "24.99", GAP], "tok": ["2464", "2465", GAP, GAP]}
    )
    bold = tables.best_in_columns(texts, [True, False])
    assert bold["acc"].tolist() == [True, True, False, False]
    assert bold["tok"].tolist() == [True, False, False, False]
    alone = pd.DataFrame({"acc": ["0.00", GAP, GAP]})
    assert not tables.best_in_columns(alone, [True]).any().any()  # nothing to compare


def test_sweep_bolds_best_per_budget_row():
    cells = paper_frame(budgets={"humaneval": 6144})
    table = tables.sweep_table(9, cells, {"humaneval": [1024, 6144]}, "embedded")
    he = table.panels[0]
    assert he.texts.index.tolist() == ["1K", "6K"]
    assert he.texts.loc["1K"].eq(GAP).all() and not he.bold.loc["1K"].any()
    six_k = he.texts.loc["6K"][he.bold.loc["6K"]]
    assert six_k.tolist() == ["84.15", "2464", "0.98"]
    assert set(six_k.index.get_level_values(0)) == {"ASAP"}
    assert table.panels[1].texts.index.tolist() == [GAP]  # HE+ has no sweep budgets here
    assert "no token-budget sweep in profile embedded: HE+." in table.notes[-1]
    assert any("Zero-shot (HE 1K)" in note for note in table.notes)


def test_table3_changes_relative_to_original_and_gaps():
    trained = {
        "original": {"tokens_per_sample": 13023, "seconds_per_step": 80.11, "records_trained": 10},
        "spirit": {"tokens_per_sample": 6082, "records_trained": 10},
        "asap": {"tokens_per_sample": 3178, "seconds_per_step": 31.48, "records_trained": 8},
    }
    table = tables.table3(results.training_frame(trained), "embedded")
    texts, bold = table.panels[0].texts, table.panels[0].bold
    assert texts.columns.tolist() == ["Records", "Tokens", "Time"]
    assert texts.loc["ASAP"].tolist() == ["8", "3178 (-75.6%)", "31.48 (-60.7%)"]
    assert bold.loc["ASAP"].tolist() == [False, True, True]
    assert texts.loc["Original"].tolist() == ["10", "13023", "80.11"]
    assert texts.loc["SPIRIT"].tolist() == ["10", "6082 (-53.3%)", GAP]
    assert texts.loc["TokenSkip"].tolist() == [GAP] * 3
    note = table.notes[-1]
    assert "TokenSkip (training report)" in note and "SPIRIT (seconds per step)" in note


def test_second_backbone_absent_shows_the_gap():
    table = tables.backbone_table(4, ["lcb_v4_v5", "leetcode"], None, BUDGETS, None, "embedded")
    assert table.panels[0].texts.eq(GAP).all().all()
    assert "second backbone not run in profile embedded" in table.notes[-1]
    present = tables.backbone_table(
        12, list(BUDGETS), paper_frame(), BUDGETS, "DeepSeek-R1-Distill-Llama-8B", "paper"
    )
    assert present.caption == "Table 12: Results on DeepSeek-R1-Distill-Llama-8B."
    assert present.panels[0].texts.index.tolist() == [
        "Zero-shot",
        "Original",
        "SPIRIT",
        "ASAP",
    ]


def test_latex_escapes_specials():
    assert tables.latex_escape("v1_v3 50% & #1 —") == r"v1\_v3 50\% \& \#1 ---"


def test_budget_labels():
    assert [tables.budget_label(b) for b in (1024, 6144, 10000, 256, 1500)] == [
        "1K",
        "6K",
        "10K",
        "256",
        "1500",
    ]


# --- the stage, on synthetic cells in a temporary working directory --------------------------

STATS_PARAMS = {
    "reference": "asap",
    "comparators": ["zero_shot", "original", "spirit", "wo_coarse", "wo_fine"],
    "alpha": 0.05,
    "zero_method": "wilcox",
    "alternative": "two-sided",
    "method": "auto",
    "correction": "holm",
    "min_pairs": 6,
    "main_budget": {b: 64 for b in BUDGETS},
    "sweep_budgets": {"humaneval": [32, 64], "lcb_v4_v5": [64]},
    "second_backbone": None,
    "eval_data_dir": "data/eval",
    "eval_reports_dir": "reports/eval",
    "train_reports_dir": "reports/train",
    "pruning_report": "reports/pruning.json",
    "compression_report": "reports/compression.json",
}


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    for method, pass_every, tokens in (
        ("asap", 2, 100),
        ("zero_shot", 3, 150),
        ("original", 2, 120),
    ):
        write_cell(tmp_path, method, "humaneval", 64, rows_for(20, pass_every, tokens, 1.0))
        write_cell(
            tmp_path, method, "humaneval", 32, rows_for(20, pass_every + 1, tokens // 2, 0.5)
        )
    write_cell(tmp_path, "zero_shot", "lcb_v4_v5", 64, rows_for(5, 2, 300, 2.0))
    # the sft stage's layout: measurements in reports/train/timings/<method>.json
    write_json(
        tmp_path / "reports/train/original.json", {"tokens_per_sample": 900, "records_trained": 3}
    )
    write_json(tmp_path / "reports/train/timings/original.json", {"seconds_per_step": 4.0})
    write_json(tmp_path / "reports/train/asap.json", {"tokens_per_sample": 300})
    write_json(tmp_path / "reports/train/asap.timing.json", {"seconds_per_step": 2.0})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def compact(markdown: str) -> str:
    """Table rows without the padding that aligns their columns (escaped pipes stay)."""
    lines = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            line = "| " + " | ".join(cells) + " |"
        lines.append(line)
    return "\n".join(lines)


def test_stage_writes_every_table_figure_and_index_with_gaps(workdir):
    report = reports.run(STATS_PARAMS, "embedded")
    tokens = report["benchmarks"]["humaneval"]["metrics"]["tokens"]
    assert tokens["original"]["status"] == "tested"
    assert tokens["spirit"]["status"] == "missing"
    assert (
        report["benchmarks"]["lcb_v4_v5"]["metrics"]["passed"]["zero_shot"]["status"] == "missing"
    )
    assert read_json(workdir / "reports/stats/wilcoxon.json") == json.loads(json.dumps(report))

    names = sorted(p.name for p in (workdir / "reports/tables").iterdir())
    expected = [f"table{n:02d}" for n in range(1, 13)] + ["wilcoxon"]
    assert names == sorted(f"{key}{ext}" for key in expected for ext in (".md", ".tex"))
    table1 = compact((workdir / "reports/tables/table01.md").read_text())
    assert "| ASAP | **50.00** | **" in table1
    assert "not run in profile embedded: Zero-shot (HE+, v1_v3, All);" in table1
    assert "; Selective Context (all);" in table1
    table2 = (workdir / "reports/tables/table02.md").read_text()
    assert "; w/o Any Pruning (v4_v5)." in table2  # gaps named by their row labels
    table3 = compact((workdir / "reports/tables/table03.md").read_text())
    assert "| Original | 3 | 900 | 4.00 |" in table3  # both timing file layouts are read
    assert "| ASAP | — | **300 (-66.7%)** | **2.00 (-50.0%)** |" in table3
    figures = sorted(p.name for p in (workdir / "reports/figures").iterdir())
    assert figures == sorted(
        [f"budget_{b}.png" for b in tables.BENCHMARK_HEADERS] + ["compression_overview.png"]
    )

    index = (workdir / "reports/README.md").read_text()
    for artifact in ("tables/table01.md", "tables/wilcoxon.tex", "figures/budget_humaneval.png"):
        assert f"[{artifact}]({artifact})" in index
    assert "- profile: `embedded`" in index
    assert "- git commit: `" in index
    path = "reports/eval/asap/humaneval/64.json"
    digest = hashlib.md5((workdir / path).read_bytes()).hexdigest()  # DVC's hash of a file
    assert f"| `{path}` | `{digest}` |" in index


def test_stage_is_deterministic(workdir):
    reports.run(STATS_PARAMS, "embedded")
    first = {p: p.read_bytes() for p in sorted((workdir / "reports").rglob("*")) if p.is_file()}
    reports.run(STATS_PARAMS, "embedded")
    second = {p: p.read_bytes() for p in sorted((workdir / "reports").rglob("*")) if p.is_file()}
    assert first == second


def test_repository_params_are_complete_for_both_profiles(repo_root):
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    for profile in ("embedded", "paper"):
        section = params[profile]["stats"]
        assert set(STATS_PARAMS) <= set(section), profile
        reports.WilcoxonParams.from_params(section)
        assert set(section["main_budget"]) == set(tables.BENCHMARK_HEADERS)
        evaluation = params[profile].get("eval")
        if evaluation is not None:  # the budgets tabulated are the budgets evaluated
            assert section["main_budget"] == evaluation["budgets"], profile
            assert section["sweep_budgets"] == evaluation["sweep"]["budgets"], profile


@pytest.mark.slow
def test_dvc_repro_stats_with_only_some_cells(repo_root, tmp_path):
    """`dvc repro` of the real stats stage in a scratch repo holding zero_shot and asap cells."""
    import os
    import shutil
    import subprocess
    import sys

    for name in ("asap", "stages"):
        shutil.copytree(repo_root / name, tmp_path / name, ignore=shutil.ignore_patterns("__py*"))
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(repo_root / name, tmp_path / name)
    budget = yaml.safe_load((repo_root / "params.yaml").read_text())["embedded"]["stats"]
    he = budget["main_budget"]["humaneval"]
    write_cell(tmp_path, "zero_shot", "humaneval", he, rows_for(12, 3, 200, 1.0))
    write_cell(tmp_path, "asap", "humaneval", he, rows_for(12, 2, 100, 0.6))
    write_json(tmp_path / "reports/train/asap.json", {"tokens_per_sample": 300})
    write_json(tmp_path / "reports/compression.json", {"methods": {}})
    write_json(
        tmp_path / "reports/pruning.json",
        {
            "stage_order": ["original", "surprisal"],
            "stages": {"surprisal": {"tokens_before": 3000, "tokens_after": 1000}},
        },
    )
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"

    def run(*cmd: str) -> str:
        done = subprocess.run(
            cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=STAGE_S
        )
        assert done.returncode == 0, f"{cmd}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    run("git", "init", "-q")
    run("dvc", "init", "-q")
    run("dvc", "repro", "--single-item", "stats")
    assert (tmp_path / "reports/figures/budget_lcb_v4_v5.png").exists()
    assert "not run in profile embedded" in (tmp_path / "reports/tables/table02.md").read_text()
    tested = read_json(tmp_path / "reports/stats/wilcoxon.json")["benchmarks"]["humaneval"]
    assert tested["metrics"]["tokens"]["zero_shot"]["status"] == "tested"
    shown = run("dvc", "metrics", "show", "--json")
    assert "reports/stats/wilcoxon.json" in shown
    assert json.dumps(tested["metrics"]["tokens"]["zero_shot"]["p_value"]) in shown
    assert "Running stage" not in run("dvc", "repro", "--single-item", "stats")
    write_cell(tmp_path, "asap", "humaneval", he, rows_for(12, 2, 90, 0.6))
    assert "stats" in run("dvc", "status", "stats")


def test_pruning_report_feeds_the_compression_figure(workdir):
    report = {
        "stage_order": ["original", "coarse", "surprisal"],
        "stages": {
            "coarse": {"tokens_before": 3505.75, "tokens_after": 2100.0},
            "surprisal": {"tokens_before": 2100.0, "tokens_after": 1015.25},
        },
    }
    write_json(workdir / "reports/pruning.json", report)
    points = reports.pruning_stages(Path("reports/pruning.json"))
    assert [(p.label, p.tokens) for p in points] == [
        ("Original", 3505.75),
        ("Coarse", 2100.0),
        ("Fine (surprisal)", 1015.25),
    ]
    compression = {
        "methods": {
            "spirit": {"status": "ok", "achieved_ratio": 0.48, "requested_ratio": 0.5},
            "tokenskip": {"status": "ok", "achieved_ratio": 0.71, "requested_ratio": None},
            "llmlingua2": {"status": "not_run", "reason": "no scorer"},
        }
    }
    write_json(workdir / "reports/compression.json", compression)
    frame = results.compression_frame(Path("reports/compression.json"))
    methods, not_run = reports.method_compression(frame)
    assert [(m.label, m.achieved, m.requested) for m in methods] == [
        ("SPIRIT", 0.48, 0.5),
        ("TokenSkip", 0.71, None),
    ]
    assert not_run == ["LLMLingua-2"]
    reports.run(STATS_PARAMS, "embedded")
    index = (workdir / "reports/README.md").read_text()
    row = next(line for line in index.splitlines() if "compression_overview.png" in line)
    assert "`reports/pruning.json`" in row and "`reports/compression.json`" in row
    del report["stages"]["coarse"]
    write_json(workdir / "reports/pruning.json", report)
    with pytest.raises(DataError, match=r"pruning.json: stage 'coarse' lacks numeric"):
        reports.pruning_stages(Path("reports/pruning.json"))


def test_table1_cells_are_recomputed_from_the_per_problem_results(workdir):
    """A golden file can bless a wrong number; this cell is computed from the eval rows."""
    reports.run(STATS_PARAMS, "embedded")
    cell = workdir / "data/eval/original/humaneval/64"
    results = list(read_jsonl(cell / "results.jsonl"))
    latencies = {r["task_id"]: r["latency_s"] for r in read_jsonl(cell / "timings.jsonl")}
    accuracy = 100 * sum(r["passed"] for r in results) / len(results)
    tokens = sum(r["tokens"] for r in results) / len(results)
    latency = sum(latencies[r["task_id"]] for r in results) / len(results)
    row = next(
        line
        for line in compact((workdir / "reports/tables/table01.md").read_text()).splitlines()
        if line.startswith("| Original |")
    )
    he = [c.strip().strip("*") for c in row.split("|")[2:5]]
    assert he == [f"{accuracy:.2f}", f"{tokens:.0f}", f"{latency:.2f}"]


def test_the_run_label_is_in_every_table_and_the_index(workdir):
    label = "Embedded profile: a tiny run; not the paper's results."
    reports.run({**STATS_PARAMS, "run_label": label}, "embedded")
    tables_dir = workdir / "reports/tables"
    written = sorted(tables_dir.glob("*.md"))
    assert written and all(label in path.read_text() for path in written)
    assert all(label in path.read_text() for path in tables_dir.glob("*.tex"))
    assert f"**What this run is.** {label}" in (workdir / "reports/README.md").read_text()
    reports.run(STATS_PARAMS, "paper")  # no label: nothing of the kind
    assert not any(label in path.read_text() for path in tables_dir.glob("*.md"))


def test_public_only_livecodebench_is_said_in_every_table_its_figure_and_the_index(workdir):
    reports.run(STATS_PARAMS, "embedded")
    assert "public tests only" not in (workdir / "reports/README.md").read_text()
    cell = workdir / "reports/eval/zero_shot/lcb_v4_v5/64.json"
    write_json(cell, {**read_json(cell), "tests_used": "public"})
    figure = workdir / "reports/figures/budget_lcb_v4_v5.png"
    before = figure.read_bytes()
    reports.run(STATS_PARAMS, "embedded")
    note = "LiveCodeBench v4_v5: graded on public tests only"
    tables_dir = workdir / "reports/tables"
    assert all(note in path.read_text() for path in tables_dir.glob("*.md"))
    escaped = tables.latex_escape(note)
    assert all(escaped in path.read_text() for path in tables_dir.glob("*.tex"))
    assert f"**Tests.** {note}" in (workdir / "reports/README.md").read_text()
    assert figure.read_bytes() != before  # the figure carries the note too


def test_cell_texts_are_rendered_as_printed():
    """pandas renders the tables; no number is reparsed (25.00 stays 25.00, not 25)."""
    index = pd.Index(["r_1"], name="Row")
    texts = pd.DataFrame([["25.00", "007", "a|b"]], index, ["x", "y", "z"])
    panel = tables.Panel(texts, pd.DataFrame([[True, False, False]], index, texts.columns))
    table = tables.Table(key="t", caption="c", panels=[panel])
    assert "| r_1 | **25.00** | 007 | a\\|b |" in compact(tables.to_markdown(table))
    assert r"r\_1 & \textbf{25.00} & 007 & a|b \\" in tables.to_latex(table)
