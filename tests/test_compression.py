"""Baselines and ablations (asap.compression) on the real training CoTs with the embedded model.

CoTs are cut to a few steps (and questions shortened where the question plays no part in what
is checked) to keep the scorer passes short.
LLMLingua-2 and TokenSkip run the real `llmlingua` code path with a tiny token classifier built
here (random weights, WordPiece vocabulary trained on the CoTs).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from asap.compression import BUILDERS, Models, build, cache_record
from asap.compression.ablations import SurprisalOnly, Unchanged
from asap.compression.llmlingua2 import (
    ClassifierError,
    LLMLingua2,
    TokenSkip,
    install_tiktoken_encoding,
    load_classifier,
    tokenskip_ratio,
    tokenskip_suffix,
)
from asap.compression.report import compression_figure, method_entry
from asap.compression.selective_context import (
    SelectiveContext,
    Unit,
    layout,
    rebuild,
    select,
    select_percentile,
    units_with_info,
)
from asap.compression.spirit import Spirit, step_perplexities
from asap.data.steps import join_steps, split_steps
from asap.methods import METHODS, methods_of_stage
from asap.repro.cache import RecordCache, run_cached
from asap.repro.io import read_json, read_jsonl, write_jsonl
from asap.repro.params import load_params
from asap.scoring.logprobs import Scorer, load_scorer
from asap.scoring.shared_prefix import score_variants
from asap.train.sft import default_user_content
from tests.dvc_repos import STAGE_S
from tests.real_data import train_records
from tests.tiny_models import keyed_token_classifier, tiny_token_classifier

CODE_STEPS = slice(50, 64)  # record 842/A: prose, then code steps with indentation


@pytest.fixture(scope="module")
def real_cots(repo_root: Path) -> list[dict[str, Any]]:
    """The real training records, normalised from the committed raw file."""
    return train_records()


def cut(record: dict[str, Any], steps: slice) -> dict[str, Any]:
    return {**record, "cot": join_steps(split_steps(record["cot"])[steps])}


@pytest.fixture(scope="module")
def scorer(base_model_dir: Path) -> Scorer:
    # float32: nothing here depends on precision, and the CPU may only emulate bfloat16
    return load_scorer(base_model_dir, dtype="float32", device="cpu", batch_size=1)


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory, real_cots) -> Path:
    """A tiny LLMLingua-2 token classifier trained on the real CoTs' vocabulary."""
    return tiny_token_classifier(
        [r["cot"] for r in real_cots], tmp_path_factory.mktemp("classifier")
    )


@pytest.fixture(scope="module")
def classifier(classifier_dir: Path) -> Any:
    return load_classifier(str(classifier_dir), "test.classifier")


def indentations(cot: str) -> list[str]:
    return [line[: len(line) - len(line.lstrip())] for line in cot.split("\n") if line.strip()]


def surprisal_pruning(
    steps: list[str], surprisal: list[float], budget: int, tokens: Any
) -> list[bool]:
    """Algorithm 2 by hand: drop the lowest-surprisal step left (ties: lower index) and recount
    with `tokens`, until the rest fits `budget` or one step is left."""
    kept = [True] * len(steps)
    for i in sorted(range(len(steps)), key=lambda i: (surprisal[i], i)):
        rest = [s for s, k in zip(steps, kept, strict=True) if k]
        if len(rest) == 1 or tokens(join_steps(rest)) <= budget:
            break
        kept[i] = False
    return kept


# --- registry and params -------------------------------------------------------------------


def test_registry_params_and_dvc_agree(repo_root: Path) -> None:
    params = load_params(repo_root / "params.yaml")
    compress = methods_of_stage("compress")
    assert sorted(BUILDERS) == sorted(compress)
    assert sorted(params["compress_methods"]) == sorted(compress)
    assert params["methods"] == [m.name for m in METHODS.values() if m.finetuned]
    assert methods_of_stage("surprisal") == ["asap"]
    for name in ("embedded", "paper"):
        baselines, surprisal = params[name]["baselines"], params[name]["surprisal"]
        assert set(compress) <= set(baselines), name
        scorer = baselines["scorer"]
        assert (scorer["model"], scorer["dtype"], scorer["context"]) == (
            surprisal["scorer"],
            surprisal["dtype"],
            surprisal["context"],
        ), f"{name}: baselines.scorer must be the surprisal stage's scorer"
        wo_coarse = baselines["wo_coarse"]
        assert (wo_coarse["budget"], wo_coarse["mode"]) == (surprisal["budget"], surprisal["mode"])
        for method in compress:
            if not baselines[method].get("enabled", True):
                assert baselines[method].get("reason"), f"{name}.baselines.{method}: no reason"
    dvc = yaml.safe_load((repo_root / "dvc.yaml").read_text())["stages"]
    assert dvc["compress"]["foreach"] == "${compress_methods}"


# --- selective context ---------------------------------------------------------------------


def test_layout_keeps_structure_when_everything_is_kept() -> None:
    cot = "First line.\nSecond, with more.\n\n    indented code()\n        deeper()\n\nLast."
    steps = layout(cot)
    flags = {(u.start, u.end): True for lines in steps for line in lines for u in line.units}
    assert rebuild(cot, steps, flags) == cot
    assert [len(lines) for lines in steps] == [2, 2, 1]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["", "  ", "    ", "\t"]),
                st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1),
            ),
            min_size=1,
            max_size=4,
        ),
        min_size=1,
        max_size=4,
    ),
    st.floats(0.05, 1.0),
    st.randoms(use_true_random=False),
)
def test_selection_never_breaks_layout(lines_per_step, ratio, rng) -> None:
    steps_text = []
    for lines in lines_per_step:
        kept = [indent + text.strip() for indent, text in lines if text.strip()]
        if kept:
            steps_text.append("\n".join(kept))
    cot = join_steps(split_steps(join_steps(steps_text)))  # a stored CoT is stripped
    steps = layout(cot)
    units = [
        Unit(u.start, u.end, rng.random(), rng.randint(1, 4))
        for lines in steps
        for line in lines
        for u in line.units
    ]
    keep = select(units, ratio)
    if units:
        assert any(keep)
        kept_tokens = sum(u.tokens for u, k in zip(units, keep, strict=True) if k)
        assert kept_tokens <= ratio * sum(u.tokens for u in units) or sum(keep) == 1
        # the fewest removals: putting back the last unit removed breaks the target
        order = sorted(range(len(units)), key=lambda i: (units[i].info, i))
        removed = [i for i in order if not keep[i]]
        if removed:
            last = units[removed[-1]]
            assert kept_tokens + last.tokens > ratio * sum(u.tokens for u in units)
    out = rebuild(cot, steps, {(u.start, u.end): k for u, k in zip(units, keep, strict=True)})
    assert "\n\n\n" not in out and out == out.strip("\n")
    assert len(split_steps(out)) <= len(split_steps(cot))
    original_indents = set(indentations(cot))
    assert set(indentations(out)) <= original_indents


def test_selective_context_on_real_cot(scorer: Scorer, real_cots) -> None:
    record = cut(real_cots[0], CODE_STEPS)
    compressor = SelectiveContext(scorer, ratio=0.5, unit="tokens")
    (first,) = compressor.compress([record])
    (again,) = compressor.compress([record])
    assert first == again  # deterministic
    before, after = scorer.count_tokens(record["cot"]), scorer.count_tokens(first["cot"])
    assert 0.4 * before < after <= 0.5 * before
    assert first["units_kept"] <= first["units"] / 2 + 1
    # step boundaries and code indentation survive
    assert len(split_steps(first["cot"])) <= len(split_steps(record["cot"]))
    assert "\n\n\n" not in first["cot"]
    assert "    " in indentations(first["cot"])
    assert set(indentations(first["cot"])) <= set(indentations(record["cot"]))


def test_percentile_rule_drops_units_below_the_percentile_by_count() -> None:
    # mean self-information per unit: 1, 6, 2, 8, 3, 4 (info / tokens); inf and no-token units
    units = [
        Unit(0, 1, 1.0, 1),
        Unit(1, 2, 12.0, 2),
        Unit(2, 3, 2.0, 1),
        Unit(3, 4, 24.0, 3),
        Unit(4, 5, 3.0, 1),
        Unit(5, 6, 8.0, 2),
        Unit(6, 7, math.inf, 1),
        Unit(7, 8, 0.0, 0),
    ]
    # numpy's linear 50th percentile of [1, 6, 2, 8, 3, 4] is 3.5: 1, 2 and 3 go
    expected = [False, True, False, True, False, True, True, True]
    assert select_percentile(units, 0.5, "mean") == expected
    # sums 1, 12, 2, 24, 3, 8: the median is 5.5, so the same three go
    assert select_percentile(units, 0.5, "sum") == expected
    # ratio 0.25: the 75th percentile of the means (4 + 0.75 * (6 - 4) = 5.5) keeps two
    assert select_percentile(units[:6], 0.25, "mean") == [False, True, False, True, False, False]
    assert select_percentile(units[:6], 1.0, "mean") == [True] * 6


def test_selective_context_package_rule_on_real_cot(scorer: Scorer, real_cots) -> None:
    record = cut(real_cots[0], CODE_STEPS)
    compressor = SelectiveContext(
        scorer, ratio=0.5, unit="phrases", rule="percentile", aggregate="mean"
    )
    (result,) = compressor.compress([record])
    assert result["units_kept"] in (result["units"] // 2, (result["units"] + 1) // 2)
    assert compressor.settings()["rule"] == "percentile"
    assert set(indentations(result["cot"])) <= set(indentations(record["cot"]))


def test_selective_context_units_share_one_scoring(scorer: Scorer, real_cots) -> None:
    from asap.pruning.surprisal import scoring_prefix

    record = cut(real_cots[1], slice(0, 6))
    prefix, special = scoring_prefix(record["question"], "raw", scorer.tokenizer)
    (scored,) = scorer.text_logprobs([prefix + record["cot"]], add_special_tokens=special)
    counts = {}
    for unit in ("tokens", "phrases", "sentences"):
        compressor = SelectiveContext(scorer, 0.5, unit)
        result = compressor._compress_one(
            record["cot"], scored.offsets, scored.logprobs, len(prefix)
        )
        counts[unit] = result["units"]
        assert 0 < scorer.count_tokens(result["cot"]) < scorer.count_tokens(record["cot"])
    assert counts["tokens"] > counts["phrases"] > counts["sentences"] >= 6


def test_long_cot_is_scored_in_windows(scorer: Scorer, real_cots) -> None:
    from asap.pruning.surprisal import scoring_prefix

    small = Scorer(scorer.model, scorer.tokenizer, batch_size=4, max_context=96)
    record = {**cut(real_cots[2], slice(0, 5)), "question": "Solve the problem."}
    prefix, special = scoring_prefix(record["question"], "raw", small.tokenizer)
    (scored,) = small.text_logprobs([prefix + record["cot"]], add_special_tokens=special)
    assert len(scored.input_ids) > 2 * 96
    # every CoT token gets a finite self-information: windows give each one left context
    steps = units_with_info(record["cot"], scored.offsets, scored.logprobs, len(prefix), "tokens")
    assert all(math.isfinite(u.info) for lines in steps for line in lines for u in line.units)
    compressor = SelectiveContext(small, 0.5)
    result = compressor._compress_one(record["cot"], scored.offsets, scored.logprobs, len(prefix))
    assert 0 < small.count_tokens(result["cot"]) <= 0.6 * small.count_tokens(record["cot"])
    assert len(split_steps(result["cot"])) <= 5


# --- SPIRIT -------------------------------------------------------------------------------


def test_cached_variant_scores_equal_the_shared_scorer(scorer: Scorer, real_cots) -> None:
    steps = split_steps(real_cots[2]["cot"])[:3]
    base = scorer.encode("Q\n<think>\n" + join_steps(steps)).input_ids
    variants = [
        scorer.encode("Q\n<think>\n" + join_steps(steps[:i] + steps[i + 1 :])).input_ids
        for i in range(len(steps))
    ]
    base_scores, scored = score_variants(scorer, base, variants)
    positions = [list(range(v.start, len(ids))) for v, ids in zip(scored, variants, strict=True)]
    reference = scorer.target_logprobs(variants, positions)
    for ours, theirs in zip(scored, reference, strict=True):
        assert ours.logprobs == pytest.approx(theirs, abs=1e-3)
    assert base_scores[1:] == pytest.approx(
        scorer.target_logprobs([base], [list(range(1, len(base)))])[0], abs=1e-3
    )
    # a horizon covering everything changes nothing; a short one scores fewer positions
    _, capped = score_variants(scorer, base, variants, horizon=5)
    assert [len(v.logprobs) for v in capped] == [min(5, len(v.logprobs)) for v in scored]
    # too long for the context: the shared windowed scorer takes over, same positions
    small = Scorer(scorer.model, scorer.tokenizer, max_context=128)
    assert len(base) > 128
    _, windowed = score_variants(small, base, variants)
    assert [v.start for v in windowed] == [v.start for v in scored]
    assert all(math.isfinite(x) for v in windowed for x in v.logprobs)


def test_spirit_on_real_cot(scorer: Scorer, real_cots) -> None:
    record = {**cut(real_cots[2], slice(0, 6)), "question": "Solve the problem."}
    steps = split_steps(record["cot"])
    perplexity, tokens = step_perplexities(scorer, record["question"], steps, horizon=48)
    assert len(perplexity) == len(steps) and all(math.isfinite(p) and p > 1 for p in perplexity)
    assert sum(tokens) == pytest.approx(scorer.count_tokens(record["cot"]), abs=3)
    compressor = Spirit(scorer, ratio=0.5, horizon=48)
    (result,) = compressor.compress([record])
    assert result["perplexity"] == pytest.approx(perplexity, rel=1e-5)  # deterministic
    kept = [s for s, k in zip(steps, result["kept"], strict=True) if k]
    assert result["cot"] == join_steps(kept) and 1 <= len(kept) < len(steps)
    assert scorer.count_tokens(result["cot"]) <= 0.5 * scorer.count_tokens(record["cot"])
    # removed first = lowest perplexity without the step
    removed = [p for p, k in zip(perplexity, result["kept"], strict=True) if not k]
    assert max(removed) <= min(p for p, k in zip(perplexity, result["kept"], strict=True) if k)


@pytest.fixture(scope="module")
def plain_model(base_model_dir: Path) -> Any:
    """The embedded model in float32 for a plain forward pass (the independent reference)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base_model_dir, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(base_model_dir)


def plain_logprobs(plain_model: Any, text: str) -> tuple[list[tuple[int, int]], list[float]]:
    """Offsets of every token of `text` (special tokens added) and log p(token | before),
    from one full-logits forward pass; the first token gets nan."""
    import torch

    model, tokenizer = plain_model
    encoded = tokenizer(text, return_offsets_mapping=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(input_ids=encoded["input_ids"]).logits[0].float()
    ids = encoded["input_ids"][0]
    logprobs = torch.log_softmax(logits[:-1], dim=-1).gather(1, ids[1:, None])[:, 0]
    offsets = [tuple(span) for span in encoded["offset_mapping"][0].tolist()]
    return offsets, [math.nan, *logprobs.tolist()]


def first_token_at(offsets: list[tuple[int, int]], char: int) -> int:
    return next(i for i, (a, b) in enumerate(offsets) if b > char and b > a)


def test_spirit_perplexity_equals_a_plain_pass_without_the_step(
    scorer: Scorer, plain_model: Any, real_cots
) -> None:
    question = "Solve the problem."
    steps = split_steps(cut(real_cots[2], slice(0, 5))["cot"])
    perplexity, _ = step_perplexities(scorer, question, steps, horizon=None)
    prefix = question + "\n<think>\n"
    for i, value in enumerate(perplexity):
        text = prefix + join_steps([*steps[:i], *steps[i + 1 :]])
        offsets, logprobs = plain_logprobs(plain_model, text)
        first = first_token_at(offsets, len(prefix))
        cot = logprobs[first:]
        assert value == pytest.approx(math.exp(-sum(cot) / len(cot)), rel=1e-3), i


def test_wo_coarse_surprisal_equals_a_plain_pass(
    scorer: Scorer, plain_model: Any, real_cots
) -> None:
    record = {**cut(real_cots[1], slice(0, 8)), "question": "Solve the problem."}
    steps = split_steps(record["cot"])
    prefix = record["question"] + "\n<think>\n"
    offsets, logprobs = plain_logprobs(plain_model, prefix + join_steps(steps))
    starts = [len(prefix) + sum(len(s) + 2 for s in steps[:i]) for i in range(len(steps))]
    expected = [-logprobs[first_token_at(offsets, c)] for c in starts]
    budget = 300
    (result,) = SurprisalOnly(scorer, budget=budget).compress([record])
    assert result["surprisal"] == pytest.approx(expected, rel=1e-3, abs=1e-3)
    # the removed steps are the lowest-surprisal ones, and removing fewer would not fit
    order = sorted(range(len(steps)), key=lambda i: expected[i])
    removed = [i for i, keep in enumerate(result["kept"]) if not keep]
    assert sorted(removed) == sorted(order[: len(removed)])
    _, tokenizer = plain_model

    def tokens(kept: list[int]) -> int:
        text = join_steps([steps[i] for i in sorted(kept)])
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    kept = [i for i, keep in enumerate(result["kept"]) if keep]
    assert tokens(kept) <= budget < tokens([*kept, order[len(removed) - 1]]) + 3


def test_spirit_and_selective_context_edge_cases(scorer: Scorer, real_cots) -> None:
    record = real_cots[0]
    one_step = {**record, "cot": split_steps(record["cot"])[0]}
    empty = {**record, "cot": ""}
    spirit = Spirit(scorer, 0.5, horizon=16)
    assert spirit.compress([one_step, empty]) == [
        {"cot": one_step["cot"], "perplexity": [], "kept": [True]},
        {"cot": "", "perplexity": [], "kept": []},
    ]
    sc_one, sc_empty = SelectiveContext(scorer, 0.5).compress([one_step, empty])
    assert sc_empty == {"cot": ""}
    assert 0 < scorer.count_tokens(sc_one["cot"]) < scorer.count_tokens(one_step["cot"])
    assert Unchanged().compress([empty]) == [{"cot": ""}]
    with pytest.raises(ValueError, match="ratio"):
        Spirit(scorer, 0.0)


def test_wo_coarse_is_surprisal_pruning_of_the_original(scorer: Scorer, real_cots) -> None:
    record = {**cut(real_cots[1], slice(0, 6)), "question": "Solve the problem."}
    steps = split_steps(record["cot"])
    (result,) = SurprisalOnly(scorer, budget=300).compress([record])
    # its surprisals are a plain pass's (test_wo_coarse_surprisal_equals_a_plain_pass); the
    # pruning is redone by hand
    expected = surprisal_pruning(steps, result["surprisal"], 300, scorer.count_tokens)
    assert result["kept"] == expected and 1 <= sum(expected) < len(steps)
    assert result["cot"] == join_steps([s for s, k in zip(steps, expected, strict=True) if k])
    assert scorer.count_tokens(result["cot"]) <= 300 < scorer.count_tokens(record["cot"])


# --- LLMLingua-2 and TokenSkip --------------------------------------------------------------


def test_llmlingua2_real_code_path(classifier, real_cots) -> None:
    record = cut(real_cots[0], slice(0, 8))
    compressor = LLMLingua2(classifier, rate=0.5)
    (first,) = compressor.compress([record])
    assert compressor.compress([record]) == [first]
    steps_in, steps_out = split_steps(record["cot"]), split_steps(first["cot"])
    assert 1 <= len(steps_out) <= len(steps_in)
    assert "\n\n\n" not in first["cot"]
    chars_in = len("".join(record["cot"].split()))
    chars_out = len("".join(first["cot"].split()))
    assert 0.2 * chars_in < chars_out < 0.8 * chars_in
    # edge cases: an empty CoT stays empty, one step stays one step
    one_step = {**record, "cot": split_steps(record["cot"])[1]}
    empty, single = compressor.compress([{**record, "cot": ""}, one_step])
    assert empty == {"cot": ""} and len(split_steps(single["cot"])) == 1


def test_whole_cot_granularity_is_the_package_call_tokenskip_makes(classifier, real_cots) -> None:
    record = cut(real_cots[0], slice(0, 8))
    compressor = LLMLingua2(classifier, rate=0.5, force_tokens=[], granularity="cot")
    (result,) = compressor.compress([record])
    expected = classifier.compress_prompt(record["cot"], rate=0.5)["compressed_prompt"]
    assert result["cot"] == expected.strip()
    assert "\n" not in result["cot"]  # nothing forced: the package rejoins words with spaces
    by_step = LLMLingua2(classifier, rate=0.5).compress([record])[0]["cot"]
    assert len(split_steps(by_step)) > 1 and by_step != result["cot"]
    with pytest.raises(ValueError, match="granularity"):
        LLMLingua2(classifier, granularity="word")


def test_tokenskip_ratio_is_seeded_per_record(classifier, real_cots) -> None:
    ratios = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    draws = [tokenskip_ratio(f"{i}/A", ratios, 42) for i in range(300)]
    assert draws == [tokenskip_ratio(f"{i}/A", ratios, 42) for i in range(300)]
    assert set(draws) == set(ratios)
    assert draws != [tokenskip_ratio(f"{i}/A", ratios, 7) for i in range(300)]
    assert tokenskip_suffix(0.7, "\n\nCompression ratio: {ratio}") == "\n\nCompression ratio: 0.7"
    assert tokenskip_suffix(1.0, "\n\nCompression ratio: {ratio}") == ""

    records = [cut(r, slice(0, 5)) for r in real_cots]
    compressor = TokenSkip(classifier, ratios, 42, "\n\nCompression ratio: {ratio}")
    results = compressor.compress(records)
    assert compressor.compress(records[::-1]) == results[::-1]  # order does not matter
    for record, result in zip(records, results, strict=True):
        ratio = result["tokenskip_ratio"]
        assert ratio == tokenskip_ratio(record["id"], ratios, 42)
        assert result["prompt_suffix"] == tokenskip_suffix(ratio, compressor.prompt_suffix)
        if ratio == 1.0:
            assert result["cot"] == record["cot"]
        else:
            assert len(result["cot"].split()) < len(record["cot"].split())


def test_missing_classifier_names_the_param(tmp_path: Path) -> None:
    missing = tmp_path / "llmlingua-2-bert-base-multilingual-cased-meetingbank"
    with pytest.raises(ClassifierError, match=r"embedded\.baselines\.llmlingua2\.classifier"):
        load_classifier(str(missing), "embedded.baselines.llmlingua2.classifier")
    with pytest.raises(ClassifierError, match=r"p\.classifier='gpt2'.*bert-base-multilingual"):
        load_classifier("gpt2", "p.classifier")


def test_tiktoken_file_installed_offline(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    target = install_tiktoken_encoding(tmp_path / "tiktoken")
    assert target.parent == tmp_path / "tiktoken" and target.stat().st_size > 1_000_000
    import tiktoken

    assert tiktoken.encoding_for_model("gpt-3.5-turbo").encode("hello world") == [15339, 1917]


# --- cache and report -----------------------------------------------------------------------


def test_cache_resumes_without_recomputing(tmp_path: Path, real_cots) -> None:
    calls: list[str] = []

    def compute(batch):
        calls.extend(r["id"] for r in batch)
        return [{"cot": r["cot"][:10]} for r in batch]

    def run(cache: RecordCache, records, prune: bool = False):
        return run_cached(cache, records, compute, key_of=cache_record, chunk_size=3, prune=prune)

    cache = RecordCache(tmp_path, {"method": "x", "settings": {"a": 1}}, required=("cot",))
    first, computed = run(cache, real_cots)
    assert computed == len(real_cots) and len(calls) == len(real_cots)
    again, computed = run(cache, real_cots)
    assert (again, computed, len(calls)) == (first, 0, len(real_cots))
    other = RecordCache(tmp_path, {"method": "x", "settings": {"a": 2}})
    assert other.get(other.key(cache_record(real_cots[0]))) is None  # new settings, new keys
    # the code of a compressor is part of its cache key (tests/test_code.py edits a module)
    keyed = RecordCache(tmp_path, {"method": "x", "settings": {"a": 1}, "code": "edited"})
    assert keyed.get(keyed.key(cache_record(real_cots[0]))) is None
    # a torn file or one without the result's field is a miss, computed again
    torn = cache.path(cache.key(cache_record(real_cots[0])))
    torn.write_text('{"cot": "trunc', encoding="utf-8")
    assert run(cache, real_cots)[1] == 1
    cache.put(cache.key(cache_record(real_cots[0])), {"other": 1})
    assert run(cache, real_cots)[1] == 1
    # pruning keeps exactly the results of the records of the last run
    assert run(cache, real_cots[:1], prune=True)[1] == 0
    assert len(list(tmp_path.rglob("*.json"))) == 1


def test_report_entry_and_figure(tmp_path: Path, real_cots) -> None:
    originals = {r["id"]: r for r in real_cots}

    def count(text: str) -> int:
        return len(text.split())

    halved = [{**r, "cot": " ".join(r["cot"].split()[::2]), "method": "m"} for r in real_cots]
    entry = method_entry("m", halved, originals, count, {"requested_ratio": 0.5}, "m.jsonl")
    assert entry["status"] == "ok" and entry["requested_ratio"] == 0.5
    assert entry["achieved_ratio"] == pytest.approx(0.5, abs=0.01)
    assert entry["sample_tokens_after_mean"] < entry["sample_tokens_before_mean"]
    not_run = method_entry("n", [], originals, count, {"reason": "no weights"}, "n.jsonl")
    assert not_run == {"status": "not_run", "reason": "no weights"}
    methods = {"spirit": entry, "llmlingua2": not_run}
    compression_figure(tmp_path / "a.png", methods)
    compression_figure(tmp_path / "b.png", methods)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


# --- the stages, as DVC runs them ----------------------------------------------------------


def run_stage(workdir: Path, repo_root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(repo_root), HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=workdir, env=env, capture_output=True, text=True,
        timeout=STAGE_S,
    )  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path, repo_root: Path, real_cots, base_model_dir: Path) -> Path:
    params = load_params(repo_root / "params.yaml")
    params["profile"] = "embedded"
    params["embedded"]["baselines"]["scorer"]["model"] = str(base_model_dir)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    write_jsonl(tmp_path / "data/train/cots.jsonl", [cut(r, slice(0, 4)) for r in real_cots])
    # stand-in for the coarse stage's output: the same records with every other step
    write_jsonl(tmp_path / "data/coarse/cots.jsonl", [cut(r, slice(0, 4, 2)) for r in real_cots])
    return tmp_path


def test_stages_write_datasets_reports_and_resume(workdir: Path, repo_root: Path) -> None:
    done = run_stage(workdir, repo_root, "stages.compress", "original")
    assert done.returncode == 0, done.stderr
    inputs = list(read_jsonl(workdir / "data/train/cots.jsonl"))
    sft = list(read_jsonl(workdir / "data/sft/original.jsonl"))
    assert [(r["id"], r["question"], r["cot"], r["answer"]) for r in sft] == [
        (r["id"], r["question"], r["cot"], r["answer"]) for r in inputs
    ]
    assert {r["method"] for r in sft} == {"original"}
    done = run_stage(workdir, repo_root, "stages.compress", "original")
    assert "0 computed" in done.stdout

    done = run_stage(workdir, repo_root, "stages.compress", "wo_fine")
    assert done.returncode == 0, done.stderr
    coarse = list(read_jsonl(workdir / "data/coarse/cots.jsonl"))
    wo_fine = list(read_jsonl(workdir / "data/sft/wo_fine.jsonl"))
    assert [r["cot"] for r in wo_fine] == [r["cot"] for r in coarse]
    assert [r["answer"] for r in wo_fine] == [r["answer"] for r in inputs]

    done = run_stage(workdir, repo_root, "stages.compress", "llmlingua2")  # disabled here
    assert done.returncode == 0, done.stderr
    assert (workdir / "data/sft/llmlingua2.jsonl").read_text() == ""
    report = read_json(workdir / "reports/compression/llmlingua2.json")
    assert report["status"] == "not_run" and "offline" in report["reason"]

    done = run_stage(workdir, repo_root, "stages.compression_report")
    assert done.returncode == 0, done.stderr
    summary = read_json(workdir / "reports/compression.json")["methods"]
    assert summary["original"]["achieved_ratio"] == 1.0
    inputs = read_json(workdir / "reports/compression.json")["provenance"]["inputs"]
    assert {"data/train/cots.jsonl", "data/sft/original.jsonl", "data/sft/wo_fine.jsonl"} <= set(
        inputs
    )
    origin = read_json(workdir / "reports/compression/wo_fine.json")["provenance"]
    assert origin["stage"] == "compress@wo_fine" and "data/coarse/cots.jsonl" in origin["inputs"]
    assert summary["wo_fine"]["steps_after_mean"] == 2.0
    assert summary["wo_fine"]["achieved_ratio"] < 0.8
    assert summary["llmlingua2"]["status"] == "not_run"
    assert summary["spirit"] == {
        "status": "not_run",
        "reason": "data/sft/spirit.jsonl does not exist",
    }
    assert (workdir / "reports/figures/compression.png").stat().st_size > 10_000


def test_enabled_without_classifier_stops_naming_the_param(workdir: Path, repo_root) -> None:
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    section = params["embedded"]["baselines"]["tokenskip"]
    section["enabled"] = True
    section["classifier"] = str(workdir / "absent-bert-base-multilingual-cased")
    (workdir / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    done = run_stage(workdir, repo_root, "stages.compress", "tokenskip")
    assert done.returncode != 0
    assert "embedded.baselines.tokenskip.classifier" in done.stderr
    assert not (workdir / "data/sft/tokenskip.jsonl").exists()


def test_bad_input_record_is_named(workdir: Path, repo_root: Path, real_cots) -> None:
    records = [cut(r, slice(0, 2)) for r in real_cots]
    records[1]["cot"] = "   "
    write_jsonl(workdir / "data/train/cots.jsonl", records)
    done = run_stage(workdir, repo_root, "stages.compress", "original")
    assert done.returncode != 0
    assert f"record 2 (id {records[1]['id']!r}): empty cot" in done.stderr


DIGIT_STEPS = [
    "we have 12 apples and then buy 345 more of them at the market",
    "so the total is 357 apples and after that we sell 2 to a friend",
    "the rest stays in the box until we need them again next week",
]


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["wordpiece", "sentencepiece"])
def test_classifier_methods_through_their_stage(
    workdir: Path, repo_root: Path, tmp_path_factory, rule: str
) -> None:
    """LLMLingua-2 and TokenSkip enabled, with a classifier that keeps exactly the all-digit
    words: the survivors, the achieved rate and TokenSkip's ratio marker are known exactly."""
    classifier = keyed_token_classifier(
        [*DIGIT_STEPS, *(" ".join(DIGIT_STEPS[::-1]) for _ in range(10))],
        tmp_path_factory.mktemp("keyed"),
        rule,
    )
    records = list(read_jsonl(workdir / "data/train/cots.jsonl"))[:2]
    records = [{**r, "cot": join_steps(DIGIT_STEPS)} for r in records]
    write_jsonl(workdir / "data/train/cots.jsonl", records)
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    baselines = params["embedded"]["baselines"]
    for method in ("llmlingua2", "tokenskip"):
        baselines[method].update(
            enabled=True, classifier=str(classifier), granularity="cot", force_tokens=[]
        )
    (workdir / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    survivors = "12 345 357 2"  # every all-digit word, in order; nothing else
    for method in ("llmlingua2", "tokenskip"):
        done = run_stage(workdir, repo_root, "stages.compress", method)
        assert done.returncode == 0, done.stderr[-3000:]
    lingua = list(read_jsonl(workdir / "data/sft/llmlingua2.jsonl"))
    assert [r["cot"] for r in lingua] == [survivors, survivors]
    skip = list(read_jsonl(workdir / "data/sft/tokenskip.jsonl"))
    ratios = baselines["tokenskip"]["ratios"]
    for record, out in zip(records, skip, strict=True):
        ratio = tokenskip_ratio(record["id"], ratios, baselines["tokenskip"]["seed"])
        assert out["tokenskip_ratio"] == ratio
        assert out["cot"] == (record["cot"] if ratio == 1.0 else survivors)
        marker = "" if ratio == 1.0 else f"\n\nCompression ratio: {ratio}"
        assert out.get("prompt_suffix", "") == marker
        assert default_user_content(out) == record["question"] + marker  # the SFT user turn
    done = run_stage(workdir, repo_root, "stages.compression_report")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = read_json(workdir / "reports/compression.json")["methods"]["llmlingua2"]
    from transformers import AutoTokenizer

    scorer_tokenizer = AutoTokenizer.from_pretrained(
        params["embedded"]["baselines"]["scorer"]["model"]
    )

    def tokens(text: str) -> int:
        return len(scorer_tokenizer(text, add_special_tokens=False)["input_ids"])

    expected = tokens(survivors) / tokens(join_steps(DIGIT_STEPS))
    assert summary["achieved_ratio"] == pytest.approx(expected, abs=1e-4)
    assert summary["requested_ratio"] == 0.5


@pytest.mark.slow
def test_scorer_methods_through_their_stage(workdir: Path, repo_root: Path, scorer: Scorer) -> None:
    """Selective Context's, SPIRIT's and w/o coarse's params reach their compressors, and w/o
    coarse runs through `stages.compress` on two short real records: its dataset is the pruning,
    redone by hand, of the surprisals the stage cached. (The stage's path is the same for every
    method: `test_stages_write_datasets_reports_and_resume`; the compressors: the tests above.)"""
    records = [cut(r, slice(0, 4)) for r in list(read_jsonl(workdir / "data/train/cots.jsonl"))[:2]]
    write_jsonl(workdir / "data/train/cots.jsonl", records)
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    baselines = params["embedded"]["baselines"]
    # values unlike params.yaml's, so that a setting that does not arrive shows
    baselines["selective_context"].update(ratio=0.4, unit="phrases", rule="percentile")
    baselines["selective_context"]["aggregate"] = "mean"
    baselines["spirit"].update(ratio=0.6, horizon=32)
    baselines["wo_coarse"]["budget"] = 120
    (workdir / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    expected = {
        "selective_context": (
            {"ratio": 0.4, "unit": "phrases", "context": "raw", "rule": "percentile",
             "aggregate": "mean"},
            0.4,
        ),
        "spirit": ({"ratio": 0.6, "context": "raw", "horizon": 32}, 0.6),
        "wo_coarse": ({"budget": 120, "mode": "global", "context": "raw"}, None),
    }  # fmt: skip

    class Loaded(Models):  # the scorer already loaded here
        def scorer(self) -> Scorer:
            return scorer

    models = Loaded(baselines["scorer"], "embedded.baselines.scorer")
    for method, (wanted, ratio) in expected.items():  # the call the stage makes
        compressor = build(method, baselines[method], models, method)
        assert (compressor.settings(), compressor.requested_ratio) == (wanted, ratio), method

    done = run_stage(workdir, repo_root, "stages.compress", "wo_coarse")
    assert done.returncode == 0, done.stderr[-3000:]
    sft = list(read_jsonl(workdir / "data/sft/wo_coarse.jsonl"))
    assert [(r["id"], r["question"], r["answer"]) for r in sft] == [
        (r["id"], r["question"], r["answer"]) for r in records
    ]
    report = read_json(workdir / "reports/compression/wo_coarse.json")
    assert report["status"] == "ok" and report["records"] == 2
    assert report["settings"] == expected["wo_coarse"][0]
    cache = workdir / "data/cache/compress/wo_coarse"
    cached = {entry["cot"]: entry for entry in map(read_json, cache.rglob("*.json"))}
    assert len(cached) == 2
    for out, record in zip(sft, records, strict=True):
        steps = split_steps(record["cot"])
        kept = surprisal_pruning(steps, cached[out["cot"]]["surprisal"], 120, scorer.count_tokens)
        assert cached[out["cot"]]["kept"] == kept and 1 <= sum(kept) < len(steps)
        assert out["cot"] == join_steps([s for s, k in zip(steps, kept, strict=True) if k])
        assert scorer.count_tokens(out["cot"]) <= 120 < scorer.count_tokens(record["cot"])
