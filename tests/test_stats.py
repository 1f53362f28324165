"""Paired Wilcoxon tests, Holm correction and the reading of evaluation cells."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter

import numpy as np
import pytest
from scipy.stats import binomtest, chi2, wilcoxon

from asap.report.stats import (
    MISSING,
    NOT_TESTABLE,
    TESTED,
    WilcoxonParams,
    check_consistent,
    holm,
    load_outcomes,
    load_summary,
    rank_biserial,
    rank_sums,
    signed_rank_test,
    wilcoxon_report,
)
from asap.repro.io import DataError, write_json
from tests.eval_fixtures import rows_for, write_cell


def params(**overrides) -> WilcoxonParams:
    base = {
        "alpha": 0.05,
        "zero_method": "wilcox",
        "alternative": "two-sided",
        "method": "auto",
        "correction": "holm",
        "min_pairs": 6,
    }
    return WilcoxonParams.from_params({**base, **overrides})


def _average_ranks(values: list[float]) -> list[float]:
    """1-based ranks, tied values sharing the mean of their positions."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in order[start : end + 1]:
            ranks[position] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def _signed_ranks(d: list[float], zero_method: str) -> tuple[list[float], float]:
    """Ranks of the non-zero |d| carrying d's sign, and what zeros add to each of T+ and T-:
    wilcox drops zeros before ranking, pratt ranks them and then drops them, zsplit gives half
    of their ranks to each side."""
    if zero_method == "wilcox":
        d = [v for v in d if v != 0]
    ranks = _average_ranks([abs(v) for v in d])
    signed = [math.copysign(r, v) for r, v in zip(ranks, d, strict=True) if v != 0]
    zeros = sum(r for r, v in zip(ranks, d, strict=True) if v == 0)
    return signed, zeros / 2 if zero_method == "zsplit" else 0.0


def _statistic(signed: list[float], zero_half: float, alternative: str) -> float:
    t_plus = sum(r for r in signed if r > 0) + zero_half
    t_minus = -sum(r for r in signed if r < 0) + zero_half
    return min(t_plus, t_minus) if alternative == "two-sided" else t_plus


def _normal_approximation(d: list[float], zero_method: str, alternative: str) -> float:
    """The textbook p-value without continuity correction: mean n(n+1)/4 and variance
    (n(n+1)(2n+1) - sum(t^3 - t) / 2) / 24 over the ranked values, t the sizes of tied groups;
    for pratt (Cureton 1967) the zeros' share z(z+1)/4 and z(z+1)(2z+1)/24 is taken off and
    zeros form no tied group."""
    signed, zero_half = _signed_ranks(d, zero_method)
    ranked = [v for v in d if v != 0] if zero_method == "wilcox" else list(d)
    n, zeros = len(ranked), sum(v == 0 for v in ranked)
    mean, var24 = n * (n + 1) / 4, n * (n + 1) * (2 * n + 1)
    groups = Counter(abs(v) for v in ranked if zero_method != "pratt" or v != 0)
    if zero_method == "pratt":
        mean -= zeros * (zeros + 1) / 4
        var24 -= zeros * (zeros + 1) * (2 * zeros + 1)
    variance = (var24 - sum(t**3 - t for t in groups.values()) / 2) / 24
    z = (_statistic(signed, zero_half, "greater") - mean) / math.sqrt(variance)
    if alternative == "greater":
        return math.erfc(z / math.sqrt(2)) / 2  # P(Z >= z)
    if alternative == "less":
        return math.erfc(-z / math.sqrt(2)) / 2
    return math.erfc(abs(z) / math.sqrt(2))


def _every_sign_assignment(d: list[float], zero_method: str, alternative: str) -> float:
    """The exact p-value: the share of the 2^n sign assignments of the ranks whose T+ is at
    least the observed one (greater) or at most it (less); two-sided: twice the smaller, <= 1."""
    signed, zero_half = _signed_ranks(d, zero_method)
    observed = _statistic(signed, zero_half, "greater")
    null = [
        zero_half + sum(abs(r) for r, up in zip(signed, signs, strict=True) if up)
        for signs in itertools.product((False, True), repeat=len(signed))
    ]
    greater = sum(t >= observed for t in null) / len(null)
    less = sum(t <= observed for t in null) / len(null)
    return {"greater": greater, "less": less, "two-sided": min(1.0, 2 * min(greater, less))}[
        alternative
    ]


ZERO_METHODS = pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
ALTERNATIVES = pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])


@ZERO_METHODS
@ALTERNATIVES
def test_signed_rank_test_with_ties_and_zeros_by_the_textbook_formula(zero_method, alternative):
    # 40 pairs with ties and zeros: scipy's "auto" takes the normal approximation, computed
    # here by hand from the ranks (_normal_approximation).
    rng = np.random.default_rng(7)
    x = rng.integers(200, 400, size=40).astype(float)
    y = x + rng.integers(-30, 10, size=40)  # ties (zero differences) included
    y[:5] = x[:5]
    d = [float(v) for v in x - y]
    test = params(zero_method=zero_method, alternative=alternative)
    result = signed_rank_test(x, y, test)
    assert result["status"] == TESTED
    expected = _normal_approximation(d, zero_method, alternative)
    assert result["p_value"] == pytest.approx(expected, rel=1e-12)
    signed, zero_half = _signed_ranks(d, zero_method)
    assert result["statistic"] == _statistic(signed, zero_half, alternative)
    t_plus, t_minus = rank_sums(x - y, zero_method)
    if alternative == "two-sided":
        assert result["statistic"] == pytest.approx(min(t_plus, t_minus))
    else:
        assert result["statistic"] == pytest.approx(t_plus)
    assert result["n_nontied"] == 35
    assert result["n_reference_higher"] + result["n_reference_lower"] == 35


@ZERO_METHODS
@ALTERNATIVES
def test_small_sample_with_ties_and_zeros_against_every_sign_assignment(zero_method, alternative):
    # 10 pairs, two zeros, |d| = 2 three times: scipy's "auto" permutes every sign (2^10
    # assignments), enumerated here by hand (_every_sign_assignment).
    d = [3.0, -1.0, 0.0, 2.0, 2.0, -5.0, 0.0, 4.0, 6.0, -2.0]
    result = signed_rank_test(
        d, [0.0] * len(d), params(zero_method=zero_method, alternative=alternative)
    )
    assert result["status"] == TESTED and result["n_nontied"] == 8
    expected = _every_sign_assignment(d, zero_method, alternative)
    assert result["p_value"] == pytest.approx(expected, rel=1e-12)
    signed, zero_half = _signed_ranks(d, zero_method)
    assert result["statistic"] == _statistic(signed, zero_half, alternative)


def test_exact_test_against_r_published_example():
    # R's ?wilcox.test example (Hollander & Wolfe 1973, p. 29f: depression scale before/after):
    #   wilcox.test(x, y, paired = TRUE, alternative = "greater")  ->  V = 40, p-value = 0.01953
    # (exactly 10 / 2**9: ten of the 512 sign patterns reach V >= 40).
    x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    greater = signed_rank_test(x, y, params(alternative="greater", method="exact"))
    assert greater["statistic"] == 40
    assert greater["p_value"] == pytest.approx(10 / 512) and round(greater["p_value"], 5) == 0.01953
    two_sided = signed_rank_test(x, y, params(method="exact"))
    assert two_sided["statistic"] == 5  # min(V, 45 - V)
    assert two_sided["p_value"] == pytest.approx(20 / 512)


def test_normal_approximation_with_ties_by_the_textbook_formula():
    # Differences with tied magnitudes: |d| ranks 1.5 1.5 3.5 3.5 5.5 5.5 7 8 9 10, so V = 48;
    # mean n(n+1)/4 = 27.5, variance n(n+1)(2n+1)/24 - sum(t^3 - t)/48 = 96.25 - 18/48 (three
    # pairs of ties), no continuity correction (scipy's default).
    d = [1, 2, 2, 3, -3, 4, 5, 6, -1, 7]
    z = (48 - 27.5) / math.sqrt(96.25 - 18 / 48)
    expected = math.erfc(z / math.sqrt(2))  # two-sided: 2 * (1 - Phi(z)) = 0.0363
    result = signed_rank_test(d, [0] * len(d), params(method="asymptotic"))
    assert result["p_value"] == pytest.approx(expected, rel=1e-9)
    assert round(expected, 4) == 0.0363


def test_exact_p_value_by_hand():
    # Six positive differences of distinct size: two-sided exact p = 2 / 2**6.
    result = signed_rank_test([2, 3, 4, 5, 6, 7], [1, 1, 1, 1, 1, 1], params())
    assert result["p_value"] == pytest.approx(2 / 64)
    assert result["statistic"] == 0
    assert result["rank_biserial"] == 1.0


def test_pass_fail_test_is_a_sign_test_on_discordant_pairs():
    # 9 problems only the reference solves, 1 only the comparator solves. With few pairs scipy
    # permutes every sign: the exact sign test (binomial, p = 0.5).
    small = signed_rank_test([1] * 9 + [0], [0] * 9 + [1], params())
    assert small["n_nontied"] == 10
    assert small["p_value"] == pytest.approx(binomtest(9, 10, 0.5).pvalue)
    assert small["rank_biserial"] == pytest.approx(0.8)
    # Plus 10 problems both solve: the normal approximation over the discordant pairs, which
    # is McNemar's chi-square (9 - 1)^2 / (9 + 1) without continuity correction.
    large = signed_rank_test([1] * 9 + [0] + [1] * 10, [0] * 9 + [1] + [1] * 10, params())
    assert large["n_nontied"] == 10 and large["n_pairs"] == 20
    assert large["p_value"] == pytest.approx(chi2.sf(6.4, df=1))


def test_rank_biserial_by_hand():
    # |d| ranks 1, 2, 3, 4; T+ = 1 + 2 + 3 = 6, T- = 4: r = (6 - 4) / 10.
    assert rank_biserial([1, 2, 3, -4], "wilcox") == pytest.approx(0.2)
    # zsplit: the zero takes rank 1, split in halves: T+ = 0.5 + 2 + 3 = 5.5, T- = 0.5 + 4 = 4.5.
    assert rank_sums([0, 1, 2, -3], "zsplit") == (5.5, 4.5)
    assert rank_biserial([0, 0], "wilcox") is None


def test_holm_against_a_hand_computed_example():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, max(0.06, 0.04*1) = 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_too_few_nontied_pairs_is_not_testable():
    result = signed_rank_test([5, 6, 7, 8, 9, 1, 1], [1, 1, 1, 1, 1, 1, 1], params())
    assert result["status"] == NOT_TESTABLE
    assert result["p_value"] is None and result["statistic"] is None
    assert result["n_nontied"] == 5
    assert "min_pairs 6" in result["reason"]
    identical = signed_rank_test([1, 0, 1], [1, 0, 1], params(min_pairs=1))
    assert identical["status"] == NOT_TESTABLE and identical["n_nontied"] == 0


def test_bad_params_are_named():
    with pytest.raises(DataError, match="zero_method"):
        params(zero_method="drop")
    with pytest.raises(DataError, match="correction"):
        params(correction="bh")


def test_report_pairs_cells_corrects_across_comparators_and_marks_missing(tmp_path):
    n = 30
    write_cell(tmp_path, "asap", "humaneval", 64, rows_for(n, 2, 100, 1.0))
    write_cell(tmp_path, "original", "humaneval", 64, rows_for(n, 3, 160, 1.5, seed=1))
    write_cell(tmp_path, "spirit", "humaneval", 64, rows_for(n, 2, 140, 1.2, seed=2))
    root = tmp_path / "data" / "eval"
    outcomes = {
        (m, "humaneval"): load_outcomes(root, m, "humaneval", 64)
        for m in ("asap", "original", "spirit", "tokenskip")
    }
    assert outcomes[("tokenskip", "humaneval")] is None
    test = params()
    report = wilcoxon_report(
        outcomes, "asap", ["original", "spirit", "tokenskip"], {"humaneval": 64}, test, "embedded"
    )
    tokens = report["benchmarks"]["humaneval"]["metrics"]["tokens"]
    assert tokens["tokenskip"]["status"] == MISSING
    assert "not run in profile embedded: tokenskip" in tokens["tokenskip"]["reason"]
    raw = [tokens[m]["p_value"] for m in ("original", "spirit")]
    assert [tokens[m]["p_adjusted"] for m in ("original", "spirit")] == pytest.approx(holm(raw))
    assert tokens["original"]["family_size"] == 2
    asap = outcomes[("asap", "humaneval")]
    original = outcomes[("original", "humaneval")]
    tasks = sorted(asap)
    expected = wilcoxon(
        [asap[t].tokens for t in tasks], [original[t].tokens for t in tasks], zero_method="wilcox"
    )
    assert tokens["original"]["p_value"] == pytest.approx(float(expected.pvalue))
    assert tokens["original"]["rank_biserial"] < 0  # ASAP generates fewer tokens
    assert tokens["original"]["significant"] is True
    json.dumps(report)  # plain JSON types only


def test_missing_reference_makes_every_comparison_missing(tmp_path):
    write_cell(tmp_path, "original", "leetcode", 64, rows_for(8, 2, 100, 1.0))
    outcomes = {
        ("asap", "leetcode"): None,
        ("original", "leetcode"): load_outcomes(tmp_path / "data/eval", "original", "leetcode", 64),
    }
    report = wilcoxon_report(outcomes, "asap", ["original"], {"leetcode": 64}, params(), "paper")
    for metric in ("passed", "tokens", "latency_s"):
        result = report["benchmarks"]["leetcode"]["metrics"][metric]["original"]
        assert result["status"] == MISSING and result["p_value"] is None


def test_reading_cells_rejects_bad_files_by_name(tmp_path):
    write_cell(tmp_path, "asap", "humaneval", 64, rows_for(4, 2, 100, 1.0))
    root = tmp_path / "data/eval"
    cell = root / "asap/humaneval/64"
    timings = cell / "timings.jsonl"
    timings.write_text(timings.read_text().replace("task/3", "task/9"))
    with pytest.raises(DataError, match="cover different tasks"):
        load_outcomes(root, "asap", "humaneval", 64)
    timings.unlink()
    with pytest.raises(DataError, match=r"timings.jsonl: missing"):
        load_outcomes(root, "asap", "humaneval", 64)
    results = cell / "results.jsonl"
    results.write_text(results.read_text() + results.read_text().splitlines()[0] + "\n")
    (cell / "timings.jsonl").write_text('{"task_id": "task/0", "latency_s": 1.0}\n')
    with pytest.raises(DataError, match=r"results.jsonl: record 5: duplicate task_id"):
        load_outcomes(root, "asap", "humaneval", 64)
    results.write_text('{"task_id": "task/0", "passed": "yes", "tokens": 3}\n')
    with pytest.raises(DataError, match=r"record 1: field 'passed' has type str"):
        load_outcomes(root, "asap", "humaneval", 64)


def test_metrics_json_must_match_the_per_problem_results(tmp_path):
    write_cell(tmp_path, "asap", "humaneval", 64, rows_for(6, 2, 100, 1.0))
    outcomes = load_outcomes(tmp_path / "data/eval", "asap", "humaneval", 64)
    reports = tmp_path / "reports/eval"
    summary = load_summary(reports, "asap", "humaneval", 64)
    check_consistent(summary, outcomes, "cell")
    path = reports / "asap/humaneval/64.json"
    data = json.loads(path.read_text())
    write_json(path, {**data, "passed": data["passed"] + 1})
    with pytest.raises(DataError, match="metrics say n=6, passed=4"):
        check_consistent(load_summary(reports, "asap", "humaneval", 64), outcomes, "cell")
    write_json(path, {**data, "avg_tokens": "many"})
    with pytest.raises(DataError, match="avg_tokens"):
        load_summary(reports, "asap", "humaneval", 64)
