"""Reading `params.yaml`: a top-level `profile` key selects one profile section.

The layout is::

    profile: embedded          # or: paper
    embedded:
      data: {...}              # one section per stage
      ...
    paper:
      data: {...}

Stages declare `${profile}.<stage>` in `dvc.yaml`, so DVC tracks exactly the section a stage
reads, and `dvc exp run -S profile=paper` switches every stage at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from asap.repro.io import DataError

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        params = yaml.safe_load(handle)
    if not isinstance(params, dict) or "profile" not in params:
        raise DataError(f"{path}: expected a mapping with a top-level 'profile' key")
    return params


def active_profile(params: dict[str, Any]) -> dict[str, Any]:
    name = params["profile"]
    if name not in params:
        known = sorted(k for k, v in params.items() if isinstance(v, dict))
        raise DataError(f"params: profile {name!r} has no section; known sections: {known}")
    return params[name]


def stage_params(stage: str, path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """The active profile's section for `stage`."""
    profile = active_profile(load_params(path))
    if stage not in profile:
        raise DataError(f"{path}: the active profile has no section {stage!r}")
    return profile[stage]
