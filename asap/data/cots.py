"""Normalising CodeForces-CoTs records into the training schema.

Training record (one JSON object per line of `data/train/cots.jsonl`)::

    id          str   source record id, e.g. "842/A"
    question    str   the user prompt the reasoning model answered
    generation  str   the full model output, "<think>\\n{cot}\\n</think>\\n{answer}"
    cot         str   the text between the think tags, surrounding whitespace stripped
    answer      str   the text after </think>, surrounding whitespace stripped
    code        str   the answer's final program: its last (or first, `code_block`) python block
    source      str   dataset the record came from
    meta        dict  scalar source metadata (title, contest, limits, year, problem type)

A record is rejected, with one of `REJECT_REASONS`, when its generation is empty or its CoT is
empty, when it was truncated (`finish_reason` other than "stop"), when it has no
`<think>...</think>` block, or when no python block follows `</think>`; a repeated id is rejected
as a duplicate. Nothing is dropped without a reason.

Which fences count as python blocks (`code_fence`): ``python``, a fence whose tag starts with
"python" (```python, ```python3); ``python_or_bare``, the authors' rule: the tag "python" in
any case, or no tag at all (```python, ```Python, ```). Which block is the final program
(`code_block`): ``last``, or ``first``, the block the authors show the teacher.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

THINK_RE = re.compile(r"^\s*<think>(.*?)</think>(.*)\Z", re.DOTALL)
CODE_FENCES = {
    "python": re.compile(r"```python[^\n]*\n(.*?)```", re.DOTALL),
    "python_or_bare": re.compile(r"```(?:python)?\n(.*?)```", re.DOTALL | re.IGNORECASE),
}
CODE_BLOCKS = ("last", "first")

REJECT_REASONS = ("empty", "truncated", "no_think", "no_code", "duplicate_id", "missing_field")
REQUIRED_FIELDS = ("id", "prompt", "generation")
META_FIELDS = (
    "title",
    "contest_id",
    "contest_name",
    "contest_start_year",
    "index",
    "time_limit",
    "memory_limit",
    "problem_type",
)


class Rejected(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        assert reason in REJECT_REASONS, reason
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def split_generation(generation: str) -> tuple[str, str]:
    """Return (cot, answer) of a `<think>...</think>` generation, or raise Rejected."""
    match = THINK_RE.match(generation)
    if match is None:
        raise Rejected("no_think", "no <think>...</think> block at the start of the generation")
    return match.group(1).strip(), match.group(2).strip()


@dataclass(frozen=True)
class CodeRule:
    """Which fenced blocks of the answer are python (`code_fence`) and which is the program."""

    code_fence: str = "python"
    code_block: str = "last"

    def __post_init__(self) -> None:
        if self.code_fence not in CODE_FENCES:
            raise ValueError(f"code_fence must be one of {sorted(CODE_FENCES)}")
        if self.code_block not in CODE_BLOCKS:
            raise ValueError(f"code_block must be one of {CODE_BLOCKS}")


def extract_python_block(answer: str, rule: CodeRule = CodeRule()) -> str | None:
    """The final program of `answer`: its last (or first) python fenced block, or None."""
    blocks = CODE_FENCES[rule.code_fence].findall(answer)
    if not blocks:
        return None
    return blocks[-1 if rule.code_block == "last" else 0].strip("\n")


def normalise_record(
    raw: dict[str, Any], source: str, rule: CodeRule = CodeRule()
) -> dict[str, Any]:
    """One raw CodeForces-CoTs row -> one training record, or raise Rejected."""
    missing = [name for name in REQUIRED_FIELDS if raw.get(name) is None]
    if missing:
        raise Rejected("missing_field", f"missing {', '.join(missing)}")
    generation = str(raw["generation"])
    if not generation.strip():
        raise Rejected("empty", "empty generation")
    finish_reason = raw.get("finish_reason")
    if finish_reason is not None and finish_reason != "stop":
        raise Rejected("truncated", f"finish_reason={finish_reason!r}")
    cot, answer = split_generation(generation)
    if not cot:
        raise Rejected("empty", "empty reasoning between the think tags")
    code = extract_python_block(answer, rule)
    if code is None or not code.strip():
        raise Rejected("no_code", f"no python block ({rule.code_fence}) after </think>")
    meta = {name: str(raw[name]) for name in META_FIELDS if raw.get(name) not in (None, "")}
    return {
        "id": str(raw["id"]),
        "question": str(raw["prompt"]),
        "generation": generation,
        "cot": cot,
        "answer": answer,
        "code": code,
        "source": source,
        "meta": meta,
    }


@dataclass
class NormaliseReport:
    """Counts of kept and rejected records, rejects grouped by reason with their ids."""

    read: int = 0
    kept: int = 0
    rejected: dict[str, list[str]] = field(default_factory=lambda: {r: [] for r in REJECT_REASONS})

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "kept": self.kept,
            "rejected_total": sum(len(ids) for ids in self.rejected.values()),
            "rejected": {
                reason: {"count": len(ids), "ids": ids} for reason, ids in self.rejected.items()
            },
        }


def normalise_records(
    rows: Iterable[dict[str, Any]],
    source: str,
    limit: int | None = None,
    rule: CodeRule = CodeRule(),
    limit_applies_to: str = "kept",
) -> tuple[list[dict[str, Any]], NormaliseReport]:
    """Normalise rows in order: at most `limit` accepted records (`limit_applies_to: kept`), or
    the accepted records among the first `limit` rows (`read`, as the authors' index range)."""
    if limit_applies_to not in ("kept", "read"):
        raise ValueError(f"limit_applies_to must be kept or read, got {limit_applies_to!r}")
    report = NormaliseReport()
    kept: list[dict[str, Any]] = []
    seen: set[str] = set()
    for position, raw in enumerate(rows):
        counted = len(kept) if limit_applies_to == "kept" else report.read
        if limit is not None and counted >= limit:
            break
        report.read += 1
        record_id = str(raw.get("id") or f"<row {position}>")
        try:
            record = normalise_record(raw, source, rule)
            if record["id"] in seen:
                raise Rejected("duplicate_id")
        except Rejected as rejection:
            report.rejected[rejection.reason].append(record_id)
            continue
        seen.add(record["id"])
        kept.append(record)
    report.kept = len(kept)
    return kept, report
