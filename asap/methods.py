"""Method registry: every compression method, baseline and ablation of the paper.

Each entry is one row of the paper's tables. `finetuned=False` marks Zero-shot (the base
model evaluated as is); every other method yields an SFT dataset and a fine-tuned model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str  # identifier used in paths, params and dvc matrix keys
    label: str  # row label in the paper's tables
    group: str  # "baseline" | "ours" | "ablation"
    finetuned: bool = True


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("zero_shot", "Zero-shot", "baseline", finetuned=False),
        Method("original", "Original", "baseline"),
        Method("selective_context", "Selective Context", "baseline"),
        Method("llmlingua2", "LLMLingua-2", "baseline"),
        Method("tokenskip", "TokenSkip", "baseline"),
        Method("spirit", "SPIRIT", "baseline"),
        Method("asap", "ASAP", "ours"),
        Method("wo_coarse", "w/o Coarse-grained Pruning", "ablation"),
        Method("wo_fine", "w/o Fine-grained Pruning", "ablation"),
    )
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; known: {sorted(METHODS)}") from None
