"""Paired per-problem statistics: Wilcoxon signed-rank tests of ASAP against every other method.

Inputs are evaluation cells (method, benchmark, budget)::

    data/eval/<method>/<benchmark>/<budget>/results.jsonl  {task_id, passed, tokens, ...}
    data/eval/<method>/<benchmark>/<budget>/timings.jsonl  {task_id, latency_s}
    reports/eval/<method>/<benchmark>/<budget>.json        {n, passed, pass_at_1, avg_tokens, ...}

Two cells are paired by `task_id`. For each benchmark (at its main budget), each comparator and
each metric (pass/fail, generated tokens, latency) the differences `reference - comparator` go
to `scipy.stats.wilcoxon`; p-values are then corrected across comparators (one family per
benchmark and metric). Effect size is the matched-pairs rank-biserial correlation
`r = (T+ - T-) / (T+ + T-)` over the same ranks the test uses: positive when the reference is
higher (more passes, more tokens, slower). A comparison with fewer than `min_pairs` non-tied
pairs is reported as "not testable", without a p-value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata, wilcoxon

from asap.repro import not_run
from asap.repro.io import DataError, read_json, read_jsonl

METRICS: tuple[str, ...] = ("passed", "tokens", "latency_s")
ZERO_METHODS = ("wilcox", "pratt", "zsplit")
ALTERNATIVES = ("two-sided", "greater", "less")
CORRECTIONS = ("holm", "bonferroni", "none")

TESTED = "tested"
NOT_TESTABLE = "not testable"
MISSING = "missing"


@dataclass(frozen=True)
class Outcome:
    """One problem's result in one cell."""

    passed: bool
    tokens: int
    latency_s: float


@dataclass(frozen=True)
class Summary:
    """A cell's metrics JSON (the numbers the tables show)."""

    n: int
    passed: int
    pass_at_1: float
    avg_tokens: float
    avg_latency_s: float


@dataclass(frozen=True)
class WilcoxonParams:
    alpha: float
    zero_method: str
    alternative: str
    method: str
    correction: str
    min_pairs: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> WilcoxonParams:
        test = cls(
            alpha=float(params["alpha"]),
            zero_method=str(params["zero_method"]),
            alternative=str(params["alternative"]),
            method=str(params.get("method", "auto")),
            correction=str(params["correction"]),
            min_pairs=int(params["min_pairs"]),
        )
        checks = (
            (test.zero_method, ZERO_METHODS, "zero_method"),
            (test.alternative, ALTERNATIVES, "alternative"),
            (test.correction, CORRECTIONS, "correction"),
            (test.method, ("auto", "exact", "asymptotic"), "method"),
        )
        for value, allowed, name in checks:
            if value not in allowed:
                raise DataError(f"params stats.{name}: {value!r} is not one of {list(allowed)}")
        if not 0 < test.alpha < 1:
            raise DataError(f"params stats.alpha: {test.alpha} is not in (0, 1)")
        if test.min_pairs < 1:
            raise DataError(f"params stats.min_pairs: {test.min_pairs} must be at least 1")
        return test


# --- reading cells -------------------------------------------------------------------------


def cell_dir(data_root: Path, method: str, benchmark: str, budget: int) -> Path:
    return Path(data_root) / method / benchmark / str(budget)


def summary_path(reports_root: Path, method: str, benchmark: str, budget: int) -> Path:
    return Path(reports_root) / method / benchmark / f"{budget}.json"


def _field(record: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in record:
        raise DataError(f"{where}: missing field {key!r}")
    value = record[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise DataError(f"{where}: field {key!r} must be a number, got a boolean")
    if not isinstance(value, kind):
        raise DataError(f"{where}: field {key!r} has type {type(value).__name__}")
    return value


def _by_task(path: Path, fields: Mapping[str, type | tuple[type, ...]]) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for lineno, record in enumerate(read_jsonl(path), start=1):
        where = f"{path}: record {lineno}"
        task_id = _field(record, "task_id", str, where)
        if task_id in rows:
            raise DataError(f"{where}: duplicate task_id {task_id!r}")
        rows[task_id] = {key: _field(record, key, kind, where) for key, kind in fields.items()}
    return rows


def load_outcomes(data_root: Path, method: str, benchmark: str, budget: int) -> dict | None:
    """Per-problem outcomes of a cell keyed by task_id; None when the cell was not run.

    results.jsonl and timings.jsonl must both exist and cover the same task ids.
    """
    directory = cell_dir(data_root, method, benchmark, budget)
    results_file, timings_file = directory / "results.jsonl", directory / "timings.jsonl"
    if not results_file.exists() and not timings_file.exists():
        return None
    for path in (results_file, timings_file):
        if not path.exists():
            raise DataError(f"{path}: missing, but the cell {directory} has its other file")
    results = _by_task(results_file, {"passed": bool, "tokens": int})
    timings = _by_task(timings_file, {"latency_s": (int, float)})
    only_results = sorted(set(results) - set(timings))
    only_timings = sorted(set(timings) - set(results))
    if only_results or only_timings:
        raise DataError(
            f"{directory}: results.jsonl and timings.jsonl cover different tasks "
            f"(without timing: {only_results[:5]}, without result: {only_timings[:5]})"
        )
    return {
        task: Outcome(
            passed=row["passed"],
            tokens=row["tokens"],
            latency_s=float(timings[task]["latency_s"]),
        )
        for task, row in results.items()
    }


def load_summary(reports_root: Path, method: str, benchmark: str, budget: int) -> Summary | None:
    """The cell's metrics JSON; None when the cell was not run."""
    path = summary_path(reports_root, method, benchmark, budget)
    if not path.exists():
        return None
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object")
    if not_run.is_not_run(data):
        return None
    return Summary(
        n=_field(data, "n", int, str(path)),
        passed=_field(data, "passed", int, str(path)),
        pass_at_1=float(_field(data, "pass_at_1", (int, float), str(path))),
        avg_tokens=float(_field(data, "avg_tokens", (int, float), str(path))),
        avg_latency_s=float(_field(data, "avg_latency_s", (int, float), str(path))),
    )


def check_consistent(summary: Summary, outcomes: Mapping[str, Outcome], where: str) -> None:
    """The metrics JSON must describe exactly the per-problem results next to it."""
    passed = sum(o.passed for o in outcomes.values())
    if summary.n != len(outcomes) or summary.passed != passed:
        raise DataError(
            f"{where}: metrics say n={summary.n}, passed={summary.passed} but the per-problem "
            f"results have n={len(outcomes)}, passed={passed}"
        )


# --- tests ---------------------------------------------------------------------------------


def rank_sums(differences: Sequence[float], zero_method: str) -> tuple[float, float]:
    """(T+, T-): rank sums of positive and negative differences, ranked as scipy ranks them."""
    d = np.asarray(differences, dtype=float)
    if zero_method == "wilcox":
        d = d[d != 0]
    if d.size == 0:
        return 0.0, 0.0
    ranks = rankdata(np.abs(d))
    t_plus = float(ranks[d > 0].sum())
    t_minus = float(ranks[d < 0].sum())
    if zero_method == "zsplit":
        half_zero = float(ranks[d == 0].sum()) / 2
        t_plus, t_minus = t_plus + half_zero, t_minus + half_zero
    return t_plus, t_minus


def rank_biserial(differences: Sequence[float], zero_method: str) -> float | None:
    """Matched-pairs rank-biserial correlation (T+ - T-) / (T+ + T-), in [-1, 1]."""
    t_plus, t_minus = rank_sums(differences, zero_method)
    total = t_plus + t_minus
    return None if total == 0 else (t_plus - t_minus) / total


def signed_rank_test(
    reference: Sequence[float], comparator: Sequence[float], params: WilcoxonParams
) -> dict[str, Any]:
    """Wilcoxon signed-rank test on paired samples (differences reference - comparator)."""
    x = np.asarray(reference, dtype=float)
    y = np.asarray(comparator, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.size} vs {y.size}")
    d = x - y
    n_nontied = int(np.count_nonzero(d))
    result: dict[str, Any] = {
        "n_pairs": int(d.size),
        "n_nontied": n_nontied,
        "n_reference_higher": int((d > 0).sum()),
        "n_reference_lower": int((d < 0).sum()),
        "mean_difference": float(d.mean()) if d.size else None,
        "median_difference": float(np.median(d)) if d.size else None,
        "statistic": None,
        "p_value": None,
        "rank_biserial": None,
    }
    if n_nontied < params.min_pairs:
        result["status"] = NOT_TESTABLE
        result["reason"] = f"{n_nontied} non-tied pairs < min_pairs {params.min_pairs}"
        return result
    test = wilcoxon(
        x,
        y,
        zero_method=params.zero_method,
        alternative=params.alternative,
        method=params.method,
    )
    p_value = float(test.pvalue)
    if math.isnan(p_value):
        result["status"] = NOT_TESTABLE
        result["reason"] = "scipy returned no p-value"
        return result
    result.update(
        status=TESTED,
        statistic=float(test.statistic),
        p_value=p_value,
        rank_biserial=rank_biserial(d, params.zero_method),
    )
    return result


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (same order as the input)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: (p_values[i], i))
    adjusted = [0.0] * m
    running = 0.0
    for step, index in enumerate(order):
        running = max(running, min(1.0, (m - step) * p_values[index]))
        adjusted[index] = running
    return adjusted


def adjust(p_values: Sequence[float], correction: str) -> list[float]:
    if correction == "holm":
        return holm(p_values)
    if correction == "bonferroni":
        return [min(1.0, p * len(p_values)) for p in p_values]
    if correction == "none":
        return list(p_values)
    raise ValueError(f"unknown correction {correction!r}")


def apply_correction(family: Mapping[str, dict[str, Any]], params: WilcoxonParams) -> None:
    """Add `p_adjusted` and `significant` to every tested result of one family, in place.

    The family is the set of tested comparisons; untestable or missing ones do not count in m.
    """
    tested = [name for name, result in family.items() if result["status"] == TESTED]
    adjusted = adjust([family[name]["p_value"] for name in tested], params.correction)
    for result in family.values():
        result["p_adjusted"] = None
        result["significant"] = None
    for name, p_adj in zip(tested, adjusted, strict=True):
        family[name]["p_adjusted"] = p_adj
        family[name]["significant"] = bool(p_adj < params.alpha)
    for result in family.values():
        result["family_size"] = len(tested)


def metric_values(outcomes: Mapping[str, Outcome], tasks: Sequence[str], metric: str) -> list:
    return [float(getattr(outcomes[task], metric)) for task in tasks]


def compare(
    reference: Mapping[str, Outcome], comparator: Mapping[str, Outcome], params: WilcoxonParams
) -> dict[str, dict[str, Any]]:
    """One test per metric on the problems both cells evaluated."""
    tasks = sorted(set(reference) & set(comparator))
    unpaired = len(set(reference) ^ set(comparator))
    out = {}
    for metric in METRICS:
        result = signed_rank_test(
            metric_values(reference, tasks, metric),
            metric_values(comparator, tasks, metric),
            params,
        )
        result["n_unpaired"] = unpaired
        out[metric] = result
    return out


def _missing(reason: str) -> dict[str, Any]:
    return {"status": MISSING, "reason": reason, "p_value": None, "n_nontied": 0}


def wilcoxon_report(
    outcomes: Mapping[tuple[str, str], Mapping[str, Outcome] | None],
    reference: str,
    comparators: Sequence[str],
    budgets: Mapping[str, int],
    params: WilcoxonParams,
    profile: str,
) -> dict[str, Any]:
    """Tests of `reference` against each comparator, per benchmark at its main budget.

    `outcomes[(method, benchmark)]` holds the main-budget cell or None when it was not run.
    """
    results: dict[str, Any] = {}
    for benchmark, budget in budgets.items():
        ref = outcomes.get((reference, benchmark))
        per_metric: dict[str, dict[str, Any]] = {metric: {} for metric in METRICS}
        for comparator in comparators:
            other = outcomes.get((comparator, benchmark))
            absent = [m for m, cell in ((reference, ref), (comparator, other)) if cell is None]
            if absent:
                reason = f"not run in profile {profile}: {', '.join(absent)}"
                for metric in METRICS:
                    per_metric[metric][comparator] = _missing(reason)
                continue
            for metric, result in compare(ref, other, params).items():
                per_metric[metric][comparator] = result
        for family in per_metric.values():
            apply_correction(family, params)
        results[benchmark] = {"budget": budget, "metrics": per_metric}
    return {
        "reference": reference,
        "difference": f"{reference} - comparator",
        "params": asdict(params),
        "family": "comparators within one benchmark and metric",
        "benchmarks": results,
    }
