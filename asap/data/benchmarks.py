"""Benchmark registry: each entry turns raw rows into records of one problem schema.

Problem record (one JSON object per line of `data/benchmarks/<name>.jsonl`)::

    task_id       str        unique within the benchmark
    benchmark     str        registry name
    source        str        where the rows came from
    question      str        the problem as shown to the model (HumanEval: the code prompt)
    description   str|None   LeetCode: the problem statement alone (`problem_description`)
    entry_point   str|None   function (or `Solution().method`) the tests call
    starter_code  str|None   code the answer must complete (LeetCode-style class stubs)
    setup_code    str        code prepended to the solution before the tests (imports)
    reference     str|None   reference solution (full program) where the benchmark has one
    test_type     str        "check" | "plus" | "stdin" | "functional"
    tests         dict       by test_type:
                               check:      {"check": program defining check(candidate)}
                               plus:       {"check", "base_input", "plus_input", "atol", "contract"}
                               stdin:      {"cases": [{"input", "output"}], "sets"}
                               functional: {"cases": [{"input", "output"}], "sets", "func_name"}
                             sets: the test sets the cases come from, ["public"] (the committed
                             slice) or ["public", "private"] (the hub's release files)
    date          str|None   contest / release date (ISO)
    release       str|None   benchmark release the problem belongs to
    difficulty    str|None

Adding a benchmark is one `Benchmark` entry in `BENCHMARKS` with its row normaliser.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from asap.repro.io import DataError

Row = dict[str, Any]
Problem = dict[str, Any]

METHOD_RE = re.compile(r"^\s*def\s+(\w+)\s*\(\s*self", re.MULTILINE)


def _as_list(value: Any) -> list[Any]:
    """Lists arrive as JSON arrays (local files) or as their string form (some exports)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return ast.literal_eval(value)
    return list(value or [])


def _problem(**fields: Any) -> Problem:
    base: Problem = dict.fromkeys(
        ("description", "entry_point", "starter_code", "reference", "date", "release", "difficulty")
    )
    base["setup_code"] = ""
    base.update(fields)
    return base


def humaneval_problem(row: Row) -> Problem:
    return _problem(
        task_id=row["task_id"],
        question=row["prompt"],
        entry_point=row["entry_point"],
        reference=row["prompt"] + row["canonical_solution"],
        test_type="check",
        tests={"check": row["test"]},
    )


def humanevalplus_problem(row: Row) -> Problem:
    return _problem(
        task_id=row["task_id"],
        question=row["prompt"],
        entry_point=row["entry_point"],
        reference=row["prompt"] + row["canonical_solution"],
        test_type="plus",
        tests={
            "check": row["test"],
            "base_input": _as_list(row["base_input"]),
            "plus_input": _as_list(row["plus_input"]),
            "atol": float(row.get("atol") or 0.0),
            "contract": row.get("contract") or "",
        },
    )


def leetcode_problem(row: Row) -> Problem:
    return _problem(
        task_id=row["task_id"],
        question=row["query"],
        description=row["problem_description"],
        entry_point=row["entry_point"],
        starter_code=row["starter_code"],
        setup_code=row["prompt"],
        reference=row["completion"],
        test_type="check",
        tests={"check": row["test"]},
        date=row.get("estimated_date"),
        difficulty=row.get("difficulty"),
    )


def _lcb_problem(row: Row) -> Problem:
    cases = _as_list(row.get("public_test_cases"))
    sets = ["public"]
    if "private_test_cases" in row:  # decoded by asap.data.lcb_release (hub release files)
        cases += list(row["private_test_cases"])
        sets.append("private")
    starter = row.get("starter_code") or ""
    functional = bool(starter.strip())
    tests: dict[str, Any] = {
        "cases": [{"input": c["input"], "output": c["output"]} for c in cases],
        "sets": sets,
    }
    if functional:
        match = METHOD_RE.search(starter)
        if match is None:
            raise DataError(f"{row['question_id']}: no method in starter code")
        tests["func_name"] = match.group(1)
    return _problem(
        task_id=str(row["question_id"]),
        question=row["question_content"],
        entry_point=tests.get("func_name"),
        starter_code=starter or None,
        test_type="functional" if functional else "stdin",
        tests=tests,
        date=str(row["contest_date"])[:10],
        release=row.get("first_release"),
        difficulty=row.get("difficulty"),
    )


def lcb_slice(releases: tuple[str, ...]) -> Callable[[Row], Problem | None]:
    """LiveCodeBench problems first released in `releases` (membership by release file)."""

    def normalise(row: Row) -> Problem | None:
        if row.get("first_release") not in releases:
            return None
        return _lcb_problem(row)

    return normalise


@dataclass(frozen=True)
class Benchmark:
    name: str
    normalise: Callable[[Row], Problem | None]  # None: row outside this benchmark's slice
    size: int  # problems in the full benchmark, checked after loading


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("humaneval", humaneval_problem, 164),
        Benchmark("humanevalplus", humanevalplus_problem, 164),
        Benchmark("lcb_v1_v3", lcb_slice(("v1", "v2", "v3")), 612),
        Benchmark("lcb_v4_v5", lcb_slice(("v4", "v5")), 268),
        Benchmark("leetcode", leetcode_problem, 228),
    )
}


def get_benchmark(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise DataError(f"unknown benchmark {name!r}; known: {sorted(BENCHMARKS)}") from None


def normalise_benchmark(name: str, rows: Iterable[Row], source: str) -> Iterator[Problem]:
    """Problems of benchmark `name` from raw rows; a bad row raises DataError naming it."""
    benchmark = get_benchmark(name)
    seen: set[str] = set()
    for position, row in enumerate(rows):
        try:
            problem = benchmark.normalise(row)
        except (KeyError, TypeError, ValueError, SyntaxError) as err:
            ident = row.get("task_id") or row.get("question_id") or f"row {position}"
            raise DataError(
                f"{source}: {name} record {ident}: {type(err).__name__}: {err}"
            ) from err
        if problem is None:
            continue
        if problem["task_id"] in seen:
            raise DataError(f"{source}: {name}: duplicate task_id {problem['task_id']}")
        seen.add(problem["task_id"])
        problem["benchmark"] = name
        problem["source"] = source
        yield problem
