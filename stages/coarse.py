"""Stage `coarse`: anchor-guided coarse pruning of every CoT, validated, with resampling.

Inputs: data/anchor/cots.jsonl (and models/base when the teacher is served locally).
Outputs: data/coarse/cots.jsonl (`cot` replaced by the coarse CoT, plus `coarse_attempts` and
`coarse_accepted`; records that never validate are dropped or keep their CoT per `on_failure`),
reports/coarse.json, and the response cache data/cache/coarse (persistent).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from asap.repro.io import read_jsonl, write_json, write_jsonl
from asap.repro.params import stage_params
from asap.repro.provenance import provenance
from asap.teacher.coarse import (
    INPUT_FIELDS,
    CoarseSettings,
    coarse_record,
    coarse_report,
    prune_record,
    reject_shared_selections,
    require_text_fields,
)
from asap.teacher.prompts import require_tracked
from asap.teacher.serve import open_teacher, teacher_inputs

INPUT = Path("data/anchor/cots.jsonl")
OUT = Path("data/coarse/cots.jsonl")
CACHE = Path("data/cache/coarse")
REPORT = Path("reports/coarse.json")


def cot_tokens(records: list[dict[str, Any]], model: str | None) -> dict[str, int]:
    """Tokens of each record's original CoT under `model`'s tokenizer ({} when unset)."""
    if not model:
        return {}
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    return {
        r["id"]: len(tokenizer(r["cot"], add_special_tokens=False)["input_ids"]) for r in records
    }


def main() -> None:
    params = stage_params("coarse")
    settings = CoarseSettings.from_params(
        {k: v for k, v in params.items() if k not in ("teacher", "serve", "token_count_model")}
    )
    require_tracked(settings.template().source, "coarse.prompt")
    records = list(read_jsonl(INPUT))
    require_text_fields(records, INPUT_FIELDS, str(INPUT))
    started = time.monotonic()
    with open_teacher(params["teacher"], params.get("serve") or {}, CACHE) as teacher:
        results = teacher.map(lambda record: prune_record(teacher, record, settings), records)
        counters = teacher.counters
    reject_shared_selections(results, settings)
    outputs = (
        coarse_record(record, result, settings.on_failure)
        for record, result in zip(records, results, strict=True)
    )
    written = write_jsonl(OUT, (record for record in outputs if record is not None))
    inputs = teacher_inputs(params["teacher"], INPUT)
    report = coarse_report(results, settings, cot_tokens(records, params.get("token_count_model")))
    write_json(REPORT, {**report, "provenance": provenance("coarse", params, inputs)})
    print(
        f"coarse ({settings.mode}): {report['accepted']}/{report['records']} accepted, "
        f"{written} written, attempts {report['attempts_histogram']}, "
        f"{report['output_tokens']['total']} output tokens; {counters.summary()}, "
        f"{time.monotonic() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
