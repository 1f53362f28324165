"""The Direct CoT (anchor) of every training record, and the anchor stage's report figures."""

from __future__ import annotations

from typing import Any

from asap.teacher.client import Completion, Teacher
from asap.teacher.prompts import PromptTemplate, anchor_messages


def anchor_all(
    teacher: Teacher, records: list[dict[str, Any]], template: PromptTemplate
) -> list[Completion]:
    """One anchor completion per record (from its question and final code), in order."""
    return teacher.map(
        lambda record: teacher.complete(
            anchor_messages(template, record["question"], record["code"])
        ),
        records,
    )


def anchor_report(records: list[dict[str, Any]], completions: list[Completion]) -> dict[str, Any]:
    """Records, the ids of truncated and empty anchors, and output tokens per record."""
    pairs = list(zip(records, completions, strict=True))
    tokens = {r["id"]: c.completion_tokens or 0 for r, c in pairs}
    return {
        "records": len(records),
        "truncated_ids": [r["id"] for r, c in pairs if c.truncated],
        "empty_ids": [r["id"] for r, c in pairs if not c.text.strip()],
        "output_tokens": {
            "total": sum(tokens.values()),
            "mean_per_record": sum(tokens.values()) / len(tokens) if tokens else None,
            "per_record": tokens,
        },
    }
