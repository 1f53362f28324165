"""Stage `sft_records`: which training records every SFT stage uses (`sft.same_records`).

Reads every method's data/sft/<method>.jsonl (top-level params `methods`) and `${profile}.sft`.
Writes data/sft_records.json, a dependency of every `sft@<method>` stage:
  - `same_records: false` (each method trains on its own dataset): {"same_records": false},
    the same bytes whatever the datasets hold, so a changed dataset retrains only its method;
  - `same_records: true`: the ids that every method's non-empty dataset has and that fit in
    `max_seq_length` in every one (`asap.data.sft.common_record_ids`).
reports/sft_records.json gives each method's records, those over max_seq_length, and how many
the common set keeps.
"""

from __future__ import annotations

from pathlib import Path

from asap.data.sft import common_record_ids
from asap.methods import get_method
from asap.model.base import resolve_model_dir
from asap.repro.io import read_jsonl, write_json
from asap.repro.params import active_profile, load_params
from asap.repro.provenance import provenance

OUT = Path("data/sft_records.json")
REPORT = Path("reports/sft_records.json")


def main() -> None:
    params = load_params()
    sft = active_profile(params)["sft"]
    same = bool(sft.get("same_records", False))
    datasets = {}
    for method in params["methods"]:
        get_method(method)
        datasets[method] = list(read_jsonl(Path(f"data/sft/{method}.jsonl")))
    if not same:
        write_json(OUT, {"same_records": False})
        write_json(
            REPORT,
            {
                "same_records": False,
                "records": {m: len(r) for m, r in datasets.items()},
                "provenance": provenance("sft_records", {"same_records": False}, []),
            },
        )
        print("sft_records: every method trains on its own dataset")
        return

    from transformers import AutoTokenizer

    from asap.train.sft import end_of_turn, tokenize_record

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_dir(sft["model"]))
    closing, limit = end_of_turn(tokenizer), int(sft["max_seq_length"])
    lengths = {
        method: {r["id"]: len(tokenize_record(tokenizer, r, closing).input_ids) for r in records}
        for method, records in datasets.items()
    }
    fitting = common_record_ids(datasets, lambda m, r: lengths[m][r["id"]] <= limit)
    write_json(OUT, {"same_records": True, "ids": fitting})
    write_json(
        REPORT,
        {
            "same_records": True,
            "common": len(fitting),
            "max_seq_length": limit,
            "methods": {
                m: {
                    "records": len(datasets[m]),
                    "over_max_seq_length": sum(n > limit for n in lengths[m].values()),
                }
                for m in datasets
            },
            "provenance": provenance("sft_records", sft, [f"data/sft/{m}.jsonl" for m in datasets]),
        },
    )
    print(f"sft_records: {len(fitting)} records common to every method's dataset")


if __name__ == "__main__":
    main()
