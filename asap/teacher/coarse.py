"""Anchor-guided coarse pruning (paper section 3.2) with validation and counted resampling.

Modes:
- ``rewrite`` (paper): the teacher returns the pruned CoT as text. It is valid when it is not
  empty and `asap.matching.ordered_match` finds every one of its steps, in order, among the
  original steps (ratio >= threshold). The coarse CoT is the teacher's text (`rewrite_output:
  teacher`, as in the paper) or the matched original steps (`original`: exact wording).
- ``select`` (beyond the paper): the teacher answers with the numbers of the steps to keep
  (`parse_selection`); the coarse CoT is those original steps, so wording is kept by
  construction. An answer that does not parse, names a step that does not exist, or names every
  step (no pruning at all: what a small teacher that lists the steps in order gives) is invalid.

Every attempt is one teacher request with its own cache key (``sample_index`` = attempt). The
first attempt samples at `temperature`, later ones at `resample_temperature` (the paper uses 2.0
for both). A truncated answer (finish_reason "length") is invalid unless `accept_truncated`. A
record with no valid answer after `max_attempts` is dropped or keeps its original CoT
(`on_failure`); either way it is listed in the report.
"""

from __future__ import annotations

import functools
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from asap.data.steps import join_steps, split_steps
from asap.matching import match_indices
from asap.repro.io import DataError
from asap.teacher.client import Teacher
from asap.teacher.prompts import PromptTemplate, rewrite_messages, select_messages, strip_fence

MODES = ("rewrite", "select")
ON_FAILURE = ("drop", "keep_original")
REWRITE_OUTPUTS = ("teacher", "original")
INPUT_FIELDS = ("id", "question", "cot", "anchor")
REASONS = (
    "accepted", "empty", "truncated", "no_match", "unparseable", "out_of_range", "keeps_all",
    "same_as_other",
)  # fmt: skip


@dataclass(frozen=True)
class CoarseSettings:
    """The `coarse` params besides the teacher block."""

    mode: str = "rewrite"
    threshold: float = 0.6
    autojunk: bool = False
    max_attempts: int = 5
    temperature: float = 2.0
    resample_temperature: float = 2.0
    on_failure: str = "keep_original"
    accept_truncated: bool = False
    rewrite_output: str = "teacher"
    prompt: str | None = (
        None  # template file (asap.teacher.prompts); None: the bundled one of the mode
    )
    strip_fence: bool = True  # rewrite mode: drop a ``` fence wrapped around the whole answer
    # select mode: a selection that another record's answer repeats exactly is not accepted
    distinct_selections: bool = True

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CoarseSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise DataError(f"params: unknown coarse settings {unknown}; known: {sorted(known)}")
        settings = cls(**params)
        settings.validate()
        return settings

    def template(self) -> PromptTemplate:
        """The prompt template of this mode (`prompt`, or the bundled default)."""
        return _template(self.mode, self.prompt)

    def validate(self) -> None:
        checks = (
            (self.mode in MODES, f"mode must be one of {MODES}, got {self.mode!r}"),
            (self.on_failure in ON_FAILURE, f"on_failure must be one of {ON_FAILURE}"),
            (self.rewrite_output in REWRITE_OUTPUTS, f"rewrite_output: one of {REWRITE_OUTPUTS}"),
            (0.0 <= self.threshold <= 1.0, f"threshold must be in [0, 1], got {self.threshold}"),
            (self.max_attempts >= 1, f"max_attempts must be >= 1, got {self.max_attempts}"),
        )
        for ok, message in checks:
            if not ok:
                raise DataError(f"params: coarse {message}")


@dataclass(frozen=True)
class Outcome:
    """The verdict on one teacher answer: kept original step indices when valid."""

    reason: str
    kept: list[int] | None = None
    steps: list[str] | None = None

    @property
    def accepted(self) -> bool:
        return self.reason == "accepted"


@dataclass
class CoarseResult:
    """Per-record result: the coarse CoT (None when no attempt was valid) and the attempts."""

    id: str
    steps_before: int
    cot: str | None = None
    kept: list[int] | None = None
    reasons: list[str] = field(default_factory=list)
    output_tokens: list[int | None] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.cot is not None

    @property
    def attempts(self) -> int:
        return len(self.reasons)

    @property
    def total_output_tokens(self) -> int:
        return sum(tokens or 0 for tokens in self.output_tokens)

    @property
    def steps_after(self) -> int | None:
        return len(split_steps(self.cot)) if self.cot is not None else None


NUMBER_OR_RANGE = r"\d+(?:\s*[-–]\s*\d+)?"
SELECTION_RE = re.compile(
    rf"^(?:[A-Za-z][A-Za-z ]*:?\s*)?(?P<list>{NUMBER_OR_RANGE}(?:\s*(?:,|;|\s|and)\s*"
    rf"{NUMBER_OR_RANGE})*)\s*\.?$"
)
DECORATION_RE = re.compile(r"[\[\]()*`]")


def parse_selection(text: str, n_steps: int) -> list[int]:
    """0-based indices of the steps an answer like "1, 2, 5-7" names, sorted and unique.

    The selection is the answer's last non-empty line, which must be a list of numbers and
    ranges (optionally after a label such as "Steps to keep:", with brackets, bold or code marks
    ignored): the prompt asks for the numbers and nothing else, so text after them, or a list
    only somewhere inside a rambling answer, is no selection. Raises ValueError("unparseable")
    when that line is no such list, ValueError("out_of_range") when a number is not a step
    (1..n_steps) or a range runs backwards.
    """
    lines = text.strip().splitlines()
    match = SELECTION_RE.match(DECORATION_RE.sub(" ", lines[-1]).strip()) if lines else None
    if match is None:
        raise ValueError("unparseable")
    chosen: set[int] = set()
    for first, last in re.findall(r"(\d+)(?:\s*[-–]\s*(\d+))?", match.group("list")):
        low, high = int(first), int(last or first)
        if not 1 <= low <= high <= n_steps:
            raise ValueError("out_of_range")
        chosen.update(range(low - 1, high))
    return sorted(chosen)


def judge_rewrite(original_steps: list[str], text: str, settings: CoarseSettings) -> Outcome:
    pruned = split_steps(strip_fence(text) if settings.strip_fence else text)
    if not pruned:
        return Outcome("empty")
    kept = match_indices(original_steps, pruned, settings.threshold, settings.autojunk)
    if kept is None:
        return Outcome("no_match")
    if settings.rewrite_output == "original":
        return Outcome("accepted", kept, [original_steps[i] for i in kept])
    return Outcome("accepted", kept, pruned)


def judge_select(original_steps: list[str], text: str) -> Outcome:
    if not text.strip():
        return Outcome("empty")
    try:
        kept = parse_selection(text, len(original_steps))
    except ValueError as err:
        return Outcome(str(err))
    if len(kept) == len(original_steps):
        return Outcome("keeps_all")
    return Outcome("accepted", kept, [original_steps[i] for i in kept])


def judge(
    original_steps: list[str], text: str, truncated: bool, settings: CoarseSettings
) -> Outcome:
    """Whether one teacher answer is a valid coarse pruning of `original_steps`."""
    if truncated and not settings.accept_truncated:
        return Outcome("truncated")
    if settings.mode == "select":
        return judge_select(original_steps, text)
    return judge_rewrite(original_steps, text, settings)


def require_text_fields(records: list[dict[str, Any]], names: tuple[str, ...], where: str) -> None:
    """Raise DataError naming the file and record when a record lacks one of the text fields."""
    for position, record in enumerate(records, start=1):
        bad = [name for name in names if not isinstance(record.get(name), str)]
        if bad:
            raise DataError(
                f"{where}: record {position} (id {record.get('id')!r}): missing or non-text "
                f"field(s) {', '.join(bad)}"
            )


def prune_record(
    teacher: Teacher, record: dict[str, Any], settings: CoarseSettings
) -> CoarseResult:
    """Ask the teacher up to `max_attempts` times; stop at the first valid answer."""
    require_text_fields([record], INPUT_FIELDS, "coarse input")
    steps = split_steps(record["cot"])
    build = select_messages if settings.mode == "select" else rewrite_messages
    messages = build(settings.template(), record["question"], record["anchor"], steps)
    result = CoarseResult(id=record["id"], steps_before=len(steps))
    for attempt in range(settings.max_attempts):
        temperature = settings.temperature if attempt == 0 else settings.resample_temperature
        completion = teacher.complete(messages, temperature=temperature, sample_index=attempt)
        outcome = judge(steps, completion.text, completion.truncated, settings)
        result.reasons.append(outcome.reason)
        result.output_tokens.append(completion.completion_tokens)
        if outcome.accepted:
            assert outcome.steps is not None
            result.cot = join_steps(outcome.steps)
            result.kept = outcome.kept
            break
    return result


def reject_shared_selections(results: list[CoarseResult], settings: CoarseSettings) -> None:
    """Select mode: an accepted selection identical to another record's is not accepted.

    Two CoTs of different problems that keep exactly the same step numbers are the mark of a
    teacher that answers a pattern, not the thinking in front of it. Each such record's last
    attempt is recorded as "same_as_other" and the record fails (``on_failure`` applies).
    """
    if settings.mode != "select" or not settings.distinct_selections:
        return
    seen = Counter(tuple(r.kept) for r in results if r.accepted and r.kept is not None)
    for result in results:
        if result.accepted and result.kept is not None and seen[tuple(result.kept)] > 1:
            result.reasons[-1] = "same_as_other"
            result.cot, result.kept = None, None


def coarse_record(
    record: dict[str, Any], result: CoarseResult, on_failure: str
) -> dict[str, Any] | None:
    """The output record: `cot` replaced by the coarse CoT; None when it is dropped."""
    if not result.accepted and on_failure == "drop":
        return None
    return {
        **record,
        "cot": result.cot if result.accepted else record["cot"],
        "coarse_attempts": result.attempts,
        "coarse_accepted": result.accepted,
    }


def length_summary(lengths: list[int]) -> dict[str, Any]:
    """Count, mean, median and max of token lengths (None where there are none)."""
    if not lengths:
        return {"records": 0, "mean": None, "median": None, "max": None}
    return {
        "records": len(lengths),
        "mean": round(statistics.fmean(lengths), 1),
        "median": statistics.median(lengths),
        "max": max(lengths),
    }


def coarse_report(
    results: list[CoarseResult],
    settings: CoarseSettings,
    cot_tokens: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Acceptance rate, attempts histograms, failures and output tokens of one run.

    `cot_tokens` (record id -> tokens of its original CoT) adds the length of accepted and failed
    records: long CoTs fail more often (the teacher's output cap), so with `on_failure: drop`
    the pruned training sets lose long records that the baselines keep.
    """
    cot_tokens = cot_tokens or {}
    accepted = [r for r in results if r.accepted]
    failed = [r for r in results if not r.accepted]
    reasons = Counter(reason for r in results for reason in r.reasons)
    tokens = {r.id: r.total_output_tokens for r in results}
    return {
        "mode": settings.mode,
        "settings": {
            "threshold": settings.threshold,
            "autojunk": settings.autojunk,
            "max_attempts": settings.max_attempts,
            "temperature": settings.temperature,
            "resample_temperature": settings.resample_temperature,
            "on_failure": settings.on_failure,
            "accept_truncated": settings.accept_truncated,
            "rewrite_output": settings.rewrite_output,
            "prompt": settings.template().source,
            "strip_fence": settings.strip_fence,
            "distinct_selections": settings.distinct_selections,
        },
        "records": len(results),
        "accepted": len(accepted),
        "acceptance_rate": len(accepted) / len(results) if results else None,
        "failed_ids": [r.id for r in failed],
        "dropped_ids": [r.id for r in failed] if settings.on_failure == "drop" else [],
        "attempts_histogram": _histogram(r.attempts for r in results),
        "accepted_at_attempt": _histogram(r.attempts for r in accepted),
        "attempt_outcomes": {reason: reasons.get(reason, 0) for reason in REASONS},
        "output_tokens": {
            "total": sum(tokens.values()),
            "mean_per_record": sum(tokens.values()) / len(tokens) if tokens else None,
            "per_record": tokens,
        },
        "cot_tokens": {
            "accepted": length_summary([cot_tokens[r.id] for r in accepted if r.id in cot_tokens]),
            "failed": length_summary([cot_tokens[r.id] for r in failed if r.id in cot_tokens]),
        },
        "steps": {
            "before": sum(r.steps_before for r in results),
            "after_accepted": sum(r.steps_after or 0 for r in accepted),
            "before_accepted": sum(r.steps_before for r in accepted),
        },
        "per_record": [
            {
                "id": r.id,
                "accepted": r.accepted,
                "attempts": r.attempts,
                "outcomes": r.reasons,
                "output_tokens": r.output_tokens,
                "steps_before": r.steps_before,
                "steps_after": r.steps_after,
                "cot_tokens": cot_tokens.get(r.id),
                "kept": r.kept,
            }
            for r in results
        ],
    }


@functools.cache
def _template(mode: str, path: str | None) -> PromptTemplate:
    return PromptTemplate.load(mode, path)


def _histogram(values: Any) -> dict[str, int]:
    counts = Counter(values)
    return {str(key): counts[key] for key in sorted(counts)}
