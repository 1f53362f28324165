"""One method's evaluation: every benchmark and budget generated with one model load, graded
in one sandbox pool, and written as cells (the `eval` and `eval_sft` stages' work).

For each benchmark B and budget N (B's main budget, plus the sweep budgets when the method is a
sweep method) `evaluate_method` writes
    data/eval/M/B/N/generations.jsonl   {task_id, completion, tokens, finish_reason}
    data/eval/M/B/N/timings.jsonl       {task_id, latency_s, batch_wall_s, batch_size}
    data/eval/M/B/N/results.jsonl       {task_id, passed, statuses, tokens, finish_reason, ...}
    reports/eval/M/B/N.json             {method, benchmark, budget, n, passed, pass_at_1, ...}
and keeps the per-problem generation cache in data/eval_cache/M/B/N (persisted by DVC).
Zero-shot evaluates `base_model`; every other method its fine-tuned folder models/M.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from asap.eval.generation import (
    Generation,
    GenerationCache,
    GenerationSettings,
    Generator,
    fill_data_parallel,
    load_templates,
)
from asap.eval.grading import EvalSettings, Evaluator, which_tests
from asap.methods import get_method
from asap.model.base import resolve_model_dir
from asap.repro import not_run
from asap.repro.io import DataError, read_jsonl, write_json, write_jsonl
from asap.repro.provenance import provenance

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
        "tests_used": tests,  # asap.eval.grading.which_tests: "public" = LiveCodeBench public only
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


def evaluate_method(params: dict[str, Any], method: str, benchmarks: list[str]) -> None:
    """Generate every (benchmark, budget) of `method` with one model load, then grade them all
    in one sandbox pool: a process, a model and a pool per method, not per cell."""
    model_dir = model_dir_for(params, method)
    if not model_dir.is_dir():
        raise DataError(f"eval {method}: model folder {model_dir} does not exist")
    reason = not_run.reason_in(model_dir)
    if reason is not None:
        for benchmark in benchmarks:
            write_not_run(params, method, benchmark, reason)
        return
    suffixes = params.get("prompt_suffix") or {}
    settings = GenerationSettings.from_params(
        {
            **params["generation"],
            "prompt_suffix": suffixes.get(method, ""),
            "templates": load_templates(params["prompts"]),
        }
    )
    problems = {b: load_problems(params, b) for b in benchmarks}
    budgets = {b: budgets_for(params, method, b) for b in benchmarks}
    generator = Generator(model_dir, settings, fingerprint_memo=FINGERPRINT_MEMO)
    generations: dict[tuple[str, int], list[Generation]] = {}
    for benchmark in benchmarks:
        caches = {
            b: GenerationCache(Path(params["cache_dir"]) / method / benchmark / str(b))
            for b in budgets[benchmark]
        }
        if settings.backend == "vllm" and settings.data_parallel_size > 1:
            runs = [
                (b, caches[b].directory)
                for b in budgets[benchmark]
                if generator.missing(problems[benchmark], b, caches[b])
            ]
            if runs:
                fill_data_parallel(model_dir, problems[benchmark], runs, settings)
        for budget in budgets[benchmark]:
            prefix = f"eval {method} {benchmark} {budget}"
            generations[benchmark, budget] = generator.generate(
                problems[benchmark], budget, caches[budget],
                log=lambda m, prefix=prefix: print(f"{prefix}: {m}"),
            )  # fmt: skip
    del generator
    gc.collect()

    stage = f"{'eval_sft' if get_method(method).finetuned else 'eval'}@{method}"
    benchmark_files = [Path(params["benchmarks_dir"]) / f"{b}.jsonl" for b in benchmarks]
    origin = provenance(stage, params, [*benchmark_files, model_dir])
    with Evaluator(
        EvalSettings.from_params(params["sandbox"]),
        params["reference_cache"],
        extraction=params["extraction"],
    ) as evaluator:
        for (benchmark, budget), gens in generations.items():
            cell_problems = problems[benchmark]
            results = evaluator.evaluate(
                [(p, g.completion) for p, g in zip(cell_problems, gens, strict=True)]
            )
            write_cell(Path(params["output_dir"]) / method / benchmark / str(budget), gens, results)
            summary = report(
                method, benchmark, budget, results, gens, evaluator.isolation,
                which_tests(cell_problems),
            )  # fmt: skip
            write_json(
                Path(params["reports_dir"]) / method / benchmark / f"{budget}.json",
                {**summary, "provenance": origin},
            )
            print(
                f"eval {method} {benchmark} {budget}: pass@1 {summary['pass_at_1']:.2f}% "
                f"({summary['passed']}/{summary['n']}), {summary['avg_tokens']:.1f} tokens, "
                f"{summary['avg_latency_s']:.2f}s/sample"
            )


def write_cell(out: Path, gens: list[Generation], results: list[dict[str, Any]]) -> None:
    """data/eval/M/B/N: generations, timings and graded results, one line per problem."""
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
