"""SPIRIT (Cui et al. 2025) as modified by the ASAP paper (appendix A): step pruning by perplexity.

For every step i, the perplexity of the CoT without step i is computed once, under the shared
scorer, with the question as context (`asap.pruning.surprisal.scoring_prefix`): the text is
``prefix + join_steps(steps without i)`` and the perplexity is exp(mean -log p) over the tokens
of its CoT part. Steps whose removal raises the perplexity least (the lowest perplexity without
them) are removed first, until the CoT is at most `ratio` of its original tokens; the removal
itself is `asap.pruning.budget.prune_global` with these perplexities as scores and
``floor(ratio * tokens)`` as the budget (the last step is never removed).

Dropped from the original SPIRIT, as the ASAP paper's modified version drops them: the merge
step (original SPIRIT merges a removed step's needed tokens back into its neighbour) and the
rescoring after every removal (original SPIRIT recomputes perplexities iteratively); the
perplexities are computed once and the steps are removed whole. FIDELITY.md lists this row.

Cost. One forward pass per step, not one per removal. Tokens before the removed step keep their
full-text log-probabilities, so each pass runs only the tokens after it, on the full text's
key/value cache (`asap.scoring.shared_prefix`). `horizon` (tokens, None = to the end) caps how
far after the removed step the text is rescored; tokens beyond it keep their full-text
log-probabilities. None is the exact method; a horizon is a documented approximation for small
machines.

Edge cases: an empty CoT stays empty; a CoT of one step is kept as is (nothing to rank).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from asap.data.steps import join_steps, split_steps

if TYPE_CHECKING:
    from asap.scoring.logprobs import Scorer


def step_perplexities(
    scorer: Scorer,
    question: str,
    steps: Sequence[str],
    context: str = "raw",
    horizon: int | None = None,
) -> tuple[list[float], list[int]]:
    """Perplexity of the CoT without each step, and each step's token count in the full text."""
    from asap.pruning.surprisal import build_scoring_text
    from asap.scoring.logprobs import tokens_at_chars
    from asap.scoring.shared_prefix import score_variants

    full = build_scoring_text(question, steps, context, scorer.tokenizer)
    encoded = scorer.encode(full.text, full.add_special_tokens)
    firsts = tokens_at_chars(encoded.offsets, full.step_starts)
    bounds = [*firsts, len(encoded.input_ids)]
    step_tokens = [bounds[i + 1] - bounds[i] for i in range(len(steps))]

    variants, variant_starts = [], []
    for i in range(len(steps)):
        rest = [*steps[:i], *steps[i + 1 :]]
        built = build_scoring_text(question, rest, context, scorer.tokenizer)
        ids = scorer.encode(built.text, built.add_special_tokens)
        variants.append(ids.input_ids)
        variant_starts.append(tokens_at_chars(ids.offsets, built.step_starts[:1])[0])
    base_logprobs, scored = score_variants(scorer, encoded.input_ids, variants, horizon)

    perplexities = []
    for ids, cot_first, result in zip(variants, variant_starts, scored, strict=True):
        end = result.start + len(result.logprobs)
        shift = len(encoded.input_ids) - len(ids)  # tokens beyond the horizon: full-text values
        skip = max(0, cot_first - result.start)  # never count tokens of the prefix
        nll = -sum(base_logprobs[cot_first : result.start]) - sum(result.logprobs[skip:])
        nll -= sum(base_logprobs[end + shift :])
        perplexities.append(math.exp(nll / (len(ids) - cot_first)))
    return perplexities, step_tokens


class Spirit:
    """Remove the steps whose removal raises perplexity least, down to `ratio` of the tokens."""

    modules = (
        "asap.compression.spirit",
        "asap.scoring.shared_prefix",
        "asap.scoring.logprobs",
        "asap.pruning.surprisal",
        "asap.pruning.budget",
        "asap.data.steps",
    )

    def __init__(
        self,
        scorer: Scorer,
        ratio: float = 0.5,
        context: str = "raw",
        horizon: int | None = None,
    ) -> None:
        if not 0 < ratio <= 1:
            raise ValueError(f"ratio must be in (0, 1], got {ratio}")
        if horizon is not None and horizon < 1:
            raise ValueError(f"horizon must be a positive number of tokens or null, got {horizon}")
        self.scorer, self.ratio, self.context, self.horizon = scorer, ratio, context, horizon
        self.requested_ratio = ratio

    def settings(self) -> dict[str, Any]:
        return {"ratio": self.ratio, "context": self.context, "horizon": self.horizon}

    def compress(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self._compress_one(r["question"], r["cot"]) for r in records]

    def _compress_one(self, question: str, cot: str) -> dict[str, Any]:
        from asap.pruning.budget import prune_global

        steps = split_steps(cot)
        if len(steps) < 2:
            return {"cot": join_steps(steps), "perplexity": [], "kept": [True] * len(steps)}
        perplexity, step_tokens = step_perplexities(
            self.scorer, question, steps, self.context, self.horizon
        )
        budget = max(1, math.floor(self.ratio * self.scorer.count_tokens(join_steps(steps))))
        pruned = prune_global(steps, perplexity, step_tokens, budget, self.scorer.count_tokens)
        return {
            "cot": join_steps(pruned.pruned_steps(steps)),
            "perplexity": [round(p, 6) for p in perplexity],
            "kept": pruned.kept,
        }
