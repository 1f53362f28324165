"""`asap stages`: the DVC stage names of evaluation cells, one per line, to pass to `dvc repro`
or `dvc exp run` as targets (each target brings the stages it depends on).

`--second-backbone` names the cells of Tables 4 and 12: the paper runs only Zero-shot,
Original, SPIRIT and ASAP on its second backbone, so a second-backbone clone trains and
evaluates those methods only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from asap.methods import get_method
from asap.params import load_params
from asap.tables import STRONG_ROWS


def eval_stage(method: str, benchmark: str) -> str:
    """The `dvc.yaml` stage of one evaluation cell: `eval@` for the base model's cells,
    `eval_sft@` for a fine-tuned method's."""
    group = "eval_sft" if get_method(method).finetuned else "eval"
    return f"{group}@{method}-{benchmark}"


def eval_stages(methods: Iterable[str], benchmarks: Iterable[str]) -> list[str]:
    benchmarks = list(benchmarks)
    return [eval_stage(m, b) for m in methods for b in benchmarks]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    chosen = parser.add_mutually_exclusive_group(required=True)
    chosen.add_argument(
        "--second-backbone",
        action="store_true",
        help=f"the cells of Tables 4 and 12 ({', '.join(STRONG_ROWS)})",
    )
    chosen.add_argument("--methods", nargs="+", metavar="METHOD", help="these methods' cells")
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: %(default)s)"
    )


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    methods = STRONG_ROWS if args.second_backbone else args.methods
    try:
        names = eval_stages(methods, params["benchmarks"])
    except KeyError as error:  # an unknown method
        print(f"asap stages: {error.args[0]}", file=sys.stderr)
        return 2
    print("\n".join(names))
    return 0
