"""Rules the test suite keeps, read from its own source: no test can hang CI on a command it
starts, and none asserts on the clock (a shared CI machine makes such tests flaky)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
BLOCKING = {"run", "call", "check_call", "check_output"}  # subprocess functions that wait
CLOCKS = {"time", "monotonic", "perf_counter", "process_time"}


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


def _violations(rule) -> dict[str, list[int]]:
    found = {path.name: rule(ast.parse(path.read_text(encoding="utf-8"))) for path in _sources()}
    return {name: lines for name, lines in found.items() if lines}


def test_every_command_a_test_starts_has_a_timeout():
    assert _violations(subprocess_calls_without_timeout) == {}, "subprocess calls without timeout="


def test_no_test_asserts_on_elapsed_time():
    assert _violations(clock_assertions) == {}, "assertions on the clock"


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
