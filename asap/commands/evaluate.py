"""`asap evaluate`: run samples against a benchmark's tests in the sandbox."""

from __future__ import annotations

import argparse
from pathlib import Path

from asap import sources
from asap.benchmarks import BENCHMARKS, normalise_benchmark
from asap.io import DataError, dumps_stable, read_jsonl, write_jsonl
from asap.params import stage_params


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
        "--workers", type=int, default=None, help="sandbox workers (default: one per core)"
    )
    parser.add_argument(
        "--isolation",
        default="auto",
        choices=("auto", "namespaces", "userns", "process"),
        help="sandbox isolation level (default: the strongest available)",
    )
    parser.add_argument(
        "--reference-cache",
        default=".cache/eval-reference",
        help="directory for reference outputs and timings (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    from asap.evaluation import (
        EvalSettings,
        Evaluator,
        index_problems,
        match_samples,
        worker_count,
    )

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
    settings = EvalSettings(workers=worker_count(args.workers), isolation=args.isolation)
    with Evaluator(settings, reference_cache=args.reference_cache) as evaluator:
        results = evaluator.evaluate(jobs)
    write_jsonl(
        args.output, ({**sample, **result} for sample, result in zip(samples, results, strict=True))
    )
    passed = sum(result["passed"] for result in results)
    summary = {
        "benchmark": args.benchmark,
        "isolation": evaluator.isolation,
        "n": len(results),
        "passed": passed,
        "pass_at_1": 100.0 * passed / len(results) if results else 0.0,
    }
    print(dumps_stable(summary))
    return 0
