"""SFT datasets: one JSONL file per method, `data/sft/<method>.jsonl`.

SFT record (one JSON object per line)::

    id             str   training-record id (unique within the file)
    question       str   the user turn
    cot            str   the (compressed) reasoning, placed between the think tags
    answer         str   the final answer after </think>, kept verbatim from the training record
    method         str   the method that produced the CoT (a key of `asap.methods.METHODS`)
    prompt_suffix  str   optional: appended verbatim to the question inside the user turn
                         (TokenSkip puts its compression ratio there)

Other fields (`code`, `source`, `meta`, `tokenskip_ratio`, ...) are carried along and ignored by
the trainer. The SFT response is `<think>\\n{cot}\\n</think>\\n{answer}` (see `asap.train.sft`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from asap.repro.io import DataError

REQUIRED_FIELDS = ("id", "question", "cot", "answer", "method")
CARRIED_FIELDS = ("code", "source", "meta")


def sft_record(record: dict[str, Any], method: str, cot: str, **extra: Any) -> dict[str, Any]:
    """An SFT record from a training record (`asap.data.cots` schema) and the method's CoT."""
    out = {
        "id": record["id"],
        "question": record["question"],
        "cot": cot,
        "answer": record["answer"],
        "method": method,
    }
    out.update({name: record[name] for name in CARRIED_FIELDS if name in record})
    out.update(extra)
    return out


def _where(source: str | Path, position: int, record: dict[str, Any]) -> str:
    return f"{source}: record {position} (id {record.get('id')!r})"


def check_cot_records(
    records: list[dict[str, Any]], source: str | Path, fields: tuple[str, ...]
) -> None:
    """Raise DataError naming the file and record when one of `fields` is missing or not a
    string, the `cot` is empty, or an id repeats."""
    seen: set[str] = set()
    for position, record in enumerate(records, start=1):
        for name in fields:
            if not isinstance(record.get(name), str):
                where = _where(source, position, record)
                raise DataError(f"{where}: field {name!r} missing or not a string")
        if not record["cot"].strip():
            raise DataError(f"{_where(source, position, record)}: empty cot")
        if record["id"] in seen:
            raise DataError(f"{_where(source, position, record)}: duplicate id")
        seen.add(record["id"])


def validate_sft_records(
    records: list[dict[str, Any]], source: str | Path, method: str | None = None
) -> None:
    """Raise DataError naming the file and record when a record breaks the SFT schema."""
    check_cot_records(records, source, REQUIRED_FIELDS)
    for position, record in enumerate(records, start=1):
        where = _where(source, position, record)
        if not record["answer"].strip():
            raise DataError(f"{where}: empty answer")
        if method is not None and record["method"] != method:
            raise DataError(f"{where}: method {record['method']!r}, expected {method!r}")
        suffix = record.get("prompt_suffix")
        if suffix is not None and not isinstance(suffix, str):
            raise DataError(f"{where}: prompt_suffix must be a string")


def common_record_ids(
    datasets: Mapping[str, Sequence[dict[str, Any]]],
    fits: Callable[[str, dict[str, Any]], bool],
) -> list[str]:
    """Ids every non-empty dataset has and trains on, sorted; `fits(method, record)` says
    whether the method's record is trained on (within max_seq_length).

    Empty datasets (methods not run) take no part. This is the record set of `same_records`:
    every method then trains on the same problems, so a record a method loses (a failed coarse
    pruning with `on_failure: drop`, a CoT over max_seq_length) leaves every method's set.
    """
    common: set[str] | None = None
    for method, records in datasets.items():
        if not records:
            continue
        ids = {record["id"] for record in records if fits(method, record)}
        common = ids if common is None else common & ids
    return sorted(common or ())


def restrict_to(
    records: list[dict[str, Any]], selection: Mapping[str, Any], source: str | Path
) -> list[dict[str, Any]]:
    """`records` limited to the selection of `data/sft_records.json` (all when it is off)."""
    if not selection.get("same_records"):
        return records
    ids = selection.get("ids")
    if not isinstance(ids, list):
        raise DataError(f"{source}: same_records is on but no list of ids is given")
    keep = set(ids)
    return [record for record in records if record["id"] in keep]
