"""Per-record pruning statistics across pipeline stages, and their token-distribution figure.

A stage's record is measured by its number of steps (`asap.data.steps.split_steps`) and the tokens
of its joined steps under the scorer's tokenizer (no special tokens), the count the surprisal
budget uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from statistics import fmean
from typing import Any

from asap.data.steps import join_steps, split_steps
from asap.report.run_label import add_run_note
from asap.repro.io import atomic_path

FIGSIZE = (10.0, 4.0)
DPI = 100


def cot_size(cot: str, count_tokens: Callable[[str], int]) -> dict[str, int]:
    steps = split_steps(cot)
    return {"steps": len(steps), "tokens": count_tokens(join_steps(steps)) if steps else 0}


def stage_means(
    per_record: Sequence[Mapping[str, Any]], order: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Mean steps and tokens before and after each pruning stage (each entry of `order` after
    the first), and the mean per-record ratio of its tokens after to before."""
    means: dict[str, dict[str, float]] = {}
    for before, after in pairwise(order):
        block: dict[str, float] = {}
        for side, stage in (("before", before), ("after", after)):
            for unit in ("steps", "tokens"):
                values = [record[stage][unit] for record in per_record]
                block[f"{unit}_{side}"] = round(fmean(values), 3) if values else 0.0
        ratios = [r[after]["tokens"] / max(r[before]["tokens"], 1) for r in per_record]
        block["token_ratio"] = round(fmean(ratios), 4) if ratios else 0.0
        means[after] = block
    return means


def pruning_report(
    outputs: Sequence[Mapping[str, Any]],
    originals: Mapping[str, str],
    input_label: str | None,
    count_tokens: Callable[[str], int],
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """Steps and tokens per record at each stage: original -> `input_label` -> surprisal.

    `outputs` are `asap surprisal` result records; `originals` maps id -> original CoT.
    `input_label` is None when the surprisal stage read the original CoTs themselves.
    """
    order = ["original", *([input_label] if input_label else []), "surprisal"]
    per_record = []
    for out in outputs:
        entry: dict[str, Any] = {
            "id": out["id"],
            "original": cot_size(originals[out["id"]], count_tokens),
            "surprisal": {"steps": sum(out["kept"]), "tokens": out["tokens_after"]},
            "over_budget": out["over_budget"],
        }
        if input_label:
            entry[input_label] = {"steps": len(out["steps"]), "tokens": out["tokens_before"]}
        per_record.append(entry)
    return {
        **settings,
        "stage_order": order,
        "records": len(per_record),
        "records_original": len(originals),
        "over_budget": sorted(out["id"] for out in outputs if out["over_budget"]),
        "stages": stage_means(per_record, order),
        "per_record": per_record,
    }


def plot_token_distributions(
    path: str | Path,
    tokens_by_stage: Mapping[str, Sequence[int]],
    budget: int,
    note: str | None = None,
) -> None:
    """Box plots (with every record as a point) and histograms of tokens per stage, as PNG;
    `note` (the run label) under the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = list(tokens_by_stage)
    with plt.rc_context({"font.family": "DejaVu Sans", "font.size": 9, "axes.grid": True}):
        fig, (box_ax, hist_ax) = plt.subplots(1, 2, figsize=FIGSIZE, dpi=DPI)
        values = [list(tokens_by_stage[s]) for s in stages]
        box_ax.boxplot(values, tick_labels=stages, showfliers=False)
        for position, stage_values in enumerate(values, start=1):
            spread = [position + 0.15 * ((i % 7) - 3) / 3 for i in range(len(stage_values))]
            box_ax.scatter(spread, stage_values, s=10, alpha=0.6)
        box_ax.axhline(budget, linestyle="--", color="grey", label=f"budget {budget}")
        box_ax.set_ylabel("CoT tokens")
        box_ax.set_title("CoT tokens per stage")
        box_ax.legend(loc="upper right")
        populated = [v for v in values if v]
        top = max((max(v) for v in populated), default=budget)
        bins = [top * i / 30 for i in range(31)] if top > 0 else 10
        for stage, stage_values in zip(stages, values, strict=True):
            hist_ax.hist(stage_values, bins=bins, histtype="step", linewidth=1.5, label=stage)
        hist_ax.axvline(budget, linestyle="--", color="grey")
        hist_ax.set_xlabel("CoT tokens")
        hist_ax.set_ylabel("records")
        hist_ax.set_title(f"Distribution ({len(values[0]) if values else 0} records)")
        hist_ax.legend(loc="upper right")
        add_run_note(fig, note)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", metadata={"Software": None})
        plt.close(fig)
