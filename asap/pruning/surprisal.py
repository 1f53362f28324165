"""First-token surprisal of reasoning steps (paper section 3.3).

The surprisal of step i is -log p(first token of step i | every token before it), in nats,
under the scorer model. The scored text depends on the context:

- ``raw``: ``question + "\\n<think>\\n" + "\\n\\n".join(steps)``, tokenized with the tokenizer's
  own special tokens (e.g. a BOS token where the model uses one).
- ``chat``: the question as the user turn of the model's chat template with the generation
  prompt, then ``"<think>\\n"`` (not repeated when the template already ends with it), then the
  steps; tokenized without adding special tokens, since the template holds them.

A step's first token is the token holding the step's first character (see
`asap.scoring.logprobs.tokens_at_chars`). The same offsets give each step's token count: the
tokens from its first token up to the next step's first token, so the blank line after a step
counts with that step and the counts add up to the tokens of the CoT part of the scored text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asap.data.steps import STEP_SEPARATOR, join_steps, split_steps
from asap.pruning.budget import MODES, Pruned, prune_global, prune_iterative
from asap.repro.cache import RecordCache, run_cached
from asap.repro.io import DataError, read_jsonl

if TYPE_CHECKING:
    from asap.scoring.logprobs import Scorer

CONTEXTS = ("raw", "chat")
THINK_OPEN = "<think>\n"


@dataclass(frozen=True)
class ScoringText:
    """The scored text, where each step starts in it, and how to tokenize it."""

    text: str
    step_starts: list[int]
    add_special_tokens: bool


@dataclass(frozen=True)
class StepScores:
    """Per step: first-token surprisal (nats) and token count within the scored text."""

    surprisal: list[float]
    tokens: list[int]


def scoring_prefix(question: str, context: str, tokenizer: object) -> tuple[str, bool]:
    """The text before the first step, and whether the tokenizer adds its special tokens."""
    if context == "raw":
        return question + "\n" + THINK_OPEN, True
    if context == "chat":
        prompt = tokenizer.apply_chat_template(  # type: ignore[attr-defined]
            [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
        )
        if not prompt.endswith(THINK_OPEN):
            prompt += THINK_OPEN
        return prompt, False
    raise ValueError(f"context must be one of {CONTEXTS}, got {context!r}")


def build_scoring_text(
    question: str, steps: Sequence[str], context: str, tokenizer: object
) -> ScoringText:
    if not steps:
        raise ValueError("no steps to score")
    if any(not step.strip() for step in steps):
        raise ValueError("a step is empty or whitespace only")
    prefix, add_special_tokens = scoring_prefix(question, context, tokenizer)
    starts, cursor = [], len(prefix)
    for step in steps:
        starts.append(cursor)
        cursor += len(step) + len(STEP_SEPARATOR)
    text = prefix + STEP_SEPARATOR.join(steps)
    return ScoringText(text, starts, add_special_tokens)


@dataclass(frozen=True)
class LocatedSteps:
    """The scored text's token ids, each step's first token index and each step's token count."""

    input_ids: list[int]
    first_tokens: list[int]
    token_counts: list[int]


def locate_steps(
    tokenizer: object, question: str, steps: Sequence[str], context: str = "raw"
) -> LocatedSteps:
    """Tokenize the scored text once and find every step's first token and token count."""
    from asap.scoring.logprobs import encode, tokens_at_chars

    built = build_scoring_text(question, steps, context, tokenizer)
    encoded = encode(tokenizer, built.text, built.add_special_tokens)
    firsts = tokens_at_chars(encoded.offsets, built.step_starts)
    bounds = [*firsts, len(encoded.input_ids)]
    counts = [bounds[i + 1] - bounds[i] for i in range(len(firsts))]
    return LocatedSteps(encoded.input_ids, firsts, counts)


def score_steps(
    scorer: Scorer, items: Sequence[tuple[str, Sequence[str]]], context: str = "raw"
) -> list[StepScores]:
    """First-token surprisal and token count of every step, for many (question, steps) at once."""
    located = [
        locate_steps(scorer.tokenizer, question, steps, context) for question, steps in items
    ]
    logprobs = scorer.target_logprobs(
        [item.input_ids for item in located], [item.first_tokens for item in located]
    )
    return [
        StepScores(surprisal=[-value for value in values], tokens=item.token_counts)
        for values, item in zip(logprobs, located, strict=True)
    ]


def prune_records(
    scorer: Scorer,
    items: Sequence[tuple[str, Sequence[str]]],
    budget: int,
    mode: str = "global",
    context: str = "raw",
    scores: Sequence[StepScores] | None = None,
) -> list[Pruned]:
    """Prune every (question, steps) record to `budget` tokens (see `asap.pruning.budget`).

    In global mode, `scores` (from an earlier `score_steps` call) skip the scoring pass.
    """
    if mode == "global":
        if scores is None:
            scores = score_steps(scorer, items, context)
        return [
            prune_global(steps, s.surprisal, s.tokens, budget, scorer.count_tokens)
            for (_, steps), s in zip(items, scores, strict=True)
        ]
    if mode == "iterative":

        def rescore(batch: list[tuple[str, list[str]]]) -> list[list[float]]:
            return [s.surprisal for s in score_steps(scorer, batch, context)]

        return prune_iterative(items, budget, rescore, scorer.count_tokens)
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def load_cot_records(
    path: str | Path, required: Sequence[str] = ("id", "question", "cot")
) -> list[tuple[dict[str, Any], list[str]]]:
    """Records of a CoT file with their steps; a record without a usable CoT is a DataError."""
    loaded = []
    for number, record in enumerate(read_jsonl(path), start=1):
        name = f"{path}: record {number} (id {record.get('id')!r})"
        for key in required:
            if not isinstance(record.get(key), str):
                raise DataError(f"{name}: field {key!r} missing or not a string")
        steps = split_steps(record["cot"])
        if not steps:
            raise DataError(f"{name}: empty cot, nothing to score")
        loaded.append((record, steps))
    return loaded


def result_fields(steps: list[str], pruned: Pruned) -> dict[str, Any]:
    """The fields `asap surprisal` and the surprisal stage add to a record."""
    return {
        "steps": steps,
        "surprisal": [round(value, 6) for value in pruned.surprisal],
        "kept": pruned.kept,
        "tokens_before": pruned.tokens_before,
        "tokens_after": pruned.tokens_after,
        "over_budget": pruned.over_budget,
        "pruned_cot": join_steps(pruned.pruned_steps(steps)),
    }


def prune_cached(
    scorer: Any,
    items: list[tuple[str, list[str]]],
    settings: dict[str, Any],
    params: dict[str, Any],
    cache_dir: Path,
) -> list[Pruned]:
    """The pruning of every (question, steps) item, scoring only the items missing from the
    per-record cache (`asap.repro.cache`) in `cache_dir`, `params["chunk_records"]` at a time.

    `settings` identify the scores (scorer fingerprint, dtype, context, windows, code). In
    global mode the cache holds scores, so a new budget prunes again without rescoring; in
    iterative mode it holds the pruning, keyed by mode and budget too."""
    mode, budget, context = params["mode"], int(params["budget"]), params["context"]
    if mode == "iterative":
        settings = {**settings, "mode": mode, "budget": budget}
    cache = RecordCache(cache_dir, settings)

    def compute(batch: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
        if mode == "global":
            return [
                {"surprisal": s.surprisal, "tokens": s.tokens}
                for s in score_steps(scorer, batch, context)
            ]
        return [
            {"kept": p.kept, "surprisal": p.surprisal, "tokens_before": p.tokens_before,
             "tokens_after": p.tokens_after, "over_budget": p.over_budget}
            for p in prune_records(scorer, batch, budget, mode, context)
        ]  # fmt: skip

    from tqdm import tqdm

    with tqdm(total=0, desc="surprisal", unit="record") as bar:

        def plan(cached: int, todo: int) -> None:
            print(f"surprisal: {cached} records cached, {todo} to score", flush=True)
            bar.total = todo
            bar.refresh()

        values, _ = run_cached(
            cache,
            items,
            compute,
            key_of=lambda item: {"question": item[0], "steps": list(item[1])},
            chunk_size=int(params["chunk_records"]),
            progress=bar.update,
            on_plan=plan,
        )
    if mode != "global":
        return [Pruned(**value) for value in values]
    return [
        prune_global(steps, value["surprisal"], value["tokens"], budget, scorer.count_tokens)
        for (_, steps), value in zip(items, values, strict=True)
    ]
