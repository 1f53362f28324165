"""One method's SFT dataset: every training record with its CoT compressed, through the
per-record cache (`asap.repro.cache`) so that a rerun computes only unfinished records."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from asap.compression import SFT_FIELDS, Compressor, Models, cache_record
from asap.data.sft import sft_record
from asap.repro.cache import RecordCache, run_cached


def compress_dataset(
    method: str,
    compressor: Compressor,
    models: Models,
    records: Sequence[dict[str, Any]],
    cache_dir: str | Path,
    code: str,
    chunk_records: int = 1,
) -> tuple[list[dict[str, Any]], int]:
    """The SFT records of `method` (question and answer verbatim, the CoT compressed) and how
    many were computed rather than read from the cache in `cache_dir`. The cache is keyed by
    the method, the compressor's settings, the fingerprints of its models and `code` (a
    fingerprint of the code that computes the results); afterwards it holds exactly this run's
    results."""
    cache = RecordCache(
        cache_dir,
        {
            "method": method,
            "settings": compressor.settings(),
            "models": models.fingerprints,
            "code": code,
        },
        required=("cot",),
    )
    with tqdm(desc=f"compress {method}", unit="record") as bar:
        results, computed = run_cached(
            cache,
            records,
            compressor.compress,
            key_of=cache_record,
            chunk_size=chunk_records,
            progress=bar.update,
            prune=True,
        )
    sft = [
        sft_record(
            record,
            method,
            result["cot"],
            **{name: result[name] for name in SFT_FIELDS if name in result},
        )
        for record, result in zip(records, results, strict=True)
    ]
    return sft, computed
