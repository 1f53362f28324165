"""Reasoning steps: a CoT is a sequence of blank-line separated steps.

Rule: the CoT is stripped of surrounding whitespace and split on runs of blank lines
(``re.split(r"\\n\\s*\\n", ...)``, i.e. a newline, any whitespace, another newline); empty pieces
are dropped. Each step keeps its exact text, including the indentation of its first line.
`join_steps` rejoins with one blank line, so ``join_steps(split_steps(c)) == c`` whenever `c`
is stripped and its separators are exactly "\\n\\n".
"""

from __future__ import annotations

import re

STEP_SEPARATOR = "\n\n"
STEP_BREAK_RE = re.compile(r"\n\s*\n")


def split_steps(cot: str) -> list[str]:
    """The steps of `cot`: pieces between runs of blank lines, empty pieces dropped."""
    return [piece for piece in STEP_BREAK_RE.split(cot.strip()) if piece.strip()]


def join_steps(steps: list[str]) -> str:
    """The CoT made of `steps`, separated by one blank line."""
    return STEP_SEPARATOR.join(steps)
