"""A model's tokenizer and chat template from the header of a GGUF file, tensors not needed.

A GGUF file begins with a key-value header that holds the whole tokenizer (tokens, merges, token
types, special ids) and the chat template; the tensors follow. The `gguf` package and
transformers' GGUF loader map the whole file, so they refuse a file cut after its header (the
first part of a split checkpoint). `read_header` reads only the header; `build_tokenizer` turns
it into a `tokenizers` byte-level BPE with the pre-tokenizer llama.cpp names, as a transformers
fast tokenizer with the file's special tokens at their own ids.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

from asap.repro.io import DataError

MAGIC = b"GGUF"
# GGUF value types (gguf spec): scalar struct formats, 8 = string, 9 = array
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
# token types of tokenizer.ggml.token_type (llama.cpp): 3 control, 4 user-defined, 5 unused
CONTROL, USER_DEFINED = 3, 4
# The pre-tokenizer split of Qwen2; llama.cpp uses it for both names
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
PRE_TOKENIZERS = {"qwen2": QWEN2_SPLIT, "deepseek-r1-qwen": QWEN2_SPLIT}


def _read(stream: BinaryIO, size: int, path: Path) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise DataError(f"{path}: the GGUF header ends early (truncated before its metadata)")
    return data


def _value(stream: BinaryIO, kind: int, path: Path) -> Any:
    if kind in _SCALARS:
        fmt = _SCALARS[kind]
        return struct.unpack(fmt, _read(stream, struct.calcsize(fmt), path))[0]
    if kind == _STRING:
        (length,) = struct.unpack("<Q", _read(stream, 8, path))
        return _read(stream, length, path).decode("utf-8")
    if kind == _ARRAY:
        item_kind, count = struct.unpack("<IQ", _read(stream, 12, path))
        return [_value(stream, item_kind, path) for _ in range(count)]
    raise DataError(f"{path}: unknown GGUF value type {kind}")


def read_header(path: Path) -> dict[str, Any]:
    """The key-value metadata of a GGUF file (versions 2 and 3), read from its first bytes."""
    with path.open("rb") as stream:
        magic = _read(stream, 4, path)
        if magic != MAGIC:
            raise DataError(f"{path}: not a GGUF file (magic {magic!r})")
        version, _tensors, count = struct.unpack("<IQQ", _read(stream, 20, path))
        if version not in (2, 3):
            raise DataError(f"{path}: GGUF version {version} is not supported (2 or 3)")
        header: dict[str, Any] = {}
        for _ in range(count):
            key = _value(stream, _STRING, path)
            (kind,) = struct.unpack("<I", _read(stream, 4, path))
            header[key] = _value(stream, kind, path)
    return header


def build_tokenizer(header: dict[str, Any], where: str) -> Any:
    """A `PreTrainedTokenizerFast` equal to the one the header describes (byte-level BPE)."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
    )
    from transformers import PreTrainedTokenizerFast

    model, pre = header.get("tokenizer.ggml.model"), header.get("tokenizer.ggml.pre")
    if model != "gpt2" or pre not in PRE_TOKENIZERS:
        raise DataError(
            f"{where}: tokenizer model {model!r} with pre-tokenizer {pre!r} is not supported "
            f"(gpt2 with one of {sorted(PRE_TOKENIZERS)})"
        )
    tokens: list[str] = header["tokenizer.ggml.tokens"]
    types: list[int] = header["tokenizer.ggml.token_type"]
    merges = [tuple(m.split(" ", 1)) for m in header["tokenizer.ggml.merges"]]
    bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, fuse_unk=False)
    tokenizer = Tokenizer(bpe)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRE_TOKENIZERS[pre]), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_tokens(
        [
            AddedToken(t, special=kind == CONTROL, normalized=False)
            for t, kind in zip(tokens, types, strict=True)
            if kind in (CONTROL, USER_DEFINED)
        ]
    )

    def special(name: str) -> str | None:
        index = header.get(f"tokenizer.ggml.{name}_token_id")
        return None if index is None else tokens[index]

    bos, eos = special("bos"), special("eos")
    if header.get("tokenizer.ggml.add_bos_token") and bos is not None:
        bos_id = header["tokenizer.ggml.bos_token_id"]
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=bos,
        eos_token=eos,
        pad_token=special("padding"),
        chat_template=header.get("tokenizer.chat_template"),
        add_bos_token=bool(header.get("tokenizer.ggml.add_bos_token")),
        add_eos_token=bool(header.get("tokenizer.ggml.add_eos_token")),
    )


def tokenizer_from_gguf(path: Path) -> Any:
    """The tokenizer of the GGUF file at `path` (only its header is read)."""
    return build_tokenizer(read_header(path), str(path))
