"""Teacher prompt templates (asap.teacher.prompts): loading, rendering, fences, and the
instructions the bundled defaults must carry from the authors' prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from asap.repro.io import DataError
from asap.teacher.coarse import CoarseSettings, judge
from asap.teacher.prompts import (
    PromptTemplate,
    anchor_messages,
    require_tracked,
    rewrite_messages,
    select_messages,
    strip_fence,
)

STEPS = ["Read n.", "Wait, maybe n can be 0? No.", "Print n * 2."]


def test_bundled_templates_render_every_placeholder() -> None:
    anchor = anchor_messages(PromptTemplate.load("anchor"), " Q? \n", "\nprint(1)\n")
    assert anchor[0]["role"] == "user"
    text = anchor[0]["content"]
    assert "```\nQ?\n```" in text and "```python\nprint(1)\n```" in text
    rewrite = rewrite_messages(PromptTemplate.load("rewrite"), "Q?", "A.", STEPS)[0]["content"]
    assert "\n\n".join(STEPS) in rewrite and "```\nA.\n```" in rewrite
    assert "Q?" not in rewrite  # the authors show the teacher only the solution and thinking
    select = select_messages(PromptTemplate.load("select"), "Q?", "A.", STEPS)[0]["content"]
    assert "[1] Read n.\n\n[2] Wait" in select and "Q?" in select
    for content in (text, rewrite, select):
        assert "{" not in content.replace("{}", "")


def test_the_anchor_prompt_carries_the_authors_instructions() -> None:
    text = PromptTemplate.load("anchor").text
    for instruction in (
        "step by step, how one arrives at this code from the question",  # how to get this code
        "nothing but a detailed step-by-step solution",  # only return ...
        "that includes the code",  # ... detailed (with code)
        '"Step-by-Step Solution" and "Final Code"',  # the two parts, and only them
    ):
        assert instruction in text


def test_the_rewrite_prompt_carries_the_authors_rules_point_by_point() -> None:
    text = PromptTemplate.load("rewrite").text
    for instruction in (
        "cut the reasoning paths that do not matter",  # goal: remove irrelevant paths
        "keep everything that lies on the core line of reasoning",  # retain the core path
        "keep its original wording and structure as far as at all possible",
        "never rewrite its content or put the solution in its place",  # rule 1
        "only to decide which parts are relevant",  # rule 1
        "hard: remove every alternative path that is not part of the core line",  # rule 2
        "the examples, reflections and tests that illustrate, check or analyse it",  # rule 3
        "do not paraphrase, do not reorder, do not change any word",  # rule 4
        "no new concept, symbol or abbreviation",  # rule 5
    ):
        assert instruction in text
    assert text.index("Solution:") < text.index("Thinking:")


def test_the_select_prompt_has_no_copyable_example() -> None:
    text = PromptTemplate.load("select").text
    rules_removed = text.replace("1.", "").replace("2.", "").replace("3.", "")
    assert not any(char.isdigit() for char in rules_removed)


def test_a_template_without_a_required_placeholder_is_named(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("Compress {cot} please.\n")
    with pytest.raises(DataError, match=r"mine.txt.*\{anchor\}"):
        PromptTemplate.load("rewrite", path)
    with pytest.raises(DataError, match="cannot read"):
        PromptTemplate.load("anchor", tmp_path / "absent.txt")


def test_a_user_template_is_used_verbatim_and_other_braces_stay(tmp_path: Path) -> None:
    path = tmp_path / "exact.txt"
    path.write_text('Return JSON like {"keep": [..]}.\n{anchor}\n---\n{cot}\n')
    messages = rewrite_messages(PromptTemplate.load("rewrite", path), "Q", "A", STEPS)
    assert messages[0]["content"] == 'Return JSON like {"keep": [..]}.\nA\n---\n' + "\n\n".join(
        STEPS
    )


def test_prompts_outside_the_tracked_folder_are_refused() -> None:
    require_tracked("configs/prompts/teacher/mine.txt", "anchor.prompt")
    for path in ("prompts/mine.txt", "/etc/passwd", "configs/prompts/eval/x.txt"):
        with pytest.raises(DataError, match=r"anchor\.prompt"):
            require_tracked(path, "anchor.prompt")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("```\nstep one\n\nstep two\n```", "step one\n\nstep two"),
        ("```text\nstep one\n```\n", "step one"),
        ("  ```\nstep one```", "step one"),
        ("step one\n\n```python\nx = 1\n```", "step one\n\n```python\nx = 1\n```"),
    ],
)
def test_strip_fence_removes_only_a_wrapping_fence(answer: str, expected: str) -> None:
    assert strip_fence(answer).strip() == expected


def test_a_fenced_rewrite_is_accepted_when_strip_fence_is_on() -> None:
    answer = "```\n" + STEPS[0] + "\n\n" + STEPS[2] + "\n```"
    on = judge(STEPS, answer, False, CoarseSettings(mode="rewrite", strip_fence=True))
    off = judge(STEPS, answer, False, CoarseSettings(mode="rewrite", strip_fence=False))
    assert on.accepted and on.kept == [0, 2] and on.steps == [STEPS[0], STEPS[2]]
    assert off.steps is not None and off.steps[0].startswith("```")  # the fence would leak
