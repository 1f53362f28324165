"""The precision rule: `auto` is bfloat16 only where the hardware computes it natively."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
import torch

from asap.eval.generation import GenerationSettings
from asap.repro import precision
from asap.scoring.logprobs import resolve_dtype


@pytest.mark.parametrize(("native", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_auto_follows_native_bf16(monkeypatch, native: bool, expected: str) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert precision.dtype_name("auto", "cpu") == expected
    assert resolve_dtype("auto", "cpu") == getattr(torch, expected)
    # named dtypes are kept as they are, whatever the machine
    assert precision.dtype_name("bfloat16", "cpu") == "bfloat16"
    assert precision.dtype_name("float32", "cpu") == "float32"
    # the generation cache key holds the resolved name, never `auto`
    settings = GenerationSettings.from_params({"dtype": "auto", "device": "cpu"})
    assert settings.decoding_key()["dtype"] == expected


def test_amx_counts_as_native(monkeypatch) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert precision.dtype_name("auto", "cpu") == "bfloat16"


def _cpu_flags() -> set[str]:
    """The CPU feature flags the Linux kernel lists (empty elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if platform.system() != "Linux" or not cpuinfo.exists():
        return set()
    lines = cpuinfo.read_text().splitlines()
    return {flag for line in lines if line.startswith("flags") for flag in line.split()[2:]}


def test_this_machine_resolves_to_what_it_computes_natively() -> None:
    # what the kernel says the CPU has, not torch's detection that the rule itself reads
    flags = _cpu_flags()
    if not flags:
        pytest.skip("no CPU feature flags from the kernel (not Linux on x86)")
    native = bool(flags & {"avx512_bf16", "amx_tile"})
    assert precision.dtype_name("auto", "cpu") == ("bfloat16" if native else "float32")


def test_unknown_dtypes_are_refused() -> None:
    with pytest.raises(ValueError, match="dtype must be one of"):
        precision.dtype_name("fp8", "cpu")


@pytest.mark.parametrize("native", [True, False])
def test_sft_autocast_auto_is_resolved_before_trl_sees_it(monkeypatch, tmp_path, native) -> None:
    from asap.train import sft

    monkeypatch.setattr(sft, "native_bf16", lambda device: native and device == "cpu")
    params = {"device": "cpu", "training": {"bf16": "auto", "per_device_train_batch_size": 1}}
    assert sft.sft_config(params, tmp_path).bf16 is native
