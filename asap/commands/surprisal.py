"""`asap surprisal`: score every step's first-token surprisal and prune CoTs to a token budget.

Input lines need `id`, `question` and `cot`; every field is kept and the output adds `steps`,
`surprisal` (nats per step), `kept` (bool per step), `tokens_before`, `tokens_after`,
`over_budget` and `pruned_cot`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asap.pruning.budget import MODES
from asap.pruning.surprisal import CONTEXTS, load_cot_records, result_fields
from asap.repro.io import write_jsonl


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="scorer model folder (or hub id)")
    parser.add_argument("--input", required=True, type=Path, help="JSONL with id, question, cot")
    parser.add_argument("--output", required=True, type=Path, help="JSONL to write")
    parser.add_argument("--budget", type=int, default=4096, help="token budget (%(default)s)")
    parser.add_argument("--mode", choices=MODES, default="global", help="(%(default)s)")
    parser.add_argument("--context", choices=CONTEXTS, default="raw", help="(%(default)s)")
    parser.add_argument("--batch-size", type=int, default=1, help="sequences per forward pass")
    parser.add_argument(
        "--dtype", default="auto", choices=("auto", "bfloat16", "float32", "float16")
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if any)")


def run(args: argparse.Namespace) -> int:
    from asap.pruning.surprisal import prune_records
    from asap.scoring.logprobs import load_scorer

    loaded = load_cot_records(args.input)
    scorer = load_scorer(
        args.model, dtype=args.dtype, device=args.device, batch_size=args.batch_size
    )
    results = prune_records(
        scorer,
        [(record["question"], steps) for record, steps in loaded],
        budget=args.budget,
        mode=args.mode,
        context=args.context,
    )
    write_jsonl(
        args.output,
        (
            {**record, **result_fields(steps, pruned)}
            for (record, steps), pruned in zip(loaded, results, strict=True)
        ),
    )
    over = sum(pruned.over_budget for pruned in results)
    print(f"asap surprisal: {len(results)} records -> {args.output} ({over} over budget)")
    return 0
