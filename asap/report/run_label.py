"""The run label: what a run is (params `<profile>.run_label`), read once and drawn on figures.

The embedded profile states its scale and that its numbers show the pipeline working, not the
paper's results; the paper profile's label is null, so its outputs carry no note.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from asap.repro.params import DEFAULT_PARAMS, active_profile, load_params

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def run_label(path: str | Path = DEFAULT_PARAMS) -> str | None:
    """The active profile's `run_label`, None when it has none."""
    label = active_profile(load_params(path)).get("run_label")
    return str(label) if label else None


def add_run_note(fig: Figure, note: str | None, width: int = 110) -> None:
    """`note` (the run label) in small grey type under the whole figure; nothing when None."""
    if note:
        fig.supxlabel(textwrap.fill(note, width), fontsize=7, color="dimgray")
