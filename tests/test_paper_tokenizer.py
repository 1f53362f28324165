"""The paper model's own tokenizer (DeepSeek-R1-Distill-Qwen-7B, from a GGUF header) on the
real CoTs: step boundaries, token counts, and the BOS and think markers of every prompt the
pipeline builds (scoring, SFT, evaluation)."""

from __future__ import annotations

import functools
import json
import math
import struct
from itertools import pairwise
from pathlib import Path

import pytest
import regex
from transformers import AutoTokenizer

from asap.data.steps import split_steps
from asap.eval.generation import build_prompt, prompt_token_ids
from asap.model.gguf_tokenizer import read_header
from asap.pruning.surprisal import build_scoring_text, locate_steps
from asap.repro.io import DataError
from asap.train.sft import end_of_turn, render_prompt, tokenize_record
from tests.real_data import train_records

BOS, EOS, PAD, THINK, END_THINK = 151646, 151643, 151654, 151648, 151649


@pytest.fixture(scope="module")
def tokenizer(paper_tokenizer_dir: Path):
    return AutoTokenizer.from_pretrained(paper_tokenizer_dir)


def test_vocabulary_and_special_tokens_are_the_models(tokenizer) -> None:
    assert len(tokenizer) == 152064
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (
        BOS,
        EOS,
        PAD,
    )
    assert tokenizer.bos_token == "<｜begin▁of▁sentence｜>"
    assert tokenizer.convert_tokens_to_ids(["<think>", "</think>"]) == [THINK, END_THINK]
    # Qwen2's byte-level BPE ids: "hello", "\n\n", "\n"; BOS added by default
    assert tokenizer("hello\n\nworld\n")["input_ids"] == [BOS, 14990, 271, 14615, 198]
    # <think> is one added token, not split into pieces, and not dropped as special
    ids = tokenizer("<think>\nok\n</think>", add_special_tokens=False)["input_ids"]
    assert ids[0] == THINK and ids[-1] == END_THINK
    assert tokenizer.decode(ids, skip_special_tokens=True) == "<think>\nok\n</think>"


def test_real_cots_round_trip_and_every_step_starts_on_a_token(tokenizer) -> None:
    records = train_records()
    assert records
    for record in records:
        steps = split_steps(record["cot"])
        text = build_scoring_text(record["question"], steps, "raw", tokenizer)
        encoding = tokenizer(text.text, return_offsets_mapping=True)
        ids, offsets = encoding["input_ids"], encoding["offset_mapping"]
        assert ids[0] == BOS and BOS not in ids[1:], record["id"]
        assert tokenizer.decode(ids[1:]) == text.text, record["id"]

        located = locate_steps(tokenizer, record["question"], steps)
        assert located.input_ids == ids
        # Qwen2's pre-tokenizer keeps "\n\n" out of the next step's first token (it joins the
        # previous punctuation, or stands alone), so each step's first token starts the step.
        for start, first in zip(text.step_starts, located.first_tokens, strict=True):
            assert offsets[first][0] == start, (record["id"], start, offsets[first])
        assert sum(located.token_counts) == len(ids) - located.first_tokens[0]


# Qwen2's pre-tokenizer split, as its published tokenizer.json (and llama.cpp) write it
QWEN2_SPLIT = regex.compile(
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def byte_chars() -> dict[int, str]:
    """GPT-2's byte-to-unicode table: printable bytes stand for themselves, the others for the
    code points from 256 on, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    others = [b for b in range(256) if b not in printable]
    return {b: chr(b) for b in printable} | {b: chr(256 + i) for i, b in enumerate(others)}


def bpe_counter(tokenizer_json: Path):
    """Token counts by a plain-Python byte-level BPE (GPT-2's algorithm: split, map bytes to
    characters, merge the lowest-ranked adjacent pair until none is in the merges) over the
    vocabulary and merges of `tokenizer_json`; an added token counts as one."""
    model = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    merges = model["model"]["merges"]
    ranks = {tuple(m.split(" ", 1) if isinstance(m, str) else m): i for i, m in enumerate(merges)}
    vocab, chars = model["model"]["vocab"], byte_chars()
    specials = sorted((t["content"] for t in model["added_tokens"]), key=len, reverse=True)
    added = regex.compile("|".join(map(regex.escape, specials)))

    @functools.cache
    def pieces(word: str) -> int:
        parts = [chars[b] for b in word.encode("utf-8")]
        while len(parts) > 1:
            rank, i = min((ranks.get(pair, math.inf), i) for i, pair in enumerate(pairwise(parts)))
            if rank == math.inf:
                break
            first, second = parts[i], parts[i + 1]
            merged, j = [], 0
            while j < len(parts):
                if parts[j : j + 2] == [first, second]:
                    merged.append(first + second)
                    j += 2
                else:
                    merged.append(parts[j])
                    j += 1
            parts = merged
        assert all(part in vocab for part in parts), word
        return len(parts)

    def count(text: str) -> int:
        segments = added.split(text)
        return len(segments) - 1 + sum(pieces(w) for s in segments for w in QWEN2_SPLIT.findall(s))

    return count


def test_real_cot_lengths_against_the_paper_budget(tokenizer, paper_tokenizer_dir) -> None:
    # The paper prunes to 4,096 tokens (appendix A). Counted with the paper model's tokenizer,
    # every committed CoT already fits: at the paper's budget the fine stage keeps them whole,
    # which is why the miniature paper run (tests/miniature.py) prunes to 1,024.
    counts = {
        r["id"]: len(tokenizer(r["cot"], add_special_tokens=False)["input_ids"])
        for r in train_records()
    }
    # Expected counts by a second path: the plain-Python BPE of bpe_counter, not the
    # `tokenizers` BPE that asap.model.gguf_tokenizer builds. Both use the GGUF header's
    # vocabulary and merges, whose ids the vocabulary test checks against Qwen2's.
    by_hand = bpe_counter(paper_tokenizer_dir / "tokenizer.json")
    assert counts == {r["id"]: by_hand(r["cot"]) for r in train_records()}
    assert counts == {"842/A": 2308, "1811/E": 3439, "816/B": 3270, "1931/A": 3802}
    assert max(counts.values()) <= 4096


def test_sft_example_has_one_bos_and_keeps_the_thinking(tokenizer) -> None:
    record = {**train_records()[0], "method": "original"}
    closing = end_of_turn(tokenizer)
    assert closing == "<｜end▁of▁sentence｜>"
    example = tokenize_record(tokenizer, record, closing)
    assert example.input_ids.count(BOS) == 1 and example.input_ids[0] == BOS
    completion = [t for t, m in zip(example.input_ids, example.completion_mask, strict=True) if m]
    # the completion opens the think block and carries the CoT: the chat template itself would
    # drop everything up to </think> from an assistant turn, so it is not used for the response
    assert completion[0] == THINK and END_THINK in completion and completion[-1] == EOS
    assert record["cot"][:200] in tokenizer.decode(completion)
    rendered = tokenizer.apply_chat_template(
        [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "<think>\nsecret\n</think>\nanswer"},
        ],
        tokenize=False,
    )
    assert "secret" not in rendered and rendered.endswith("answer<｜end▁of▁sentence｜>")
    assert render_prompt(tokenizer, "q").endswith("<｜User｜>q<｜Assistant｜>")


def test_eval_prompt_opens_the_think_block_with_one_bos_or_the_authors_two(tokenizer) -> None:
    prompt = build_prompt(tokenizer, "Write a function.")
    assert prompt.endswith("<｜Assistant｜><think>\n")
    (once,) = prompt_token_ids(tokenizer, [prompt], "once")
    (twice,) = prompt_token_ids(tokenizer, [prompt], "twice")
    assert once.count(BOS) == 1 and once[0] == BOS
    assert twice == [BOS, *once]  # what an engine does with the string: the authors' call
    assert once[-2:] == [THINK, 198]


def test_scoring_contexts_have_one_bos(tokenizer) -> None:
    question, steps = "Sum two numbers.", ["Read a and b.", "Print a + b."]
    for context in ("raw", "chat"):
        located = locate_steps(tokenizer, question, steps, context)
        assert located.input_ids.count(BOS) == 1 and located.input_ids[0] == BOS, context


def test_header_reader_refuses_what_is_not_a_complete_gguf_header(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.gguf"
    wrong.write_bytes(b"GGML" + bytes(20))
    with pytest.raises(DataError, match="not a GGUF file"):
        read_header(wrong)
    cut = tmp_path / "cut.gguf"
    key = b"general.architecture"
    cut.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + struct.pack("<Q", len(key)) + key)
    with pytest.raises(DataError, match="ends early"):
        read_header(cut)
