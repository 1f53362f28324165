"""Properties of surprisal pruning, with token counts from the embedded model's tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asap.data.steps import join_steps, split_steps
from asap.pruning.budget import prune_global, prune_iterative, removal_order
from asap.pruning.surprisal import locate_steps
from asap.scoring.logprobs import count_tokens

QUESTION = "Read n and print the sum of the first n odd numbers."
WORDS = ["so", "n", "odd", "sum", "is", "squared", "Wait,", "check:", "1+3=4.", "    x = n", "\tok"]


@pytest.fixture(scope="module")
def tokenizer(base_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(base_model_dir))


def prune(tokenizer: Any, steps: list[str], surprisal: list[float], budget: int):
    located = locate_steps(tokenizer, QUESTION, steps)
    return prune_global(
        steps, surprisal, located.token_counts, budget, lambda text: count_tokens(tokenizer, text)
    )


step_text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join)
# a small pool of step texts, so duplicate steps are common
records = st.lists(st.sampled_from(["Hmm.", "Wait, n = 3."]) | step_text, min_size=1, max_size=25)
scores = st.floats(min_value=0.0, max_value=20.0, allow_nan=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), budget=st.integers(min_value=1, max_value=200))
def test_global_pruning_properties(tokenizer: Any, data: st.DataObject, budget: int) -> None:
    steps = [s.strip() for s in data.draw(records)]
    surprisal = data.draw(st.lists(scores, min_size=len(steps), max_size=len(steps)))
    result = prune(tokenizer, steps, surprisal, budget)
    kept_steps = result.pruned_steps(steps)

    # kept steps are an ordered subsequence of the steps, and the pruned CoT is made of them
    assert len(result.kept) == len(steps) and kept_steps
    assert split_steps(join_steps(kept_steps)) == kept_steps
    # token counts are those of the joined steps under the tokenizer
    assert result.tokens_before == count_tokens(tokenizer, join_steps(steps))
    assert result.tokens_after == count_tokens(tokenizer, join_steps(kept_steps))
    # fits the budget, unless one step is left and it alone exceeds the budget
    if result.over_budget:
        assert sum(result.kept) == 1 and result.tokens_after > budget
    else:
        assert result.tokens_after <= budget
    # removal by index in (surprisal, index) order: the removed steps are a prefix of it
    removed = [i for i, keep in enumerate(result.kept) if not keep]
    assert sorted(removal_order(surprisal)[: len(removed)]) == removed
    # no step removed without need: putting back the last removed step breaks the budget
    if removed:
        last = removal_order(surprisal)[len(removed) - 1]
        restored = [s for i, s in enumerate(steps) if result.kept[i] or i == last]
        assert count_tokens(tokenizer, join_steps(restored)) > budget
    # deterministic
    assert prune(tokenizer, steps, surprisal, budget) == result


def test_ties_are_broken_by_index(tokenizer: Any) -> None:
    steps = ["Alpha step one.", "Beta step two.", "Gamma step three.", "Delta step four."]
    budget = count_tokens(tokenizer, join_steps(steps[2:]))
    result = prune(tokenizer, steps, [1.0] * 4, budget)
    assert result.kept == [False, False, True, True]


def test_duplicate_steps_are_removed_by_index(tokenizer: Any) -> None:
    steps = ["Let me check again.", "n = 3 gives 9.", "Let me check again.", "So print n*n."]
    # the second copy of the duplicated step is surprising, the first is not
    surprisal = [0.5, 4.0, 9.0, 6.0]
    budget = count_tokens(tokenizer, join_steps(steps[1:]))
    result = prune(tokenizer, steps, surprisal, budget)
    assert result.kept == [False, True, True, True]


def test_a_single_step_over_budget_is_kept_and_flagged(tokenizer: Any) -> None:
    long_step = " ".join(["the sum of odd numbers is a square"] * 20)
    steps = ["Short one.", long_step, "Short two."]
    budget = 10
    # the long step is the most surprising: it is the step that stays, over budget
    result = prune(tokenizer, steps, [1.0, 8.0, 2.0], budget)
    assert result.kept == [False, True, False]
    assert result.over_budget and result.tokens_after > budget
    # when it is the least surprising it goes first and the result fits
    result = prune(tokenizer, steps, [5.0, 0.1, 2.0], budget)
    assert result.kept == [True, False, True] and not result.over_budget
    # a CoT of one step only is returned as is
    result = prune(tokenizer, [long_step], [3.0], budget)
    assert result.kept == [True] and result.over_budget


def test_a_cot_within_budget_is_untouched(tokenizer: Any) -> None:
    steps = ["One.", "Two.", "Three."]
    result = prune(tokenizer, steps, [0.1, 0.2, 0.3], 1000)
    assert result.kept == [True, True, True]
    assert result.tokens_before == result.tokens_after


def test_iterative_rescores_after_each_removal(tokenizer: Any) -> None:
    """Scores that change once a step is gone change what iterative pruning removes next."""
    steps = ["Apple one.", "Banana two.", "Cherry three.", "Date four."]
    calls: list[int] = []

    def score(batch: list[tuple[str, list[str]]]) -> list[list[float]]:
        calls.extend(len(s) for _, s in batch)
        # four steps: the first is the least surprising; fewer: the last one is
        return [
            [float(i) for i in range(len(s))]
            if len(s) == 4
            else [float(len(s) - i) for i in range(len(s))]
            for _, s in batch
        ]

    budget = count_tokens(tokenizer, join_steps(steps[1:3]))
    count = lambda text: count_tokens(tokenizer, text)  # noqa: E731
    (result,) = prune_iterative([(QUESTION, steps)], budget, score, count)
    assert result.kept == [False, True, True, False]  # Apple, then (rescored) Date
    assert result.surprisal == [0.0, 1.0, 2.0, 3.0]  # the first round's scores
    assert calls == [4, 3]
    assert result.tokens_after == budget and not result.over_budget
    # global pruning on the first scores would have removed Banana second
    assert removal_order(result.surprisal)[:2] == [0, 1]


def test_iterative_batches_records_in_lockstep(tokenizer: Any) -> None:
    short = (QUESTION, ["Fits."])
    long = (QUESTION, ["First part here.", "Second part here.", "Third part here."])
    rounds: list[int] = []

    def score(batch: list[tuple[str, list[str]]]) -> list[list[float]]:
        rounds.append(len(batch))
        return [[float(i) for i in range(len(s))] for _, s in batch]

    count = lambda text: count_tokens(tokenizer, text)  # noqa: E731
    budget = count_tokens(tokenizer, "Third part here.")
    results = prune_iterative([short, long], budget, score, count)
    assert results[0].kept == [True] and results[1].kept == [False, False, True]
    assert rounds == [2, 1]  # both records scored once, then only the one still over budget
