"""Stage `compress@<method>`: the SFT dataset of one baseline or ablation.

Run as `python -m stages.compress METHOD`.

Which file a method reads is the top-level params entry `compress_methods.<method>.input`
(dvc.yaml builds one stage per entry from the same entry); its settings are
`<profile>.baselines.<method>`, the shared scorer's are `<profile>.baselines.scorer`.

Outputs:
    data/sft/<method>.jsonl              SFT records (`asap.data.sft`): the input record with
                                         its CoT compressed; question and answer verbatim
    reports/compression/<method>.json    status, requested ratio, settings, wall time
    data/cache/compress/<method>/        per-record results (DVC persist): a rerun after a
                                         crash or kill recomputes only unfinished records

A method with `enabled: false` in its settings is not run: the dataset is written empty and the
report says {"status": "not_run", "reason": <its reason>}; downstream stages read that as not
run. Input records need `id`, `question`, `cot` and `answer`, a non-empty CoT and unique ids.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from asap.compression import Models, build
from asap.compression.dataset import compress_dataset
from asap.data.sft import check_cot_records, validate_sft_records
from asap.methods import get_method
from asap.repro.code import code_fingerprint
from asap.repro.io import DataError, read_jsonl, write_json, write_jsonl
from asap.repro.params import active_profile, load_params
from asap.repro.provenance import local_inputs, provenance

REQUIRED = ("id", "question", "cot", "answer")


def paths(method: str) -> dict[str, Path]:
    return {
        "sft": Path(f"data/sft/{method}.jsonl"),
        "report": Path(f"reports/compression/{method}.json"),
        "cache": Path(f"data/cache/compress/{method}"),
    }


def load_records(path: Path) -> list[dict[str, Any]]:
    """Input CoT records; DataError naming the file and record on a missing field or empty CoT."""
    records = list(read_jsonl(path))
    check_cot_records(records, path, REQUIRED)
    return records


def main(method: str) -> None:
    if get_method(method).sft_stage != "compress":
        raise DataError(f"method {method!r} is not written by the compress stage")
    params = load_params()
    profile_name = params["profile"]
    entry = params.get("compress_methods", {}).get(method)
    if not isinstance(entry, dict) or "input" not in entry:
        raise DataError(f"params.yaml: compress_methods.{method}.input is missing")
    baselines = active_profile(params).get("baselines", {})
    where = f"{profile_name}.baselines.{method}"
    if method not in baselines:
        raise DataError(f"params.yaml: section {where} is missing")
    settings = baselines[method]
    out = paths(method)

    if not settings.get("enabled", True):
        reason = settings.get("reason") or "disabled in params"
        out["cache"].mkdir(parents=True, exist_ok=True)  # a DVC output; earlier results stay
        write_jsonl(out["sft"], [])
        write_json(out["report"], {"method": method, "status": "not_run", "reason": reason})
        print(f"compress: {method} not run ({reason}); wrote an empty {out['sft']}")
        return

    input_path = Path(entry["input"])
    records = load_records(input_path)
    started = time.monotonic()
    models = Models(baselines.get("scorer", {}), f"{profile_name}.baselines.scorer")
    compressor = build(method, settings, models, where)
    # the stage's import closure (its dvc.yaml deps) and the compressor's outside modules
    code = code_fingerprint(("stages.compress", *compressor.modules))
    chunk = int(settings.get("chunk_records", 1))
    sft, computed = compress_dataset(method, compressor, models, records, out["cache"], code, chunk)
    validate_sft_records(sft, out["sft"], method)
    write_jsonl(out["sft"], sft)
    write_json(
        out["report"],
        {
            "method": method,
            "status": "ok",
            "input": input_path.as_posix(),
            "records": len(sft),
            "requested_ratio": compressor.requested_ratio,
            "settings": compressor.settings(),
            "wall_time_s": round(time.monotonic() - started, 3),
            "provenance": provenance(
                f"compress@{method}",
                {"scorer": baselines.get("scorer"), method: settings},
                local_inputs(input_path, entry.get("model")),
            ),
        },
    )
    print(
        f"compress: {method}: {len(sft)} records ({computed} computed, "
        f"{len(sft) - computed} cached) -> {out['sft']}"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m stages.compress METHOD")
    main(sys.argv[1])
