"""PNG figures with matplotlib (Agg): token-budget curves (Figure 3) and compression per stage.

Every figure has a fixed size and dpi, and is written without timestamps or software
metadata, so identical inputs give byte-identical files. Missing inputs are drawn as an
explicit note on the figure instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from asap.report.run_label import add_run_note
from asap.report.stats import Summary
from asap.repro.io import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
BUDGET_FIGSIZE = (12.0, 3.6)  # 1200 x 360 px
COMPRESSION_FIGSIZE = (10.0, 4.0)  # 1000 x 400 px
PNG_METADATA = {"Software": None}
STYLE = {
    "svg.hashsalt": "asap",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h")


@dataclass(frozen=True)
class StageTokens:
    """Average tokens per sample after one pipeline stage (Original, coarse, fine, ...)."""

    label: str
    tokens: float


@dataclass(frozen=True)
class MethodCompression:
    """Achieved (and, where the method has one, requested) compression ratio of a method."""

    label: str
    achieved: float
    requested: float | None = None


def pixel_size(figsize: tuple[float, float]) -> tuple[int, int]:
    """(width, height) in pixels of a figure saved at DPI."""
    return round(figsize[0] * DPI), round(figsize[1] * DPI)


def _figure(figsize: tuple[float, float], ncols: int) -> tuple[Figure, list[Axes]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    fig, axes = plt.subplots(1, ncols, figsize=figsize, dpi=DPI, layout="constrained")
    return fig, list(axes) if ncols > 1 else [axes]


def _save(fig: Figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata=PNG_METADATA)
    plt.close(fig)


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def budget_figure(
    path: Path,
    title: str,
    series: Mapping[str, Sequence[tuple[int, Summary]]],
    budget_labels: Mapping[int, str],
    note: str | None = None,
) -> None:
    """Accuracy, tokens and latency against token budget, one line per method (Figure 3).

    `series[label]` lists (budget, summary) for the budgets that method was run at.
    """
    fig, axes = _figure(BUDGET_FIGSIZE, 3)
    panels = (
        ("pass_at_1", "Pass@1 (%)"),
        ("avg_tokens", "Avg. generated tokens"),
        ("avg_latency_s", "Avg. latency (s)"),
    )
    budgets = sorted(budget_labels)
    drawn = {label: points for label, points in series.items() if points}
    for ax, (attribute, ylabel) in zip(axes, panels, strict=True):
        if not drawn:
            _empty(ax, "no evaluation results")
            continue
        for i, (label, points) in enumerate(series.items()):
            if not points:
                continue  # keeps each method's colour and marker whichever others are missing
            ordered = sorted(points, key=lambda point: point[0])
            ax.plot(
                [b for b, _ in ordered],
                [getattr(s, attribute) for _, s in ordered],
                color=f"C{i % 10}",
                marker=MARKERS[i % len(MARKERS)],
                label=label,
            )
        ax.set_ylim(bottom=0)  # counts, seconds and percentages start at zero
        if ax.get_ylim()[1] < 1:
            ax.set_ylim(top=1)  # all-zero data: a readable axis rather than 0.00-0.05
        ax.set_xticks(budgets, [budget_labels[b] for b in budgets])
        ax.set_xlabel("Token budget")
        ax.set_ylabel(ylabel)
    if drawn:
        axes[0].legend(loc="best", fontsize=8)
    fig.suptitle(title)
    add_run_note(fig, note)
    _save(fig, path)


def compression_figure(
    path: Path,
    stages: Sequence[StageTokens] | None,
    methods: Sequence[MethodCompression] | None,
    stages_missing: str,
    methods_missing: str,
    note: str | None = None,
) -> None:
    """Left: ASAP's tokens per sample after each stage; right: compression ratio per method.

    `*_missing` is drawn in a panel without data; `note` under the figure (e.g. methods not run).
    """
    fig, (left, right) = _figure(COMPRESSION_FIGSIZE, 2)
    if stages:
        positions = range(len(stages))
        bars = left.bar(positions, [s.tokens for s in stages], color="tab:blue")
        left.bar_label(bars, fmt="%.0f", fontsize=8)
        left.set_xticks(list(positions), [s.label for s in stages])
        left.set_ylabel("Avg. CoT tokens per sample")
    else:
        _empty(left, stages_missing)
    left.set_title("ASAP: tokens per sample after each stage")
    if methods:
        positions = range(len(methods))
        bars = right.bar(positions, [m.achieved for m in methods], color="tab:orange")
        right.bar_label(bars, fmt="%.2f", fontsize=8, label_type="center")
        requested = [(i, m.requested) for i, m in enumerate(methods) if m.requested is not None]
        if requested:
            right.scatter(
                [i for i, _ in requested],
                [r for _, r in requested],
                marker="_",
                s=400,
                color="black",
                label="requested",
                zorder=3,
            )
            right.legend(loc="best", fontsize=8)
        right.set_xticks(list(positions), [m.label for m in methods], rotation=20, ha="right")
        right.set_ylabel("CoT tokens after / before")
        right.set_ylim(0, max(1.0, *(m.achieved for m in methods)) * 1.1)
    else:
        _empty(right, methods_missing)
    right.set_title("Compression ratio per method")
    add_run_note(fig, note)
    _save(fig, path)


def plot_not_run(path: Path, title: str, reason: str, note: str | None = None) -> None:
    """A figure that states why its data does not exist in this profile (and `note`, the run
    label, under it)."""
    fig, (ax,) = _figure((6.0, 3.5), 1)
    ax.set_title(title)
    _empty(ax, f"not run in this profile:\n{reason}")
    add_run_note(fig, note, width=80)
    _save(fig, path)
