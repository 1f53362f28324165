"""Stage `surprisal`: prune each CoT by first-token surprisal to the token budget.

Reads `input` (the coarse CoTs) and `original` (the training CoTs, for the report). Outputs:
data/sft/<method>.jsonl (id, question, cot = pruned CoT, answer, method), reports/pruning.json
(steps and tokens per record and stage, with means) and reports/figures/pruning_tokens.png.

Scores are cached per record in data/surprisal/<method>/ (a DVC `persist` output), one JSON
file per record written atomically and keyed by the scorer's files, dtype, context, window
settings, the code of every module the stage imports, question and steps; a killed run
resumes without rescoring finished records. In global mode the cache holds scores only, so a
new budget prunes again without rescoring; in iterative mode it holds the pruning result,
keyed by budget too.

Scoring runs on transformers (`backend: transformers`, CPU or GPU) or on a vLLM engine
(`backend: vllm`, GPU, engine arguments under `vllm`; see `asap.scoring_vllm`).

`python -m stages.surprisal [SECTION]` reads params section SECTION (default `surprisal`), so an
ablation (e.g. surprisal on the original CoTs) can reuse this stage with its own section.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from asap.code import code_fingerprint
from asap.commands.surprisal import result_fields
from asap.io import DataError, dumps_stable, read_json, sha256_text, write_json, write_jsonl
from asap.params import stage_params
from asap.provenance import local_inputs, provenance
from asap.pruning import Pruned, prune_global
from asap.pruning_report import plot_token_distributions, pruning_report
from asap.run_label import run_label
from asap.surprisal import load_cot_records, prune_records, score_steps


def output_paths(method: str) -> dict[str, Path]:
    suffix = "" if method == "asap" else f"_{method}"
    return {
        "sft": Path(f"data/sft/{method}.jsonl"),
        "cache": Path(f"data/surprisal/{method}"),
        "report": Path(f"reports/pruning{suffix}.json"),
        "figure": Path(f"reports/figures/pruning_tokens{suffix}.png"),
    }


class RecordCache:
    """One JSON file per key under a folder, written atomically; unreadable files are misses."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        if not path.exists():
            return None
        try:
            return read_json(path)
        except DataError:
            return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        write_json(self._path(key), value)


def record_key(settings: dict[str, Any], question: str, steps: Sequence[str]) -> str:
    return sha256_text(dumps_stable({**settings, "question": question, "steps": list(steps)}))


def chunks(indices: list[int], size: int) -> list[list[int]]:
    return [indices[i : i + size] for i in range(0, len(indices), size)]


def prune_with_cache(
    scorer: Any,
    items: list[tuple[str, list[str]]],
    settings: dict[str, Any],
    params: dict[str, Any],
    cache: RecordCache,
) -> list[Pruned]:
    """Pruning results for every record, scoring only records missing from the cache."""
    mode, budget, context = params["mode"], int(params["budget"]), params["context"]
    if mode == "iterative":
        settings = {**settings, "mode": mode, "budget": budget}
    keys = [record_key(settings, question, steps) for question, steps in items]
    todo = [i for i, key in enumerate(keys) if cache.get(key) is None]
    print(f"surprisal: {len(items) - len(todo)} records cached, {len(todo)} to score")
    with tqdm(total=len(todo), desc="surprisal", unit="record") as progress:
        for chunk in chunks(todo, int(params["chunk_records"])):
            batch = [items[i] for i in chunk]
            if mode == "global":
                values = [
                    {"surprisal": s.surprisal, "tokens": s.tokens}
                    for s in score_steps(scorer, batch, context)
                ]
            else:
                values = [
                    {
                        "kept": p.kept,
                        "surprisal": p.surprisal,
                        "tokens_before": p.tokens_before,
                        "tokens_after": p.tokens_after,
                        "over_budget": p.over_budget,
                    }
                    for p in prune_records(scorer, batch, budget, mode, context)
                ]
            for i, value in zip(chunk, values, strict=True):
                cache.put(keys[i], value)
            progress.update(len(chunk))
    results = []
    for (_, steps), key in zip(items, keys, strict=True):
        value = cache.get(key)
        if value is None:
            raise DataError(f"{cache.folder}: cache entry {key} vanished during the run")
        if mode == "global":
            results.append(
                prune_global(
                    steps, value["surprisal"], value["tokens"], budget, scorer.count_tokens
                )
            )
        else:
            results.append(Pruned(**value))
    return results


def main(section: str = "surprisal") -> None:
    from asap.scoring import load_scorer, model_fingerprint

    params = stage_params(section)
    paths = output_paths(params["method"])
    loaded = load_cot_records(params["input"], required=("id", "question", "cot", "answer"))
    ids = [record["id"] for record, _ in loaded]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        raise DataError(f"{params['input']}: duplicate ids {duplicates[:5]}")
    backend = params.get("backend", "transformers")
    if backend == "vllm":
        from asap.scoring_vllm import load_vllm_scorer

        scorer = load_vllm_scorer(
            params["scorer"],
            dtype=params["dtype"],
            batch_size=int(params["batch_size"]),
            max_context=params["max_context"],
            engine=params.get("vllm"),
        )
    elif backend == "transformers":
        scorer = load_scorer(
            params["scorer"],
            dtype=params["dtype"],
            device=params["device"],
            batch_size=int(params["batch_size"]),
            max_context=params["max_context"],
        )
    else:
        raise DataError(f"params {section}.backend: expected transformers or vllm, not {backend!r}")
    settings = {
        "scorer": model_fingerprint(params["scorer"]),
        "dtype": params["dtype"],
        "context": params["context"],
        "max_context": scorer.max_context,
        "min_left_context": scorer.min_left_context,
        "code": code_fingerprint(["stages.surprisal"]),  # every module that scores or prunes
    }
    if backend != "transformers":  # scores agree only within tolerance across backends
        settings["backend"] = backend
    items = [(record["question"], steps) for record, steps in loaded]
    results = prune_with_cache(scorer, items, settings, params, RecordCache(paths["cache"]))

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
