"""Requested vs achieved compression of every method's SFT dataset, and a figure comparing them.

Tokens are counted with the scorer's tokenizer, without special tokens. Per method (records
matched by id to the training CoTs they came from):

    cot_tokens_before_mean / _after_mean     CoT tokens of the original / the method's CoT
    achieved_ratio                           sum of CoT tokens after / sum before
    record_ratio_mean / _min / _max          the same per record
    sample_tokens_before_mean / _after_mean  tokens of a training sample: the question (with the
                                             record's prompt_suffix) plus the response
                                             "<think>\\n{cot}\\n</think>\\n{answer}", no chat
                                             template (Table 3's token column)
    sample_tokens_reduction_percent          100 * (1 - after / before) of the sample means
    steps_before_mean / _after_mean          blank-line separated steps (structure kept?)
    requested_ratio                          the method's target (None: budget or none); for
                                             TokenSkip the mean of the per-record ratios

A method whose dataset is empty is {"status": "not_run", "reason": ...} (the reason from its
compress report, when it has one).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from asap.data.steps import split_steps
from asap.report.run_label import add_run_note
from asap.repro.io import DataError, atomic_path

CountFn = Callable[[str], int]


def sample_text(question: str, cot: str, answer: str, prompt_suffix: str = "") -> str:
    return f"{question}{prompt_suffix}\n<think>\n{cot}\n</think>\n{answer}"


def method_entry(
    method: str,
    records: Sequence[dict[str, Any]],
    originals: Mapping[str, dict[str, Any]],
    count_tokens: CountFn,
    run_report: Mapping[str, Any] | None,
    source: str,
) -> dict[str, Any]:
    """The report entry of one method from its SFT records."""
    if not records:
        reason = (run_report or {}).get("reason") or f"{source} is empty"
        return {"status": "not_run", "reason": reason}
    before, after, sample_before, sample_after, steps_before, steps_after = ([] for _ in range(6))
    for record in records:
        original = originals.get(record["id"])
        if original is None:
            raise DataError(f"{source}: record id {record['id']!r} is not a training record")
        before.append(count_tokens(original["cot"]))
        after.append(count_tokens(record["cot"]))
        sample_before.append(
            count_tokens(sample_text(original["question"], original["cot"], original["answer"]))
        )
        sample_after.append(
            count_tokens(
                sample_text(
                    record["question"],
                    record["cot"],
                    record["answer"],
                    record.get("prompt_suffix") or "",
                )
            )
        )
        steps_before.append(len(split_steps(original["cot"])))
        steps_after.append(len(split_steps(record["cot"])))
    ratios = [a / b for a, b in zip(after, before, strict=True) if b]
    requested = (run_report or {}).get("requested_ratio")
    skip_ratios = [r["tokenskip_ratio"] for r in records if "tokenskip_ratio" in r]
    if requested is None and skip_ratios:
        requested = statistics.fmean(skip_ratios)
    mean_before, mean_after = statistics.fmean(sample_before), statistics.fmean(sample_after)
    return {
        "status": "ok",
        "records": len(records),
        "requested_ratio": None if requested is None else round(float(requested), 4),
        "achieved_ratio": round(sum(after) / sum(before), 4),
        "record_ratio_mean": round(statistics.fmean(ratios), 4),
        "record_ratio_min": round(min(ratios), 4),
        "record_ratio_max": round(max(ratios), 4),
        "cot_tokens_before_mean": round(statistics.fmean(before), 2),
        "cot_tokens_after_mean": round(statistics.fmean(after), 2),
        "sample_tokens_before_mean": round(mean_before, 2),
        "sample_tokens_after_mean": round(mean_after, 2),
        "sample_tokens_reduction_percent": round(100 * (1 - mean_after / mean_before), 2),
        "steps_before_mean": round(statistics.fmean(steps_before), 2),
        "steps_after_mean": round(statistics.fmean(steps_after), 2),
    }


def compression_figure(
    path: str | Path, methods: Mapping[str, Mapping[str, Any]], note: str | None = None
) -> None:
    """Left: mean CoT tokens before/after per method; right: achieved vs requested ratio;
    `note` (the run label) under the figure.

    Fixed size and dpi, no software metadata: equal input gives an identical PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from asap.methods import METHODS

    names = list(methods)
    labels = [METHODS[n].label if n in METHODS else n for n in names]
    ran = [methods[n].get("status") == "ok" for n in names]
    positions = range(len(names))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), dpi=100, layout="constrained")
    width = 0.4

    def value(key: str) -> list[float]:
        return [
            float(methods[n].get(key, 0.0)) if ok else 0.0 for n, ok in zip(names, ran, strict=True)
        ]

    left.bar(
        [i - width / 2 for i in positions],
        value("cot_tokens_before_mean"),
        width,
        color="lightgray",
        label="original CoT",
    )
    bars = left.bar(
        [i + width / 2 for i in positions],
        value("cot_tokens_after_mean"),
        width,
        color="tab:blue",
        label="method's CoT",
    )
    left.bar_label(
        bars,
        labels=[
            f"{v:.0f}" if ok else ""
            for v, ok in zip(value("cot_tokens_after_mean"), ran, strict=True)
        ],
        fontsize=7,
    )
    left.set_ylabel("mean CoT tokens per sample")
    left.set_title("CoT tokens before and after compression")
    left.set_ylim(0, max([1.0, *value("cot_tokens_before_mean")]) * 1.3)
    left.legend(fontsize=8, loc="upper center", ncol=2)
    achieved = value("achieved_ratio")
    bars = right.bar(list(positions), achieved, color="tab:orange", label="achieved")
    right.bar_label(
        bars,
        labels=[f"{v:.2f}" if ok else "" for v, ok in zip(achieved, ran, strict=True)],
        fontsize=7,
    )
    requested = [
        (i, methods[n]["requested_ratio"])
        for i, n in enumerate(names)
        if ran[i] and methods[n].get("requested_ratio") is not None
    ]
    if requested:
        right.scatter(
            [i for i, _ in requested],
            [r for _, r in requested],
            marker="_",
            s=500,
            color="black",
            zorder=3,
            label="requested",
        )
    right.set_ylim(0, max([1.0, *achieved]) * 1.3)
    right.set_ylabel("CoT tokens after / before")
    right.set_title("Compression ratio: requested vs achieved")
    right.legend(fontsize=8, loc="upper center", ncol=2)
    for ax in (left, right):
        ax.set_xticks(list(positions), labels, rotation=25, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        for i, ok in enumerate(ran):
            if not ok:
                ax.text(
                    i,
                    0.02,
                    "not run",
                    rotation=90,
                    ha="center",
                    va="bottom",
                    transform=ax.get_xaxis_transform(),
                    fontsize=8,
                    color="dimgray",
                )
    add_run_note(fig, note)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
