"""The tidy results tables (pandas frames) that every table, test and figure is computed from.

    results      one row per (method, benchmark, budget, task_id): passed, status, generated
                 tokens, finish reason, latency, and the md5 of the cell's model and data
    training     one row per trained method: records, tokens per sample, steps, seconds per step
    compression  one row per method of reports/compression.json: ratios and tokens per sample

The stats stage writes them as reports/results.csv, reports/training.csv and
reports/compression.csv; `summaries` and `outcomes` give the per-cell numbers of the tables and
the per-problem pairs of the Wilcoxon tests, by groupby over the results frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from asap.report.stats import Outcome, Summary, check_consistent, load_outcomes, load_summary
from asap.repro.io import DataError, read_json, read_jsonl

KEYS = ["method", "benchmark", "budget"]
RESULT_COLUMNS = [
    *KEYS, "task_id", "passed", "status", "tokens", "finish_reason", "latency_s",
    "model", "model_md5", "data_md5",
]  # fmt: skip
TRAINING_COLUMNS = [
    "method", "records_trained", "records_filtered", "tokens_per_sample",
    "prompt_tokens_per_sample", "completion_tokens_per_sample", "steps", "epochs",
    "effective_batch_size", "final_loss", "seconds_per_step",
]  # fmt: skip
COMPRESSION_COLUMNS = [
    "method", "status", "records", "requested_ratio", "achieved_ratio",
    "cot_tokens_before_mean", "cot_tokens_after_mean", "sample_tokens_before_mean",
    "sample_tokens_after_mean", "sample_tokens_reduction_percent", "steps_before_mean",
    "steps_after_mean", "reason",
]  # fmt: skip


def problem_status(result: Mapping[str, Any]) -> str:
    """One word for a problem's outcome: `passed`, the first failing test's status, `invalid`
    (the benchmark's reference fails its own tests) or `not_graded` (no test ran)."""
    if "invalid" in result:
        return "invalid"
    statuses = result.get("statuses") or []
    if not statuses:
        return "not_graded"
    return next((s for s in statuses if s != "passed"), "passed")


def _cell_hashes(summary: Mapping[str, Any], benchmark: str) -> tuple[str, str, str]:
    """(model path, model md5, data md5) from a cell report's provenance inputs."""
    inputs = (summary.get("provenance") or {}).get("inputs") or {}
    data = {k: v for k, v in inputs.items() if Path(k).name == f"{benchmark}.jsonl"}
    models = {k: v for k, v in inputs.items() if not k.endswith(".jsonl")}
    model = str(summary.get("model") or next(iter(models), ""))
    return model, str(models.get(model, "")), str(next(iter(data.values()), ""))


def results_frame(data_root: Path, reports_root: Path) -> pd.DataFrame:
    """Every evaluated problem of every cell under data/eval (cells not run are absent).

    Each cell is checked against its metrics JSON (`asap.report.stats.check_consistent`)."""
    rows: list[dict[str, Any]] = []
    for results_file in sorted(Path(data_root).glob("*/*/*/results.jsonl")):
        budget_dir = results_file.parent
        method, benchmark = budget_dir.parent.parent.name, budget_dir.parent.name
        if not budget_dir.name.isdigit():
            raise DataError(f"{budget_dir}: a cell folder must be named by its token budget")
        budget = int(budget_dir.name)
        cell = load_outcomes(Path(data_root), method, benchmark, budget)
        if cell is None:
            continue
        summary = load_summary(Path(reports_root), method, benchmark, budget)
        report: dict[str, Any] = {}
        if summary is not None:
            check_consistent(summary, cell, str(budget_dir))
            report = read_json(Path(reports_root) / method / benchmark / f"{budget}.json")
        model, model_md5, data_md5 = _cell_hashes(report, benchmark)
        for result in read_jsonl(results_file):
            outcome = cell[result["task_id"]]
            rows.append(
                {
                    "method": method, "benchmark": benchmark, "budget": budget,
                    "task_id": result["task_id"], "passed": outcome.passed,
                    "status": problem_status(result), "tokens": outcome.tokens,
                    "finish_reason": result.get("finish_reason", ""),
                    "latency_s": outcome.latency_s, "model": model,
                    "model_md5": model_md5, "data_md5": data_md5,
                }
            )  # fmt: skip
    return pd.DataFrame(rows, columns=RESULT_COLUMNS).astype(
        {"budget": "int64", "passed": "bool", "tokens": "int64", "latency_s": "float64"}
    )


def summaries(results: pd.DataFrame) -> pd.DataFrame:
    """Per cell (method, benchmark, budget): n, passed, pass_at_1 (%), avg_tokens,
    avg_latency_s, the numbers the tables show."""
    grouped = results.groupby(KEYS, sort=True)
    frame = grouped.agg(
        n=("task_id", "size"),
        passed=("passed", "sum"),
        avg_tokens=("tokens", "mean"),
        avg_latency_s=("latency_s", "mean"),
    )
    frame.insert(2, "pass_at_1", 100.0 * frame["passed"] / frame["n"])
    return frame


def summaries_from_reports(reports_root: Path) -> pd.DataFrame:
    """The same frame as `summaries`, read from the cells' metrics JSONs (for evaluations whose
    per-problem files are not here, e.g. a second backbone's reports)."""
    rows = []
    for path in sorted(Path(reports_root).glob("*/*/*.json")):
        method, benchmark, budget = path.parent.parent.name, path.parent.name, path.stem
        if not budget.isdigit():
            continue
        summary = load_summary(Path(reports_root), method, benchmark, int(budget))
        if summary is not None:
            rows.append({"method": method, "benchmark": benchmark, "budget": int(budget),
                         **vars(summary)})  # fmt: skip
    columns = [*KEYS, "n", "passed", "pass_at_1", "avg_tokens", "avg_latency_s"]
    return pd.DataFrame(rows, columns=columns).set_index(KEYS).sort_index()


def summary(row: pd.Series) -> Summary:
    """One row of a `summaries` frame as the cell's `Summary`."""
    return Summary(
        n=int(row["n"]),
        passed=int(row["passed"]),
        pass_at_1=float(row["pass_at_1"]),
        avg_tokens=float(row["avg_tokens"]),
        avg_latency_s=float(row["avg_latency_s"]),
    )


def outcomes(
    results: pd.DataFrame, methods: list[str], budgets: Mapping[str, int]
) -> dict[tuple[str, str], dict[str, Outcome] | None]:
    """Per-problem outcomes at each benchmark's main budget, keyed by (method, benchmark);
    None for a cell that was not run (the Wilcoxon tests' input)."""
    found: dict[tuple[str, str], dict[str, Outcome] | None] = {}
    cells = dict(tuple(results.groupby(KEYS, sort=False)))
    for benchmark, budget in budgets.items():
        for method in methods:
            cell = cells.get((method, benchmark, int(budget)))
            found[(method, benchmark)] = (
                None
                if cell is None
                else {
                    row.task_id: Outcome(bool(row.passed), int(row.tokens), float(row.latency_s))
                    for row in cell.itertuples(index=False)
                }
            )
    return found


def training_frame(reports: Mapping[str, Mapping[str, Any] | None]) -> pd.DataFrame:
    """One row per method with a training report (methods not trained are absent)."""
    rows = [
        {"method": method, **{c: report.get(c) for c in TRAINING_COLUMNS[1:]}}
        for method, report in reports.items()
        if report is not None
    ]
    return pd.DataFrame(rows, columns=TRAINING_COLUMNS)


def compression_frame(path: Path) -> pd.DataFrame:
    """reports/compression.json as one row per method (a method not run keeps its reason)."""
    if not Path(path).exists():
        return pd.DataFrame(columns=COMPRESSION_COLUMNS)
    data = read_json(path)
    methods = data.get("methods") if isinstance(data, dict) else None
    if not isinstance(methods, dict):
        raise DataError(f"{path}: expected a 'methods' mapping of method -> compression entry")
    rows = []
    for method, entry in methods.items():
        if not isinstance(entry, dict):
            raise DataError(f"{path}: method {method!r} is not an object")
        if entry.get("status") == "ok":
            achieved, requested = entry.get("achieved_ratio"), entry.get("requested_ratio")
            if isinstance(achieved, bool) or not isinstance(achieved, int | float):
                raise DataError(f"{path}: method {method!r} has no numeric achieved_ratio")
            if requested is not None and (
                isinstance(requested, bool) or not isinstance(requested, int | float)
            ):
                raise DataError(f"{path}: method {method!r} has a non-numeric requested_ratio")
        rows.append({"method": method, **{c: entry.get(c) for c in COMPRESSION_COLUMNS[1:]}})
    return pd.DataFrame(rows, columns=COMPRESSION_COLUMNS)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """`frame` as CSV (no index, `\\n` line ends, floats in full), written atomically."""
    from asap.repro.io import write_text_atomic

    write_text_atomic(Path(path), frame.to_csv(index=False, lineterminator="\n"))
