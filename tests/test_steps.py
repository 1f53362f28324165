"""Step splitting: blank-line separated steps, exact text kept."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from asap.data.steps import STEP_BREAK_RE, join_steps, split_steps


def test_split_on_runs_of_blank_lines_keeps_step_text() -> None:
    cot = "\n First step.\n  still first\n\n\n   \n    indented = 2\n\t\nlast  \n\n"
    assert split_steps(cot) == ["First step.\n  still first", "    indented = 2", "last"]


def test_empty_and_whitespace_cots_have_no_steps() -> None:
    assert split_steps("") == []
    assert split_steps(" \n\n \t\n") == []


def test_single_newlines_do_not_split() -> None:
    assert split_steps("a\nb\nc") == ["a\nb\nc"]


lines = st.text(alphabet="ab .\t", min_size=1, max_size=6).filter(lambda s: s.strip())
steps_strategy = st.lists(
    st.lists(lines, min_size=1, max_size=3).map("\n".join), min_size=1, max_size=8
)


@given(steps_strategy)
def test_join_then_split_returns_the_steps(steps: list[str]) -> None:
    # Steps as split_steps makes them: no surrounding blank lines, outer whitespace only inside.
    steps = [step.strip() for step in steps]
    assert split_steps(join_steps(steps)) == steps


@given(st.text(alphabet="ab \n\t", max_size=40))
def test_split_then_join_is_stable(cot: str) -> None:
    steps = split_steps(cot)
    assert all(step.strip() for step in steps)
    assert not any(STEP_BREAK_RE.search(step) for step in steps)
    assert split_steps(join_steps(steps)) == steps
