"""Target-token log-probabilities through vLLM's prompt log-probabilities (GPU, optional extra).

`VllmScorer` stands in for `asap.scoring.logprobs.Scorer` wherever a scorer is used: the same fast
tokenizer, the same windows for long sequences and the same `target_logprobs(sequences,
positions)`. Each window becomes one vLLM request whose prompt runs through its last scored
token, sampled with `prompt_logprobs=0` (vLLM then returns the log-probability of every prompt
token itself, computed from the raw logits) and `max_tokens=1`. Requests go to the engine
`batch_size` at a time, so vLLM's scheduler sees large batches. Prefix caching is off: cached
prefixes give no prompt log-probabilities.

vLLM is imported only when a `VllmScorer` is loaded; nothing here needs it on CPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asap.scoring.logprobs import Scorer, _Unit

ENGINE_DEFAULTS: dict[str, Any] = {
    "tensor_parallel_size": 1,
    "gpu_memory_utilization": 0.9,
    "max_model_len": None,
    "enforce_eager": False,
    "seed": 0,
}


def window_prompt(unit: _Unit) -> list[int]:
    """The window's tokens through its last scored position. (The transformers path stops one
    token earlier, since there the hidden state before a token predicts it; a prompt
    log-probability needs the token itself in the prompt.)"""
    last = max(unit.positions)
    return [*unit.ids, unit.targets[unit.positions.index(last)]]


def unit_logprobs(unit: _Unit, prompt_logprobs: Sequence[Mapping[int, Any] | None]) -> list[float]:
    """log p(target | prefix) of each scored position of `unit`, read from the prompt
    log-probabilities vLLM returned for `window_prompt(unit)` (one entry per prompt token)."""
    values = []
    for position, target in zip(unit.positions, unit.targets, strict=True):
        index = position - unit.start
        entry = prompt_logprobs[index] if 0 <= index < len(prompt_logprobs) else None
        if entry is None or target not in entry:
            raise RuntimeError(
                f"vLLM returned no prompt log-probability for token {target} at window index "
                f"{index} (sequence {unit.sequence}, position {position})"
            )
        values.append(float(entry[target].logprob))
    return values


@dataclass
class VllmScorer(Scorer):
    """A `Scorer` whose forward passes run in a vLLM engine (`model` is a `vllm.LLM`)."""

    sampling: Any = None

    def __post_init__(self) -> None:
        if self.max_context is None:
            raise ValueError("VllmScorer needs max_context (the engine's max_model_len)")
        super().__post_init__()

    @property
    def device(self) -> Any:
        return "cuda"

    def _batches(self, units: list[_Unit]) -> list[list[_Unit]]:
        """`batch_size` requests per engine call, longest first; vLLM schedules within a call."""
        ordered = sorted(units, key=lambda u: len(u.ids), reverse=True)
        return [ordered[i : i + self.batch_size] for i in range(0, len(ordered), self.batch_size)]

    def _score_batch(self, batch: list[_Unit]) -> list[list[float]]:
        prompts = [{"prompt_token_ids": window_prompt(unit)} for unit in batch]
        outputs = self.model.generate(prompts, self.sampling, use_tqdm=False)
        return [
            unit_logprobs(unit, output.prompt_logprobs)
            for unit, output in zip(batch, outputs, strict=True)
        ]

    def check_head(self, probe: str = "") -> None:  # vLLM computes the full logits itself
        return None


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as err:
        raise RuntimeError(
            "scoring backend 'vllm' needs the vllm package (GPU only): install the optional "
            "extra with pip install -e '.[gpu]', or set the stage's backend to transformers"
        ) from err
    return vllm


def load_vllm_scorer(
    model: str | Path,
    dtype: str = "auto",
    batch_size: int = 1024,
    max_context: int | None = None,
    engine: Mapping[str, Any] | None = None,
    **options: Any,
) -> VllmScorer:
    """A vLLM engine on `model` (folder or hub id) and its fast tokenizer, for scoring.

    `engine` holds vLLM engine arguments (tensor_parallel_size, gpu_memory_utilization,
    max_model_len, enforce_eager, seed); `max_context` defaults to the engine's max_model_len.
    `options` go to `Scorer` (min_left_context).
    """
    import torch
    from transformers import AutoTokenizer

    if not torch.cuda.is_available():
        raise RuntimeError("scoring backend 'vllm' needs a CUDA GPU; use transformers on CPU")
    vllm = _import_vllm()
    tokenizer = AutoTokenizer.from_pretrained(str(model))
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{model}: scoring needs a fast tokenizer (character offsets)")
    args = {**ENGINE_DEFAULTS, **(engine or {})}
    unknown = sorted(set(args) - set(ENGINE_DEFAULTS))
    if unknown:
        raise ValueError(f"vLLM scorer: unknown engine settings {unknown}")
    if args["max_model_len"] is None:
        args.pop("max_model_len")
    llm = vllm.LLM(
        model=str(model),
        dtype=dtype,
        enable_prefix_caching=False,
        max_logprobs=1,
        **args,
    )
    model_len = int(llm.llm_engine.model_config.max_model_len)
    sampling = vllm.SamplingParams(
        temperature=0.0, max_tokens=1, prompt_logprobs=0, detokenize=False
    )
    return VllmScorer(
        llm,
        tokenizer,
        batch_size=batch_size,
        max_context=min(max_context or model_len, model_len),
        sampling=sampling,
        **options,
    )
