"""Scoring time and peak memory of step surprisal: our scorer vs a plain forward pass vs the
authors' algorithm, on the real CoTs with the embedded model.

Variants, each run in a fresh subprocess (model loaded and warmed up first, not timed):

- ``ours``: `asap.pruning.surprisal.score_steps` (one tokenization with offsets, backbone
  forward, LM head only at the step starts), one sequence per forward pass.
- ``plain``: the same texts through `model(input_ids).logits`, full logits for every position,
  the reference cost of "one forward pass".
- ``authors``: the authors' stage-2 algorithm re-implemented: the token index of each step found
  by re-tokenizing the growing prefix (+1 for a BOS), a forward pass with full logits, a
  full-vocabulary float32 log_softmax, then a gather; one example at a time.

Time covers scoring only (tokenization included): wall time, and the process's CPU time (more
stable than wall time on a shared machine). Peak memory is the process's resident-set
high-water mark (VmHWM) during scoring, reset after loading; "above model" subtracts the
resident set just before scoring. Variants are interleaved over repeats; times are the median.

    python benchmarks/bench_surprisal.py [--input data/train/cots.jsonl] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("ours", "plain", "authors")


def _status_kib(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def worker(variant: str, model: str, input_path: str, dtype: str, threads: int) -> dict:
    import torch

    from asap.pruning.surprisal import build_scoring_text, load_cot_records, score_steps
    from asap.scoring.logprobs import load_scorer

    torch.set_num_threads(threads)
    scorer = load_scorer(model, dtype=dtype, device="cpu", batch_size=1)
    tokenizer, lm = scorer.tokenizer, scorer.model
    items = [(r["question"], steps) for r, steps in load_cot_records(input_path)]
    texts = [build_scoring_text(q, s, "raw", tokenizer) for q, s in items]
    tokens = sum(len(scorer.encode(t.text).input_ids) for t in texts)

    def plain() -> None:
        with torch.inference_mode():
            for built in texts:
                ids = tokenizer(built.text, return_tensors="pt").input_ids
                logits = lm(input_ids=ids).logits
                del logits

    def authors() -> None:
        with torch.inference_mode():
            for (_, steps), built in zip(items, texts, strict=True):
                starts = []
                for i in range(len(steps)):
                    prefix = built.text[: built.step_starts[i]]
                    starts.append(len(tokenizer(prefix, add_special_tokens=False).input_ids) + 1)
                ids = tokenizer(built.text, return_tensors="pt").input_ids
                logits = lm(input_ids=ids).logits[0]
                logprobs = torch.log_softmax(logits.float(), dim=-1)
                last = ids.shape[1] - 1
                picked = [min(s, last) for s in starts]
                surprisal = [-logprobs[p - 1, ids[0, p]].item() for p in picked]
                del logits, logprobs, surprisal

    def ours() -> None:
        score_steps(scorer, items, "raw")

    run = {"ours": ours, "plain": plain, "authors": authors}[variant]
    with torch.inference_mode():  # warm-up: kernels, allocator
        lm(input_ids=torch.tensor([tokenizer("warm up the kernels").input_ids]))
    baseline = _status_kib("VmRSS")
    _reset_peak()
    start, cpu_start = time.perf_counter(), time.process_time()
    run()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak = _status_kib("VmHWM")
    return {
        "variant": variant,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "tokens": tokens,
        "steps": sum(len(s) for _, s in items),
        "peak_rss_gib": peak / 2**20,
        "above_model_gib": (peak - baseline) / 2**20,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "base"))
    parser.add_argument("--input", default=str(ROOT / "data" / "train" / "cots.jsonl"))
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.model, args.input, args.dtype, args.threads)))
        return 0

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["PYTHONPATH"] = str(ROOT)
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for repeat in range(args.repeats):
        for variant in VARIANTS:
            command = [sys.executable, __file__, "--worker", variant, "--model", args.model]
            command += ["--input", args.input, "--dtype", args.dtype]
            command += ["--threads", str(args.threads)]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            runs[variant].append(result)
            print(
                f"  repeat {repeat + 1} {variant:8s} {result['seconds']:7.2f} s "
                f"(CPU {result['cpu_seconds']:7.2f} s)",
                flush=True,
            )

    plain_time = statistics.median(r["seconds"] for r in runs["plain"])
    plain_peak = statistics.median(r["peak_rss_gib"] for r in runs["plain"])
    first = runs["plain"][0]
    print(
        f"\n{first['tokens']} tokens, {first['steps']} steps, dtype {args.dtype}, "
        f"{args.threads} threads, {args.repeats} repeats (median time)"
    )
    plain_cpu = statistics.median(r["cpu_seconds"] for r in runs["plain"])
    header = (
        f"{'variant':8s} {'time s':>8s} {'x plain':>8s} {'CPU s':>8s} {'x plain':>8s} "
        f"{'peak RSS GiB':>13s} {'above model':>12s}"
    )
    print(header)
    print("-" * len(header))
    for variant in VARIANTS:
        seconds = statistics.median(r["seconds"] for r in runs[variant])
        peak = statistics.median(r["peak_rss_gib"] for r in runs[variant])
        above = statistics.median(r["above_model_gib"] for r in runs[variant])
        cpu = statistics.median(r["cpu_seconds"] for r in runs[variant])
        print(
            f"{variant:8s} {seconds:8.2f} {seconds / plain_time:8.2f} {cpu:8.2f} "
            f"{cpu / plain_cpu:8.2f} {peak:13.2f} {above:12.2f}"
        )
    ours_time = statistics.median(r["seconds"] for r in runs["ours"])
    ours_peak = statistics.median(r["peak_rss_gib"] for r in runs["ours"])
    authors_time = statistics.median(r["seconds"] for r in runs["authors"])
    print(
        f"\ntarget ours <= 0.9 x plain time: {ours_time / plain_time:.2f} "
        f"({'met' if ours_time <= 0.9 * plain_time else 'NOT met'}); "
        f"peak memory <= plain: {ours_peak:.2f} vs {plain_peak:.2f} GiB "
        f"({'met' if ours_peak <= plain_peak else 'NOT met'}); "
        f"authors / ours: {authors_time / ours_time:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
