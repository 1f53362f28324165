"""Rules the test suite keeps, read from its own source: no test can hang CI on a command it
starts; none asserts on the clock or waits for another process or thread by sleeping (a shared
CI machine makes such tests flaky); and no assertion compares a value with itself (it cannot
fail)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
BLOCKING = {"run", "call", "check_call", "check_output"}  # subprocess functions that wait
CLOCKS = {"time", "monotonic", "perf_counter", "process_time"}
# Sleeps that are not a wait for another party, by file and enclosing function, with the reason.
SLEEPS_ALLOWED = {
    ("loopback.py", "do_POST"): "`delay_s`, a fake server's answer latency for benchmarks",
}


def _sources() -> list[Path]:
    return sorted(TESTS.glob("*.py"))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def subprocess_calls_without_timeout(tree: ast.AST) -> list[int]:
    """Lines of `subprocess.<run|call|check_call|check_output>(...)` with no `timeout=`."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and _dotted(node.func) in {f"subprocess.{name}" for name in BLOCKING}
        and not any(keyword.arg in ("timeout", None) for keyword in node.keywords)
    ]


def clock_assertions(tree: ast.AST) -> list[int]:
    """Lines of `assert` statements that read a clock (`time.monotonic()` and the like)."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Assert)
        for inner in ast.walk(node)
        if isinstance(inner, ast.Call) and _dotted(inner.func) in {f"time.{c}" for c in CLOCKS}
    ]


def _operand(node: ast.expr) -> str:
    """`node` as its AST dump, with `pytest.approx(x)` read as `x`."""
    if isinstance(node, ast.Call) and _dotted(node.func) in ("approx", "pytest.approx"):
        node = node.args[0] if node.args else node
    return ast.dump(node)


def self_comparisons(tree: ast.AST) -> list[int]:
    """Lines of `assert` statements in which an expression is compared by `==`, `<=`, `>=` or `is`
    with the same expression (the same AST, e.g. `f(x) == f(x)`): such a check holds by
    construction, whatever `f` does. (`x != x` stays allowed: it is the test for NaN.)"""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Assert)
        and any(
            isinstance(op, ast.Eq | ast.LtE | ast.GtE | ast.Is) and _operand(a) == _operand(b)
            for inner in ast.walk(node.test)
            if isinstance(inner, ast.Compare)
            for op, a, b in zip(
                inner.ops, [inner.left, *inner.comparators[:-1]], inner.comparators, strict=True
            )
        )
    ]


def _sleep_names(tree: ast.AST) -> set[str]:
    """The dotted names that call `time.sleep` in this module (`time.sleep`, `t.sleep` after
    `import time as t`, `sleep` after `from time import sleep`)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {f"{a.asname or a.name}.sleep" for a in node.names if a.name == "time"}
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            names |= {a.asname or a.name for a in node.names if a.name == "sleep"}
    return names


def sleeps(tree: ast.AST, allowed: tuple[str, ...] = ()) -> list[int]:
    """Lines of `time.sleep` calls that are not a poll. A poll is a sleep whose nearest enclosing
    loop (within its function) is a `while` with a non-constant condition: it waits for a state
    and checks it again (`while not done(): time.sleep(...)`). Any other sleep waits for a time,
    and so for an event it only guesses the timing of. Functions named in `allowed` are skipped.
    """
    names = _sleep_names(tree)
    found: list[int] = []

    def visit(node: ast.AST, loop: ast.AST | None, function: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            loop, function = None, getattr(node, "name", function)
        elif isinstance(node, ast.Call) and _dotted(node.func) in names:
            polls = isinstance(loop, ast.While) and not isinstance(loop.test, ast.Constant)
            if not polls and function not in allowed:
                found.append(node.lineno)
        for field, value in ast.iter_fields(node):
            children = value if isinstance(value, list) else [value]
            for child in children:
                if isinstance(child, ast.AST):
                    # a loop's condition or iterable is outside the loop's body
                    inner = node if field in ("body", "orelse") and _is_loop(node) else loop
                    visit(child, inner, function)

    visit(tree, None, "")
    return sorted(found)


def _is_loop(node: ast.AST) -> bool:
    return isinstance(node, ast.For | ast.AsyncFor | ast.While)


def _violations(rule) -> dict[str, list[int]]:
    found = {path.name: rule(ast.parse(path.read_text(encoding="utf-8"))) for path in _sources()}
    return {name: lines for name, lines in found.items() if lines}


def test_every_command_a_test_starts_has_a_timeout():
    assert _violations(subprocess_calls_without_timeout) == {}, "subprocess calls without timeout="


def test_no_test_asserts_on_elapsed_time():
    assert _violations(clock_assertions) == {}, "assertions on the clock"


def test_no_assertion_compares_a_value_with_itself():
    assert _violations(self_comparisons) == {}, "assertions that hold by construction"


def test_no_test_sleeps_instead_of_waiting_for_an_event():
    found = {
        path.name: sleeps(
            ast.parse(path.read_text(encoding="utf-8")),
            tuple(function for (name, function) in SLEEPS_ALLOWED if name == path.name),
        )
        for path in _sources()
    }
    assert {name: lines for name, lines in found.items() if lines} == {}, "sleeps, not polls"


def test_the_rules_catch_what_they_forbid():
    bad = ast.parse(
        "import subprocess, time\n"
        "subprocess.run(['git', 'status'])\n"
        "subprocess.check_output(['ls'], timeout=5)\n"
        "started = time.monotonic()\n"
        "assert time.monotonic() - started < 5\n"
        "assert started > 0\n"
    )
    assert subprocess_calls_without_timeout(bad) == [2]
    assert clock_assertions(bad) == [5]


def test_the_new_rules_catch_self_comparisons_and_sleeps():
    compared = ast.parse(
        "import pytest\n"
        "assert f(x) == f(x)\n"
        "assert f(x) == f(y)\n"
        "assert a < b <= a\n"
        "assert all(r.value == r.value for r in rows)\n"
        "assert mean(xs) == pytest.approx(mean(xs))\n"
        "assert mean(xs) == pytest.approx(2.5)\n"
        "assert value != value\n"  # the NaN test
        "same = f(x) == f(x)\n"  # not an assertion
        "assert g(y) is g(y)\n"
    )
    assert self_comparisons(compared) == [2, 5, 6, 10]
    slept = ast.parse(
        "import time\n"
        "import time as clock\n"
        "from time import sleep\n"
        "time.sleep(0.1)\n"
        "def poll(done):\n"
        "    while not done():\n"
        "        time.sleep(0.02)\n"
        "def spin(done):\n"
        "    while True:\n"
        "        if done():\n"
        "            break\n"
        "        clock.sleep(0.02)\n"
        "def settle():\n"
        "    for _ in range(3):\n"
        "        sleep(0.5)\n"
        "def nested(done):\n"
        "    while not done():\n"
        "        for _ in range(3):\n"
        "            time.sleep(0.1)\n"
        "def latency(server):\n"
        "    time.sleep(server.delay_s)\n"
    )
    assert sleeps(slept) == [4, 12, 15, 19, 21]
    assert sleeps(slept, allowed=("latency",)) == [4, 12, 15, 19]
