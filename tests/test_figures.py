"""Figures: PNG files of a fixed pixel size, byte-identical for identical inputs, gaps drawn."""

from __future__ import annotations

import matplotlib.colors
import matplotlib.image
import matplotlib.text
import pytest

from asap.report import figures
from asap.report.stats import Summary

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sweep() -> dict[str, list[tuple[int, Summary]]]:
    # LiveCodeBench v4_v5 from the paper's Table 10, two methods; Original was not run.
    asap = [(2048, 13.43, 1930, 0.54), (6144, 30.60, 4988, 1.85), (10240, 36.19, 6035, 2.61)]
    spirit = [(2048, 8.21, 1993, 0.56), (6144, 26.49, 5237, 1.93), (10240, 33.58, 7892, 4.62)]
    return {
        label: [(b, Summary(268, round(a * 2.68), a, t, s)) for b, a, t, s in points]
        for label, points in (("SPIRIT", spirit), ("ASAP", asap), ("Original", []))
    }


def check_png(path, figsize) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, height = figures.pixel_size(figsize)
    assert matplotlib.image.imread(path).shape[:2] == (height, width)
    assert b"Software" not in data and b"matplotlib" not in data  # no tool or time metadata


def test_budget_figure_has_fixed_size_and_identical_bytes(tmp_path):
    labels = {2048: "2K", 6144: "6K", 10240: "10K"}
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    figures.budget_figure(first, "LiveCodeBench v4_v5", sweep(), labels, "not run: Original")
    figures.budget_figure(second, "LiveCodeBench v4_v5", sweep(), labels, "not run: Original")
    check_png(first, figures.BUDGET_FIGSIZE)
    assert first.read_bytes() == second.read_bytes()
    other = tmp_path / "c.png"
    figures.budget_figure(other, "LiveCodeBench v4_v5", sweep(), labels, None)
    assert other.read_bytes() != first.read_bytes()  # the gap note is drawn


def test_budget_figure_without_any_results_still_renders(tmp_path):
    path = tmp_path / "empty.png"
    figures.budget_figure(path, "HumanEval", {"ASAP": []}, {}, "no token-budget sweep")
    check_png(path, figures.BUDGET_FIGSIZE)


def saved_figures(monkeypatch) -> list:
    """The matplotlib figures the figure functions save, kept as they are written."""
    saved = []
    save = figures._save

    def keep(fig, path) -> None:
        saved.append(fig)
        save(fig, path)

    monkeypatch.setattr(figures, "_save", keep)
    return saved


def has_colour(path, colour: str) -> bool:
    """Whether any pixel of the PNG at `path` is exactly `colour` (a bar's fill)."""
    pixels = (matplotlib.image.imread(path)[..., :3] * 255).round().astype(int)
    rgb = [round(c * 255) for c in matplotlib.colors.to_rgb(colour)]
    return bool((pixels == rgb).all(axis=-1).any())


@pytest.mark.parametrize("present", [True, False])
def test_compression_figure_with_and_without_inputs(tmp_path, monkeypatch, present):
    stages = [
        figures.StageTokens("Original", 13023),
        figures.StageTokens("Coarse", 6000),
        figures.StageTokens("Fine", 3178),
    ]
    methods = [
        figures.MethodCompression("SPIRIT", 0.47, 0.5),
        figures.MethodCompression("TokenSkip", 0.75, None),
    ]
    missing = ("reports/pruning.json not present", "reports/compression.json not present")
    saved = saved_figures(monkeypatch)
    path = tmp_path / "compression.png"
    figures.compression_figure(
        path, stages if present else None, methods if present else None, *missing
    )
    check_png(path, figures.COMPRESSION_FIGSIZE)
    (fig,) = saved
    left, right = fig.axes
    texts = {t.get_text() for t in fig.findobj(matplotlib.text.Text)}
    heights = [[bar.get_height() for bar in ax.patches] for ax in (left, right)]
    if present:  # the bars are the inputs, labelled with their values; no missing note
        assert heights == [[13023, 6000, 3178], [0.47, 0.75]]
        assert [t.get_text() for t in left.get_xticklabels()] == ["Original", "Coarse", "Fine"]
        assert [t.get_text() for t in right.get_xticklabels()] == ["SPIRIT", "TokenSkip"]
        assert {"13023", "6000", "3178", "0.47", "0.75"} <= texts
        (requested,) = right.collections  # the one requested ratio, SPIRIT's
        assert requested.get_offsets().tolist() == [[0.0, 0.5]]
        assert not texts & set(missing)
    else:  # no bars, each panel states which input is missing
        assert heights == [[], []]
        assert set(missing) <= texts
    # the PNG itself: the stage (blue) and method (orange) bars are drawn only with inputs
    assert has_colour(path, "tab:blue") is present
    assert has_colour(path, "tab:orange") is present
