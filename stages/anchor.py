"""Stage `anchor`: the teacher writes a Direct CoT (anchor) for every training record.

Inputs: data/train/cots.jsonl (and models/base when the teacher is served locally).
Outputs: data/anchor/cots.jsonl (training records + `anchor`), reports/anchor.json, and the
response cache data/cache/anchor (persistent: a rerun after a kill repeats no finished request).
"""

from __future__ import annotations

import time
from pathlib import Path

from asap.repro.io import read_jsonl, write_json, write_jsonl
from asap.repro.params import stage_params
from asap.repro.provenance import provenance
from asap.teacher.anchor import anchor_all, anchor_report
from asap.teacher.coarse import require_text_fields
from asap.teacher.prompts import PromptTemplate, default_prompt, require_tracked
from asap.teacher.serve import open_teacher, teacher_inputs

INPUT = Path("data/train/cots.jsonl")
OUT = Path("data/anchor/cots.jsonl")
CACHE = Path("data/cache/anchor")
REPORT = Path("reports/anchor.json")


def main() -> None:
    params = stage_params("anchor")
    prompt = params.get("prompt") or default_prompt("anchor").as_posix()
    require_tracked(prompt, "anchor.prompt")
    template = PromptTemplate.load("anchor", prompt)
    records = list(read_jsonl(INPUT))
    require_text_fields(records, ("id", "question", "code"), str(INPUT))
    started = time.monotonic()
    with open_teacher(params["teacher"], params.get("serve") or {}, CACHE) as teacher:
        completions = anchor_all(teacher, records, template)
        counters = teacher.counters
    write_jsonl(OUT, ({**r, "anchor": c.text} for r, c in zip(records, completions, strict=True)))
    inputs = teacher_inputs(params["teacher"], INPUT)
    report = {**anchor_report(records, completions), "prompt": template.source}
    write_json(REPORT, {**report, "provenance": provenance("anchor", params, inputs)})
    print(
        f"anchor: {len(records)} records, {report['output_tokens']['total']} output tokens, "
        f"{len(report['truncated_ids'])} truncated; {counters.summary()}, "
        f"{time.monotonic() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
