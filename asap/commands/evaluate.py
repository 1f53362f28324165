"""`asap evaluate`: run samples against a benchmark's tests in the sandbox.

The sandbox limits, the code extraction rule and the reference cache come from the active
profile's `eval` section of params.yaml, as in the `eval` stage, so that both give the same
verdicts; `--workers`, `--isolation`, `--extraction` and `--reference-cache` override them.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from asap.data import sources
from asap.data.benchmarks import BENCHMARKS, normalise_benchmark
from asap.repro.io import DataError, dumps_stable, read_jsonl, write_jsonl
from asap.repro.params import stage_params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmark", required=True, choices=sorted(BENCHMARKS))
    parser.add_argument(
        "--samples", required=True, help="JSONL with task_id and completion (text or code)"
    )
    parser.add_argument(
        "--output", required=True, help="results JSONL (samples + passed, statuses)"
    )
    parser.add_argument(
        "--problems", help="benchmark JSONL (default: data/benchmarks/<benchmark>.jsonl)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="sandbox workers (default: params.yaml)"
    )
    parser.add_argument(
        "--isolation",
        default=None,
        choices=("auto", "namespaces", "userns", "process"),
        help="sandbox isolation level (default: params.yaml)",
    )
    parser.add_argument(
        "--extraction",
        default=None,
        choices=("first", "last", "entry_point"),
        help="code extraction rule (default: params.yaml)",
    )
    parser.add_argument(
        "--reference-cache",
        default=None,
        help="directory for reference outputs and timings (default: params.yaml)",
    )


def settings_from(args: argparse.Namespace, params: dict[str, Any]) -> tuple[Any, str, str]:
    """(EvalSettings, extraction rule, reference cache) of the `eval` params `params`, with the
    command line's overrides."""
    from asap.eval.grading import EvalSettings

    settings = EvalSettings.from_params(params["sandbox"])
    overrides = {k: getattr(args, k) for k in ("workers", "isolation") if getattr(args, k)}
    settings = dataclasses.replace(settings, **overrides)
    extraction = args.extraction or params.get("extraction") or "last"
    cache = args.reference_cache or params.get("reference_cache") or ".cache/eval-reference"
    return settings, extraction, cache


def run(args: argparse.Namespace) -> int:
    from asap.eval.grading import Evaluator, index_problems, match_samples, which_tests

    problems_path = Path(args.problems or f"data/benchmarks/{args.benchmark}.jsonl")
    if problems_path.exists():
        problems = index_problems(read_jsonl(problems_path), str(problems_path))
    elif args.problems is None:
        # Before `dvc repro data`: normalise the benchmark from the source in params.yaml.
        spec = stage_params("data")["benchmarks"][args.benchmark]
        rows = normalise_benchmark(args.benchmark, sources.iter_rows(spec), sources.describe(spec))
        problems = index_problems(rows, sources.describe(spec))
    else:
        raise DataError(f"{problems_path}: no such benchmark file")
    samples = list(read_jsonl(args.samples))
    jobs = match_samples(problems, samples, args.samples)
    settings, extraction, cache = settings_from(args, stage_params("eval"))
    with Evaluator(settings, reference_cache=cache, extraction=extraction) as evaluator:
        results = evaluator.evaluate(jobs)
    write_jsonl(
        args.output, ({**sample, **result} for sample, result in zip(samples, results, strict=True))
    )
    passed = sum(result["passed"] for result in results)
    summary = {
        "benchmark": args.benchmark,
        "isolation": evaluator.isolation,
        "extraction": extraction,
        "tests_used": which_tests(problem for problem, _ in jobs),
        "limits": dataclasses.asdict(settings.limits),
        "n": len(results),
        "passed": passed,
        "invalid": {r["task_id"]: r["invalid"] for r in results if "invalid" in r},
        "pass_at_1": 100.0 * passed / len(results) if results else 0.0,
    }
    print(dumps_stable(summary))
    return 0
