"""Trainings already done: one with the same fingerprint is copied, not run again.

A run's fingerprint (`asap.train.sft.run_fingerprint`) covers the SFT params, the tokenized
examples (ids, tokens and loss masks) and the base model; the index below also keys it by the
training code. Training is deterministic, so a second run with the same fingerprint would write
the same bytes as the first: when that first model folder is still on disk and unchanged (its
digest is checked), it is copied instead. This happens whenever two methods' datasets tokenize
to the same examples. In the embedded profile, whose 135M teacher has its coarse pruning
accepted for no record, w/o fine trains on Original's examples and ASAP on w/o coarse's.

The index is a `RecordCache` of small JSON entries (method, model digest, report, timings and
loss history), not of models: the model stays in its own DVC output.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from asap.model.digest import model_digest
from asap.repro.cache import RecordCache
from asap.repro.code import code_fingerprint
from asap.repro.io import staged_dir


@dataclass(frozen=True)
class TrainedRun:
    """What a finished training wrote: where, the folder's digest, its report and timings."""

    method: str
    model_digest: str
    report: dict[str, Any]
    timing: dict[str, Any]
    history: list[dict[str, float]]


class TrainedRuns:
    """Finished trainings by fingerprint, whose model folders live under `models_dir`."""

    def __init__(self, directory: str | Path, models_dir: str | Path, code_modules: list[str]):
        identity = {"format": 1, "code": code_fingerprint(code_modules)}
        self.cache = RecordCache(directory, identity, required=tuple(TrainedRun.__annotations__))
        self.models_dir = Path(models_dir)

    def find(self, fingerprint: str, method: str) -> TrainedRun | None:
        """The finished run of another method with this fingerprint whose model folder is
        still as it was written, or None."""
        entry = self.cache.get(self.cache.key(fingerprint))
        if entry is None or entry["method"] == method:
            return None
        run = TrainedRun(**{name: entry[name] for name in TrainedRun.__annotations__})
        source = self.models_dir / run.method
        if not source.is_dir() or model_digest(source) != run.model_digest:
            return None  # retrained on other data since, or edited: train this one
        return run

    def add(self, fingerprint: str, run: TrainedRun) -> None:
        self.cache.put(self.cache.key(fingerprint), asdict(run))

    def copy_model(self, run: TrainedRun, out_dir: Path) -> None:
        """Copy `run`'s model folder to `out_dir` (through a staging folder: never half there)."""
        with staged_dir(out_dir) as staging:
            shutil.copytree(self.models_dir / run.method, staging, dirs_exist_ok=True)
