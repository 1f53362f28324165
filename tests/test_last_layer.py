"""The last decoder layer restricted to the scored positions equals the model's own layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config

from asap.data.steps import split_steps
from asap.pruning.surprisal import score_steps
from asap.scoring import last_layer
from asap.scoring.logprobs import load_scorer
from tests.real_data import train_records

TINY = {
    "vocab_size": 300,
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
}


def tiny_model(config: Any) -> Any:
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()


def full_layer_states(model: Any, ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    with torch.inference_mode():
        return model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state


@pytest.mark.parametrize(
    "config",
    [
        LlamaConfig(**TINY),
        Qwen2Config(**TINY),  # biased q/k/v projections
        Qwen3Config(**TINY, head_dim=16),  # per-head q_norm / k_norm
    ],
    ids=["llama", "qwen2", "qwen3"],
)
def test_restricted_layer_equals_the_full_layer_in_a_padded_batch(config: Any) -> None:
    model = tiny_model(config)
    assert last_layer.supports(model)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 300, (2, 150), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 90:] = 0  # the second row is right-padded
    rows = torch.tensor([0, 0, 0, 1, 1, 0])
    columns = torch.tensor([0, 57, 149, 3, 89, 100])
    with torch.inference_mode():
        restricted = last_layer.hidden_at(model, ids, mask, rows, columns)
    expected = full_layer_states(model, ids, mask)[rows, columns]
    torch.testing.assert_close(restricted, expected, atol=1e-5, rtol=1e-5)


def test_queries_are_answered_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_model(LlamaConfig(**TINY))
    monkeypatch.setattr(last_layer, "QUERY_CHUNK", 3)
    ids = torch.randint(3, 300, (1, 40), generator=torch.Generator().manual_seed(2))
    columns = torch.arange(0, 40, 3)
    with torch.inference_mode():
        restricted = last_layer.hidden_at(model, ids, None, columns * 0, columns)
    expected = full_layer_states(model, ids, None)[0, columns]
    torch.testing.assert_close(restricted, expected, atol=1e-5, rtol=1e-5)


def test_sliding_window_and_unknown_architectures_are_not_restricted() -> None:
    qwen2_windowed = Qwen2Config(
        **TINY, use_sliding_window=True, sliding_window=16, max_window_layers=0
    )
    assert qwen2_windowed.layer_types[-1] == "sliding_attention"
    assert not last_layer.supports(tiny_model(qwen2_windowed))
    assert not last_layer.supports(tiny_model(MistralConfig(**TINY, sliding_window=16)))


def test_step_surprisal_is_the_same_with_and_without_the_restriction(
    base_model_dir: Path,
) -> None:
    scorer = load_scorer(base_model_dir, dtype="float32", device="cpu", batch_size=1)
    assert scorer.restrict_last_layer  # the load-time check accepted it for this model
    record = min(train_records(), key=lambda r: len(r["cot"]))
    items = [(record["question"], split_steps(record["cot"]))]
    (restricted,) = score_steps(scorer, items)
    scorer.restrict_last_layer = False
    (full,) = score_steps(scorer, items)
    assert len(restricted.surprisal) > 20
    assert restricted.surprisal == pytest.approx(full.surprisal, abs=1e-4)


def test_a_restriction_that_disagrees_with_the_model_is_turned_off(
    base_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scorer = load_scorer(base_model_dir, dtype="float32", device="cpu")
    original = last_layer.hidden_at
    monkeypatch.setattr(last_layer, "hidden_at", lambda *args: original(*args).roll(1, dims=-1))
    with pytest.warns(UserWarning, match="restricted last layer differs"):
        scorer.check_head()
    assert not scorer.restrict_last_layer
    ids = scorer.encode("a = 1\n\nb = 2\n\nprint(a + b)\n\n" * 5).input_ids
    (ours,) = scorer.target_logprobs([ids], [[5, 20]])  # scored through the full layer
    with torch.inference_mode():
        logits = scorer.model(input_ids=torch.tensor([ids])).logits[0]
    expected = torch.log_softmax(logits, dim=-1)[[4, 19], [ids[5], ids[20]]].tolist()
    assert ours == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_logit_transform_after_the_head_is_refused_in_every_precision(
    base_model_dir: Path, monkeypatch: pytest.MonkeyPatch, dtype: str
) -> None:
    scorer = load_scorer(base_model_dir, dtype=dtype, device="cpu")  # its own check passed
    forward = scorer.model.forward

    def soft_capped(*args, **kwargs):  # Gemma-2's final logit soft-capping at 30
        out = forward(*args, **kwargs)
        out.logits = 30.0 * torch.tanh(out.logits / 30.0)
        return out

    monkeypatch.setattr(scorer.model, "forward", soft_capped)
    with pytest.raises(RuntimeError, match="transforms logits after the head"):
        scorer.check_head()
