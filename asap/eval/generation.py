"""Generating completions for benchmark problems, with a per-problem resumable cache.

Prompts follow the paper's setup: the question is the user turn of the model's chat template
(`add_generation_prompt=True`), and ``<think>\\n`` opens the assistant turn unless the template
already does (the DeepSeek-R1 templates do). The SFT data use the same layout, so a fine-tuned
model sees at inference exactly the prefix it was trained on. Question wording: one template
file per problem family (HumanEval-style code prompts, LeetCode, LiveCodeBench stdin and
functional problems), named by `eval.prompts` in params.yaml (see `question_text`). The
embedded profile's files hold the built-in wording (`DEFAULT_TEMPLATES`); the paper profile's
carry the authors' instructions (HumanEval: continue the given function without changing it,
return the whole function in a code block; LeetCode: the description, then the starter code
to build on, code between delimiters) and lcb_runner's question template for DeepSeek-R1.

Backends: ``transformers`` (CPU or GPU) decodes greedily in batches with left padding and the
token budget as ``max_new_tokens``; ``vllm`` (GPU, optional extra, imported lazily) uses
temperature 0, ``max_tokens`` = budget and ``enable_prefix_caching=False``, with
``tensor_parallel_size`` per engine and ``data_parallel_size`` engines on disjoint GPUs.

Per sample: ``tokens`` = generated tokens including the end-of-sequence token when there is
one; ``finish_reason`` = "stop" (the model ended) or "length" (the budget ran out).
Latency: batched backends produce a batch at once, so each batch's wall time (from the call
that starts generating to the moment all its outputs exist, model loading excluded) is shared
among its samples in proportion to their generated tokens. The average latency per sample is
then the batch wall time per sample, as reported in the paper; longer answers get a
proportionally larger share. Timings also keep ``batch_wall_s`` and ``batch_size``.

Cache: one JSON file per problem, written atomically once its batch is done, keyed by the
model's content fingerprint, the code of this module and all it imports, the exact prompt, the
budget and the decoding settings; a rerun generates only the batches that have a member
without a valid file. Batches are fixed over the whole problem list (by prompt length, then
task order), so a resumed run forms the same batches as an uninterrupted one.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from asap.model.digest import model_digest
from asap.repro.cache import RecordCache, record_key
from asap.repro.code import code_fingerprint
from asap.repro.io import DataError
from asap.repro.precision import dtype_name

THINK_OPEN = "<think>\n"

# Prompt templates, one per problem family (`eval.prompts` in params.yaml names a file for
# each; `load_templates` reads them). A template is the user turn with placeholders:
#   {question}          the problem's question verbatim (HumanEval: the code prompt; LeetCode:
#                       LeetCodeDataset's `query`; LiveCodeBench: the statement)
#   {question_trimmed}  the same without leading and trailing line breaks
#   {description}       LeetCodeDataset's problem description alone (`problem_description`)
#   {starter_code}      the starter code (LeetCode, LiveCodeBench functional problems)
# The built-in defaults below are the embedded profile's files.
FAMILIES = ("humaneval", "leetcode", "lcb_stdin", "lcb_functional")
PLACEHOLDERS = ("question", "question_trimmed", "description", "starter_code")
PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")

LCB_SYSTEM = (
    "You are an expert Python programmer. You will be given a question (problem "
    "specification) and will generate a correct Python program that matches the "
    "specification and passes all tests."
)
DEFAULT_TEMPLATES = {
    "humaneval": (
        "Complete the following Python function. Write the whole function, with the imports it "
        "needs, in a single ```python code block.\n\n```python\n{question_trimmed}\n```\n"
    ),
    "leetcode": "{question}",
    "lcb_functional": (
        LCB_SYSTEM + "\n\n### Question:\n{question}\n\n"
        "### Format: You will use the following starter code to write the solution to the "
        "problem and enclose your code within delimiters.\n```python\n{starter_code}\n```\n\n"
        "### Answer: (use the provided format with backticks)\n\n"
    ),
    "lcb_stdin": (
        LCB_SYSTEM + "\n\n### Question:\n{question}\n\n"
        "### Format: Read the inputs from stdin solve the problem and write the answer to stdout "
        "(do not directly test on the sample inputs). Enclose your code within delimiters as "
        "follows. Ensure that when the python program runs, it reads the inputs, runs the "
        "algorithm and writes output to STDOUT.\n```python\n# YOUR CODE HERE\n```\n\n"
        "### Answer: (use the provided format with backticks)\n\n"
    ),
}


def check_template(text: str, where: str) -> str:
    """`text` if it is a usable template; DataError naming `where` otherwise."""
    unknown = sorted(set(PLACEHOLDER_RE.findall(text)) - set(PLACEHOLDERS))
    if unknown:
        raise DataError(f"{where}: unknown placeholders {unknown}; known: {list(PLACEHOLDERS)}")
    if not {"question", "question_trimmed", "description"} & set(PLACEHOLDER_RE.findall(text)):
        raise DataError(f"{where}: the template never places the problem ({{question}}, "
                        "{question_trimmed} or {description})")  # fmt: skip
    return text


def load_templates(paths: dict[str, str | Path]) -> dict[str, str]:
    """Template text per family from `eval.prompts` (family -> file). A file's single final
    line break is not part of the template (so that a file may end as text files do)."""
    unknown = sorted(set(paths) - set(FAMILIES))
    if unknown:
        raise DataError(f"eval.prompts: unknown families {unknown}; known: {list(FAMILIES)}")
    missing = sorted(set(FAMILIES) - set(paths))
    if missing:
        raise DataError(f"eval.prompts: no template for {missing}")
    templates = {}
    for family, path in paths.items():
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise DataError(f"eval.prompts.{family}: cannot read {path}: {err}") from err
        text = text[:-1] if text.endswith("\n") else text
        templates[family] = check_template(text, f"eval.prompts.{family} ({path})")
    return templates


def family(problem: dict[str, Any]) -> str:
    test_type = problem["test_type"]
    if test_type in ("stdin", "functional"):
        return "lcb_functional" if problem.get("starter_code") else "lcb_stdin"
    return "leetcode" if problem.get("starter_code") else "humaneval"


def question_text(problem: dict[str, Any], templates: dict[str, str] | None = None) -> str:
    """The user turn for a benchmark problem: its family's template, filled in."""
    name = family(problem)
    template = (templates or DEFAULT_TEMPLATES)[name]
    values = {
        "question": problem["question"],
        "question_trimmed": problem["question"].strip("\n"),
        "starter_code": problem.get("starter_code") or "",
        "description": problem.get("description"),
    }

    def fill(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        if value is None:
            raise DataError(
                f"{problem.get('benchmark')} {problem['task_id']}: the {name} template needs "
                f"{{{match.group(1)}}}, which the problem record lacks (rerun the data stage)"
            )
        return value

    return PLACEHOLDER_RE.sub(fill, template)


def build_prompt(tokenizer: Any, question: str) -> str:
    """Chat template with the question as the user turn, then the opened think block."""
    messages = [{"role": "user", "content": question}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if prompt.endswith(THINK_OPEN):
        return prompt
    if prompt.endswith(THINK_OPEN.rstrip("\n")):
        return prompt + "\n"
    return prompt + THINK_OPEN


@dataclass(frozen=True)
class GenerationSettings:
    backend: str = "transformers"  # transformers | vllm
    dtype: str = "float32"  # transformers backend: auto = asap.repro.precision's rule
    device: str = "cpu"  # transformers backend: cpu | cuda | auto
    batch_size: int = 8  # prompts per batch (and per cache write)
    gpu_memory_utilization: float = 0.9  # vllm
    tensor_parallel_size: int = 1  # vllm
    data_parallel_size: int = 1  # vllm: engines on disjoint GPUs
    max_model_len: int | None = None  # vllm: context length (prompt + budget)
    seed: int = 0
    # once: the token ids of the templated prompt, whose BOS the chat template writes;
    # twice: the engine's tokenizer adds its BOS in front as well (a prompt string given to
    # vLLM, as the authors' evaluation did: two BOS with the R1-Distill tokenizers)
    prompt_bos: str = "once"
    prompt_suffix: str = ""  # appended to every question (e.g. a TokenSkip ratio hint)
    templates: dict[str, str] | None = None  # family -> template text (None: the defaults)
    extra: dict[str, Any] = field(default_factory=dict)  # more engine arguments for vllm

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GenerationSettings:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            raise DataError(f"unknown generation settings {unknown}; known: {sorted(known)}")
        settings = cls(**params)
        if settings.backend == "transformers" and settings.dtype == "auto":
            device = None if settings.device == "auto" else settings.device
            settings = replace(settings, dtype=dtype_name("auto", device))  # in every cache key
        if settings.backend not in ("transformers", "vllm"):
            raise DataError(
                f"generation backend must be transformers or vllm, not {settings.backend!r}"
            )
        if settings.prompt_bos not in PROMPT_BOS:
            raise DataError(f"prompt_bos must be one of {PROMPT_BOS}, not {settings.prompt_bos!r}")
        return settings

    def decoding_key(self) -> dict[str, Any]:
        """The settings that can change generated text (part of every cache key): batch
        composition and device change the numerics of batched greedy decoding."""
        return {"backend": self.backend, "dtype": self.dtype, "seed": self.seed,
                "device": self.device, "batch_size": self.batch_size,
                "tensor_parallel_size": self.tensor_parallel_size,
                "prompt_bos": self.prompt_bos}  # fmt: skip


PROMPT_BOS = ("once", "twice")


def prompt_token_ids(tokenizer: Any, prompts: Sequence[str], prompt_bos: str) -> list[list[int]]:
    """The token ids each engine is given: the templated prompt's own (its BOS included), or
    with the tokenizer's special tokens added in front, as an engine does with a string."""
    encoded = tokenizer(list(prompts), add_special_tokens=prompt_bos == "twice")
    return [list(ids) for ids in encoded["input_ids"]]


# ----------------------------------------------------------------------------------------------
# Results and cache


@dataclass
class Generation:
    task_id: str
    completion: str
    tokens: int
    finish_reason: str  # stop | length
    latency_s: float
    batch_wall_s: float
    batch_size: int


class GenerationCache:
    """The generations of one cell and budget, one file per prompt key (`asap.repro.cache`): the key
    (`Generator.jobs`) covers model, code, decoding settings, prompt and budget, so a file is never
    another run's."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.store = RecordCache(self.directory, required=tuple(Generation.__dataclass_fields__))

    def get(self, task_id: str, key: str) -> Generation | None:
        record = self.store.get(key)
        if record is None or record["task_id"] != task_id:
            return None
        try:
            return Generation(**{k: record[k] for k in Generation.__dataclass_fields__})
        except TypeError:
            return None

    def put(self, generation: Generation, key: str) -> None:
        self.store.put(key, {"key": key, **asdict(generation)})


def apportion(wall_s: float, tokens: Sequence[int]) -> list[float]:
    """A batch's wall time shared in proportion to generated tokens."""
    total = sum(tokens)
    if total <= 0:
        return [wall_s / max(1, len(tokens))] * len(tokens)
    return [wall_s * t / total for t in tokens]


# ----------------------------------------------------------------------------------------------
# Backends


@dataclass
class RawOutput:
    text: str
    tokens: int
    finish_reason: str


class TransformersBackend:
    """Batched greedy decoding with transformers (left padding)."""

    def __init__(self, model_dir: str | Path, settings: GenerationSettings) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.prompt_bos = settings.prompt_bos
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        device = settings.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        torch.manual_seed(settings.seed)
        self.model = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=getattr(torch, settings.dtype)
        ).to(device)
        self.model.eval()
        self.device = device
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            eos_ids.add(self.tokenizer.eos_token_id)
        self.eos_ids = sorted(eos_ids)

    def generate(self, prompts: Sequence[str], budget: int) -> list[RawOutput]:
        torch = self.torch
        ids = prompt_token_ids(self.tokenizer, prompts, self.prompt_bos)
        encoded = self.tokenizer.pad({"input_ids": ids}, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            output = self.model.generate(
                **encoded,
                max_new_tokens=budget,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                eos_token_id=self.eos_ids,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new_tokens = output[:, encoded["input_ids"].shape[1] :].tolist()
        results = []
        for row in new_tokens:
            stop = next((i for i, token in enumerate(row) if token in self.eos_ids), None)
            kept = row if stop is None else row[: stop + 1]
            results.append(
                RawOutput(
                    text=self.tokenizer.decode(kept, skip_special_tokens=True),
                    tokens=len(kept),
                    finish_reason="length" if stop is None else "stop",
                )
            )
        return results


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as err:
        raise RuntimeError(
            "generation backend 'vllm' needs the vllm package (GPU only): install the "
            "project's 'gpu' extra, or set the eval generation backend to 'transformers'"
        ) from err
    return vllm


class VllmBackend:
    """vLLM engine: temperature 0, prefix caching off, tensor parallel within the engine."""

    def __init__(self, model_dir: str | Path, settings: GenerationSettings) -> None:
        vllm = _import_vllm()
        from transformers import AutoTokenizer

        self.vllm = vllm
        self.prompt_bos = settings.prompt_bos
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        engine_args = {
            "model": str(model_dir),
            "dtype": settings.dtype,
            "gpu_memory_utilization": settings.gpu_memory_utilization,
            "tensor_parallel_size": settings.tensor_parallel_size,
            "enable_prefix_caching": False,
            "seed": settings.seed,
            **settings.extra,
        }
        if settings.max_model_len:
            engine_args["max_model_len"] = settings.max_model_len
        self.llm = vllm.LLM(**engine_args)

    def generate(self, prompts: Sequence[str], budget: int) -> list[RawOutput]:
        params = self.vllm.SamplingParams(temperature=0.0, max_tokens=budget)
        ids = prompt_token_ids(self.tokenizer, prompts, self.prompt_bos)
        requests = [{"prompt_token_ids": prompt} for prompt in ids]  # vllm.inputs.TokensPrompt
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        results = []
        for output in outputs:
            best = output.outputs[0]
            reason = "length" if best.finish_reason == "length" else "stop"
            results.append(RawOutput(best.text, len(best.token_ids), reason))
        return results


def load_backend(model_dir: str | Path, settings: GenerationSettings) -> Any:
    if settings.backend == "vllm":
        return VllmBackend(model_dir, settings)
    return TransformersBackend(model_dir, settings)


# ----------------------------------------------------------------------------------------------
# Driver


@dataclass
class Job:
    task_id: str
    prompt: str
    key: str
    length: int  # prompt tokens, for batching


def plan_batches(jobs: Sequence[Job], batch_size: int) -> list[list[Job]]:
    """Fixed batches over all jobs: by prompt length, then original order."""
    order = sorted(range(len(jobs)), key=lambda i: (jobs[i].length, i))
    ordered = [jobs[i] for i in order]
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), max(1, batch_size))]


class Generator:
    """Prompts, cache look-ups and batched generation for one model.

    The engine is loaded only when some batch has to be generated, so a fully cached rerun
    needs the tokenizer alone."""

    def __init__(
        self,
        model_dir: str | Path,
        settings: GenerationSettings,
        fingerprint_memo: str | Path | None = None,
    ) -> None:
        from transformers import AutoTokenizer

        self.model_dir = Path(model_dir)
        self.settings = settings
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        # what a generation depends on besides its prompt and budget; the code is the closure of
        # this module (grading code changes no generation, so it does not void them)
        self.identity = {
            "model": model_digest(model_dir, fingerprint_memo),
            "code": code_fingerprint(["asap.eval.generation"]),
            "decoding": settings.decoding_key(),
        }
        self._backend: Any = None

    @property
    def backend(self) -> Any:
        if self._backend is None:
            self._backend = load_backend(self.model_dir, self.settings)
        return self._backend

    def jobs(self, problems: Sequence[dict[str, Any]], budget: int) -> list[Job]:
        jobs = []
        for problem in problems:
            question = question_text(problem, self.settings.templates)
            question += self.settings.prompt_suffix
            prompt = build_prompt(self.tokenizer, question)
            key = record_key(self.identity, {"prompt": prompt, "budget": budget})
            length = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
            jobs.append(Job(problem["task_id"], prompt, key, length))
        return jobs

    def missing(
        self, problems: Sequence[dict[str, Any]], budget: int, cache: GenerationCache
    ) -> int:
        return sum(cache.get(j.task_id, j.key) is None for j in self.jobs(problems, budget))

    def generate(
        self,
        problems: Sequence[dict[str, Any]],
        budget: int,
        cache: GenerationCache,
        log: Any = None,
    ) -> list[Generation]:
        """Generations for `problems` (in their order), reusing and filling `cache`."""
        jobs = self.jobs(problems, budget)
        done = {job.task_id: cache.get(job.task_id, job.key) for job in jobs}
        batches = plan_batches(jobs, self.settings.batch_size)
        for number, batch in enumerate(batches, start=1):
            if all(done[job.task_id] is not None for job in batch):
                continue
            started = time.perf_counter()
            outputs = self.backend.generate([job.prompt for job in batch], budget)
            wall = time.perf_counter() - started
            shares = apportion(wall, [out.tokens for out in outputs])
            for job, out, share in zip(batch, outputs, shares, strict=True):
                if done[job.task_id] is not None:
                    continue
                generation = Generation(
                    task_id=job.task_id,
                    completion=out.text,
                    tokens=out.tokens,
                    finish_reason=out.finish_reason,
                    latency_s=round(share, 6),
                    batch_wall_s=round(wall, 6),
                    batch_size=len(batch),
                )
                cache.put(generation, job.key)
                done[job.task_id] = generation
            if log is not None:
                log(f"batch {number}/{len(batches)}: {len(batch)} prompts in {wall:.1f}s")
        return [done[job.task_id] for job in jobs]  # type: ignore[misc]


def _vllm_shard(
    model_dir: str, settings: GenerationSettings, devices: list[int],
    problems: list[dict[str, Any]], runs: list[tuple[int, str]],
) -> None:  # fmt: skip
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(d) for d in devices)
    generator = Generator(model_dir, settings)
    for budget, cache_dir in runs:
        generator.generate(problems, budget, GenerationCache(cache_dir))


def fill_data_parallel(
    model_dir: str | Path,
    problems: Sequence[dict[str, Any]],
    runs: Sequence[tuple[int, str | Path]],
    settings: GenerationSettings,
) -> None:
    """Fill the caches of `runs` ((budget, cache dir) pairs) with `data_parallel_size` vLLM
    engines, each on its own `tensor_parallel_size` GPUs and a strided share of the problems.
    `Generator.generate` then reads every result from the caches."""
    import multiprocessing

    size, tp = settings.data_parallel_size, settings.tensor_parallel_size
    context = multiprocessing.get_context("spawn")
    workers = []
    for rank in range(size):
        devices = list(range(rank * tp, (rank + 1) * tp))
        shard = list(problems[rank::size])
        cache_runs = [(budget, str(directory)) for budget, directory in runs]
        worker = context.Process(
            target=_vllm_shard, args=(str(model_dir), settings, devices, shard, cache_runs)
        )
        worker.start()
        workers.append(worker)
    for worker in workers:
        worker.join()
    failed = [rank for rank, worker in enumerate(workers) if worker.exitcode != 0]
    if failed:
        raise RuntimeError(f"vLLM data-parallel ranks {failed} failed")
