"""One rule for the floating-point precision of every model a stage runs.

`auto` is bfloat16 where the hardware computes it natively (a GPU with bf16 support; a CPU
with AVX512-BF16 or AMX), else float32. Elsewhere bfloat16 is emulated: measured on a 2-core
AVX512 CPU without AVX512-BF16, a 2048-token forward pass of SmolLM2-135M took 10.6 s in
bfloat16 and 4.9 s in float32, while on a CPU with native bf16 it takes about 1 s. Outputs
then depend on the machine's precision, which every cache key records: each key holds the
resolved name (`dtype_name`), never `auto`.
"""

from __future__ import annotations

DTYPES = ("auto", "bfloat16", "float32", "float16")


def native_bf16(device: str) -> bool:
    """Whether `device` ("cpu", "cuda", "cuda:1", ...) computes bfloat16 natively."""
    import torch

    if device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def dtype_name(name: str, device: str | None = None) -> str:
    """`name` with `auto` resolved for `device` (None: cuda when available, else cpu)."""
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {name!r}")
    if name != "auto":
        return name
    return "bfloat16" if native_bf16(device or default_device()) else "float32"
