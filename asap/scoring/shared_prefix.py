"""Scoring many edited copies of one text, reusing the shared prefix (on `asap.scoring.logprobs`).

SPIRIT needs the log-probabilities of a text with one step removed, for every step. Every such
variant shares its tokens up to the removed step with the full text, and those tokens keep the
log-probabilities they have in the full text (the model is causal). So the full text is run
once, keeping its key/value cache and last hidden states; each variant then runs only its tokens
after the shared prefix, on top of the cache cut at that prefix:

- position p (the first token that differs) is scored from the full text's hidden state at p - 1;
- positions after p come from one forward pass over the variant's tokens from p on.

`horizon` caps the positions scored per variant at `horizon` tokens from p (None: to the end).
A text longer than the scorer's `max_context` is not cached: its variants go to the shared
windowed `Scorer.target_logprobs` (see `asap.scoring.logprobs`) for the same positions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from asap.scoring.logprobs import Scorer


@dataclass(frozen=True)
class VariantScores:
    """Log-probabilities of a variant's tokens at positions [start, start + len(logprobs))."""

    start: int
    logprobs: list[float]


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of leading tokens `a` and `b` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def score_variants(
    scorer: Scorer,
    base: Sequence[int],
    variants: Sequence[Sequence[int]],
    horizon: int | None = None,
) -> tuple[list[float], list[VariantScores]]:
    """All-token log-probabilities of `base` (NaN first) and of each variant after the prefix.

    A variant's scored span starts at its first token that differs from `base` (at least 1) and
    ends at its end or `horizon` tokens later. Variants equal to a prefix of `base` score nothing.
    """
    if horizon is not None and horizon < 1:
        raise ValueError(f"horizon must be a positive number of tokens or None, got {horizon}")
    spans = []
    for variant in variants:
        start = max(1, common_prefix(base, variant))
        end = len(variant) if horizon is None else min(len(variant), start + horizon)
        spans.append((start, max(start, end)))
    assert scorer.max_context is not None
    if len(base) > scorer.max_context or len(base) < 2:
        everything = [list(base), *(list(v) for v in variants)]
        wanted = [list(range(1, len(base))), *(list(range(s, e)) for s, e in spans)]
        scores = scorer.target_logprobs(everything, wanted)
        return [math.nan, *scores[0]], [
            VariantScores(s, values) for (s, _), values in zip(spans, scores[1:], strict=True)
        ]
    return _score_cached(scorer, list(base), [list(v) for v in variants], spans)


def _score_cached(
    scorer: Scorer, base: list[int], variants: list[list[int]], spans: list[tuple[int, int]]
) -> tuple[list[float], list[VariantScores]]:
    import torch
    from transformers import DynamicCache

    device = scorer.device
    backbone = scorer.model.base_model
    with torch.inference_mode():
        out = backbone(input_ids=torch.tensor([base], device=device), use_cache=True)
        hidden = out.last_hidden_state[0]  # hidden[i] predicts token i + 1
        layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        base_scores = _head(scorer, hidden[:-1], base[1:])
        results = []
        for variant, (start, end) in zip(variants, spans, strict=True):
            if end <= start:
                results.append(VariantScores(start, []))
                continue
            first = _head(scorer, hidden[start - 1 : start], variant[start : start + 1])
            rest: list[float] = []
            if end - start > 1:
                cache = DynamicCache(
                    [(k[:, :, :start], v[:, :, :start]) for k, v in layers],
                    config=scorer.model.config,
                )
                tail = backbone(
                    input_ids=torch.tensor([variant[start : end - 1]], device=device),
                    past_key_values=cache,
                    use_cache=True,
                ).last_hidden_state[0]
                rest = _head(scorer, tail, variant[start + 1 : end])
            results.append(VariantScores(start, first + rest))
    return [math.nan, *base_scores], results


def _head(scorer: Scorer, hidden: object, targets: Sequence[int]) -> list[float]:
    """Log-probabilities of `targets` from the hidden states that predict them, in chunks."""
    import torch

    assert isinstance(hidden, torch.Tensor)
    ids = torch.tensor(list(targets), device=hidden.device)
    chunk = scorer.head_chunk
    return torch.cat(
        [
            scorer._logprob_of(hidden[i : i + chunk], ids[i : i + chunk])
            for i in range(0, len(ids), chunk)
        ]
    ).tolist()
