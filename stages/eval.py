"""Stage `eval`: one method on one benchmark, at every budget the profile asks for.

    python -m stages.eval --method M --benchmark B

For each budget N (the benchmark's main budget, plus the sweep budgets when M is a sweep
method) it writes
    data/eval/M/B/N/generations.jsonl   {task_id, completion, tokens, finish_reason}
    data/eval/M/B/N/timings.jsonl       {task_id, latency_s, batch_wall_s, batch_size}
    data/eval/M/B/N/results.jsonl       {task_id, passed, statuses, tokens, finish_reason, ...}
    reports/eval/M/B/N.json             {method, benchmark, budget, n, passed, pass_at_1, ...}
and keeps the per-problem generation cache in data/eval_cache/M/B/N (persisted by DVC).
Zero-shot evaluates `base_model`; every other method its fine-tuned folder models/M.
"""

from __future__ import annotations

import argparse
import gc
from pathlib import Path
from typing import Any

from asap import not_run
from asap.base_model import resolve_model_dir
from asap.benchmarks import BENCHMARKS
from asap.evaluation import EvalSettings, Evaluator, which_tests
from asap.generation import (
    Generation,
    GenerationCache,
    GenerationSettings,
    Generator,
    fill_data_parallel,
    load_templates,
)
from asap.io import DataError, read_jsonl, write_json, write_jsonl
from asap.methods import get_method
from asap.params import stage_params
from asap.provenance import provenance

FINGERPRINT_MEMO = Path(".cache/model-fingerprints.json")


def budgets_for(params: dict[str, Any], method: str, benchmark: str) -> list[int]:
    budgets = {int(params["budgets"][benchmark])}
    sweep = params.get("sweep") or {}
    if method in (sweep.get("methods") or []):
        budgets.update(int(b) for b in (sweep.get("budgets") or {}).get(benchmark, []))
    return sorted(budgets)


def model_dir_for(params: dict[str, Any], method: str) -> Path:
    if not get_method(method).finetuned:
        return resolve_model_dir(params["base_model"])
    return Path(params["models_dir"]) / method


def load_problems(params: dict[str, Any], benchmark: str) -> list[dict[str, Any]]:
    path = Path(params["benchmarks_dir"]) / f"{benchmark}.jsonl"
    problems = list(read_jsonl(path))
    limit = params.get("problems")
    return problems if limit is None else problems[: int(limit)]


def report(
    method: str, benchmark: str, budget: int, results: list[dict[str, Any]],
    generations: list[Generation], isolation: str, tests: str = "benchmark",
) -> dict[str, Any]:  # fmt: skip
    n = len(results)
    passed = sum(r["passed"] for r in results)
    return {
        "method": method,
        "benchmark": benchmark,
        "budget": budget,
        "n": n,
        "passed": passed,
        "pass_at_1": round(100.0 * passed / n, 6) if n else 0.0,
        "avg_tokens": round(sum(g.tokens for g in generations) / n, 6) if n else 0.0,
        "avg_latency_s": round(sum(g.latency_s for g in generations) / n, 6) if n else 0.0,
        "sandbox_isolation": isolation,
        "tests_used": tests,  # asap.evaluation.which_tests: "public" = LiveCodeBench public only
        "invalid": {r["task_id"]: r["invalid"] for r in results if "invalid" in r},
    }


def write_not_run(params: dict[str, Any], method: str, benchmark: str, reason: str) -> None:
    """Cells of a method the profile did not train: markers instead of results."""
    not_run.mark_folder(Path(params["output_dir"]) / method / benchmark, method, reason)
    (Path(params["cache_dir"]) / method / benchmark).mkdir(parents=True, exist_ok=True)
    for budget in budgets_for(params, method, benchmark):
        path = Path(params["reports_dir"]) / method / benchmark / f"{budget}.json"
        write_json(path, not_run.record(method, reason, benchmark=benchmark, budget=budget))
    print(f"eval {method} {benchmark}: not run ({reason})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True)
    parser.add_argument("--benchmark", required=True, choices=sorted(BENCHMARKS))
    args = parser.parse_args(argv)
    params = stage_params("eval")
    method, benchmark = args.method, args.benchmark
    model_dir = model_dir_for(params, method)
    if not model_dir.is_dir():
        raise DataError(f"eval {method}: model folder {model_dir} does not exist")
    reason = not_run.reason_in(model_dir)
    if reason is not None:
        write_not_run(params, method, benchmark, reason)
        return
    problems = load_problems(params, benchmark)
    budgets = budgets_for(params, method, benchmark)
    suffixes = params.get("prompt_suffix") or {}
    settings = GenerationSettings.from_params(
        {
            **params["generation"],
            "prompt_suffix": suffixes.get(method, ""),
            "templates": load_templates(params["prompts"]),
        }
    )

    cell = Path(params["output_dir"]) / method / benchmark
    caches = {
        b: GenerationCache(Path(params["cache_dir"]) / method / benchmark / str(b)) for b in budgets
    }
    generator = Generator(model_dir, settings, fingerprint_memo=FINGERPRINT_MEMO)
    if settings.backend == "vllm" and settings.data_parallel_size > 1:
        runs = [
            (b, caches[b].directory) for b in budgets if generator.missing(problems, b, caches[b])
        ]
        if runs:
            fill_data_parallel(model_dir, problems, runs, settings)
    generations = {
        b: generator.generate(
            problems, b, caches[b], log=lambda m, b=b: print(f"eval {method} {benchmark} {b}: {m}")
        )
        for b in budgets
    }
    del generator
    gc.collect()

    origin = provenance(
        f"eval@{method}-{benchmark}",
        params,
        [Path(params["benchmarks_dir"]) / f"{benchmark}.jsonl", model_dir],
    )
    with Evaluator(
        EvalSettings.from_params(params["sandbox"]),
        params["reference_cache"],
        extraction=params["extraction"],
    ) as evaluator:
        for budget in budgets:
            gens = generations[budget]
            results = evaluator.evaluate(
                [(p, g.completion) for p, g in zip(problems, gens, strict=True)]
            )
            out = cell / str(budget)
            write_jsonl(
                out / "generations.jsonl",
                ({"task_id": g.task_id, "completion": g.completion, "tokens": g.tokens,
                  "finish_reason": g.finish_reason} for g in gens),
            )  # fmt: skip
            write_jsonl(
                out / "timings.jsonl",
                ({"task_id": g.task_id, "latency_s": g.latency_s, "batch_wall_s": g.batch_wall_s,
                  "batch_size": g.batch_size} for g in gens),
            )  # fmt: skip
            write_jsonl(
                out / "results.jsonl",
                ({**r, "tokens": g.tokens, "finish_reason": g.finish_reason}
                 for r, g in zip(results, gens, strict=True)),
            )  # fmt: skip
            summary = report(
                method, benchmark, budget, results, gens, evaluator.isolation, which_tests(problems)
            )
            write_json(
                Path(params["reports_dir"]) / method / benchmark / f"{budget}.json",
                {**summary, "provenance": origin},
            )
            print(
                f"eval {method} {benchmark} {budget}: pass@1 {summary['pass_at_1']:.2f}% "
                f"({summary['passed']}/{summary['n']}), {summary['avg_tokens']:.1f} tokens, "
                f"{summary['avg_latency_s']:.2f}s/sample"
            )


if __name__ == "__main__":
    main()
