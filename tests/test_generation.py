"""Prompts, batched greedy generation with the embedded model, and resuming from the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from asap.eval.generation import (
    THINK_OPEN,
    Generation,
    GenerationCache,
    GenerationSettings,
    Generator,
    apportion,
    build_prompt,
    load_backend,
    question_text,
)
from asap.repro.io import read_json
from tests.real_data import benchmark_problems

REPO = Path(__file__).resolve().parents[1]


def first(name: str, count: int = 1) -> list[dict]:
    return benchmark_problems(name)[:count]


def test_question_wording_per_benchmark() -> None:
    humaneval = first("humaneval")[0]
    text = question_text(humaneval)
    assert (
        "Complete the following Python function" in text and humaneval["question"].strip() in text
    )
    stdin = next(p for p in first("lcb_v1_v3", 50) if p["test_type"] == "stdin")
    text = question_text(stdin)
    assert stdin["question"] in text and "Read the inputs from stdin" in text
    functional = next(p for p in first("lcb_v1_v3", 50) if p["test_type"] == "functional")
    text = question_text(functional)
    assert functional["starter_code"] in text and "starter code" in text
    leetcode = first("leetcode")[0]
    assert question_text(leetcode) == leetcode["question"]
    assert leetcode["description"] in leetcode["question"]  # the query holds the description


def test_prompt_opens_the_think_block_once(base_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    prompt = build_prompt(tokenizer, "Q?")
    assert prompt.endswith("<|im_start|>assistant\n" + THINK_OPEN) and "Q?" in prompt
    # DeepSeek-R1 templates open the think block themselves: no second opener
    tokenizer.chat_template = (
        "{% for m in messages %}<|User|>{{ m['content'] }}{% endfor %}<|Assistant|><think>\n"
    )
    assert build_prompt(tokenizer, "Q?") == "<|User|>Q?<|Assistant|><think>\n"


def test_apportion_shares_batch_time_by_tokens() -> None:
    assert apportion(6.0, [1, 2, 3]) == [1.0, 2.0, 3.0]
    assert apportion(2.0, [0, 0]) == [1.0, 1.0]


def test_vllm_backend_missing_gives_a_clear_error(base_model_dir: Path) -> None:
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="vllm"):
            load_backend(base_model_dir, GenerationSettings(backend="vllm"))
    else:
        pytest.skip("vllm is installed")


class CountingCache(GenerationCache):
    """A generation cache that records the task ids it writes: the work a run did."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.written: list[str] = []

    def put(self, generation: Generation, key: str) -> None:
        self.written.append(generation.task_id)
        super().put(generation, key)


def greedy_reference(model_dir: Path, prompts: list[str], budget: int) -> list[tuple]:
    """(text, tokens, finish reason) of greedy decoding by a plain argmax loop over the model's
    forward pass, one prompt at a time (no `generate`, no padding, no batching): independent of
    the backends of `asap.eval.generation`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    eos = model.generation_config.eos_token_id
    stops = {*(eos if isinstance(eos, list) else [eos]), tokenizer.eos_token_id}
    results = []
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        new: list[int] = []
        past = None
        with torch.inference_mode():
            while len(new) < budget and not (new and new[-1] in stops):
                output = model(input_ids=ids, past_key_values=past, use_cache=True)
                past = output.past_key_values
                new.append(int(output.logits[0, -1].argmax()))
                ids = torch.tensor([new[-1:]])  # the cache holds everything before it
        finish = "stop" if new[-1] in stops else "length"
        results.append((tokenizer.decode(new, skip_special_tokens=True), len(new), finish))
    return results


@pytest.mark.slow
def test_generation_and_resume_without_regenerating(base_model_dir: Path, tmp_path: Path) -> None:
    problems = first("humaneval", 2)
    # float32: the property is caching and resuming, not precision (CPU bf16 is emulated)
    settings = GenerationSettings(dtype="float32", batch_size=1)
    cache = CountingCache(tmp_path / "cache")
    memo = tmp_path / "fingerprints.json"
    generator = Generator(base_model_dir, settings, fingerprint_memo=memo)
    generations = generator.generate(problems, 8, cache)
    assert [g.task_id for g in generations] == [p["task_id"] for p in problems]
    assert sorted(cache.written) == sorted(p["task_id"] for p in problems)
    for generation in generations:
        assert 1 <= generation.tokens <= 8
        assert generation.completion and generation.batch_size == 1
    # the same greedy decoding, computed without the code under test
    prompts = [job.prompt for job in generator.jobs(problems, 8)]
    assert [(g.completion, g.tokens, g.finish_reason) for g in generations] == greedy_reference(
        base_model_dir, prompts, 8
    )
    files = sorted(cache.directory.rglob("*.json"))
    assert len(files) == 2

    # a fresh run over a complete cache never loads the model and writes nothing
    cache.written.clear()
    rerun = Generator(base_model_dir, settings, fingerprint_memo=memo)
    assert rerun.generate(problems, 8, cache) == generations
    assert rerun._backend is None and cache.written == []

    # a run killed after the first problem: only the missing one is generated, identically
    lost = files[1]
    lost_id = read_json(lost)["task_id"]
    lost.unlink()
    resumed = Generator(base_model_dir, settings, fingerprint_memo=memo)
    batches: list[str] = []
    again = resumed.generate(problems, 8, cache, log=batches.append)
    assert [(g.completion, g.tokens) for g in again] == [
        (g.completion, g.tokens) for g in generations
    ]
    assert cache.written == [lost_id] and len(batches) == 1  # one prompt generated, one written

    # a torn cache file does not count; another budget is another key
    lost.write_text('{"key": "trunc')
    assert resumed.missing(problems, 8, cache) == 1
    assert resumed.missing(problems, 4, cache) == 2


def test_left_padded_batch_equals_one_prompt_at_a_time(base_model_dir: Path) -> None:
    """In float32, a batch of prompts of different lengths (left padding) decodes exactly as
    each prompt alone: padding is masked and positions start at each prompt's first token."""
    settings = GenerationSettings(dtype="float32", device="cpu", batch_size=3)
    backend = load_backend(base_model_dir, settings)
    prompts = [
        build_prompt(backend.tokenizer, question_text(p))
        for p in [*first("humaneval", 2), *first("leetcode", 1)]
    ]
    lengths = {len(backend.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts}
    assert len(lengths) == 3  # padding really happens
    batched = backend.generate(prompts, budget=12)
    alone = [backend.generate([p], budget=12)[0] for p in prompts]
    assert [(o.text, o.tokens) for o in batched] == [(o.text, o.tokens) for o in alone]


def _eval_params(profile: str) -> dict:
    from asap.repro.params import load_params

    return load_params(REPO / "params.yaml")[profile]


def _templates(profile: str) -> dict[str, str]:
    from asap.eval.generation import load_templates

    prompts = _eval_params(profile)["eval"]["prompts"]
    return load_templates({family: REPO / path for family, path in prompts.items()})


def test_embedded_prompt_files_keep_the_built_in_wording() -> None:
    from asap.eval.generation import DEFAULT_TEMPLATES

    assert _templates("embedded") == DEFAULT_TEMPLATES


def test_paper_prompts_follow_the_authors_and_lcb_runner() -> None:
    templates = _templates("paper")
    humaneval = first("humaneval")[0]
    text = question_text(humaneval, templates)
    assert "competitive programming problem" in text
    assert text.endswith(f"```python\n{humaneval['question']}\n```")  # the prompt verbatim
    leetcode = first("leetcode")[0]
    text = question_text(leetcode, templates)
    assert leetcode["description"] in text and leetcode["question"] not in text
    assert text.endswith(f"```python\n{leetcode['starter_code']}\n```")
    stdin = next(p for p in first("lcb_v1_v3", 50) if p["test_type"] == "stdin")
    text = question_text(stdin, templates)
    assert text.startswith("You will be given a question (problem specification)")
    assert f"Question: {stdin['question']}\n\n" in text and "Read the inputs from stdin" in text
    assert text.endswith("```python\n# YOUR CODE HERE\n```\n\n")
    functional = next(p for p in first("lcb_v1_v3", 50) if p["test_type"] == "functional")
    text = question_text(functional, templates)
    assert text.endswith(f"```python\n{functional['starter_code']}\n```\n\n")


def test_tokenskip_is_evaluated_with_its_training_marker() -> None:
    from asap.compression.llmlingua2 import tokenskip_suffix

    for profile in ("embedded", "paper"):
        params = _eval_params(profile)
        marker = params["baselines"]["tokenskip"]["prompt_suffix"]
        assert params["eval"]["prompt_suffix"]["tokenskip"] == tokenskip_suffix(0.5, marker)


def test_bad_templates_are_refused(tmp_path: Path) -> None:
    from asap.eval.generation import DEFAULT_TEMPLATES, load_templates
    from asap.repro.io import DataError

    paths = {}
    for family, text in DEFAULT_TEMPLATES.items():
        paths[family] = tmp_path / f"{family}.txt"
        paths[family].write_text(text + "\n")  # the final line break is not template
    assert load_templates(paths) == DEFAULT_TEMPLATES
    paths["leetcode"].write_text("Solve {problem}\n")
    with pytest.raises(DataError, match=r"leetcode.*unknown placeholders \['problem'\]"):
        load_templates(paths)
    paths["leetcode"].write_text("Solve it.\n")
    with pytest.raises(DataError, match="never places the problem"):
        load_templates(paths)
    with pytest.raises(DataError, match="cannot read"):
        load_templates({**paths, "leetcode": tmp_path / "missing.txt"})
    with pytest.raises(DataError, match="no template for"):
        load_templates({"humaneval": paths["humaneval"]})
    old_record = {k: v for k, v in first("leetcode")[0].items() if k != "description"}
    with pytest.raises(DataError, match="description"):
        question_text(old_record, _templates("paper"))
