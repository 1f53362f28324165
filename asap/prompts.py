"""Every teacher prompt of the pipeline, in our own wording (paper section 3.2, appendix E).

- `anchor_messages`: the "Direct CoT": a concise step-by-step derivation of the final code from
  the question (the anchor).
- `rewrite_messages`: coarse pruning as in the paper: the teacher returns the original CoT with
  unneeded steps removed, guided by the anchor, keeping the original wording and adding nothing.
- `select_messages`: coarse pruning beyond the paper: the teacher sees the original steps
  numbered and answers only with the numbers of the steps to keep (far fewer output tokens; the
  kept text is the original text by construction).

Steps are shown separated by blank lines, the same rule `asap.steps` splits on.
"""

from __future__ import annotations

from collections.abc import Sequence

Message = dict[str, str]

ANCHOR_TEMPLATE = """\
Here is a programming problem and a correct Python solution to it.

Write a short, direct chain of thought that leads from the problem to this solution: restate \
what must be computed, give the key observations, the algorithm and its complexity, and the \
edge cases, in the order one would reason about them. One step per paragraph, paragraphs \
separated by a blank line. Do not copy the code and do not add anything the solution does not \
do.

# Problem
{question}

# Solution
```python
{code}
```"""

REWRITE_TEMPLATE = """\
Here is a programming problem, a short reference reasoning that solves it, and a long original \
reasoning about the same problem. The original reasoning is a sequence of steps separated by \
blank lines.

Prune the original reasoning:
1. Delete the steps that are not needed: digressions, repetitions, abandoned attempts and \
checks that lead nowhere.
2. Keep every step that carries an idea, a check or a decision found in the reference reasoning.
3. Copy each kept step exactly as written, word for word. Do not rephrase, merge, shorten or \
reorder steps, and add nothing new.

Answer with the kept steps only, in their original order, separated by blank lines.

# Problem
{question}

# Reference reasoning
{anchor}

# Original reasoning
{cot}"""

SELECT_TEMPLATE = """\
Here is a programming problem, a short reference reasoning that solves it, and a long original \
reasoning about the same problem, split into numbered steps.

Choose the steps of the original reasoning to keep: every step that carries an idea, a check \
or a decision found in the reference reasoning. Leave out digressions, repetitions, abandoned \
attempts and checks that lead nowhere.

# Problem
{question}

# Reference reasoning
{anchor}

# Original reasoning
{numbered_steps}

Answer only with the numbers of the steps to keep, in increasing order, separated by commas \
(for example: 1, 2, 5, 9). Ranges such as 4-7 are allowed."""


def _user(content: str) -> list[Message]:
    return [{"role": "user", "content": content}]


def anchor_messages(question: str, code: str) -> list[Message]:
    """Ask for the Direct CoT (anchor) of `code` as a solution of `question`."""
    return _user(ANCHOR_TEMPLATE.format(question=question.strip(), code=code.strip("\n")))


def rewrite_messages(question: str, anchor: str, steps: Sequence[str]) -> list[Message]:
    """Ask for the original CoT (`steps`) with unneeded steps removed, wording kept."""
    return _user(
        REWRITE_TEMPLATE.format(
            question=question.strip(), anchor=anchor.strip(), cot="\n\n".join(steps)
        )
    )


def number_steps(steps: Sequence[str]) -> str:
    """Steps as "[1] ...", "[2] ...", separated by blank lines."""
    return "\n\n".join(f"[{number}] {step}" for number, step in enumerate(steps, start=1))


def select_messages(question: str, anchor: str, steps: Sequence[str]) -> list[Message]:
    """Ask for the numbers (1-based) of the original steps to keep."""
    return _user(
        SELECT_TEMPLATE.format(
            question=question.strip(), anchor=anchor.strip(), numbered_steps=number_steps(steps)
        )
    )
