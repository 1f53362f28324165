"""CUDA paths on small randomly initialised Qwen2 and Llama models built here (no downloads).

Skipped without a CUDA GPU; the vLLM checks also need the optional `gpu` extra. Covered:
transformers scores on CUDA equal the CPU path, vLLM prompt log-probabilities equal the
transformers scorer, a few bf16 training steps, and generation within a token budget on both
generation backends.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests.tiny_models import bpe_tokenizer

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
needs_vllm = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None, reason="needs the optional vllm package"
)

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "Okay, let me think. We need the sum of two numbers, then print it.\n\n",
    "Wait, check the edge case n = 0 first. The loop runs zero times.\n\n",
    "```python\nn = int(input())\nprint(n * (n + 1) // 2)\n```",
] * 20
TEXTS = [
    "Okay, we need 1^2 + ... + n^2.\n\nHmm, a loop works.\n\nThe formula is n(n+1)(2n+1)/6.",
    "Read two integers and print their sum.\n\nWait, negative numbers are fine too.",
]


@pytest.fixture(scope="module", params=["qwen2", "llama"])
def tiny_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    folder = tmp_path_factory.mktemp(request.param)
    tokenizer = bpe_tokenizer(CORPUS, folder, CHAT_TEMPLATE, vocab_size=512)
    common = {
        "vocab_size": len(tokenizer),
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "tie_word_embeddings": False,
    }
    config_class = Qwen2Config if request.param == "qwen2" else LlamaConfig
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config_class(**common))
    model.save_pretrained(folder)
    return folder


def step_positions(scorer: Any, text: str) -> tuple[list[int], list[int]]:
    ids = scorer.encode(text).input_ids
    return ids, list(range(1, len(ids)))


def test_cuda_scores_equal_the_cpu_path(tiny_model: Path) -> None:
    from asap.scoring.logprobs import load_scorer

    cpu = load_scorer(tiny_model, dtype="float32", device="cpu")
    cuda = load_scorer(tiny_model, dtype="float32", device="cuda")
    sequences = [cpu.encode(text).input_ids for text in TEXTS]
    positions = [list(range(1, len(ids))) for ids in sequences]
    sparse = [wanted[::5] for wanted in positions]  # few positions: restricted last layer
    assert cuda.restrict_last_layer
    for wanted in (positions, sparse):
        on_cpu = cpu.target_logprobs(sequences, wanted)
        on_cuda = cuda.target_logprobs(sequences, wanted)
        for a, b in zip(on_cpu, on_cuda, strict=True):
            assert b == pytest.approx(a, abs=1e-3)


@needs_vllm
def test_vllm_step_scores_equal_the_transformers_scorer(tiny_model: Path) -> None:
    from asap.pruning.surprisal import score_steps
    from asap.scoring.logprobs import load_scorer
    from asap.scoring.vllm_backend import load_vllm_scorer

    items = [(text.split("\n\n")[0], text.split("\n\n")[1:]) for text in TEXTS]
    reference = score_steps(load_scorer(tiny_model, dtype="bfloat16", device="cuda"), items)
    engine = {"gpu_memory_utilization": 0.3, "max_model_len": 512, "enforce_eager": True}
    scorer = load_vllm_scorer(tiny_model, dtype="bfloat16", max_context=512, engine=engine)
    got = score_steps(scorer, items)
    for a, b in zip(reference, got, strict=True):
        assert b.tokens == a.tokens
        assert b.surprisal == pytest.approx(a.surprisal, abs=0.1)


def test_bf16_training_steps_on_cuda(tiny_model: Path, tmp_path: Path) -> None:
    from asap.train.sft import train_sft
    from tests.test_sft import make_records, train_params

    params = train_params(max_steps=3, save_steps=10, bf16=True)
    params.update(device="cuda", model_dtype="bfloat16", max_seq_length=256)
    run = train_sft(tiny_model, make_records(4), params, tmp_path / "model", tmp_path / "ckpt")
    assert run.report["steps"] == 3
    assert 0 < run.report["final_loss"] < 20
    assert (tmp_path / "model" / "model.safetensors").exists()


@pytest.mark.parametrize("backend", ["transformers", pytest.param("vllm", marks=needs_vllm)])
def test_generation_stays_within_the_budget(tiny_model: Path, tmp_path: Path, backend: str) -> None:
    from asap.eval.generation import GenerationCache, GenerationSettings, Generator
    from tests.real_data import benchmark_problems

    settings = GenerationSettings(
        backend=backend,
        dtype="bfloat16",
        device="cuda",
        batch_size=4,
        gpu_memory_utilization=0.3,
        max_model_len=512,
    )
    problems = benchmark_problems("humaneval")[:4]
    for problem in problems:  # the tiny model's context is 512 tokens
        problem["question"] = problem["question"][:300]
    generations = Generator(tiny_model, settings).generate(
        problems, 16, GenerationCache(tmp_path / "cache")
    )
    assert [g.task_id for g in generations] == [p["task_id"] for p in problems]
    assert all(0 < g.tokens <= 16 for g in generations)
    assert all(g.finish_reason in ("length", "stop") for g in generations)
