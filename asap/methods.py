"""Method registry: every compression method, baseline and ablation of the paper.

Each entry is one row of the paper's tables. `finetuned=False` marks Zero-shot (the base
model evaluated as is); every other method yields an SFT dataset and a fine-tuned model.
`sft_stage` names the DVC stage that writes that dataset, data/sft/<name>.jsonl: `surprisal`
for ASAP itself, `compress` for the baselines and ablations (one `compress@<name>` stage each,
see `asap.compression`), None for Zero-shot.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str  # identifier used in paths, params and dvc matrix keys
    label: str  # row label in the paper's tables
    group: str  # "baseline" | "ours" | "ablation"
    finetuned: bool = True
    sft_stage: str | None = "compress"  # stage writing data/sft/<name>.jsonl


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("zero_shot", "Zero-shot", "baseline", finetuned=False, sft_stage=None),
        Method("original", "Original", "baseline"),
        Method("selective_context", "Selective Context", "baseline"),
        Method("llmlingua2", "LLMLingua-2", "baseline"),
        Method("tokenskip", "TokenSkip", "baseline"),
        Method("spirit", "SPIRIT", "baseline"),
        Method("asap", "ASAP", "ours", sft_stage="surprisal"),
        Method("wo_coarse", "w/o Coarse-grained Pruning", "ablation"),
        Method("wo_fine", "w/o Fine-grained Pruning", "ablation"),
    )
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; known: {sorted(METHODS)}") from None


def methods_of_stage(stage: str) -> list[str]:
    """Names of the methods whose SFT dataset `stage` writes, in registry order."""
    return [m.name for m in METHODS.values() if m.sft_stage == stage]
