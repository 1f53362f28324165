"""Stage `eval`: one method on every benchmark, at every budget the profile asks for.

    python -m stages.eval --method M [--benchmark B ...]

Benchmarks default to the params' top-level `benchmarks`; the work and its outputs are
`asap.eval.run.evaluate_method`'s.
"""

from __future__ import annotations

import argparse

from asap.data.benchmarks import BENCHMARKS
from asap.eval.run import evaluate_method
from asap.repro.io import DataError
from asap.repro.params import load_params, stage_params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True)
    parser.add_argument(
        "--benchmark", action="append", choices=sorted(BENCHMARKS), dest="benchmarks",
        help="evaluate only this benchmark (repeatable; default: the params' `benchmarks`)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    params = stage_params("eval")
    benchmarks = args.benchmarks or list(load_params()["benchmarks"])
    unknown = sorted(set(benchmarks) - set(BENCHMARKS))
    if unknown:
        raise DataError(f"params benchmarks: unknown {unknown}; known: {sorted(BENCHMARKS)}")
    evaluate_method(params, args.method, benchmarks)


if __name__ == "__main__":
    main()
