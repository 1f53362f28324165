"""Surprisal-based step pruning to a token budget (paper section 3.3, Algorithm 2).

Steps are removed by index, lowest first-token surprisal first (ties: lower index first),
until the CoT fits the budget: tokens(join_steps(kept)) <= budget, counted by the scorer's
tokenizer without special tokens. This count is also what `tokens_before` and `tokens_after`
report.

- ``global`` (the paper's default): scores once. The removal order is one sort; per-step token
  counts (from the scored text's offsets) estimate how many removals are needed, so nothing is
  re-tokenized per removal. The estimate is then checked by counting the result for real and
  corrected one removal at a time (BPE merges at new step boundaries can move the count by a
  token or two). As long as removing a step never adds tokens, the outcome equals removing one
  step at a time and recounting after each removal, for a few tokenizations in all.
- ``iterative``: after every removal the remaining steps are rescored and the next removal is
  the lowest of the new scores. Records advance in lockstep, so each round is one batched
  scoring call.

The last remaining step is never removed. When that step alone exceeds the budget the result
keeps it (the highest-surprisal step) and sets `over_budget`; otherwise the result always fits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from asap.data.steps import join_steps

MODES = ("global", "iterative")

# (question, steps) records -> first-token surprisal of every step, per record
ScoreFn = Callable[[list[tuple[str, list[str]]]], list[list[float]]]
CountFn = Callable[[str], int]


@dataclass(frozen=True)
class Pruned:
    kept: list[bool]
    surprisal: list[float]  # scores of all steps (iterative: those of the first round)
    tokens_before: int
    tokens_after: int
    over_budget: bool

    def pruned_steps(self, steps: Sequence[str]) -> list[str]:
        return _kept_steps(steps, self.kept)


def removal_order(surprisal: Sequence[float]) -> list[int]:
    """Step indices from first to last removed: lowest surprisal first, ties by lower index."""
    return sorted(range(len(surprisal)), key=lambda index: (surprisal[index], index))


def _check(steps: Sequence[str], budget: int) -> None:
    if not steps:
        raise ValueError("no steps to prune")
    if budget < 1:
        raise ValueError(f"budget must be a positive number of tokens, got {budget}")


def prune_global(
    steps: Sequence[str],
    surprisal: Sequence[float],
    step_tokens: Sequence[int],
    budget: int,
    count_tokens: CountFn,
) -> Pruned:
    """Remove the lowest-surprisal steps, scored once, until the CoT fits `budget` tokens."""
    _check(steps, budget)
    if not len(steps) == len(surprisal) == len(step_tokens):
        raise ValueError("steps, surprisal and step_tokens differ in length")
    tokens_before = count_tokens(join_steps(list(steps)))
    order = removal_order(surprisal)
    last = len(steps) - 1  # the most removals: one step always stays

    def kept_after(removals: int) -> list[bool]:
        kept = [True] * len(steps)
        for index in order[:removals]:
            kept[index] = False
        return kept

    def tokens_after(removals: int) -> int:
        return count_tokens(join_steps(_kept_steps(steps, kept_after(removals))))

    if tokens_before <= budget or last == 0:
        return Pruned(
            kept_after(0), list(surprisal), tokens_before, tokens_before, tokens_before > budget
        )
    removals, estimate = 0, sum(step_tokens)
    while removals < last and (removals == 0 or estimate > budget):
        estimate -= step_tokens[order[removals]]
        removals += 1
    tokens = tokens_after(removals)
    while tokens > budget and removals < last:  # merges at new boundaries: remove more
        removals += 1
        tokens = tokens_after(removals)
    while removals > 1:  # the estimate overshot (e.g. a separator it still counted): put back
        fewer = tokens_after(removals - 1)
        if fewer > budget:
            break
        removals, tokens = removals - 1, fewer
    return Pruned(kept_after(removals), list(surprisal), tokens_before, tokens, tokens > budget)


def _kept_steps(steps: Sequence[str], kept: Sequence[bool]) -> list[str]:
    return [step for step, keep in zip(steps, kept, strict=True) if keep]


def prune_iterative(
    items: Sequence[tuple[str, Sequence[str]]],
    budget: int,
    score: ScoreFn,
    count_tokens: CountFn,
) -> list[Pruned]:
    """Remove one lowest-surprisal step at a time, rescoring the rest after each removal.

    `items` are (question, steps) records; one `score` call per round covers every record
    still over budget.
    """
    for _, steps in items:
        _check(steps, budget)
    kept = [[True] * len(steps) for _, steps in items]
    first_scores: list[list[float]] = [[] for _ in items]
    tokens_before = [count_tokens(join_steps(list(steps))) for _, steps in items]
    tokens = list(tokens_before)
    pending = list(range(len(items)))  # every record is scored at least once
    while pending:
        scored = score([(items[i][0], _kept_steps(items[i][1], kept[i])) for i in pending])
        still_over = []
        for i, surprisal in zip(pending, scored, strict=True):
            if not first_scores[i]:
                first_scores[i] = list(surprisal)
            indices = [j for j, keep in enumerate(kept[i]) if keep]
            if tokens[i] <= budget or len(indices) == 1:
                continue
            kept[i][indices[removal_order(surprisal)[0]]] = False
            tokens[i] = count_tokens(join_steps(_kept_steps(items[i][1], kept[i])))
            if tokens[i] > budget and len(indices) > 2:
                still_over.append(i)
        pending = still_over
    return [
        Pruned(kept[i], first_scores[i], tokens_before[i], tokens[i], tokens[i] > budget)
        for i in range(len(items))
    ]
