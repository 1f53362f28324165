"""Supervised fine-tuning of the reasoning model on one method's SFT dataset (appendix A).

Formatting. The question is the user turn and the response is
`<think>\\n{cot}\\n</think>\\n{answer}`, closed the way the model's chat template closes an
assistant turn. The prompt is the template rendered with `add_generation_prompt=True`: exactly
what the model is given at inference. The response is appended as text instead of being rendered
as an assistant message, because the DeepSeek-R1 templates cut everything up to `</think>` out
of assistant messages; those templates also open `<think>\\n` in the generation prompt, and the
response then continues after it.

Tokenization. Prompt and completion are tokenized separately and concatenated, so the prompt
tokens are exactly the tokenization of the templated prompt. `completion_mask` marks the
completion; the trainer (TRL `completion_only_loss`) gives every prompt token the label -100.
Records longer than `max_seq_length` are filtered and reported, never truncated.

Per-record prompt hook. A record may carry `prompt_suffix` (appended verbatim to the question in
the user turn; TokenSkip writes its ratio there). Code may instead pass `user_content`, a function
record -> user-turn text.

Training. TRL `SFTTrainer` (backend `trl`, CPU or GPU) or Unsloth's full fine-tuning (backend
`unsloth`, GPU only, optional). Every `SFTConfig` setting comes from `params["training"]`.
Checkpoints go to a separate directory; a rerun resumes from the newest complete checkpoint of
the same run (same params, data and base model, see `run_fingerprint`) and on CPU ends with the
same weights as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asap.model.base import forget_load_options
from asap.model.digest import model_digest
from asap.report.run_label import add_run_note
from asap.repro.io import (
    DataError,
    atomic_path,
    dumps_stable,
    replace_dir,
    staging_path,
    write_json,
)
from asap.repro.precision import native_bf16

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, TrainerCallback
    from trl import SFTConfig, SFTTrainer

THINK_OPEN = "<think>\n"
_SENTINEL = "ASAP-SFT-RESPONSE-SENTINEL"
# SFTConfig fields this module sets itself; params may not override them.
MANAGED_FIELDS = frozenset(
    {
        "output_dir",
        "max_length",
        "completion_only_loss",
        "packing",
        "report_to",
        "use_cpu",
        "save_strategy",
        "dataset_kwargs",
        "assistant_only_loss",
    }
)
# Training settings that change neither the data order nor the weights (left out of the
# checkpoint fingerprint, so changing them keeps the checkpoints usable).
_FINGERPRINT_EXEMPT = frozenset({"save_steps", "save_total_limit", "logging_steps", "disable_tqdm"})
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
FINGERPRINT_FILE = "fingerprint.json"
TRAINING_ARGS_FILE = "training_args.bin"  # written by Trainer.save_model
TIMINGS_FILE = "timings.json"  # step wall times; a `timings.*` file holds measurements only

UserContent = Callable[[dict[str, Any]], str]


# ---- formatting and tokenization ----


def format_response(cot: str, answer: str) -> str:
    """The SFT target: `<think>\\n{cot}\\n</think>\\n{answer}`."""
    return f"{THINK_OPEN}{cot}\n</think>\n{answer}"


def default_user_content(record: dict[str, Any]) -> str:
    """The user turn: the question, then the record's optional `prompt_suffix`."""
    return record["question"] + record.get("prompt_suffix", "")


def render_prompt(tokenizer: PreTrainedTokenizerBase, user_content: str) -> str:
    """The chat-templated prompt, assistant header (generation prompt) included."""
    messages = [{"role": "user", "content": user_content}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def end_of_turn(tokenizer: PreTrainedTokenizerBase) -> str:
    """The text the chat template writes after an assistant message's content.

    Falls back to the EOS token when the template closes the turn with nothing.
    """
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": _SENTINEL}]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    if _SENTINEL not in rendered:
        raise DataError("the chat template does not render assistant message content")
    closing = rendered.split(_SENTINEL, 1)[1]
    return closing or (tokenizer.eos_token or "")


def completion_text(prompt: str, cot: str, answer: str, closing: str) -> str:
    """The response text that follows `prompt`, without the think opener the prompt already has."""
    response = format_response(cot, answer)
    for opener in (THINK_OPEN, THINK_OPEN.rstrip("\n")):
        if prompt.endswith(opener):
            response = response[len(opener) :]
            break
    return response + closing


@dataclass(frozen=True)
class Example:
    """One tokenized training example; completion_mask is 1 on the tokens that carry loss."""

    id: str
    input_ids: list[int]
    completion_mask: list[int]

    @property
    def prompt_tokens(self) -> int:
        return len(self.input_ids) - sum(self.completion_mask)

    @property
    def completion_tokens(self) -> int:
        return sum(self.completion_mask)


def tokenize_record(
    tokenizer: PreTrainedTokenizerBase,
    record: dict[str, Any],
    closing: str,
    user_content: UserContent = default_user_content,
) -> Example:
    prompt = render_prompt(tokenizer, user_content(record))
    completion = completion_text(prompt, record["cot"], record["answer"], closing)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    return Example(
        id=record["id"],
        input_ids=prompt_ids + completion_ids,
        completion_mask=[0] * len(prompt_ids) + [1] * len(completion_ids),
    )


@dataclass
class PreparedData:
    """Examples within `max_seq_length`, and the records filtered out (id -> tokens)."""

    examples: list[Example]
    filtered: dict[str, int] = field(default_factory=dict)
    max_seq_length: int = 0

    def stats(self) -> dict[str, Any]:
        def mean(values: Sequence[int]) -> float:
            return round(statistics.fmean(values), 2) if values else 0.0

        return {
            "records": len(self.examples) + len(self.filtered),
            "records_trained": len(self.examples),
            "records_filtered": len(self.filtered),
            "filtered": dict(sorted(self.filtered.items())),
            "max_seq_length": self.max_seq_length,
            "tokens_per_sample": mean([len(e.input_ids) for e in self.examples]),
            "prompt_tokens_per_sample": mean([e.prompt_tokens for e in self.examples]),
            "completion_tokens_per_sample": mean([e.completion_tokens for e in self.examples]),
            "max_tokens": max((len(e.input_ids) for e in self.examples), default=0),
        }

    def digest(self) -> str:
        """sha256 of the token ids and masks, in order."""
        digest = hashlib.sha256()
        for example in self.examples:
            digest.update(
                json.dumps([example.id, example.input_ids, example.completion_mask]).encode()
            )
        return digest.hexdigest()


def prepare_examples(
    tokenizer: PreTrainedTokenizerBase,
    records: Iterable[dict[str, Any]],
    max_seq_length: int,
    user_content: UserContent = default_user_content,
) -> PreparedData:
    """Tokenize records in order; those over `max_seq_length` tokens are filtered, not cut."""
    closing = end_of_turn(tokenizer)
    prepared = PreparedData(examples=[], max_seq_length=max_seq_length)
    for record in records:
        example = tokenize_record(tokenizer, record, closing, user_content)
        if len(example.input_ids) > max_seq_length:
            prepared.filtered[example.id] = len(example.input_ids)
        else:
            prepared.examples.append(example)
    return prepared


# ---- checkpoints ----


def _has_weights(path: Path) -> bool:
    index = path / "model.safetensors.index.json"
    if index.exists():
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        except (json.JSONDecodeError, KeyError):
            return False
        return all((path / shard).exists() for shard in shards)
    return (
        (path / "model.safetensors").exists()
        or (path / "pytorch_model.bin").exists()
        or any(path.glob("pytorch_model_fsdp*"))  # FSDP sharded state dict
        or any(path.glob("global_step*"))  # DeepSpeed
    )


def _has_optimizer(path: Path) -> bool:
    return (
        (path / "optimizer.pt").exists()
        or (path / "optimizer.bin").exists()  # FSDP full state dict
        or any(path.glob("optimizer_*"))  # FSDP sharded optimizer
        or any(path.glob("global_step*"))  # DeepSpeed keeps it with the weights
    )


def _has_scheduler(path: Path) -> bool:
    return (path / "scheduler.pt").exists() or any(path.glob("global_step*"))


def is_complete_checkpoint(path: Path) -> bool:
    """A Trainer checkpoint that was written to the end.

    The Trainer writes weights, optimizer, scheduler and RNG state first and trainer_state.json
    last: a checkpoint is complete when that file parses, names the directory's step, and the
    weights and optimizer/scheduler state are present.
    """
    match = _CHECKPOINT_RE.match(path.name)
    if match is None or not path.is_dir():
        return False
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    if state.get("global_step") != int(match.group(1)):
        return False
    return _has_weights(path) and _has_optimizer(path) and _has_scheduler(path)


def _checkpoints(checkpoint_dir: Path) -> list[Path]:
    if not checkpoint_dir.is_dir():
        return []
    found = [p for p in checkpoint_dir.iterdir() if _CHECKPOINT_RE.match(p.name) and p.is_dir()]
    return sorted(found, key=lambda p: int(_CHECKPOINT_RE.match(p.name).group(1)))  # type: ignore[union-attr]


def latest_complete_checkpoint(checkpoint_dir: Path) -> Path | None:
    complete = [p for p in _checkpoints(checkpoint_dir) if is_complete_checkpoint(p)]
    return complete[-1] if complete else None


def prepare_checkpoint_dir(checkpoint_dir: Path, fingerprint: str) -> Path | None:
    """Keep the checkpoints of the same run only; return the one to resume from, if any.

    Incomplete checkpoints (a run killed while saving) are deleted; so are all checkpoints when
    the stored fingerprint differs (other params, data or base model).
    """
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    stamp = checkpoint_dir / FINGERPRINT_FILE
    stored = None
    if stamp.exists():
        try:
            stored = json.loads(stamp.read_text(encoding="utf-8")).get("fingerprint")
        except json.JSONDecodeError:
            stored = None
    for path in _checkpoints(checkpoint_dir):
        if stored != fingerprint or not is_complete_checkpoint(path):
            shutil.rmtree(path)
    if stored != fingerprint:
        (checkpoint_dir / TIMINGS_FILE).unlink(missing_ok=True)
    write_json(stamp, {"fingerprint": fingerprint})
    return latest_complete_checkpoint(checkpoint_dir)


def remove_checkpoints(checkpoint_dir: Path) -> None:
    """Delete every checkpoint, the step timings kept for resuming and the trainer's model card
    (its tags come from a set: their order changes between runs); the run's fingerprint stays.
    Weights and optimizer states take 16 bytes per parameter each."""
    for path in _checkpoints(checkpoint_dir):
        shutil.rmtree(path)
    (checkpoint_dir / TIMINGS_FILE).unlink(missing_ok=True)
    (checkpoint_dir / "README.md").unlink(missing_ok=True)


def run_fingerprint(params: dict[str, Any], data_digest: str, base_digest: str) -> str:
    relevant = {k: v for k, v in params.items() if k != "training"}
    relevant["training"] = {
        k: v for k, v in params["training"].items() if k not in _FINGERPRINT_EXEMPT
    }
    blob = dumps_stable({"params": relevant, "data": data_digest, "model": base_digest})
    return hashlib.sha256(blob.encode()).hexdigest()


# ---- trainer ----


def _use_cpu(device: str) -> bool:
    import torch

    if device == "auto":
        return not torch.cuda.is_available()
    if device not in ("cpu", "cuda"):
        raise DataError(f"params sft.device: expected auto, cpu or cuda, got {device!r}")
    return device == "cpu"


def per_process_accumulation(training: dict[str, Any], num_processes: int) -> int:
    """Gradient accumulation steps per process that keep the configured effective batch.

    `training.gradient_accumulation_steps` is read as the accumulation of the whole run (the
    paper: batch 1 x accumulation 16 = 16 sequences per optimizer step), so with N processes
    each process accumulates 16 / N. An N that does not divide it is refused.
    """
    total = int(training.get("gradient_accumulation_steps", 1))
    if num_processes < 1:
        raise DataError(f"params sft.num_processes: expected >= 1, got {num_processes}")
    if total % num_processes:
        raise DataError(
            f"params sft.num_processes={num_processes} does not divide "
            f"sft.training.gradient_accumulation_steps={total}: the effective batch "
            f"(per_device_train_batch_size x {total}) cannot be kept"
        )
    return total // num_processes


def sft_config(params: dict[str, Any], checkpoint_dir: Path) -> SFTConfig:
    """SFTConfig from `params["training"]` plus the settings this module manages.

    The effective batch stays that of the params whatever `num_processes` is
    (`per_process_accumulation`).
    """
    from trl import SFTConfig

    training = dict(params["training"])
    clash = sorted(MANAGED_FIELDS & training.keys())
    if clash:
        raise DataError(f"params sft.training: {clash} are set by the sft stage itself")
    training["gradient_accumulation_steps"] = per_process_accumulation(
        training, int(params.get("num_processes", 1))
    )
    use_cpu = _use_cpu(params.get("device", "auto"))
    if training.get("bf16") == "auto":  # bf16 autocast where computed natively
        training["bf16"] = native_bf16("cpu" if use_cpu else "cuda")
    if training.get("activation_checkpointing") == "auto":
        # float32 activations take twice the memory of bf16 ones: recompute them instead
        training["activation_checkpointing"] = not training.get("bf16")
    if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        # FSDP checkpoints activations itself (fsdp_activation_checkpointing in the config).
        training.pop("gradient_checkpointing", None)
        training["activation_checkpointing"] = False
    return SFTConfig(
        output_dir=str(checkpoint_dir),
        max_length=None,  # records over max_seq_length are filtered beforehand
        completion_only_loss=True,
        assistant_only_loss=False,
        packing=False,
        report_to="none",
        save_strategy="steps",
        use_cpu=use_cpu,
        **training,
    )


def load_model(model_dir: Path, params: dict[str, Any]) -> tuple[Any, PreTrainedTokenizerBase]:
    """Model and tokenizer for the configured backend (`trl` or `unsloth`)."""
    import torch

    dtype = getattr(torch, params["model_dtype"])
    backend = params.get("backend", "trl")
    if backend == "trl":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=dtype, attn_implementation=params.get("attn_implementation")
        )
        return model, AutoTokenizer.from_pretrained(model_dir)
    if backend == "unsloth":
        return _load_unsloth(model_dir, params, dtype)
    raise DataError(f"params sft.backend: expected trl or unsloth, got {backend!r}")


def _load_unsloth(model_dir: Path, params: dict[str, Any], dtype: Any) -> tuple[Any, Any]:
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("sft.backend 'unsloth' needs a CUDA GPU; use backend 'trl' on CPU")
    try:
        from unsloth import FastLanguageModel
    except ImportError as err:
        raise RuntimeError(
            "sft.backend 'unsloth' needs the optional GPU extra: pip install -e '.[gpu]'"
        ) from err
    return FastLanguageModel.from_pretrained(
        model_name=str(model_dir),
        max_seq_length=params["max_seq_length"],
        dtype=dtype,
        load_in_4bit=False,
        load_in_8bit=False,
        full_finetuning=True,
    )


def build_trainer(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    args: SFTConfig,
    callbacks: Sequence[TrainerCallback] = (),
) -> SFTTrainer:
    """SFTTrainer over pre-tokenized examples (`input_ids` + `completion_mask`)."""
    from datasets import Dataset
    from trl import SFTTrainer

    dataset = Dataset.from_list(
        [{"input_ids": e.input_ids, "completion_mask": e.completion_mask} for e in examples]
    )
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=list(callbacks),
    )


class StepTimer:
    """Trainer callback: the wall time of every optimizer step, by global step.

    With `path` (a `timings.json` in the checkpoint directory) the times are also kept on disk,
    so a resumed run reports the steps of the killed run it continues too.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.seconds: dict[int, float] = {}
        self.steps_run_here = 0
        self._start: float | None = None

    def load(self, up_to_step: int) -> None:
        """Take over the times that earlier runs recorded for steps 1..up_to_step."""
        if self.path is None or not self.path.exists():
            return
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return
        self.seconds = {int(k): float(v) for k, v in stored.items() if int(k) <= up_to_step}

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._start = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._start is None:
            return
        self.seconds[int(state.global_step)] = time.perf_counter() - self._start
        self.steps_run_here += 1
        self._start = None
        if self.path is not None:
            write_json(self.path, {str(k): round(v, 4) for k, v in sorted(self.seconds.items())})

    def as_callback(self) -> TrainerCallback:
        from transformers import TrainerCallback

        timer = self

        class _StepTimerCallback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
                timer.on_step_begin(args, state, control)

            def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
                timer.on_step_end(args, state, control)

        return _StepTimerCallback()

    def summary(self) -> dict[str, Any]:
        times = [self.seconds[step] for step in sorted(self.seconds)]
        first = self.seconds.get(1)
        return {
            "seconds_per_step": round(statistics.fmean(times), 4) if times else None,
            "seconds_per_step_median": round(statistics.median(times), 4) if times else None,
            "first_step_s": round(first, 4) if first is not None else None,
            "timed_steps": len(times),
            "steps_run_here": self.steps_run_here,
        }


def save_final_model(trainer: SFTTrainer, out_dir: Path) -> None:
    """Save weights, tokenizer and chat template into a staging folder, then rename it."""
    out_dir = Path(out_dir)
    staging = staging_path(out_dir)
    if trainer.is_world_process_zero() and staging.exists():
        shutil.rmtree(staging)
    trainer.accelerator.wait_for_everyone()
    forget_load_options(trainer.processing_class)  # the folder's hash must not follow the env
    trainer.save_model(str(staging))  # every rank: FSDP/ZeRO gather the full state dict
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        # the trainer's pickled arguments name this run's checkpoint folder: the model folder
        # keeps only the model, so identical runs give identical folders whatever the method
        (staging / TRAINING_ARGS_FILE).unlink(missing_ok=True)
        replace_dir(staging, out_dir)
    trainer.accelerator.wait_for_everyone()


def loss_history(log_history: Iterable[dict[str, Any]]) -> list[dict[str, float]]:
    """[{step, loss}] of the per-step training logs."""
    return [
        {"step": int(entry["step"]), "loss": float(entry["loss"])}
        for entry in log_history
        if "loss" in entry and "step" in entry
    ]


def plot_loss(
    history: Sequence[dict[str, float]], path: Path, title: str, note: str | None = None
) -> None:
    """Training-loss curve as PNG (matplotlib Agg), written atomically; `note` (the run label)
    under it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.plot([h["step"] for h in history], [h["loss"] for h in history], marker="o", ms=3)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    add_run_note(fig, note, width=80)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


@dataclass
class SFTRun:
    """What a training run produced: the deterministic report and the wall-time figures."""

    report: dict[str, Any]
    timing: dict[str, Any]
    history: list[dict[str, float]]
    is_main_process: bool
    fingerprint: str  # run_fingerprint: params, tokenized examples and base model


def prepare_run(
    model_dir: Path,
    records: Sequence[dict[str, Any]],
    params: dict[str, Any],
    user_content: UserContent = default_user_content,
) -> tuple[PreparedData, str]:
    """The examples a run trains on, and the run's fingerprint (`run_fingerprint`)."""
    from transformers import AutoTokenizer

    if not records:
        raise DataError("no SFT records to train on (an empty dataset: was the method run?)")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    prepared = prepare_examples(tokenizer, records, params["max_seq_length"], user_content)
    if not prepared.examples:
        shortest = min(prepared.filtered.values())
        raise DataError(
            f"all {len(prepared.filtered)} records exceed max_seq_length "
            f"{params['max_seq_length']} tokens (the shortest has {shortest})"
        )
    return prepared, run_fingerprint(params, prepared.digest(), model_digest(model_dir))


def train_sft(
    model_dir: Path,
    records: Sequence[dict[str, Any]],
    params: dict[str, Any],
    out_dir: Path,
    checkpoint_dir: Path,
    *,
    user_content: UserContent = default_user_content,
    callbacks: Sequence[TrainerCallback] = (),
    prepared_run: tuple[PreparedData, str] | None = None,
) -> SFTRun:
    """Fine-tune the model in `model_dir` on `records`; save the result to `out_dir`.

    Resumes from the newest complete checkpoint of the same run in `checkpoint_dir`.
    `prepared_run`: what `prepare_run` gave for these arguments, when the caller has it.
    """
    import torch

    model_dir, out_dir, checkpoint_dir = Path(model_dir), Path(out_dir), Path(checkpoint_dir)
    prepared, fingerprint = prepared_run or prepare_run(model_dir, records, params, user_content)

    model, backend_tokenizer = load_model(model_dir, params)
    timer = StepTimer()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    threads_before = torch.get_num_threads()
    if params.get("torch_num_threads"):
        torch.set_num_threads(int(params["torch_num_threads"]))
    threads_used = torch.get_num_threads()
    try:
        args = sft_config(params, checkpoint_dir)
        trainer = build_trainer(
            model,
            backend_tokenizer,
            prepared.examples,
            args,
            [timer.as_callback(), *callbacks],
        )
        if trainer.is_world_process_zero():
            prepare_checkpoint_dir(checkpoint_dir, fingerprint)
            timer.path = checkpoint_dir / TIMINGS_FILE
        trainer.accelerator.wait_for_everyone()
        resume = latest_complete_checkpoint(checkpoint_dir)
        timer.load(int(resume.name.split("-")[1]) if resume else 0)
        started = time.perf_counter()
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        runtime = time.perf_counter() - started
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
        torch.set_num_threads(threads_before)
    save_final_model(trainer, out_dir)

    history = loss_history(trainer.state.log_history)
    state = trainer.state
    report = {
        "status": "ok",
        "backend": params.get("backend", "trl"),
        "steps": state.global_step,
        "epochs": round(float(state.epoch or 0.0), 4),
        "bf16": bool(args.bf16),  # autocast precision (`auto` resolved for this machine)
        "activation_checkpointing": bool(args.activation_checkpointing),
        "effective_batch_size": args.per_device_train_batch_size
        * args.gradient_accumulation_steps
        * max(1, args.world_size),
        "final_loss": history[-1]["loss"] if history else None,
        "loss_history": history,
        **prepared.stats(),
    }
    timing = {
        **timer.summary(),
        "train_runtime_s": round(runtime, 2),
        "resumed_from_step": int(resume.name.split("-")[1]) if resume else 0,
        "device": str(args.device),
        "num_processes": max(1, args.world_size),
        "torch_num_threads": threads_used,
    }
    if not params.get("keep_checkpoints", False) and trainer.is_world_process_zero():
        remove_checkpoints(checkpoint_dir)  # the final model is saved: nothing left to resume
    return SFTRun(report, timing, history, trainer.is_world_process_zero(), fingerprint)
