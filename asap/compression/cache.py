"""Per-record results of a compressor, kept on disk so an interrupted run redoes nothing finished.

One JSON file per record, named by the SHA-256 of everything that determines the result: the
method, its settings, the fingerprints of the models it uses, the code that computes it
(`asap.code.code_fingerprint`: every repository module the compressor imports, so no edited
module serves results of the old code) and the record's id, question and CoT. Files are
written atomically as soon as their chunk of records is done; a rerun reads them back instead
of recomputing. `prune` removes files no current record maps to, so the cache holds exactly the
results of the last run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from asap.io import DataError, dumps_stable, read_json, write_json


class RecordCache:
    """Results of one compressor configuration, one file per record, under `directory`."""

    def __init__(self, directory: str | Path, identity: dict[str, Any]) -> None:
        self.directory = Path(directory)
        self.identity = dumps_stable(identity)

    def key(self, record: dict[str, Any]) -> str:
        payload = dumps_stable(
            {
                "identity": self.identity,
                "id": record["id"],
                "question": record["question"],
                "cot": record["cot"],
            }
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def path(self, record: dict[str, Any]) -> Path:
        return self.directory / f"{self.key(record)}.json"

    def get(self, record: dict[str, Any]) -> dict[str, Any] | None:
        path = self.path(record)
        if not path.exists():
            return None
        try:
            result = read_json(path)
        except DataError:
            return None  # unreadable: recompute (files are written atomically, so rare)
        return result if isinstance(result, dict) and "cot" in result else None

    def put(self, record: dict[str, Any], result: dict[str, Any]) -> None:
        write_json(self.path(record), result)

    def prune(self, records: Sequence[dict[str, Any]]) -> int:
        """Delete cached files of records not in `records`; return how many were deleted."""
        if not self.directory.is_dir():
            return 0
        wanted = {f"{self.key(r)}.json" for r in records}
        stale = [p for p in self.directory.glob("*.json") if p.name not in wanted]
        for path in stale:
            path.unlink()
        return len(stale)


def run_cached(
    records: Sequence[dict[str, Any]],
    compute: Callable[[Sequence[dict[str, Any]]], list[dict[str, Any]]],
    cache: RecordCache,
    chunk_size: int = 1,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Results for every record (cached or computed in chunks); also the number computed.

    `progress(n)` is called after each chunk with the number of records it computed.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    results: list[dict[str, Any] | None] = [cache.get(r) for r in records]
    pending = [i for i, result in enumerate(results) if result is None]
    for start in range(0, len(pending), chunk_size):
        chunk = pending[start : start + chunk_size]
        outputs = compute([records[i] for i in chunk])
        if len(outputs) != len(chunk):
            raise RuntimeError(f"compressor returned {len(outputs)} results for {len(chunk)}")
        for i, output in zip(chunk, outputs, strict=True):
            cache.put(records[i], output)
            results[i] = output
        if progress is not None:
            progress(len(chunk))
    return [r for r in results if r is not None], len(pending)
