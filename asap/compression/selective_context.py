"""Selective Context (Li et al. 2023) on the CoT, keeping its layout.

Self-information. The text `prefix + cot` (prefix: the question and the opening think tag, see
`asap.pruning.surprisal.scoring_prefix`) is scored once by the shared scorer: every token gets
-log p(token | all tokens before it), in nats; texts longer than the scorer's context are scored
in windows (`asap.scoring.logprobs`). The original package scores each sentence on its own;
here every token sees its full left context.

Layout. Unlike the original package, which collapses all whitespace, the CoT's structure is
never a candidate for removal: the blank lines between steps, the line breaks inside a step and
the leading whitespace (indentation) of every line stay. Only the content of a line (after its
indentation) is split into lexical units:

- ``tokens``: one unit per scorer token that holds a non-space character (the token's leading
  space goes with it);
- ``phrases``: pieces ending after ``, ; :`` or sentence punctuation followed by a space, or at
  the end of the line (a regex stand-in for spaCy's noun chunks, which the package used);
- ``sentences``: pieces ending after ``. ! ?`` followed by a space, or at the end of the line.

A unit's tokens are those whose first non-space character lies in it. Two selection rules:

- ``percentile`` (the package's, the paper profile's): a unit's self-information is the *mean*
  over its tokens (`aggregate: mean`, as the package averages tokens into phrases and
  sentences), and every unit below the ``(1 - ratio)`` percentile of the units' self-information
  is dropped: about ``1 - ratio`` of the units *by count*, whatever their lengths.
- ``token_budget`` (ours): units are dropped lowest first (ties: earlier first), as few as needed
  for the rebuilt CoT to have at most `ratio` of the original CoT's tokens (both counted by the
  scorer's tokenizer; the number of removals is found by bisection, a few re-tokenizations per
  CoT); at least one unit stays. The layout tokens (line breaks, indentation), never removed,
  count in that total, so fewer than `ratio` of the content tokens survive (41-46% at ratio 0.5
  on the real CoTs). With `aggregate: sum` a unit's self-information is the sum over its tokens.

A line whose units
are all dropped disappears (it would otherwise leave a blank line, i.e. a false step boundary); a
step whose lines all disappear disappears. Where units were dropped between two kept ones, the
spaces around the gap shrink to one. An empty CoT stays empty.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from asap.data.steps import join_steps, split_steps

if TYPE_CHECKING:
    from asap.scoring.logprobs import Scorer

UNITS = ("tokens", "phrases", "sentences")
RULES = ("percentile", "token_budget")
AGGREGATES = ("mean", "sum")
_PHRASE_END = re.compile(r"[,;:.!?]+(?=\s)")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s)")


@dataclass(frozen=True)
class Unit:
    """Characters [start, end) of the CoT, with the self-information and count of its tokens."""

    start: int
    end: int
    info: float = 0.0
    tokens: int = 0


@dataclass(frozen=True)
class Line:
    """One line of the CoT: its indentation ends at `content_start`; `units` cover the rest."""

    start: int
    content_start: int
    units: list[Unit]


def layout(cot: str) -> list[list[Line]]:
    """Steps of `cot` (split on blank lines), each a list of lines with unit-free content."""
    steps, cursor = [], 0
    for step in split_steps(cot):
        step_start = cot.index(step, cursor)
        cursor = step_start + len(step)
        lines, offset = [], step_start
        for text in step.split("\n"):
            indent = len(text) - len(text.lstrip())
            content = text.strip()
            if content:
                unit = Unit(offset + indent, offset + indent + len(content))
                lines.append(Line(offset, offset + indent, [unit]))
            offset += len(text) + 1
        steps.append(lines)
    return steps


def split_units(
    cot: str, line: Line, unit: str, token_starts: Sequence[int] = ()
) -> list[tuple[int, int]]:
    """Character spans of the units of one line's content."""
    (whole,) = line.units
    start, end = whole.start, whole.end
    if unit == "tokens":
        cuts = [s for s in token_starts if start < s < end]
    elif unit in ("phrases", "sentences"):
        pattern = _PHRASE_END if unit == "phrases" else _SENTENCE_END
        cuts = [m.end() for m in pattern.finditer(cot, start, end)]
        cuts = [c for c in cuts if start < c < end]
    else:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    bounds = [start, *sorted(set(cuts)), end]
    return [(a, b) for a, b in itertools.pairwise(bounds) if cot[a:b].strip()]


def select(
    units: Sequence[Unit],
    ratio: float,
    measure: Callable[[list[bool]], int] | None = None,
) -> list[bool]:
    """Keep flags: the fewest removals, least informative units first, that bring the text to at
    most `ratio` of its tokens; at least one unit stays.

    `measure(keep)` is the token count of the text with the units flagged `keep` (default: the
    kept units' token counts). It is called O(log n) times: the number of removals is found by
    bisection, since removing more units never makes the text longer.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    if measure is None:

        def measure(keep: list[bool]) -> int:
            return sum(u.tokens for u, k in zip(units, keep, strict=True) if k)

    order = sorted(range(len(units)), key=lambda i: (units[i].info, i))

    def keep_after(removed: int) -> list[bool]:
        keep = [True] * len(units)
        for index in order[:removed]:
            keep[index] = False
        return keep

    target = ratio * measure(keep_after(0))
    low, high = 0, max(0, len(units) - 1)  # high: the most removals allowed
    while low < high:
        middle = (low + high) // 2
        if measure(keep_after(middle)) <= target:
            high = middle
        else:
            low = middle + 1
    return keep_after(low)


def select_percentile(units: Sequence[Unit], ratio: float, aggregate: str = "mean") -> list[bool]:
    """Keep flags of the package's rule: drop the units whose self-information lies below the
    ``(1 - ratio)`` percentile (numpy's linear interpolation) of all units' self-information.

    A unit whose information is undefined (no tokens, or a token without a score) is kept.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    import numpy as np

    def value(unit: Unit) -> float:
        if unit.tokens == 0 or not math.isfinite(unit.info):
            return math.nan
        return unit.info / unit.tokens if aggregate == "mean" else unit.info

    values = np.array([value(u) for u in units], dtype=float)
    if not units or ratio == 1 or np.isnan(values).all():
        return [True] * len(units)
    threshold = np.nanpercentile(values, (1 - ratio) * 100)
    return [not (v < threshold) for v in values]


def rebuild(cot: str, steps: list[list[Line]], keep: dict[tuple[int, int], bool]) -> str:
    """The CoT with only the kept units, its blank lines, line breaks and indentation intact."""
    out_steps = []
    for lines in steps:
        out_lines = []
        for line in lines:
            content = _join_kept(cot, line.units, keep).strip()
            if content:
                out_lines.append(cot[line.start : line.content_start] + content)
        if out_lines:
            out_steps.append("\n".join(out_lines))
    return join_steps(out_steps)


def _join_kept(cot: str, units: Sequence[Unit], keep: dict[tuple[int, int], bool]) -> str:
    """Kept units in order; where units were dropped between two, at most one space remains."""
    out, gap = "", False
    for unit in units:
        if not keep[(unit.start, unit.end)]:
            gap = bool(out)
            continue
        piece = cot[unit.start : unit.end]
        if gap and (out[-1:].isspace() or piece[:1].isspace()):
            out, piece = out.rstrip() + " ", piece.lstrip()
        out, gap = out + piece, False
    return out


def units_with_info(
    cot: str,
    offsets: Sequence[tuple[int, int]],
    logprobs: Sequence[float],
    shift: int,
    unit: str,
) -> list[list[Line]]:
    """The CoT's layout with every line split into units carrying self-information.

    `offsets`/`logprobs` are those of the scored text, in which the CoT starts at char `shift`.
    """
    steps = layout(cot)
    firsts: list[tuple[int, float]] = []  # (CoT char of the token's first non-space, info)
    starts: list[int] = []
    for (a, b), logprob in zip(offsets, logprobs, strict=True):
        a, b = a - shift, b - shift
        if b <= 0 or b <= a:
            continue
        piece = cot[max(a, 0) : b]
        if not piece.strip():
            continue
        first = max(a, 0) + (len(piece) - len(piece.lstrip()))
        info = math.inf if math.isnan(logprob) else -logprob
        firsts.append((first, info))
        starts.append(max(a, 0))
    chars = [char for char, _ in firsts]
    infos = [info for _, info in firsts]
    result = []
    for lines in steps:
        new_lines = []
        for line in lines:
            spans = split_units(cot, line, unit, starts)
            units = []
            for a, b in spans:
                lo, hi = bisect.bisect_left(chars, a), bisect.bisect_left(chars, b)
                units.append(Unit(a, b, sum(infos[lo:hi]), hi - lo))
            new_lines.append(Line(line.start, line.content_start, units))
        result.append(new_lines)
    return result


class SelectiveContext:
    """Drop the least self-informative lexical units of every CoT by `rule` (module docstring)."""

    modules = (
        "asap.compression.selective_context",
        "asap.pruning.surprisal",
        "asap.scoring.logprobs",
        "asap.data.steps",
    )

    def __init__(
        self,
        scorer: Scorer,
        ratio: float = 0.5,
        unit: str = "tokens",
        context: str = "raw",
        rule: str = "token_budget",
        aggregate: str = "sum",
    ) -> None:
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
        if not 0 < ratio <= 1:
            raise ValueError(f"ratio must be in (0, 1], got {ratio}")
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
        self.scorer, self.ratio, self.unit, self.context = scorer, ratio, unit, context
        self.rule, self.aggregate = rule, aggregate
        self.requested_ratio = ratio

    def settings(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "unit": self.unit,
            "context": self.context,
            "rule": self.rule,
            "aggregate": self.aggregate,
        }

    def compress(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        from asap.pruning.surprisal import scoring_prefix

        todo = [i for i, r in enumerate(records) if r["cot"].strip()]
        tokenizer = self.scorer.tokenizer
        prefixes = [scoring_prefix(records[i]["question"], self.context, tokenizer) for i in todo]
        results: list[dict[str, Any]] = [{"cot": ""} for _ in records]
        groups: dict[bool, list[int]] = {}
        for j, (_, special) in enumerate(prefixes):
            groups.setdefault(special, []).append(j)
        for special, members in groups.items():
            texts = [prefixes[j][0] + records[todo[j]]["cot"] for j in members]
            scored = self.scorer.text_logprobs(texts, add_special_tokens=special)
            for j, token_logprobs in zip(members, scored, strict=True):
                results[todo[j]] = self._compress_one(
                    records[todo[j]]["cot"],
                    token_logprobs.offsets,
                    token_logprobs.logprobs,
                    len(prefixes[j][0]),
                )
        return results

    def _compress_one(
        self, cot: str, offsets: Sequence[tuple[int, int]], logprobs: Sequence[float], shift: int
    ) -> dict[str, Any]:
        steps = units_with_info(cot, offsets, logprobs, shift, self.unit)
        units = [u for lines in steps for line in lines for u in line.units]

        if self.rule == "percentile":
            keep = select_percentile(units, self.ratio, self.aggregate)
        else:
            if self.aggregate == "mean":
                units = [replace(u, info=u.info / u.tokens) if u.tokens else u for u in units]

            def measure(keep: list[bool]) -> int:
                flags = {(u.start, u.end): k for u, k in zip(units, keep, strict=True)}
                return self.scorer.count_tokens(rebuild(cot, steps, flags))

            keep = select(units, self.ratio, measure)
        flags = {(u.start, u.end): k for u, k in zip(units, keep, strict=True)}
        return {
            "cot": rebuild(cot, steps, flags),
            "units": len(units),
            "units_kept": sum(keep),
        }
