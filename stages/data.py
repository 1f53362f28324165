"""Stage `data`: normalise the training CoTs and every benchmark into their schemas.

Outputs: data/train/cots.jsonl, data/benchmarks/<name>.jsonl, reports/data.json.
"""

from __future__ import annotations

from pathlib import Path

from asap.data import sources
from asap.data.benchmarks import BENCHMARKS, normalise_benchmark
from asap.data.cots import CodeRule, normalise_records
from asap.repro.io import write_json, write_jsonl
from asap.repro.params import stage_params
from asap.repro.provenance import provenance

TRAIN_OUT = Path("data/train/cots.jsonl")
BENCH_DIR = Path("data/benchmarks")
REPORT = Path("reports/data.json")


def main() -> None:
    params = stage_params("data")
    train_spec = params["train"]["source"]
    rule = CodeRule(
        code_fence=params["train"].get("code_fence", "python"),
        code_block=params["train"].get("code_block", "last"),
    )
    records, report = normalise_records(
        sources.iter_rows(train_spec),
        sources.describe(train_spec),
        params["train"]["limit"],
        rule,
        params["train"].get("limit_applies_to", "kept"),
    )
    write_jsonl(TRAIN_OUT, records)

    benchmarks = {}
    for name, spec in sorted(params["benchmarks"].items()):
        problems = list(normalise_benchmark(name, sources.iter_rows(spec), sources.describe(spec)))
        write_jsonl(BENCH_DIR / f"{name}.jsonl", problems)
        benchmarks[name] = {
            "source": sources.describe(spec),
            "problems": len(problems),
            "expected": BENCHMARKS[name].size,
            "without_tests": sorted(p["task_id"] for p in problems if not _has_tests(p)),
        }
    write_json(
        REPORT,
        {
            "train": {"source": sources.describe(train_spec), **report.as_dict()},
            "benchmarks": benchmarks,
            "provenance": provenance(
                "data", params, _local_paths(train_spec, *params["benchmarks"].values())
            ),
        },
    )
    print(
        f"data: kept {report.kept}/{report.read} training records; "
        + ", ".join(f"{n} {b['problems']}" for n, b in benchmarks.items())
    )


def _local_paths(*specs: dict) -> list[str]:
    """The local files among source specs (hub sources are identified by their params)."""
    return sorted({str(spec["path"]) for spec in specs if "path" in spec})


def _has_tests(problem: dict) -> bool:
    tests = problem["tests"]
    return bool(tests.get("check") or tests.get("cases"))


if __name__ == "__main__":
    main()
