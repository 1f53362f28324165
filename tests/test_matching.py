"""Ordered Gestalt matching (asap.matching): cases, autojunk, and greedy == exhaustive search."""

from __future__ import annotations

from difflib import SequenceMatcher
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asap.matching import match_indices, ordered_match

ORIGINAL = [
    "First, read n and the array a.",
    "Wait, maybe I misread the statement. Let me check the sample again.",
    "The answer is the maximum prefix sum, computed in one pass.",
    "Hmm, what about negative numbers? Then the empty prefix gives 0.",
    "So the code keeps a running sum and the best value seen so far.",
]


def test_subsequence_in_order_matches() -> None:
    pruned = [ORIGINAL[0], ORIGINAL[2], ORIGINAL[4]]
    assert ordered_match(ORIGINAL, pruned, 0.6)
    assert match_indices(ORIGINAL, pruned, 0.6) == [0, 2, 4]


def test_light_edits_pass_at_the_paper_threshold_but_not_at_a_strict_one() -> None:
    pruned = [
        "First read n and the array a.",
        "The answer is the maximum prefix sum, computed in a single pass.",
    ]
    assert ordered_match(ORIGINAL, pruned, 0.6)
    assert not ordered_match(ORIGINAL, pruned, 0.99)


def test_reordered_steps_fail() -> None:
    assert not ordered_match(ORIGINAL, [ORIGINAL[2], ORIGINAL[0]], 0.6)


def test_new_information_fails() -> None:
    pruned = [ORIGINAL[0], "Use a segment tree with lazy propagation over the queries."]
    assert not ordered_match(ORIGINAL, pruned, 0.6)


def test_each_original_step_is_used_once() -> None:
    assert not ordered_match(ORIGINAL, [ORIGINAL[4], ORIGINAL[4]], 0.6)
    assert ordered_match([*ORIGINAL, ORIGINAL[4]], [ORIGINAL[4], ORIGINAL[4]], 0.6)


def test_empty_pruned_matches_and_empty_original_does_not() -> None:
    assert ordered_match(ORIGINAL, [], 0.6)
    assert not ordered_match([], ["anything"], 0.6)


def test_ratio_equal_to_threshold_is_a_match() -> None:
    original, pruned = ["abcd"], ["abxy"]
    ratio = SequenceMatcher(None, original[0], pruned[0]).ratio()
    assert ratio == 0.5
    assert ordered_match(original, pruned, 0.5)
    assert not ordered_match(original, pruned, 0.51)


def test_threshold_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="threshold"):
        ordered_match(ORIGINAL, ORIGINAL, 1.5)


def test_autojunk_changes_the_verdict_on_long_steps() -> None:
    # 287 characters, every character repeated more than 1% of the length: with autojunk all of
    # them are "popular" and ignored, so a step that only lost its first word matches nothing.
    text = ("we need to check every pair of values in the list and keep the best one " * 4).strip()
    original, pruned = ["so " + text], [text]
    assert len(pruned[0]) >= 200
    assert SequenceMatcher(None, original[0], pruned[0], autojunk=True).ratio() < 0.1
    assert SequenceMatcher(None, original[0], pruned[0], autojunk=False).ratio() > 0.99
    assert ordered_match(original, pruned, 0.6, autojunk=False)
    assert not ordered_match(original, pruned, 0.6, autojunk=True)
    assert ordered_match(original, pruned, 0.6)  # the default is autojunk=False


def _exhaustive(original: list[str], pruned: list[str], threshold: float) -> bool:
    """Is there any order-preserving assignment? (plain recursion, independent of the greedy)."""

    @cache
    def solve(i: int, j: int) -> bool:
        if j == len(pruned):
            return True
        return any(
            SequenceMatcher(None, original[k], pruned[j], autojunk=False).ratio() >= threshold
            and solve(k + 1, j + 1)
            for k in range(i, len(original))
        )

    return solve(0, 0)


STEP = st.text(alphabet="abcde ", min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    original=st.lists(STEP, max_size=7),
    pruned=st.lists(STEP, max_size=4),
    threshold=st.sampled_from([0.3, 0.5, 0.6, 0.8, 1.0]),
)
def test_greedy_earliest_match_equals_exhaustive_search(
    original: list[str], pruned: list[str], threshold: float
) -> None:
    assert ordered_match(original, pruned, threshold) == _exhaustive(original, pruned, threshold)


@settings(max_examples=100, deadline=None)
@given(original=st.lists(STEP, min_size=1, max_size=8), data=st.data())
def test_any_subsequence_of_the_original_matches_at_threshold_one(
    original: list[str], data: st.DataObject
) -> None:
    keep = data.draw(st.lists(st.booleans(), min_size=len(original), max_size=len(original)))
    pruned = [step for step, kept in zip(original, keep, strict=True) if kept]
    indices = match_indices(original, pruned, 1.0)
    assert indices is not None
    assert indices == sorted(indices)
    assert [original[i] for i in indices] == pruned
