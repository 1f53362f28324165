"""The run label: what the embedded run is, stated by its own params and drawn on every figure."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib.figure
import pytest

from asap.compression.report import compression_figure
from asap.pruning.report import plot_token_distributions
from asap.report.figures import plot_not_run
from asap.repro.params import load_params
from asap.train.sft import plot_loss

LABEL = "Embedded profile: 4 records, 2 problems per benchmark. Not the paper's results."


def test_the_embedded_label_states_the_scale_its_params_run(repo_root: Path) -> None:
    params = load_params(repo_root / "params.yaml")
    embedded, label = params["embedded"], " ".join(params["embedded"]["run_label"].split())
    assert params["paper"]["run_label"] is None  # the paper's run carries no caveat
    source = repo_root / embedded["data"]["train"]["source"]["path"]
    records = sum(1 for line in source.read_text(encoding="utf-8").splitlines() if line.strip())
    assert embedded["data"]["train"]["limit"] is None  # every committed record is trained on
    assert f"the {records} committed training records" in label
    assert f"the first {embedded['eval']['problems']} problems of each benchmark" in label
    (budget,) = set(embedded["eval"]["budgets"].values())
    assert f"{budget}-token budgets" in label
    sweep = sorted(
        {b for budgets in embedded["eval"]["sweep"]["budgets"].values() for b in budgets}
    )
    assert f"({' and '.join(map(str, sweep))} in the sweeps)" in label
    teachers = {embedded[k]["teacher"]["model"] for k in ("anchor", "coarse")}
    assert teachers | {embedded["surprisal"]["scorer"]} == {"models/base"}
    assert embedded["sft_base_model"]["target"] == "models/base"
    assert re.search(r"SmolLM2-135M as scorer, teacher and student", label)
    assert embedded["base_model"]["gguf_member"].startswith("SmolLM2-135M")
    assert "not the paper's results" in label


@pytest.fixture
def drawn_notes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text under every figure saved while the test runs."""
    notes: list[str] = []
    savefig = matplotlib.figure.Figure.savefig

    def recording(self: matplotlib.figure.Figure, *args: Any, **kwargs: Any) -> None:
        label = self._supxlabel  # set by Figure.supxlabel
        notes.append(" ".join(label.get_text().split()) if label is not None else "")
        savefig(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", recording)
    return notes


def test_every_stage_figure_carries_the_label(tmp_path: Path, drawn_notes: list[str]) -> None:
    plot_token_distributions(
        tmp_path / "p.png", {"original": [900, 1200], "asap": [400, 500]}, 512, LABEL
    )
    compression_figure(tmp_path / "c.png", {"llmlingua2": {"status": "not_run"}}, LABEL)
    plot_loss(
        [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}], tmp_path / "l.png", "SFT", LABEL
    )
    plot_not_run(tmp_path / "n.png", "SFT loss: TokenSkip", "disabled", LABEL)
    assert drawn_notes == [LABEL] * 4
    assert all(
        (tmp_path / name).stat().st_size > 0 for name in ("p.png", "c.png", "l.png", "n.png")
    )


def test_no_label_draws_nothing(tmp_path: Path, drawn_notes: list[str]) -> None:
    plot_loss([{"step": 1, "loss": 2.0}], tmp_path / "l.png", "SFT")
    plot_token_distributions(tmp_path / "p.png", {"original": [900]}, 512)
    assert drawn_notes == ["", ""]
