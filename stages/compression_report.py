"""Stage `compression_report`: compression of every fine-tuned method's SFT dataset.

Reads data/sft/<method>.jsonl for every method of the top-level params list `methods`, the
training CoTs they came from (data/train/cots.jsonl) and, where present, the compress stage's
reports/compression/<method>.json. Writes reports/compression.json ({"methods": {method:
entry}}, see `asap.compression.report`) and reports/figures/compression.png. Tokens are
counted with the tokenizer of `<profile>.baselines.scorer.model`.
"""

from __future__ import annotations

from pathlib import Path

from asap.compression.report import compression_figure, method_entry
from asap.methods import get_method
from asap.report.run_label import run_label
from asap.repro.io import DataError, read_json, read_jsonl, write_json
from asap.repro.params import active_profile, load_params
from asap.repro.provenance import local_inputs, provenance

TRAIN = Path("data/train/cots.jsonl")
REPORT = Path("reports/compression.json")
FIGURE = Path("reports/figures/compression.png")


def main() -> None:
    from transformers import AutoTokenizer

    params = load_params()
    scorer = active_profile(params)["baselines"]["scorer"]
    scorer_model = scorer["model"]
    tokenizer = AutoTokenizer.from_pretrained(str(scorer_model))

    def count_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    originals = {record["id"]: record for record in read_jsonl(TRAIN)}
    methods, datasets = {}, []
    for method in params["methods"]:
        get_method(method)  # unknown names fail here
        sft = Path(f"data/sft/{method}.jsonl")
        run = Path(f"reports/compression/{method}.json")
        run_report = read_json(run) if run.exists() else None
        if not sft.exists():
            methods[method] = {"status": "not_run", "reason": f"{sft.as_posix()} does not exist"}
            continue
        records = list(read_jsonl(sft))
        datasets.append(sft)
        if run_report is not None and run_report.get("status") == "not_run" and records:
            raise DataError(f"{run}: says not run, but {sft} has {len(records)} records")
        methods[method] = method_entry(
            method, records, originals, count_tokens, run_report, sft.as_posix()
        )
    write_json(
        REPORT,
        {
            "token_count": f"tokenizer of {scorer_model}, no special tokens",
            "methods": methods,
            "provenance": provenance(
                "compression_report",
                {"methods": params["methods"], "scorer": scorer},
                [TRAIN, *datasets, *local_inputs(scorer["model"])],
            ),
        },
    )
    compression_figure(FIGURE, methods, run_label())
    for method, entry in methods.items():
        if entry["status"] == "ok":
            print(
                f"{method:18s} CoT tokens {entry['cot_tokens_before_mean']:8.1f} -> "
                f"{entry['cot_tokens_after_mean']:8.1f}  ratio {entry['achieved_ratio']:.3f} "
                f"(requested {entry['requested_ratio']})"
            )
        else:
            print(f"{method:18s} not run: {entry['reason']}")


if __name__ == "__main__":
    main()
