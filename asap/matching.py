"""Ordered Gestalt matching: is a pruned CoT an in-order substructure of the original CoT?

Similarity is difflib's `SequenceMatcher.ratio()` (Gestalt pattern matching, Ratcliff and
Obershelp): 2 * matched characters / total characters, computed as
``SequenceMatcher(None, original_step, pruned_step, autojunk=autojunk)``.

Validation (paper section 3.2, Algorithm 1): walk the pruned steps in order; each one must match
an original step strictly after the one matched by the previous pruned step, with
``ratio >= threshold``. Each pruned step takes the earliest such original step (greedy). For a
per-pair test like this one, greedy earliest matching is exact: if any order-preserving
assignment exists, the greedy one succeeds too (taking an earlier step never leaves fewer
candidates for the next pruned step).

`autojunk` is explicit because difflib's default (True) treats characters that occur in more than
1% of a sequence of 200+ characters as junk, which lowers ratios on long steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher


def similar(matcher: SequenceMatcher, threshold: float) -> bool:
    """`matcher.ratio() >= threshold`, skipping ratio() when a cheap upper bound already fails."""
    return (
        matcher.real_quick_ratio() >= threshold
        and matcher.quick_ratio() >= threshold
        and matcher.ratio() >= threshold
    )


def match_indices(
    original_steps: Sequence[str],
    pruned_steps: Sequence[str],
    threshold: float,
    autojunk: bool = False,
) -> list[int] | None:
    """Indices of the original steps matched by each pruned step, or None if one has no match."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    matcher = SequenceMatcher(None, autojunk=autojunk)
    matched: list[int] = []
    start = 0
    for pruned in pruned_steps:
        matcher.set_seq2(pruned)  # difflib caches its analysis of seq2: set it once per step
        for index in range(start, len(original_steps)):
            matcher.set_seq1(original_steps[index])
            if similar(matcher, threshold):
                matched.append(index)
                start = index + 1
                break
        else:
            return None
    return matched


def ordered_match(
    original_steps: Sequence[str],
    pruned_steps: Sequence[str],
    threshold: float,
    autojunk: bool = False,
) -> bool:
    """True when every pruned step matches, in order, a later original step (ratio >= threshold).

    An empty pruned CoT matches trivially; callers decide whether it is acceptable.
    """
    return match_indices(original_steps, pruned_steps, threshold, autojunk) is not None
