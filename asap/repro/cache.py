"""The one per-record cache of every stage: content-addressed JSON files, written atomically.

A result is stored under `<directory>/<key[:2]>/<key>.json`, where the key is the SHA-256 of
the cache's identity (the stage's settings, the fingerprints of the models it loads and the
code that computes the result: `asap.repro.code.code_fingerprint` of the stage's modules, the import
closure its DVC deps list) and of the record itself. A change to any of them gives new keys,
so no result of older settings or code is ever served. Files appear only complete (`atomic_path`):
a killed run leaves finished results, which a rerun reads back instead of recomputing, and
at most temporary files, which `remove_temp_files` deletes.

Users: the teacher's responses (`asap.teacher.client`), the surprisal scores
(`asap.pruning.surprisal`), the compressors' results (`asap.compression`), the evaluation's
generations (`asap.eval.generation`) and its reference outputs and CPU times
(`asap.eval.grading`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from asap.repro.io import DataError, dumps_stable, read_json, write_json

T = TypeVar("T")


def record_key(identity: Mapping[str, Any], record: Any) -> str:
    """The key `RecordCache(directory, identity).key(record)` gives, for callers that compute
    keys before they hold the cache (e.g. one generator serving the caches of several cells)."""
    return _key(dumps_stable(dict(identity)), record)


def _key(identity: str, record: Any) -> str:
    payload = dumps_stable({"identity": identity, "record": record})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class RecordCache:
    """Results of one configuration (`identity`), one JSON object per key under `directory`.

    A file that cannot be read, or lacks one of the `required` fields, counts as missing."""

    def __init__(
        self,
        directory: str | Path,
        identity: Mapping[str, Any] | None = None,
        required: Sequence[str] = (),
    ) -> None:
        self.directory = Path(directory)
        self.identity = dumps_stable(dict(identity or {}))
        self.required = tuple(required)

    def key(self, record: Any) -> str:
        """The key of `record` (any JSON value) under this cache's identity."""
        return _key(self.identity, record)

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        if not path.exists():
            return None
        try:
            value = read_json(path)
        except DataError:
            return None  # not one of ours (writes are atomic): compute again
        if not isinstance(value, dict) or any(name not in value for name in self.required):
            return None
        return value

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        write_json(self.path(key), dict(value))

    def prune(self, keep: Iterable[str]) -> int:
        """Delete every result whose key is not in `keep`; return how many were deleted."""
        if not self.directory.is_dir():
            return 0
        wanted = {f"{key}.json" for key in keep}
        stale = [p for p in self.directory.rglob("*.json") if p.name not in wanted]
        for path in stale:
            path.unlink()
        return len(stale)

    def remove_temp_files(self) -> int:
        """Delete the temporary files a killed writer left (never read as results)."""
        removed = 0
        if self.directory.is_dir():
            for tmp in self.directory.rglob(".*.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                    removed += 1
        return removed


def run_cached(
    cache: RecordCache,
    records: Sequence[T],
    compute: Callable[[list[T]], list[dict[str, Any]]],
    *,
    key_of: Callable[[T], Any] = lambda record: record,
    chunk_size: int = 1,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[int, int], None] | None = None,
    prune: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """The result of every record, from the cache or computed in chunks of `chunk_size` records
    (each chunk stored as soon as it is done); also how many were computed.

    `key_of(record)` is the part of a record its result depends on; `on_plan(cached, pending)`
    is called once the cache is read, `progress(n)` after each chunk; `prune` deletes the
    results no current record maps to."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    keys = [cache.key(key_of(record)) for record in records]
    results = [cache.get(key) for key in keys]
    pending = [i for i, result in enumerate(results) if result is None]
    if on_plan is not None:
        on_plan(len(records) - len(pending), len(pending))
    for start in range(0, len(pending), chunk_size):
        chunk = pending[start : start + chunk_size]
        outputs = compute([records[i] for i in chunk])
        if len(outputs) != len(chunk):
            raise RuntimeError(f"computed {len(outputs)} results for {len(chunk)} records")
        for i, output in zip(chunk, outputs, strict=True):
            cache.put(keys[i], output)
            results[i] = output
        if progress is not None:
            progress(len(chunk))
    if prune:
        cache.prune(keys)
    return [result for result in results if result is not None], len(pending)
