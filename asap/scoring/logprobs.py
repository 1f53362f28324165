"""Log-probabilities of chosen target tokens under a causal LM, batched and memory-bounded.

One scorer serves every method that needs model scores: ASAP's first-token surprisal,
Selective Context's self-information and SPIRIT's per-step perplexity.

How a score is computed:

- A text is tokenized once, with character offsets (`encode`). `tokens_at_chars` maps a
  character to the token that holds it: the first token whose span ends after the character.
  When BPE merges the character with text before it (e.g. the blank line before an indented
  step becomes one token "\\n\\n   "), that merged token is the one returned, even though it
  starts earlier.
- `target_logprobs(sequences, positions)` returns log p(ids[p] | ids[:p]) for the requested
  positions only. Sequences are sorted by length and padded on the right into batches (with an
  attention mask when a batch holds padding; right padding leaves real positions as they are); the
  backbone gives the last hidden states and the LM head (the vocabulary projection) is applied
  only to the hidden states that predict a requested token, in chunks of `head_chunk` rows, so
  no sequence-by-vocabulary tensor ever exists. Log-softmax runs in float32. The input stops
  before the last requested position: later tokens cannot affect the scores. When the requested
  positions are few (at most one in `SPARSE_RATIO` tokens, as for step surprisal), the last
  decoder layer runs only where it is read (`asap.scoring.last_layer`), for architectures it
  supports.
- A sequence longer than `max_context` tokens is scored in windows of `max_context` tokens
  that advance by `max_context - min_left_context` tokens. Window 0 scores positions
  [1, max_context); window k > 0 starts at k * stride and scores the positions from
  `min_left_context` tokens after its start to its end. Every position is therefore scored with
  all of its prefix when it lies in the first window, and with at least `min_left_context`
  tokens of left context otherwise (later windows do not repeat a BOS token).
- `load_scorer` checks once, on a short probe, that backbone + head reproduces the model's own
  logits, so an architecture that transforms its logits after the head fails loudly.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asap.repro.precision import default_device, dtype_name
from asap.scoring import last_layer

if TYPE_CHECKING:
    import torch

# nats: the largest accepted gap to the model's own log-probabilities, by the model's precision.
# In 16-bit floats two kernels of different shapes round logits of ~20 differently by up to a few
# hundredths (0.0116 measured in bfloat16 on a CPU that emulates it); a logit transform after the
# head (soft-capping, scaling) moves them by far more.
HEAD_TOLERANCE = {"float32": 1e-2, "bfloat16": 5e-2, "float16": 5e-2}
SPARSE_RATIO = 4  # restrict the last layer when requested positions <= tokens / SPARSE_RATIO


@dataclass(frozen=True)
class Encoded:
    """A tokenized text: token ids and the character span [start, end) of each token."""

    input_ids: list[int]
    offsets: list[tuple[int, int]]


@dataclass(frozen=True)
class TokenLogprobs:
    """Every token of a text with log p(token | tokens before it); NaN for the first token."""

    input_ids: list[int]
    offsets: list[tuple[int, int]]
    logprobs: list[float]


@dataclass(frozen=True)
class _Unit:
    """One forward pass worth of work: a window of one sequence and positions to score in it."""

    sequence: int
    start: int
    ids: list[int]  # the window's input: tokens start .. (last position to score) - 1
    positions: list[int]  # absolute positions in the sequence, all in (start, start + len(ids)]
    targets: list[int]  # the token at each position
    slots: list[int]  # where each result goes in the sequence's output list


def tokens_at_chars(offsets: Sequence[tuple[int, int]], chars: Sequence[int]) -> list[int]:
    """Index of the token holding each character: the first token whose span ends after it.

    Tokens with empty spans (special tokens such as BOS) never hold a character. A character
    inside a BPE merge maps to the merged token even if that token starts before it.
    """
    reach, best = [], -1  # reach[i] = furthest character end among tokens 0..i
    for start, end in offsets:
        best = max(best, end if end > start else -1)
        reach.append(best)
    indices = []
    for char in chars:
        index = bisect.bisect_right(reach, char)
        if index >= len(offsets):
            raise ValueError(f"character {char} lies after the last token")
        indices.append(index)
    return indices


def encode(tokenizer: Any, text: str, add_special_tokens: bool = True) -> Encoded:
    """Tokenize `text` once, keeping the character span of every token."""
    encoding = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    return Encoded(
        input_ids=list(encoding["input_ids"]),
        offsets=[(int(a), int(b)) for a, b in encoding["offset_mapping"]],
    )


def count_tokens(tokenizer: Any, text: str) -> int:
    """Tokens of `text` alone, without special tokens."""
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def resolve_dtype(name: str, device: str) -> torch.dtype:
    """The torch dtype of `name` on `device` (`auto`: `asap.repro.precision.dtype_name`)."""
    import torch

    return getattr(torch, dtype_name(name, device))


@dataclass
class Scorer:
    """A causal LM and its tokenizer, scoring target tokens in batches."""

    model: Any
    tokenizer: Any
    batch_size: int = 4
    max_batch_tokens: int = 16384
    max_context: int | None = None
    min_left_context: int | None = None
    head_chunk: int = 1024
    restrict_last_layer: bool = True
    pad_id: int = field(init=False)

    def __post_init__(self) -> None:
        if self.max_context is None:
            self.max_context = int(getattr(self.model.config, "max_position_embeddings", 4096))
        if self.min_left_context is None:
            self.min_left_context = self.max_context // 2
        if not 0 <= self.min_left_context < self.max_context:
            raise ValueError("min_left_context must be in [0, max_context)")
        if self.batch_size < 1 or self.head_chunk < 1:
            raise ValueError("batch_size and head_chunk must be positive")
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        self.pad_id = int(pad) if pad is not None else 0
        self.restrict_last_layer = self.restrict_last_layer and last_layer.supports(self.model)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, text: str, add_special_tokens: bool = True) -> Encoded:
        return encode(self.tokenizer, text, add_special_tokens)

    def count_tokens(self, text: str) -> int:
        return count_tokens(self.tokenizer, text)

    def target_logprobs(
        self, sequences: Sequence[Sequence[int]], positions: Sequence[Sequence[int]]
    ) -> list[list[float]]:
        """log p(seq[p] | seq[:p]) for every p in positions[i], in the order given, per sequence."""
        if len(sequences) != len(positions):
            raise ValueError("one list of positions per sequence")
        results: list[list[float]] = [[math.nan] * len(p) for p in positions]
        units: list[_Unit] = []
        for index, (ids, wanted) in enumerate(zip(sequences, positions, strict=True)):
            for position in wanted:
                if not 1 <= position < len(ids):
                    raise ValueError(
                        f"sequence {index}: position {position} outside [1, {len(ids)}): "
                        "the first token has no prefix to be predicted from"
                    )
            units.extend(self._windows(index, list(ids), list(wanted)))
        for batch in self._batches(units):
            for unit, values in zip(batch, self._score_batch(batch), strict=True):
                for slot, value in zip(unit.slots, values, strict=True):
                    results[unit.sequence][slot] = value
        return results

    def text_logprobs(
        self, texts: Sequence[str], add_special_tokens: bool = True
    ) -> list[TokenLogprobs]:
        """Every token of every text with its log-probability given all tokens before it."""
        encoded = [self.encode(text, add_special_tokens) for text in texts]
        positions = [list(range(1, len(e.input_ids))) for e in encoded]
        scores = self.target_logprobs([e.input_ids for e in encoded], positions)
        return [
            TokenLogprobs(e.input_ids, e.offsets, [math.nan, *values])
            for e, values in zip(encoded, scores, strict=True)
        ]

    def _windows(self, sequence: int, ids: list[int], wanted: list[int]) -> list[_Unit]:
        assert self.max_context is not None and self.min_left_context is not None
        if not wanted:
            return []
        by_window: dict[int, list[int]] = {}
        if len(ids) <= self.max_context:
            by_window[0] = list(range(len(wanted)))
            stride = 0
        else:
            stride = self.max_context - self.min_left_context
            for slot, position in enumerate(wanted):
                window = max(0, (position - self.min_left_context) // stride)
                by_window.setdefault(window, []).append(slot)
        units = []
        for window, slots in sorted(by_window.items()):
            start = window * stride
            positions = [wanted[s] for s in slots]
            # tokens after the last position to score would be computed for nothing
            window_ids = ids[start : max(positions)]
            targets = [ids[p] for p in positions]
            units.append(_Unit(sequence, start, window_ids, positions, targets, slots))
        return units

    def _batches(self, units: list[_Unit]) -> list[list[_Unit]]:
        """Group units of similar length (longest first) under the batch size and token cap."""
        batches: list[list[_Unit]] = []
        current: list[_Unit] = []
        for unit in sorted(units, key=lambda u: len(u.ids), reverse=True):
            longest = len(current[0].ids) if current else len(unit.ids)
            too_many = (len(current) + 1) * longest > self.max_batch_tokens
            if current and (len(current) >= self.batch_size or too_many):
                batches.append(current)
                current = []
            current.append(unit)
        if current:
            batches.append(current)
        return batches

    def _score_batch(self, batch: list[_Unit]) -> list[list[float]]:
        import torch

        device = self.device
        width = max(len(unit.ids) for unit in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        rows, columns, targets = [], [], []
        for row, unit in enumerate(batch):
            input_ids[row, : len(unit.ids)] = torch.tensor(unit.ids, dtype=torch.long)
            attention_mask[row, : len(unit.ids)] = 1
            for position, target in zip(unit.positions, unit.targets, strict=True):
                rows.append(row)
                columns.append(position - unit.start - 1)  # the state that predicts `position`
                targets.append(target)
        # Without padding the mask is all ones: leave it out so attention takes its plain causal
        # path (an explicit mask costs ~15% on CPU and a T x T mask in memory).
        padded = any(len(unit.ids) < width for unit in batch)
        input_ids = input_ids.to(device)
        mask = attention_mask.to(device) if padded else None
        row_index = torch.tensor(rows, device=device)
        column_index = torch.tensor(columns, device=device)
        with torch.inference_mode():
            if self.restrict_last_layer and len(rows) * SPARSE_RATIO <= int(attention_mask.sum()):
                picked = last_layer.hidden_at(self.model, input_ids, mask, row_index, column_index)
            else:
                hidden = self.model.base_model(
                    input_ids=input_ids, attention_mask=mask, use_cache=False
                ).last_hidden_state
                picked = hidden[row_index, column_index]
                del hidden
            target_ids = torch.tensor(targets, device=device)
            values = torch.cat(
                [
                    self._logprob_of(
                        picked[i : i + self.head_chunk], target_ids[i : i + self.head_chunk]
                    )
                    for i in range(0, len(targets), self.head_chunk)
                ]
            ).tolist()
        out, cursor = [], 0
        for unit in batch:
            out.append(values[cursor : cursor + len(unit.positions)])
            cursor += len(unit.positions)
        return out

    def _logprob_of(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch

        logits = self.model.get_output_embeddings()(hidden).float()
        chosen = logits.gather(-1, targets[:, None]).squeeze(-1)
        return chosen - torch.logsumexp(logits, dim=-1)

    def check_head(
        self, probe: str = "def add(a, b):\n    return a + b\n\nprint(add(1, 2))"
    ) -> None:
        """Raise if backbone + head does not reproduce the model's own logits on `probe`; turn
        the last-layer restriction off (with a warning) if it does not reproduce them."""
        import torch

        ids = self.encode(probe).input_ids
        positions = list(range(1, len(ids)))
        ours = torch.tensor(self.target_logprobs([ids], [positions])[0])  # dense: full last layer
        device = self.device
        targets = torch.tensor(ids[1:], device=device)
        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([ids], device=device)).logits[0]
            reference = torch.log_softmax(logits.float(), dim=-1)[:-1]
            reference = reference.gather(-1, targets[:, None]).squeeze(-1).cpu()
        tolerance = HEAD_TOLERANCE[str(self.model.dtype).removeprefix("torch.")]
        gap = (ours - reference).abs().max().item()
        if not gap < tolerance:
            raise RuntimeError(
                f"scorer: backbone + output embeddings differ from the model's logits by {gap:.3g} "
                "(this architecture transforms logits after the head; not supported)"
            )
        if self.restrict_last_layer:
            columns = torch.arange(len(ids) - 1, device=device)
            with torch.inference_mode():
                hidden = last_layer.hidden_at(
                    self.model, torch.tensor([ids[:-1]], device=device), None, columns * 0, columns
                )
                restricted = self._logprob_of(hidden, targets).cpu()
            gap = (restricted - reference).abs().max().item()
            if not gap < tolerance:
                warnings.warn(
                    f"scorer: the restricted last layer differs from the model's logits by "
                    f"{gap:.3g}; scoring with the full last layer",
                    stacklevel=2,
                )
                self.restrict_last_layer = False


def load_scorer(
    model: str | Path,
    dtype: str = "auto",
    device: str | None = None,
    **options: Any,
) -> Scorer:
    """Load a causal LM and its tokenizer from a folder (or a hub id) for scoring.

    `dtype`: auto | bfloat16 | float32 | float16 (auto: `asap.repro.precision`). `device`
    defaults to CUDA when available. `options` go to `Scorer` (batch_size, max_batch_tokens,
    max_context, min_left_context, head_chunk).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or default_device()
    torch_dtype = resolve_dtype(dtype, device)
    tokenizer = AutoTokenizer.from_pretrained(str(model))
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{model}: scoring needs a fast tokenizer (character offsets)")
    lm = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch_dtype)
    lm.to(device).eval()
    scorer = Scorer(lm, tokenizer, **options)
    scorer.check_head()
    return scorer
