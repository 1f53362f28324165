"""Stage `surprisal`: prune each CoT by first-token surprisal to the token budget.

Reads `input` (the coarse CoTs) and `original` (the training CoTs, for the report). Outputs:
data/sft/<method>.jsonl (id, question, cot = pruned CoT, answer, method), reports/pruning.json
(steps and tokens per record and stage, with means) and reports/figures/pruning_tokens.png.

Scores are cached per record in data/surprisal/<method>/ (a DVC `persist` output;
`asap.repro.cache`), keyed by the scorer's files, dtype, context, window settings, the code of
every module the stage imports, question and steps; a killed run resumes without rescoring
finished records (`asap.pruning.surprisal.prune_cached`).

Scoring runs on transformers (`backend: transformers`, CPU or GPU) or on a vLLM engine
(`backend: vllm`, GPU, engine arguments under `vllm`; see `asap.scoring.vllm_backend`).

`python -m stages.surprisal [SECTION]` reads params section SECTION (default `surprisal`), so an
ablation (e.g. surprisal on the original CoTs) can reuse this stage with its own section.
"""

from __future__ import annotations

import sys
from pathlib import Path

from asap.pruning.report import plot_token_distributions, pruning_report
from asap.pruning.surprisal import load_cot_records, prune_cached, result_fields
from asap.report.run_label import run_label
from asap.repro.code import code_fingerprint
from asap.repro.io import DataError, write_json, write_jsonl
from asap.repro.params import stage_params
from asap.repro.precision import dtype_name
from asap.repro.provenance import local_inputs, provenance


def output_paths(method: str) -> dict[str, Path]:
    suffix = "" if method == "asap" else f"_{method}"
    return {
        "sft": Path(f"data/sft/{method}.jsonl"),
        "cache": Path(f"data/surprisal/{method}"),
        "report": Path(f"reports/pruning{suffix}.json"),
        "figure": Path(f"reports/figures/pruning_tokens{suffix}.png"),
    }


def main(section: str = "surprisal") -> None:
    from asap.model.digest import model_fingerprint
    from asap.scoring.backend import open_scorer

    params = stage_params(section)
    paths = output_paths(params["method"])
    loaded = load_cot_records(params["input"], required=("id", "question", "cot", "answer"))
    ids = [record["id"] for record, _ in loaded]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        raise DataError(f"{params['input']}: duplicate ids {duplicates[:5]}")
    backend = params.get("backend", "transformers")
    scorer = open_scorer(params, section)
    settings = {
        "scorer": model_fingerprint(params["scorer"]),
        # the precision the scores were computed in (`auto` resolved for this machine)
        "dtype": dtype_name(params["dtype"], "cuda" if backend == "vllm" else params["device"]),
        "context": params["context"],
        "max_context": scorer.max_context,
        "min_left_context": scorer.min_left_context,
        "code": code_fingerprint(["stages.surprisal"]),  # every module that scores or prunes
    }
    if backend != "transformers":  # scores agree only within tolerance across backends
        settings["backend"] = backend
    items = [(record["question"], steps) for record, steps in loaded]
    results = prune_cached(scorer, items, settings, params, paths["cache"])

    outputs = [
        {**record, **result_fields(steps, pruned)}
        for (record, steps), pruned in zip(loaded, results, strict=True)
    ]
    write_jsonl(
        paths["sft"],
        (
            {
                "id": out["id"],
                "question": out["question"],
                "cot": out["pruned_cot"],
                "answer": out["answer"],
                "method": params["method"],
            }
            for out in outputs
        ),
    )
    original_path, input_path = Path(params["original"]), Path(params["input"])
    originals = {r["id"]: r["cot"] for r, _ in load_cot_records(original_path)}
    missing = [out["id"] for out in outputs if out["id"] not in originals]
    if missing:
        raise DataError(f"{input_path}: ids not in {original_path}: {missing[:5]}")
    same_input = original_path.resolve() == input_path.resolve()
    report = pruning_report(
        outputs,
        originals,
        None if same_input else params["input_label"],
        scorer.count_tokens,
        {key: params[key] for key in ("method", "budget", "mode", "context", "scorer", "dtype")},
    )
    inputs = local_inputs(params["input"], params["original"], params["scorer"])
    write_json(paths["report"], {**report, "provenance": provenance(section, params, inputs)})
    tokens_by_stage = {
        stage: [record[stage]["tokens"] for record in report["per_record"]]
        for stage in report["stage_order"]
    }
    plot_token_distributions(paths["figure"], tokens_by_stage, int(params["budget"]), run_label())
    means = ", ".join(
        f"{stage} {block['tokens_before']:.0f} -> {block['tokens_after']:.0f}"
        for stage, block in report["stages"].items()
    )
    print(f"surprisal: {len(outputs)} records -> {paths['sft']}; mean tokens {means}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
