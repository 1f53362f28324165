"""The GPU code paths on a small random Qwen2 model, with figures: run on a CUDA machine.

Builds everything here (no downloads, no network): a byte-level BPE tokenizer trained on the
committed CoTs and a randomly initialised Qwen2 model. Then, on CUDA:
  1. the transformers scorer: step surprisals of the real CoTs against the CPU float32 path
     (largest difference), and scored tokens per second in bf16;
  2. SFT with the paper profile's training settings (bf16 weights, gradient checkpointing,
     cosine_with_min_lr, fractional warmup, max_grad_norm 0.2) for a few optimizer steps on
     real records: seconds per step, final loss, peak GPU memory;
  3. generation within a token budget with the transformers backend, and with vLLM when it is
     installed: generated tokens per second.
Prints one JSON object per check and exits non-zero if a check fails.

    python benchmarks/gpu_check.py [--hidden 256] [--layers 4] [--steps 4]
    python benchmarks/gpu_check.py --device cpu   # the same checks on the CPU, to try the script
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def emit(check: str, **figures: Any) -> None:
    print(json.dumps({"check": check, **figures}), flush=True)


def build_model(folder: Path, texts: list[str], hidden: int, layers: int) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from tests.tiny_models import bpe_tokenizer

    tokenizer = bpe_tokenizer(texts, folder, CHAT_TEMPLATE, vocab_size=4096)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        num_key_value_heads=max(1, hidden // 128),
        max_position_embeddings=32768,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    return folder


def synchronize(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def check_scorer(model: Path, records: list[dict[str, Any]], device: str) -> None:
    from asap.data.steps import split_steps
    from asap.pruning.surprisal import score_steps
    from asap.scoring.logprobs import load_scorer

    items = [(r["question"], split_steps(r["cot"])) for r in records]
    reference = score_steps(load_scorer(model, dtype="float32", device="cpu"), items)
    for dtype in ("float32", "bfloat16"):
        scorer = load_scorer(model, dtype=dtype, device=device)
        score_steps(scorer, items[:1])  # warm-up
        synchronize(device)
        started = time.perf_counter()
        got = score_steps(scorer, items)
        synchronize(device)
        wall = time.perf_counter() - started
        gap = max(
            abs(a - b)
            for ref, new in zip(reference, got, strict=True)
            for a, b in zip(ref.surprisal, new.surprisal, strict=True)
        )
        tokens = sum(sum(s.tokens) for s in got)
        emit("scorer", dtype=dtype, max_gap_vs_cpu_nats=round(gap, 5),
             tokens=tokens, tokens_per_s=round(tokens / wall))  # fmt: skip
        if dtype == "float32" and gap > 1e-2:
            raise SystemExit(f"scorer: {device} float32 differs from the CPU path by {gap}")


def check_sft(
    model: Path, records: list[dict[str, Any]], steps: int, work: Path, device: str
) -> None:
    import torch

    from asap.repro.params import load_params
    from asap.train.sft import train_sft

    params = load_params(REPO / "params.yaml")["paper"]["sft"]
    params = {**params, "device": device, "num_processes": 1, "max_seq_length": 8192}
    params["training"] = {**params["training"], "max_steps": steps, "save_steps": steps,
                          "gradient_accumulation_steps": 2, "disable_tqdm": True}  # fmt: skip
    sft_records = [{**r, "method": "original"} for r in records]
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    run = train_sft(model, sft_records, params, work / "sft-model", work / "sft-checkpoints")
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    emit(
        "sft",
        steps=run.report["steps"],
        final_loss=run.report["final_loss"],
        s_per_step=run.timing.get("seconds_per_step"),
        peak_gib=None if peak is None else round(peak, 2),
        dtype=params["model_dtype"],
        checkpointing=params["training"]["activation_checkpointing"],
    )
    if run.report["steps"] != steps or not run.report["final_loss"]:
        raise SystemExit(f"sft: expected {steps} steps with a loss, got {run.report}")


def check_generation(model: Path, work: Path, budget: int, device: str) -> None:
    from asap.eval.generation import GenerationCache, GenerationSettings, Generator
    from tests.real_data import benchmark_problems

    problems = benchmark_problems("humaneval")[:8]
    has_vllm = device == "cuda" and importlib.util.find_spec("vllm") is not None
    backends = ["transformers"] + (["vllm"] if has_vllm else [])
    for backend in backends:
        settings = GenerationSettings(
            backend=backend, dtype="bfloat16", device=device, batch_size=8,
            gpu_memory_utilization=0.3, max_model_len=4096,
        )  # fmt: skip
        generator = Generator(model, settings)
        started = time.perf_counter()
        out = generator.generate(problems, budget, GenerationCache(work / f"gen-{backend}"))
        wall = time.perf_counter() - started
        tokens = sum(g.tokens for g in out)
        emit("generation", backend=backend, problems=len(out), budget=budget,
             tokens=tokens, tokens_per_s=round(tokens / wall, 1))  # fmt: skip
        if not all(0 < g.tokens <= budget for g in out):
            raise SystemExit(f"generation ({backend}): a sample is outside the budget")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--budget", type=int, default=256)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    args = parser.parse_args()

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device (--device cpu tries the script on the CPU)")
    from tests.real_data import train_records

    records = train_records()
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    emit("device", name=name, torch=torch.__version__,
         vllm=importlib.util.find_spec("vllm") is not None)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="asap-gpu-check-") as tmp:
        work = Path(tmp)
        texts = [r["question"] + "\n" + r["cot"] for r in records]
        model = build_model(work / "model", texts, args.hidden, args.layers)
        check_scorer(model, records, args.device)
        check_sft(model, records, args.steps, work, args.device)
        check_generation(model, work, args.budget, args.device)
    emit("done", ok=True)


if __name__ == "__main__":
    main()
