"""SFT training speed and peak memory of the embedded model at several sequence lengths.

Each length runs in a fresh subprocess: the model is loaded and the trainer built (not timed),
then `--warmup` + `--steps` optimizer steps of one sequence each run through the real
`SFTTrainer` (settings of the embedded profile: fp32 weights, bf16 autocast, AdamW). Seconds
per step are the median of the timed steps; "CPU s/step" is the process CPU time of a step (all
threads): on a shared machine the wall time also counts the waits for a busy core. Peak memory
on CPU is the process's resident-set high-water mark (VmHWM), reset after loading; "above model"
subtracts the resident set at that point (activations, gradients and the AdamW states). On CUDA
it is torch's peak allocation.

    python benchmarks/bench_sft.py [--lengths 512 1024 2048] [--steps 3] [--threads N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from asap.repro.io import read_jsonl  # noqa: E402
from asap.repro.params import load_params  # noqa: E402
from asap.train.sft import (  # noqa: E402
    Example,
    StepTimer,
    build_trainer,
    end_of_turn,
    load_model,
    sft_config,
    tokenize_record,
)

MODEL = REPO / "models" / "base"
COTS = REPO / "data" / "train" / "cots.jsonl"


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def benchmark_example(tokenizer, length: int) -> Example:
    """One training sequence of exactly `length` tokens cut from real CoT records."""
    closing = end_of_turn(tokenizer)
    ids: list[int] = []
    mask: list[int] = []
    records = list(read_jsonl(COTS)) if COTS.exists() else []
    if not records:
        records = [
            {
                "id": "x",
                "question": "Print the sum of two integers.",
                "cot": "We read a and b, then print a + b. " * 200,
                "answer": "print(a+b)",
            }
        ]
    while len(ids) < length:
        for record in records:
            example = tokenize_record(tokenizer, record, closing)
            ids += example.input_ids
            mask += example.completion_mask
    return Example(id=f"bench-{length}", input_ids=ids[:length], completion_mask=mask[:length])


def cpu_time_callback(cpu_seconds: list[float]):
    """Records the process CPU time (all threads) of every optimizer step."""
    from transformers import TrainerCallback

    class CPUTime(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            self.start = time.process_time()

        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            cpu_seconds.append(time.process_time() - self.start)

    return CPUTime()


def child(length: int, steps: int, warmup: int, threads: int | None, device: str) -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)
    params = load_params(REPO / "params.yaml")["embedded"]["sft"]
    params = {**params, "device": device}
    params["training"] = {
        **params["training"],
        "max_steps": warmup + steps,
        "full_determinism": False,
        "disable_tqdm": True,
    }
    model, tokenizer = load_model(MODEL, params)
    example = benchmark_example(tokenizer, length)
    timer = StepTimer()
    cpu_seconds: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-sft-") as tmp:
        args = dataclasses.replace(sft_config(params, Path(tmp)), save_strategy="no")
        trainer = build_trainer(
            model,
            tokenizer,
            [example] * (warmup + steps),
            args,
            [timer.as_callback(), cpu_time_callback(cpu_seconds)],
        )
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            Path("/proc/self/clear_refs").write_text("5")  # reset the VmHWM high-water mark
            base = _status_kib("VmRSS") * 1024
        trainer.train()
        peak = (
            torch.cuda.max_memory_allocated() if device == "cuda" else _status_kib("VmHWM") * 1024
        )
    timed = [timer.seconds[step] for step in sorted(timer.seconds)][warmup:]
    return {
        "length": length,
        "threads": torch.get_num_threads(),
        "device": device,
        "seconds_per_step": statistics.median(timed),
        "cpu_seconds_per_step": statistics.median(cpu_seconds[warmup:]),
        "steps": timed,
        "peak_bytes": peak,
        "above_model_bytes": peak - base,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--steps", type=int, default=3, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.steps, args.warmup, args.threads, args.device)))
        return

    print(
        f"{'tokens':>6}  {'threads':>7}  {'s/step':>7}  {'CPU s/step':>10}  {'tokens/s':>8}  "
        f"{'peak GiB':>8}  {'above model GiB':>15}  steps (s)"
    )
    for length in args.lengths:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            str(length),
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
            "--device",
            args.device,
        ]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            sys.exit(f"length {length} failed:\n{out.stderr[-3000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        gib = 1024**3
        print(
            f"{r['length']:>6}  {r['threads']:>7}  {r['seconds_per_step']:>7.2f}  "
            f"{r['cpu_seconds_per_step']:>10.2f}  "
            f"{r['length'] / r['seconds_per_step']:>8.0f}  {r['peak_bytes'] / gib:>8.2f}  "
            f"{r['above_model_bytes'] / gib:>15.2f}  " + " ".join(f"{s:.2f}" for s in r["steps"]),
            flush=True,
        )


if __name__ == "__main__":
    main()
