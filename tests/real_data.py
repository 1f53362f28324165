"""The real training records and benchmark problems, normalised from the committed raw files.

Tests use these instead of the `data` stage's outputs, which a fresh clone does not have.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from asap.data import sources
from asap.data.benchmarks import normalise_benchmark
from asap.data.cots import normalise_records
from asap.repro.params import load_params

REPO = Path(__file__).resolve().parents[1]


def _data_params() -> dict[str, Any]:
    return load_params(REPO / "params.yaml")["embedded"]["data"]


@functools.cache
def _train_records() -> tuple[dict[str, Any], ...]:
    spec = _data_params()["train"]
    source = {"path": str(REPO / spec["source"]["path"])}
    records, _ = normalise_records(sources.iter_rows(source), spec["source"]["path"], spec["limit"])
    return tuple(records)


@functools.cache
def _problems(name: str) -> tuple[dict[str, Any], ...]:
    spec = _data_params()["benchmarks"][name]
    source = {"path": str(REPO / spec["path"])}
    return tuple(normalise_benchmark(name, sources.iter_rows(source), spec["path"]))


def train_records() -> list[dict[str, Any]]:
    """Every valid CodeForces-CoTs training record (fresh copies)."""
    return [dict(r) for r in _train_records()]


def benchmark_problems(name: str) -> list[dict[str, Any]]:
    """Every problem of benchmark `name` (fresh copies)."""
    return [dict(p) for p in _problems(name)]


def write_train_records(path: Path) -> Path:
    """Write the training records as the data stage would, for tests that need the file."""
    from asap.repro.io import write_jsonl

    write_jsonl(path, train_records())
    return path
