"""Compression time per 1k CoT tokens of every baseline on the real CoTs (embedded profile).

Each method runs through `asap.compression.build` with the active profile's settings (the
scorer loaded once and shared, not timed), on every record of the input, one record at a time;
the time of each `compress` call is summed. Tokens are the CoT's, counted by the scorer's
tokenizer. For scale, ``forward`` is one scorer pass over the same texts (question + CoT), all
tokens' log-probabilities (`Scorer.text_logprobs`).

LLMLingua-2 and TokenSkip need a classifier: `--classifier DIR` times the one given; with
`--tiny-classifier` a tiny random BERT classifier (as in the tests) is built, which measures the
package's plumbing, not the cost of the real xlm-roberta-large classifier. SPIRIT runs once per
value of `--spirit-horizons` (``null`` = exact). The forward pass is timed again at the end: a
gap between the two shows that the machine's load changed during the run.

    python benchmarks/bench_baselines.py [--records 4] [--steps 0] [--spirit-horizons 256,null]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tiny_models import tiny_token_classifier  # noqa: E402

METHODS = ("selective_context", "spirit", "wo_coarse", "llmlingua2", "tokenskip")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", default=str(ROOT / "data/train/cots.jsonl"))
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--records", type=int, default=4)
    parser.add_argument("--steps", type=int, default=0, help="cut CoTs to N steps (0: all)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--spirit-horizons", default="256,null")
    parser.add_argument("--classifier", default=None)
    parser.add_argument("--tiny-classifier", action="store_true")
    args = parser.parse_args()

    import torch

    from asap.compression import Models, build
    from asap.data.steps import join_steps, split_steps
    from asap.pruning.surprisal import scoring_prefix
    from asap.repro.io import read_jsonl
    from asap.repro.params import active_profile, load_params

    params = load_params(args.params)
    baselines = active_profile(params)["baselines"]
    records = list(read_jsonl(args.input))[: args.records]
    if args.steps:
        records = [{**r, "cot": join_steps(split_steps(r["cot"])[: args.steps])} for r in records]
    scorer_params = dict(baselines["scorer"])
    if not Path(scorer_params["model"]).is_absolute():
        scorer_params["model"] = str(ROOT / scorer_params["model"])
    models = Models(scorer_params, "scorer")
    scorer = models.scorer()
    tokens = sum(scorer.count_tokens(r["cot"]) for r in records)
    print(
        f"{len(records)} records, {tokens} CoT tokens ({tokens / len(records):.0f} per record), "
        f"scorer {scorer_params['model']} {scorer_params.get('dtype')}, "
        f"{torch.get_num_threads()} threads"
    )

    def report(name: str, seconds: list[float], extra: str = "") -> None:
        per_k = sum(seconds) / tokens * 1000
        print(
            f"{name:34s} {per_k:8.2f} s per 1k CoT tokens   "
            f"(total {sum(seconds):7.1f} s, median record {statistics.median(seconds):6.1f} s)"
            f"{extra}"
        )

    texts = []
    for r in records:
        prefix, special = scoring_prefix(r["question"], models.context, scorer.tokenizer)
        texts.append((prefix + r["cot"], special))

    def forward(label: str) -> None:
        seconds = []
        for text, special in texts:
            start = time.perf_counter()
            scorer.text_logprobs([text], add_special_tokens=special)
            seconds.append(time.perf_counter() - start)
        report(label, seconds)

    scorer.text_logprobs([texts[0][0][:200]])  # warm-up
    forward("forward (question + CoT)")

    classifier = args.classifier
    wanted = args.methods.split(",")
    if classifier is None and args.tiny_classifier and {"llmlingua2", "tokenskip"} & set(wanted):
        classifier = str(
            tiny_token_classifier((r["cot"] for r in records), Path(tempfile.mkdtemp()))
        )

    for method in wanted:
        variants: list[tuple[str, dict[str, Any]]] = [(method, dict(baselines[method]))]
        if method == "spirit":
            variants = [
                (f"spirit horizon={h}", {**baselines[method], "horizon": _horizon(h)})
                for h in args.spirit_horizons.split(",")
            ]
        if method in ("llmlingua2", "tokenskip"):
            if classifier is None:
                print(f"{method:28s} skipped: no --classifier or --tiny-classifier")
                continue
            label = " (tiny test classifier)" if args.tiny_classifier else ""
            variants = [(method + label, {**baselines[method], "classifier": classifier})]
        for label, settings in variants:
            compressor = build(method, settings, models, f"bench.{method}")
            seconds, kept = [], 0
            for record in records:
                start = time.perf_counter()
                (result,) = compressor.compress([record])
                seconds.append(time.perf_counter() - start)
                kept += scorer.count_tokens(result["cot"])
            report(label, seconds, f"  kept {kept / tokens:.2f} of the tokens")
    forward("forward again (load drift)")


def _horizon(text: str) -> int | None:
    return None if text.strip().lower() in ("null", "none", "") else int(text)


if __name__ == "__main__":
    main()
