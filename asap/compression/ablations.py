"""Methods that compress nothing themselves or reuse the pruning core.

- `Unchanged`: the input CoT as is. `original` applies it to the training CoTs, `wo_fine`
  ("w/o fine-grained pruning") to the coarse stage's CoTs.
- `SurprisalOnly`: `wo_coarse` ("w/o coarse-grained pruning"): ASAP's first-token surprisal
  pruning (`asap.pruning.surprisal.prune_records`) applied to the original CoTs, with the same
  budget, mode and context as the surprisal stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from asap.data.steps import join_steps, split_steps

if TYPE_CHECKING:
    from asap.scoring.logprobs import Scorer


class Unchanged:
    """The CoT of each record, unchanged."""

    requested_ratio = None
    modules = ("asap.compression.ablations",)

    def settings(self) -> dict[str, Any]:
        return {}

    def compress(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"cot": record["cot"]} for record in records]


class SurprisalOnly:
    """First-token surprisal pruning of each CoT to `budget` tokens."""

    requested_ratio = None
    modules = (
        "asap.compression.ablations",
        "asap.pruning.surprisal",
        "asap.pruning.budget",
        "asap.scoring.logprobs",
        "asap.data.steps",
    )

    def __init__(
        self, scorer: Scorer, budget: int, mode: str = "global", context: str = "raw"
    ) -> None:
        if budget < 1:
            raise ValueError(f"budget must be a positive number of tokens, got {budget}")
        self.scorer, self.budget, self.mode, self.context = scorer, budget, mode, context

    def settings(self) -> dict[str, Any]:
        return {"budget": self.budget, "mode": self.mode, "context": self.context}

    def compress(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        from asap.pruning.surprisal import prune_records

        results: list[dict[str, Any]] = [{"cot": ""} for _ in records]
        todo = [(i, split_steps(r["cot"])) for i, r in enumerate(records)]
        todo = [(i, steps) for i, steps in todo if steps]
        items = [(records[i]["question"], steps) for i, steps in todo]
        pruned = prune_records(self.scorer, items, self.budget, self.mode, self.context)
        for (i, steps), result in zip(todo, pruned, strict=True):
            results[i] = {
                "cot": join_steps(result.pruned_steps(steps)),
                "surprisal": [round(s, 6) for s in result.surprisal],
                "kept": result.kept,
            }
        return results
