"""The scorer against an independent plain forward pass (fp32, full logits, log_softmax)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from asap.data.steps import join_steps
from asap.pruning.surprisal import build_scoring_text, prune_records, score_steps
from asap.scoring.logprobs import Scorer, load_scorer, tokens_at_chars

TOLERANCE = 2e-3  # nats; fp32, batched vs unbatched matmuls
QUESTION = "Given n, print n squared."
# The second step is indented code: the SmolLM2 tokenizer merges the blank line before it with
# its first three spaces into one token "\n\n   ", so that token holds the step's first character.
STEPS = ["Okay, read n first.", "    n = int(input())", "Then print it squared.", "print(n * n)"]


@pytest.fixture(scope="module")
def scorer(base_model_dir: Path) -> Scorer:
    return load_scorer(base_model_dir, dtype="float32", device="cpu", batch_size=1)


def plain_logprobs(scorer: Scorer, text: str, add_special_tokens: bool) -> tuple[Any, Any]:
    """Token encoding and full-vocabulary log-probabilities from one plain forward pass."""
    encoding = scorer.tokenizer(text, add_special_tokens=add_special_tokens, return_tensors="pt")
    with torch.inference_mode():
        logits = scorer.model(input_ids=encoding.input_ids).logits[0].float()
    return encoding, torch.log_softmax(logits, dim=-1)


def reference_surprisal(
    scorer: Scorer, text: str, steps: list[str], add_special_tokens: bool
) -> list[float]:
    """-log p(token holding each step's first character), located with the tokenizer's own
    char_to_token on a plain search of the text."""
    encoding, logprobs = plain_logprobs(scorer, text, add_special_tokens)
    ids = encoding.input_ids[0]
    values, cursor = [], text.index("<think>")
    for step in steps:
        cursor = text.index(step, cursor)
        token = encoding.char_to_token(0, cursor)
        values.append(-logprobs[token - 1, ids[token]].item())
        cursor += len(step)
    return values


def test_step_start_inside_a_bpe_merge(scorer: Scorer) -> None:
    built = build_scoring_text(QUESTION, STEPS, "raw", scorer.tokenizer)
    encoded = scorer.encode(built.text)
    start = built.step_starts[1]
    token = tokens_at_chars(encoded.offsets, [start])[0]
    token_start, token_end = encoded.offsets[token]
    assert token_start < start < token_end  # the merge really spans the boundary
    assert built.text[token_start:token_end] == "\n\n   "
    # re-tokenizing the prefix (the authors' way) lands on another token
    prefix_tokens = len(scorer.tokenizer(built.text[:start], add_special_tokens=True).input_ids)
    assert prefix_tokens != token


@pytest.mark.parametrize("context", ["raw", "chat"])
def test_surprisal_equals_plain_forward(scorer: Scorer, context: str) -> None:
    built = build_scoring_text(QUESTION, STEPS, context, scorer.tokenizer)
    if context == "raw":
        assert built.text == QUESTION + "\n<think>\n" + join_steps(STEPS)
    else:
        assert built.text.startswith("<|im_start|>")
        assert built.text.endswith("<|im_start|>assistant\n<think>\n" + join_steps(STEPS))
    (ours,) = score_steps(scorer, [(QUESTION, STEPS)], context)
    expected = reference_surprisal(scorer, built.text, STEPS, built.add_special_tokens)
    assert ours.surprisal == pytest.approx(expected, abs=TOLERANCE)
    assert all(value > 0 for value in ours.surprisal)
    # step token counts add up to the tokens from the first step to the end of the text
    first = tokens_at_chars(scorer.encode(built.text).offsets, built.step_starts[:1])[0]
    assert sum(ours.tokens) == len(scorer.encode(built.text).input_ids) - first


def test_batched_records_of_different_lengths(scorer: Scorer) -> None:
    items = [
        (QUESTION, STEPS),
        ("Sum a list.", ["Use sum.", "print(sum(map(int, input().split())))"]),
        ("Longer question: " + "count the pairs " * 20, [*STEPS, "Check n = 0 too.", "Done."]),
    ]
    scorer.batch_size = 3
    try:
        batched = score_steps(scorer, items)
    finally:
        scorer.batch_size = 1
    for (question, steps), ours in zip(items, batched, strict=True):
        text = build_scoring_text(question, steps, "raw", scorer.tokenizer).text
        expected = reference_surprisal(scorer, text, steps, True)
        assert ours.surprisal == pytest.approx(expected, abs=TOLERANCE)


def test_every_token_logprob_in_head_chunks(scorer: Scorer) -> None:
    text = QUESTION + "\n<think>\n" + join_steps(STEPS)
    scorer.head_chunk = 7  # several chunks for one sequence
    try:
        (ours,) = scorer.text_logprobs([text])
    finally:
        scorer.head_chunk = 1024
    encoding, logprobs = plain_logprobs(scorer, text, True)
    ids = encoding.input_ids[0]
    expected = logprobs[:-1].gather(-1, ids[1:, None]).squeeze(-1).tolist()
    assert ours.input_ids == ids.tolist()
    assert math.isnan(ours.logprobs[0])
    assert ours.logprobs[1:] == pytest.approx(expected, abs=TOLERANCE)


def test_texts_longer_than_the_context_are_scored_in_windows(scorer: Scorer) -> None:
    max_context, min_left = 32, 8
    stride = max_context - min_left
    windowed = Scorer(
        scorer.model, scorer.tokenizer, max_context=max_context, min_left_context=min_left
    )
    text = " ".join(f"step {i}: add {i} to the total." for i in range(12))
    ids = windowed.encode(text).input_ids
    assert len(ids) > 3 * max_context
    positions = list(range(1, len(ids)))
    (ours,) = windowed.target_logprobs([ids], [positions])
    # the documented rule: position p is scored in the window starting at the largest multiple
    # of the stride that leaves it at least `min_left` tokens of context (the first window: all)
    window_logprobs: dict[int, torch.Tensor] = {}
    for p, value in zip(positions, ours, strict=True):
        start = 0
        while start + stride + min_left <= p:
            start += stride
        assert p - start >= min_left or start == 0
        assert p < start + max_context
        if start not in window_logprobs:
            with torch.inference_mode():
                window = torch.tensor([ids[start : start + max_context]])
                logits = scorer.model(input_ids=window).logits[0].float()
            window_logprobs[start] = torch.log_softmax(logits, dim=-1)
        expected = window_logprobs[start][p - start - 1, ids[p]].item()
        assert value == pytest.approx(expected, abs=TOLERANCE), p
    assert len(window_logprobs) >= 4
    # positions inside the first window match an unwindowed pass
    (full,) = scorer.target_logprobs([ids], [positions])
    assert ours[: max_context - 1] == pytest.approx(full[: max_context - 1], abs=TOLERANCE)


def test_position_without_prefix_is_rejected(scorer: Scorer) -> None:
    with pytest.raises(ValueError, match="no prefix"):
        scorer.target_logprobs([[10, 11, 12]], [[0]])


def test_iterative_mode_removes_the_lowest_of_fresh_scores(scorer: Scorer) -> None:
    steps = [*STEPS, "Wait, n can be negative.", "Squares are never negative, fine."]
    budget = scorer.count_tokens(join_steps(steps)) - 12
    (result,) = prune_records(scorer, [(QUESTION, steps)], budget, mode="iterative")
    # replay with the plain forward pass: rescore the remaining steps, drop the lowest, repeat
    kept = list(range(len(steps)))
    while scorer.count_tokens(join_steps([steps[i] for i in kept])) > budget:
        remaining = [steps[i] for i in kept]
        text = build_scoring_text(QUESTION, remaining, "raw", scorer.tokenizer).text
        values = reference_surprisal(scorer, text, remaining, True)
        kept.pop(min(range(len(kept)), key=lambda j: (values[j], j)))
    assert [i for i, keep in enumerate(result.kept) if keep] == kept
    assert result.tokens_after <= budget < result.tokens_before


def test_bad_records_name_the_record_and_reason(tmp_path: Path) -> None:
    from asap.pruning.surprisal import load_cot_records
    from asap.repro.io import DataError, write_jsonl

    path = tmp_path / "in.jsonl"
    write_jsonl(path, [{"id": "a", "question": "q", "cot": "one\n\ntwo"}, {"id": "b", "cot": "x"}])
    with pytest.raises(DataError, match=r"record 2 \(id 'b'\): field 'question' missing"):
        load_cot_records(path)
    write_jsonl(path, [{"id": "c", "question": "q", "cot": " \n\n "}])
    with pytest.raises(DataError, match=r"record 1 \(id 'c'\): empty cot"):
        load_cot_records(path)


@pytest.mark.parametrize(
    ("offsets", "chars", "expected"),
    [
        # BOS (empty span) never holds a character; "ab" + "\n\nc" merged across a boundary
        ([(0, 0), (0, 2), (2, 5), (5, 6)], [0, 1, 2, 4, 5], [1, 1, 2, 2, 3]),
        # special tokens in the middle (empty spans) are skipped
        ([(0, 3), (3, 3), (3, 3), (3, 6)], [3, 5], [3, 3]),
        # a multi-byte character split over two byte tokens: both carry its span; the first
        # holds it
        ([(0, 1), (1, 2), (1, 2), (2, 3)], [1, 2], [1, 3]),
    ],
)
def test_tokens_at_chars_on_synthetic_offsets(offsets, chars, expected) -> None:
    assert tokens_at_chars(offsets, chars) == expected


def test_a_character_past_the_last_token_is_an_error() -> None:
    with pytest.raises(ValueError, match="character 6 lies after the last token"):
        tokens_at_chars([(0, 0), (0, 3), (3, 6)], [6])


def test_chat_context_does_not_open_think_twice(base_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    from asap.pruning.surprisal import scoring_prefix

    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    plain, special = scoring_prefix("Q?", "chat", tokenizer)
    assert plain.endswith("<think>\n") and plain.count("<think>") == 1 and not special
    # A DeepSeek-R1-style template opens the thinking in its generation prompt itself.
    tokenizer.chat_template = (
        "{% for m in messages %}<|User|>{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}<|Assistant|><think>\n{% endif %}"
    )
    opened, _ = scoring_prefix("Q?", "chat", tokenizer)
    assert opened == "<|User|>Q?<|Assistant|><think>\n"
    built = build_scoring_text("Q?", ["a", "b"], "chat", tokenizer)
    assert built.text == opened + "a\n\nb" and built.step_starts == [len(opened), len(opened) + 3]
