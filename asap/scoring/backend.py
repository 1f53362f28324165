"""The scorer a params section asks for: transformers (CPU or GPU) or vLLM (GPU)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asap.repro.io import DataError

BACKENDS = ("transformers", "vllm")


def open_scorer(params: Mapping[str, Any], where: str) -> Any:
    """The scorer of `params` (`scorer`, `backend`, `dtype`, `device`, `batch_size`,
    `max_context`, and `vllm` engine options); `where` names the section in errors."""
    backend = params.get("backend", "transformers")
    if backend == "vllm":
        from asap.scoring.vllm_backend import load_vllm_scorer

        return load_vllm_scorer(
            params["scorer"],
            dtype=params["dtype"],
            batch_size=int(params["batch_size"]),
            max_context=params["max_context"],
            engine=params.get("vllm"),
        )
    if backend == "transformers":
        from asap.scoring.logprobs import load_scorer

        return load_scorer(
            params["scorer"],
            dtype=params["dtype"],
            device=params["device"],
            batch_size=int(params["batch_size"]),
            max_context=params["max_context"],
        )
    raise DataError(f"params {where}.backend: expected one of {BACKENDS}, not {backend!r}")
