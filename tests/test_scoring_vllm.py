"""The vLLM scorer's requests and read-back, checked against the transformers scorer on CPU.

vLLM needs a GPU, so here the prompt log-probabilities it would return (the log-probability of
every prompt token given the tokens before it) are computed with the embedded model itself. The
GPU test in `test_gpu.py` compares a real vLLM engine with the transformers scorer.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from asap.scoring.logprobs import Scorer, load_scorer
from asap.scoring.vllm_backend import load_vllm_scorer, unit_logprobs, window_prompt

TEXT = (
    "Okay, let me read the problem. We need the sum of the first n squares.\n\n"
    "A loop works, but the closed form n(n+1)(2n+1)/6 is faster.\n\n"
    "Wait, check n = 3: 1 + 4 + 9 = 14, and 3*4*7/6 = 14. Good."
)


@pytest.fixture(scope="module")
def scorer(base_model_dir: Path) -> Scorer:
    # a short context, so the text is scored in several windows
    return load_scorer(base_model_dir, dtype="float32", device="cpu", max_context=24)


def prompt_logprobs(scorer: Scorer, ids: list[int]) -> list[dict[int, Any] | None]:
    """vLLM's `prompt_logprobs=0` output for `ids`: None, then each token's own log-prob."""
    import torch

    with torch.inference_mode():
        logits = scorer.model(input_ids=torch.tensor([ids])).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return [None] + [
        {token: SimpleNamespace(logprob=logp[j - 1, token].item())}
        for j, token in enumerate(ids)
        if j > 0
    ]


def test_window_requests_reproduce_the_transformers_scores(scorer: Scorer) -> None:
    ids = scorer.encode(TEXT).input_ids
    assert len(ids) > 2 * scorer.max_context
    wanted = [1, 2, 17, 23, 24, 25, 40, len(ids) - 1]
    expected = scorer.target_logprobs([ids], [wanted])[0]
    units = scorer._windows(0, ids, wanted)
    assert len(units) > 1
    got = [math.nan] * len(wanted)
    for unit in units:
        prompt = window_prompt(unit)
        assert prompt == ids[unit.start : max(unit.positions) + 1]
        assert len(prompt) <= scorer.max_context
        values = unit_logprobs(unit, prompt_logprobs(scorer, prompt))
        for slot, value in zip(unit.slots, values, strict=True):
            got[slot] = value
    assert got == pytest.approx(expected, abs=1e-4)


def test_missing_prompt_logprob_is_a_clear_error(scorer: Scorer) -> None:
    ids = scorer.encode(TEXT).input_ids[:10]
    (unit,) = scorer._windows(0, ids, [3, 5])
    entries = prompt_logprobs(scorer, window_prompt(unit))
    entries[5] = {ids[5] + 1: SimpleNamespace(logprob=-1.0)}  # another token only
    with pytest.raises(RuntimeError, match="position 5"):
        unit_logprobs(unit, entries)


def test_loading_without_a_gpu_says_what_is_needed(base_model_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: test_gpu.py covers the engine")
    with pytest.raises(RuntimeError, match="CUDA GPU"):
        load_vllm_scorer(base_model_dir)
