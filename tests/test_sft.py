"""SFT stage: formatting, label masking on the collated batch, filtering, training, resume."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from asap.data.sft import common_record_ids, restrict_to, sft_record, validate_sft_records
from asap.model.digest import model_digest
from asap.repro.io import DataError, read_json, write_jsonl
from asap.train.sft import (
    Example,
    build_trainer,
    completion_text,
    end_of_turn,
    is_complete_checkpoint,
    latest_complete_checkpoint,
    load_model,
    per_process_accumulation,
    prepare_checkpoint_dir,
    prepare_examples,
    render_prompt,
    sft_config,
    tokenize_record,
    train_sft,
)
from tests.dvc_repos import STAGE_S

# The user/assistant part of the DeepSeek-R1-Distill chat template (tool branches left out):
# assistant content is cut to what follows </think>, and the generation prompt opens <think>.
DEEPSEEK_R1_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}"
    "{% set add_generation_prompt = false %}{% endif %}"
    "{{ bos_token }}{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' %}{% set content = message['content'] %}"
    "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}"
    "{%- endfor %}{% if add_generation_prompt %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)


def make_records(n: int, words: int = 6, method: str = "original") -> list[dict[str, Any]]:
    """Short, similar records: the model can visibly fit them in a few steps."""
    records = []
    for i in range(n):
        cot = " ".join(["We add the two numbers and print the sum."] * words)
        records.append(
            {
                "id": f"p{i}",
                "question": f"Read two integers and print their sum. Example {i}: {i} {i + 1}.",
                "cot": cot,
                "answer": "```python\na, b = map(int, input().split())\nprint(a + b)\n```",
                "method": method,
            }
        )
    return records


def train_params(**training: Any) -> dict[str, Any]:
    base = {
        # float32: on CPUs without native bf16 autocast is emulated and many times slower, and
        # no property tested here depends on the precision (tests/test_precision.py covers the
        # choice; the CUDA test trains in bf16)
        "bf16": False,
        "max_steps": 3,
        "per_device_train_batch_size": 1,
        "gradient_accumulation_steps": 1,
        "optim": "adamw_torch",
        "learning_rate": 1.0e-4,
        "lr_scheduler_type": "cosine_with_min_lr",
        "lr_scheduler_kwargs": {"min_lr_rate": 0.1},
        "warmup_steps": 0,
        "max_grad_norm": 0.2,
        "weight_decay": 0.0,
        "seed": 42,
        "activation_checkpointing": False,
        "full_determinism": True,
        "save_steps": 2,
        "save_total_limit": 1,
        "logging_steps": 1,
        "disable_tqdm": True,
    }
    base.update(training)
    return {
        "model": "models/base",
        "backend": "trl",
        "device": "cpu",
        "model_dtype": "float32",
        "attn_implementation": "sdpa",
        "torch_num_threads": 1,
        "max_seq_length": 512,
        "training": base,
    }


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine OpenMP threads that spin-wait for a busy
    core make a training step many times slower; one thread keeps these tests fast anywhere."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer(base_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_model_dir)


def _ids(encoded: Any) -> list[int]:
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


# ---- formatting ----


def test_prompt_tokens_are_the_templated_prompt(tokenizer) -> None:
    record = make_records(1)[0]
    example = tokenize_record(tokenizer, record, end_of_turn(tokenizer))
    messages = [{"role": "user", "content": record["question"]}]
    expected = _ids(
        tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    )
    assert example.input_ids[: example.prompt_tokens] == expected
    assert tokenizer.decode(example.input_ids[: example.prompt_tokens]).endswith(
        "<|im_start|>assistant\n"
    )
    completion = tokenizer.decode(example.input_ids[example.prompt_tokens :])
    assert completion == (f"<think>\n{record['cot']}\n</think>\n{record['answer']}<|im_end|>\n")


def test_deepseek_r1_template_keeps_the_cot(tokenizer) -> None:
    deepseek = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    deepseek.chat_template = DEEPSEEK_R1_TEMPLATE
    record = make_records(1)[0]
    prompt = render_prompt(deepseek, record["question"])
    assert prompt.endswith("<｜User｜>" + record["question"] + "<｜Assistant｜><think>\n")
    closing = end_of_turn(deepseek)
    assert closing == "<｜end▁of▁sentence｜>"
    completion = completion_text(prompt, record["cot"], record["answer"], closing)
    assert completion == f"{record['cot']}\n</think>\n{record['answer']}<｜end▁of▁sentence｜>"
    example = tokenize_record(deepseek, record, closing)
    text = deepseek.decode(example.input_ids)
    assert text.count("<think>") == 1 and record["cot"] in text


def test_prompt_suffix_and_user_content_hook(tokenizer) -> None:
    closing = end_of_turn(tokenizer)
    record = {**make_records(1)[0], "prompt_suffix": "\n<|reserved|>0.5"}
    with_suffix = tokenize_record(tokenizer, record, closing)
    assert record["question"] + "\n<|reserved|>0.5" in tokenizer.decode(with_suffix.input_ids)
    hooked = tokenize_record(tokenizer, record, closing, user_content=lambda r: "RATIO " + r["id"])
    assert "RATIO p0<|im_end|>" in tokenizer.decode(hooked.input_ids)
    assert hooked.completion_tokens == with_suffix.completion_tokens


def test_long_records_are_filtered_and_counted(tokenizer) -> None:
    records = make_records(2, words=2) + [
        {**r, "id": f"long{i}"} for i, r in enumerate(make_records(3, words=40))
    ]
    lengths = {
        r["id"]: len(tokenize_record(tokenizer, r, end_of_turn(tokenizer)).input_ids)
        for r in records
    }
    limit = max(lengths["p0"], lengths["p1"])
    prepared = prepare_examples(tokenizer, records, limit)
    stats = prepared.stats()
    assert stats["records"] == 5 and stats["records_trained"] == 2
    assert stats["records_filtered"] == 3
    assert stats["filtered"] == {f"long{i}": lengths[f"long{i}"] for i in range(3)}
    assert [len(e.input_ids) for e in prepared.examples] == [lengths["p0"], lengths["p1"]]
    assert stats["tokens_per_sample"] == (lengths["p0"] + lengths["p1"]) / 2


def test_all_records_filtered_is_an_error(base_model_dir: Path, tmp_path: Path) -> None:
    params = train_params()
    params["max_seq_length"] = 8
    with pytest.raises(DataError, match="all 2 records exceed max_seq_length 8"):
        train_sft(base_model_dir, make_records(2), params, tmp_path / "m", tmp_path / "c")


@pytest.mark.parametrize(("processes", "per_process"), [(1, 16), (2, 8), (4, 4), (16, 1)])
def test_effective_batch_is_kept_for_any_process_count(processes: int, per_process: int) -> None:
    training = {"per_device_train_batch_size": 1, "gradient_accumulation_steps": 16}
    assert per_process_accumulation(training, processes) == per_process
    config = sft_config(
        {"training": training, "num_processes": processes, "device": "cpu"}, Path("unused")
    )
    assert config.gradient_accumulation_steps * processes == 16


@pytest.mark.parametrize("processes", [3, 5, 32, 0])
def test_a_process_count_that_breaks_the_effective_batch_is_refused(processes: int) -> None:
    with pytest.raises(DataError, match="num_processes"):
        per_process_accumulation({"gradient_accumulation_steps": 16}, processes)


def test_sft_record_schema() -> None:
    train = [
        {
            "id": "1/A",
            "question": "q",
            "generation": "g",
            "cot": "c",
            "answer": "a",
            "code": "x",
            "source": "s",
            "meta": {"k": "v"},
        }
    ]
    records = [sft_record(r, "original", r["cot"]) for r in train]
    assert records == [
        {
            "id": "1/A",
            "question": "q",
            "cot": "c",
            "answer": "a",
            "method": "original",
            "code": "x",
            "source": "s",
            "meta": {"k": "v"},
        }
    ]
    validate_sft_records(records, "sft.jsonl", "original")
    skip = sft_record(train[0], "tokenskip", "c", prompt_suffix="\n0.5", tokenskip_ratio=0.5)
    assert skip["prompt_suffix"] == "\n0.5" and skip["tokenskip_ratio"] == 0.5
    validate_sft_records([skip], "sft.jsonl", "tokenskip")
    with pytest.raises(DataError, match=r"sft.jsonl: record 2 \(id '1/A'\): duplicate id"):
        validate_sft_records(records * 2, "sft.jsonl")
    with pytest.raises(DataError, match=r"record 1 .*: empty cot"):
        validate_sft_records([{**records[0], "cot": " "}], "sft.jsonl")
    with pytest.raises(DataError, match="method 'original', expected 'asap'"):
        validate_sft_records(records, "sft.jsonl", "asap")
    with pytest.raises(DataError, match="field 'answer' missing"):
        validate_sft_records([{k: v for k, v in records[0].items() if k != "answer"}], "f")


def test_unsloth_backend_fails_clearly_without_gpu(base_model_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        load_model(base_model_dir, {**train_params(), "backend": "unsloth"})


# ---- the trainer's batches ----


def test_collated_batch_masks_exactly_the_prompt(
    tokenizer, base_model_dir: Path, tmp_path: Path
) -> None:
    params = train_params(per_device_train_batch_size=3)
    records = make_records(1, words=1) + make_records(2, words=4)[1:] + make_records(3)[2:]
    prepared = prepare_examples(tokenizer, records, 512)
    model, tok = load_model(base_model_dir, params)
    trainer = build_trainer(model, tok, prepared.examples, sft_config(params, tmp_path))
    batch = next(iter(trainer.get_train_dataloader()))
    by_ids = {tuple(e.input_ids): e for e in prepared.examples}
    assert batch["input_ids"].shape[0] == 3
    for input_ids, labels, attention in zip(
        batch["input_ids"].tolist(),
        batch["labels"].tolist(),
        batch["attention_mask"].tolist(),
        strict=True,
    ):
        length = sum(attention)
        example: Example = by_ids[tuple(input_ids[:length])]
        prompt = example.prompt_tokens
        assert labels[:prompt] == [-100] * prompt
        assert labels[prompt:length] == input_ids[prompt:length]
        assert labels[length:] == [-100] * (len(labels) - length)  # padding
        prompt_text = render_prompt(
            tokenizer, next(r["question"] for r in records if r["id"] == example.id)
        )
        assert input_ids[:prompt] == tokenizer(prompt_text, add_special_tokens=False)["input_ids"]


# ---- training and resume ----


class _Crash(RuntimeError):
    pass


def _crash_after_save(step: int):
    from transformers import TrainerCallback

    class CrashAfterSave(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if state.global_step == step:
                raise _Crash(f"killed after saving step {step}")

    return CrashAfterSave()


def _weights(model_dir: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(model_dir / "model.safetensors")


def test_loss_falls_and_a_killed_run_resumes_to_the_same_weights(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """On a tiny random model: resuming is the Trainer's and the checkpoint rule's property,
    and a loss falling on near-identical records needs no pretrained weights (a larger step
    size makes the fall certain at this scale)."""
    import torch

    records = make_records(2)
    params = train_params(max_steps=2, save_steps=1, learning_rate=1.0e-2)

    straight = train_sft(
        tiny_model_dir, records, params, tmp_path / "straight", tmp_path / "ckpt-straight"
    )
    losses = [h["loss"] for h in straight.history]
    assert len(losses) == 2 and losses[1] < losses[0]
    assert straight.report["steps"] == 2 and straight.report["final_loss"] == losses[-1]

    ckpt = tmp_path / "ckpt-resumed"
    with pytest.raises(_Crash):
        train_sft(
            tiny_model_dir,
            records,
            params,
            tmp_path / "resumed",
            ckpt,
            callbacks=[_crash_after_save(1)],
        )
    assert not (tmp_path / "resumed").exists()
    assert is_complete_checkpoint(ckpt / "checkpoint-1")
    # A kill while step 2 was being saved leaves weights without trainer_state.json.
    partial = ckpt / "checkpoint-2"
    partial.mkdir()
    shutil.copy(ckpt / "checkpoint-1" / "model.safetensors", partial / "model.safetensors")
    assert not is_complete_checkpoint(partial)
    assert latest_complete_checkpoint(ckpt) == ckpt / "checkpoint-1"

    resumed = train_sft(tiny_model_dir, records, params, tmp_path / "resumed", ckpt)
    timing = resumed.timing
    assert timing["resumed_from_step"] == 1 and timing["steps_run_here"] == 1
    assert timing["timed_steps"] == 2 and timing["seconds_per_step"] > 0  # step 1: killed run
    assert resumed.history == straight.history
    expected, actual = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
    assert (tmp_path / "resumed" / "chat_template.jinja").exists()

    # Checkpoints of another run (other params, data or base model) are never resumed.
    assert prepare_checkpoint_dir(ckpt, "another run") is None
    assert not list(ckpt.glob("checkpoint-*")) and not (ckpt / "timings.json").exists()


@pytest.mark.slow
def test_stage_writes_model_reports_and_figure(
    base_model_dir: Path, repo_root: Path, tmp_path: Path
) -> None:
    params = train_params(max_steps=1, save_steps=1)
    params["model"] = str(base_model_dir)
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump({"profile": "embedded", "embedded": {"sft": params}}), encoding="utf-8"
    )
    write_jsonl(tmp_path / "data/sft/original.jsonl", make_records(2))
    env = {**os.environ, "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"}
    env["HF_HUB_OFFLINE"] = "1"  # transformers records it in the tokenizer's config
    result = subprocess.run(
        [sys.executable, "-m", "stages.sft", "--method", "original"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=STAGE_S,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = read_json(tmp_path / "reports/train/original.json")
    assert report["method"] == "original" and report["steps"] == 1
    assert report["records"] == 2 and report["records_filtered"] == 0
    assert report["tokens_per_sample"] > report["completion_tokens_per_sample"] > 0
    timing = read_json(tmp_path / "reports/train/timings/original.json")
    assert timing["seconds_per_step"] > 0 and timing["timed_steps"] == 1
    assert timing["steps_run_here"] == 1
    assert (tmp_path / "reports/figures/train_loss_original.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "models/original/model.safetensors").exists()
    assert (tmp_path / "models/original/chat_template.jinja").exists()
    # the final model is saved, so the checkpoints kept for resuming are gone, and with them
    # the trainer's model card (its tags come in set order, which changes between runs)
    checkpoints = tmp_path / "data/checkpoints/sft/original"
    assert [p.name for p in checkpoints.iterdir()] == ["fingerprint.json"]
    # nothing in the model folder depends on the environment of the run
    tokenizer_config = read_json(tmp_path / "models/original/tokenizer_config.json")
    assert "local_files_only" not in tokenizer_config
    assert report["filtered"] == {} and report["final_loss"] > 0
    origin = report["provenance"]
    assert origin["stage"] == "sft@original" and origin["params"]["training"]["max_steps"] == 1
    assert set(origin["inputs"]) == {"data/sft/original.jsonl", base_model_dir.as_posix()}


def test_common_record_ids_and_restriction() -> None:
    datasets = {
        "original": make_records(4),
        "asap": [r for r in make_records(4, method="asap") if r["id"] != "p1"],  # dropped
        "tokenskip": [],  # not run: takes no part
    }
    too_long = {("original", "p3")}
    ids = common_record_ids(datasets, lambda m, r: (m, r["id"]) not in too_long)
    assert ids == ["p0", "p2"]
    assert restrict_to(datasets["original"], {"same_records": False}, "x") == datasets["original"]
    kept = restrict_to(datasets["original"], {"same_records": True, "ids": ids}, "x")
    assert [r["id"] for r in kept] == ["p0", "p2"]
    with pytest.raises(DataError, match="x: same_records"):
        restrict_to(datasets["original"], {"same_records": True}, "x")


def test_sft_records_stage_writes_the_common_ids(
    base_model_dir: Path, repo_root: Path, tmp_path: Path
) -> None:
    params = train_params()
    params.update(model=str(base_model_dir), max_seq_length=400, same_records=True)
    long_record = {**make_records(1)[0], "id": "p9", "cot": "word " * 1000}

    def write(same: bool) -> None:
        params["same_records"] = same
        (tmp_path / "params.yaml").write_text(
            yaml.safe_dump(
                {"profile": "embedded", "methods": ["original", "asap", "tokenskip"]}
                | {"embedded": {"sft": params}}
            ),
            encoding="utf-8",
        )

    write_jsonl(tmp_path / "data/sft/original.jsonl", [*make_records(3), long_record])
    asap = [r for r in make_records(3, method="asap") if r["id"] != "p0"]
    write_jsonl(tmp_path / "data/sft/asap.jsonl", [*asap, {**long_record, "method": "asap"}])
    write_jsonl(tmp_path / "data/sft/tokenskip.jsonl", [])
    env = {**os.environ, "PYTHONPATH": str(repo_root), "HF_HUB_OFFLINE": "1"}

    def run() -> dict[str, Any]:
        result = subprocess.run(
            [sys.executable, "-m", "stages.sft_records"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return read_json(tmp_path / "data/sft_records.json")

    write(True)
    assert run() == {"same_records": True, "ids": ["p1", "p2"]}
    report = read_json(tmp_path / "reports/sft_records.json")
    assert report["methods"]["original"] == {"records": 4, "over_max_seq_length": 1}
    write(False)
    off = run()
    write_jsonl(tmp_path / "data/sft/asap.jsonl", asap)
    assert off == run() == {"same_records": False}  # the same bytes whatever the datasets hold


def run_sft_stage(
    work: Path,
    params: dict[str, Any],
    records: list[dict[str, Any]],
    repo_root: Path,
    timeout: int,
    method: str = "original",
) -> subprocess.CompletedProcess[str]:
    """`python -m stages.sft --method METHOD` in a workspace with these sft params and data."""
    (work / "data/sft").mkdir(parents=True, exist_ok=True)
    (work / "params.yaml").write_text(
        yaml.safe_dump({"profile": "embedded", "embedded": {"sft": params}}), encoding="utf-8"
    )
    write_jsonl(work / f"data/sft/{method}.jsonl", records)
    env = {**os.environ, "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [sys.executable, "-m", "stages.sft", "--method", method],
        cwd=work, env=env, capture_output=True, text=True, check=False, timeout=timeout,
    )  # fmt: skip


@pytest.mark.slow
def test_a_training_of_the_same_examples_is_copied_not_repeated(
    tiny_model_dir: Path, repo_root: Path, tmp_path: Path
) -> None:
    """w/o fine's dataset tokenizes to Original's examples (only the `method` field differs):
    its model is Original's, copied, with the bytes a training would write. Once Original's
    folder changes, or without the index, w/o fine trains again."""
    params = train_params(max_steps=1, save_steps=1)
    params.update(model=str(tiny_model_dir))
    params["trained_runs"] = ".cache/sft-runs"
    work = tmp_path / "work"

    def train(method: str) -> dict[str, Any]:
        result = run_sft_stage(work, params, make_records(2, method=method), repo_root, 300, method)
        assert result.returncode == 0, result.stderr[-3000:]
        return read_json(work / f"reports/train/timings/{method}.json")

    assert "reused_from" not in train("original")
    timing = train("wo_fine")
    assert timing["reused_from"] == "original" and timing["seconds_per_step"] > 0
    assert model_digest(work / "models/wo_fine") == model_digest(work / "models/original")
    assert not (work / "models/original/training_args.bin").exists()  # it names the method
    reports = [read_json(work / f"reports/train/{m}.json") for m in ("original", "wo_fine")]
    for report in reports:
        report.pop("method"), report.pop("provenance")
    assert reports[0] == reports[1]
    copied = model_digest(work / "models/wo_fine")

    # a training of its own gives the very bytes of the copy
    params["trained_runs"] = None
    assert "reused_from" not in train("wo_fine")
    assert model_digest(work / "models/wo_fine") == copied

    # Original's folder no longer what its training wrote: nothing to copy
    params["trained_runs"] = ".cache/sft-runs"
    (work / "models/original/generation_config.json").write_text("{}", encoding="utf-8")
    assert "reused_from" not in train("wo_fine")


@pytest.mark.slow
@pytest.mark.parametrize("config", ["cpu_ddp.yaml", "fsdp.yaml"])
def test_stage_relaunches_on_two_processes(
    tiny_model_dir: Path, repo_root: Path, tmp_path: Path, config: str
) -> None:
    """`sft.num_processes: 2` with configs/accelerate/<config>: `accelerate launch` parses the
    config and runs two processes (gloo on a CPU, where accelerate trains data-parallel; FSDP's
    sharding needs GPUs), and the effective batch stays the configured one. cpu_ddp.yaml is the
    embedded profile's."""
    params = train_params(max_steps=2, save_steps=1, gradient_accumulation_steps=2)
    params.update(
        model=str(tiny_model_dir),
        num_processes=2,
        accelerate_config=str(repo_root / "configs/accelerate" / config),
    )
    work = tmp_path / "work"
    result = run_sft_stage(work, params, make_records(4), repo_root, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--num_processes 2" in result.stdout + result.stderr
    report = read_json(work / "reports/train/original.json")
    timing = read_json(work / "reports/train/timings/original.json")
    assert timing["num_processes"] == 2 and report["steps"] == 2
    # 1 per device x (2 accumulation steps / 2 processes) x 2 processes: the configured 1 x 2
    assert report["effective_batch_size"] == 2
    assert (work / "models/original/model.safetensors").exists()


def test_a_launcher_that_starts_one_process_is_an_error_not_a_relaunch_loop(
    repo_root: Path, tmp_path: Path
) -> None:
    """accelerate's MULTI_CPU + use_cpu config starts the stage once, without a process group
    (it expects mpirun to start the rest); the relaunched stage must say so and stop, not
    relaunch itself again."""
    config = tmp_path / "multi_cpu.yaml"
    config.write_text(
        yaml.safe_dump(
            {"compute_environment": "LOCAL_MACHINE", "distributed_type": "MULTI_CPU",
             "num_machines": 1, "num_processes": 2, "use_cpu": True, "mixed_precision": "no"}
        ),
        encoding="utf-8",
    )  # fmt: skip
    params = train_params(gradient_accumulation_steps=2)
    params.update(model="unused", num_processes=2, accelerate_config=str(config))
    result = run_sft_stage(tmp_path / "work", params, make_records(2), repo_root, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "started one process without a process group, not 2" in output
    assert output.count("-m accelerate.commands.launch") == 1  # relaunched once, never again
