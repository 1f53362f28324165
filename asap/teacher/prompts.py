"""Teacher prompts (paper section 3.2), read from template files named by params.

Each prompt is a text file under `configs/prompts/teacher/` (a DVC dependency of the teacher
stages, so editing a prompt reruns them) with named placeholders in braces:

- ``anchor`` (`anchor.txt`): the "Direct CoT" of the final code; ``{question}``, ``{code}``.
- ``rewrite`` (`coarse_rewrite.txt`): coarse pruning as in the paper, the teacher returns the
  compressed thinking; ``{anchor}``, ``{cot}``, optionally ``{question}``.
- ``select`` (`coarse_select.txt`, beyond the paper): the teacher sees the steps numbered
  and answers only with the numbers of the steps to keep; ``{anchor}``, ``{numbered_steps}``,
  optionally ``{question}``.

The bundled defaults carry, point by point and in our own words, every instruction of the
authors' prompts (`prune/direct_cot.py` and `prune/prune-stage1.py` of their scripts); any
exact prompt text can be dropped in as a file and named by the `prompt` param. Only the
placeholders above are substituted; other braces stay as written. One trailing newline of the
file is dropped. Steps are shown separated by blank lines, the rule `asap.data.steps` splits on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asap.repro.io import DataError

Message = dict[str, str]

TEACHER_PROMPTS_DIR = Path("configs/prompts/teacher")
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILES = {
    "anchor": "anchor.txt",
    "rewrite": "coarse_rewrite.txt",
    "select": "coarse_select.txt",
}
PLACEHOLDERS = {
    "anchor": ("question", "code"),
    "rewrite": ("question", "anchor", "cot"),
    "select": ("question", "anchor", "numbered_steps"),
}
REQUIRED = {
    "anchor": ("question", "code"),
    "rewrite": ("anchor", "cot"),
    "select": ("anchor", "numbered_steps"),
}
_FENCE_OPEN = re.compile(r"\A```[^\n`]*\n")
_FENCE_CLOSE = re.compile(r"\n?```\Z")


def default_prompt(kind: str) -> Path:
    """The bundled template of `kind`, relative to the repository root."""
    return TEACHER_PROMPTS_DIR / DEFAULT_FILES[kind]


def resolve(path: str | Path) -> Path:
    """`path` as given when it exists (relative to the working directory), else the
    repository's copy (for runs outside a checkout, such as tests in a scratch directory)."""
    path = Path(path)
    if path.exists() or path.is_absolute():
        return path
    return REPO_ROOT / path


def require_tracked(path: str | Path, param: str) -> None:
    """A prompt a stage reads must lie under configs/prompts/teacher, which DVC tracks."""
    parts = Path(path).parts
    if Path(path).is_absolute() or parts[: len(TEACHER_PROMPTS_DIR.parts)] != (
        TEACHER_PROMPTS_DIR.parts
    ):
        raise DataError(
            f"params {param}={str(path)!r}: teacher prompts must be files under "
            f"{TEACHER_PROMPTS_DIR}/ (a dependency of the teacher stages, so DVC reruns them "
            "when a prompt changes)"
        )


@dataclass(frozen=True)
class PromptTemplate:
    """One teacher prompt: its kind, text and the file it came from."""

    kind: str
    text: str
    source: str

    @classmethod
    def load(cls, kind: str, path: str | Path | None = None) -> PromptTemplate:
        """The template of `kind` from `path` (default: the bundled file)."""
        if kind not in PLACEHOLDERS:
            raise DataError(f"unknown prompt kind {kind!r}; known: {sorted(PLACEHOLDERS)}")
        given = Path(path) if path is not None else default_prompt(kind)
        file = resolve(given)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as err:
            raise DataError(f"{given}: cannot read the {kind} prompt template: {err}") from err
        text = text.removesuffix("\n")
        missing = [name for name in REQUIRED[kind] if "{" + name + "}" not in text]
        if missing:
            raise DataError(
                f"{given}: the {kind} prompt template lacks the placeholder(s) "
                + ", ".join("{" + name + "}" for name in missing)
            )
        return cls(kind, text, given.as_posix())

    def render(self, **values: str) -> list[Message]:
        """One user message with every placeholder of this kind replaced by its value."""
        unknown = sorted(set(values) - set(PLACEHOLDERS[self.kind]))
        if unknown:
            raise ValueError(f"{self.kind} prompt: no placeholders {unknown}")
        text = self.text
        for name in PLACEHOLDERS[self.kind]:
            if "{" + name + "}" in text:
                text = text.replace("{" + name + "}", values[name])
        return [{"role": "user", "content": text}]


def anchor_messages(template: PromptTemplate, question: str, code: str) -> list[Message]:
    """Ask for the Direct CoT (anchor) of `code` as a solution of `question`."""
    return template.render(question=question.strip(), code=code.strip("\n"))


def rewrite_messages(
    template: PromptTemplate, question: str, anchor: str, steps: Sequence[str]
) -> list[Message]:
    """Ask for the thinking (`steps`) compressed with the anchor as reference, wording kept."""
    return template.render(question=question.strip(), anchor=anchor.strip(), cot="\n\n".join(steps))


def number_steps(steps: Sequence[str]) -> str:
    """Steps as "[1] ...", "[2] ...", separated by blank lines."""
    return "\n\n".join(f"[{number}] {step}" for number, step in enumerate(steps, start=1))


def select_messages(
    template: PromptTemplate, question: str, anchor: str, steps: Sequence[str]
) -> list[Message]:
    """Ask for the numbers (1-based) of the original steps to keep."""
    return template.render(
        question=question.strip(), anchor=anchor.strip(), numbered_steps=number_steps(steps)
    )


def strip_fence(text: str) -> str:
    """The answer without a code fence wrapped around all of it (as the authors strip it).

    Teachers often return the compressed thinking inside ``` ... ```, echoing the prompt's
    fences; an opening fence line (with or without a language tag) and a closing fence at the
    very end are removed. Fences inside the text stay.
    """
    stripped = text.strip()
    if not stripped.startswith("```"):
        return text
    opened = _FENCE_OPEN.match(stripped)
    body = stripped[opened.end() :] if opened else stripped[3:]
    return _FENCE_CLOSE.sub("", body)
