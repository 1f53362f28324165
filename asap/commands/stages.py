"""`asap stages`: the DVC stage names of the methods' evaluations, one per line, to pass to
`dvc repro` or `dvc exp run` as targets (each target brings the stages it depends on).

`--second-backbone` names the evaluations of Tables 4 and 12: the paper runs only Zero-shot,
Original, SPIRIT and ASAP on its second backbone, so a second-backbone clone trains and
evaluates those methods only.
"""

from __future__ import annotations

import argparse
import sys

from asap.methods import get_method


def eval_stage(method: str) -> str:
    """The `dvc.yaml` stage that evaluates `method` on every benchmark: `eval@` for the base
    model, `eval_sft@` for a fine-tuned method."""
    group = "eval_sft" if get_method(method).finetuned else "eval"
    return f"{group}@{method}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    chosen = parser.add_mutually_exclusive_group(required=True)
    chosen.add_argument(
        "--second-backbone",
        action="store_true",
        help="the evaluations of Tables 4 and 12 (Zero-shot, Original, SPIRIT and ASAP)",
    )
    chosen.add_argument("--methods", nargs="+", metavar="METHOD", help="these methods' evaluations")


def run(args: argparse.Namespace) -> int:
    # imported here: the tables module loads pandas and scipy, seconds on every `asap` call
    from asap.report.tables import STRONG_ROWS

    methods = STRONG_ROWS if args.second_backbone else args.methods
    try:
        names = [eval_stage(m) for m in methods]
    except KeyError as error:  # an unknown method
        print(f"asap stages: {error.args[0]}", file=sys.stderr)
        return 2
    print("\n".join(names))
    return 0
