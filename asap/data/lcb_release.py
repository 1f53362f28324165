"""LiveCodeBench release files with their private tests (`livecodebench/code_generation_lite`).

The hub dataset has one JSONL file per release (``test.jsonl`` = v1, ``test2.jsonl`` = v2, ...),
each holding the problems first released there. A row's ``public_test_cases`` is a JSON list
of ``{"input", "output", "testtype"}``; its ``private_test_cases`` is either such a JSON list
or, for most problems, base64 of zlib of a pickle of that JSON text. The pickle comes from the
hub: it is never given to ``pickle.load``. `decode_private_tests` runs it through an
unpickler that refuses every global (so no class, function or ``__reduce__`` can be reached:
only str, bytes, numbers, lists, tuples, dicts, sets, None and booleans can be built), then
requires a str holding JSON of a list of test cases; anything else is a DataError naming the
problem and the reason.

Source spec (a `data.benchmarks.<name>` entry in params.yaml)::

    releases: {v1: test.jsonl, v2: test2.jsonl, ...}   release -> file
    hub: livecodebench/code_generation_lite            files from this dataset repo ...
    revision: <commit>                                 ... at this revision (optional)
    root: DIR                                          ... or, without `hub`, from DIR

Rows come out with ``first_release`` set to their file's release and ``private_test_cases``
decoded into a list, which `asap.data.benchmarks` adds to the public cases.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from asap.repro.io import DataError, read_jsonl

MAX_DECODED_BYTES = 1 << 30  # one problem's decompressed private tests


class _NoGlobals(pickle.Unpickler):
    """Builds plain data only: every reference to a global (class, function) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused global {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused persistent id")


def _cases(value: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise DataError(f"{where}: test cases are a {type(value).__name__}, not a list")
    for index, case in enumerate(value):
        if not (
            isinstance(case, dict)
            and isinstance(case.get("input"), str)
            and isinstance(case.get("output"), str)
        ):
            raise DataError(f"{where}: test case {index} lacks string input/output")
    return value


def decode_private_tests(text: str, where: str) -> list[dict[str, str]]:
    """The private test cases of one row (`where` names it in errors)."""
    if not text:
        return []
    try:
        return _cases(json.loads(text), where)
    except ValueError:
        pass  # not JSON: the compressed pickle form
    try:
        packed = base64.b64decode(text.encode("ascii"), validate=True)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, MAX_DECODED_BYTES)
        if inflater.unconsumed_tail:
            raise DataError(f"{where}: private tests decompress to more than {MAX_DECODED_BYTES}")
    except (UnicodeEncodeError, binascii.Error, zlib.error) as err:
        raise DataError(f"{where}: private tests are neither JSON nor base64/zlib: {err}") from err
    try:
        decoded = _NoGlobals(io.BytesIO(raw)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as err:
        raise DataError(f"{where}: private tests: unsafe or malformed pickle: {err}") from err
    if not isinstance(decoded, str):
        raise DataError(f"{where}: private tests unpickle to a {type(decoded).__name__}, not str")
    try:
        return _cases(json.loads(decoded), where)
    except ValueError as err:
        raise DataError(f"{where}: private tests are not JSON: {err}") from err


def describe(spec: dict[str, Any]) -> str:
    files = ",".join(str(f) for f in spec["releases"].values())
    if spec.get("hub"):
        revision = f"@{spec['revision']}" if spec.get("revision") else ""
        return f"hub:{spec['hub']}[{files}]{revision}"
    return f"{spec.get('root', '.')}[{files}]"


def _local_file(spec: dict[str, Any], name: str) -> Path:
    if not spec.get("hub"):
        return Path(spec.get("root", ".")) / name
    from huggingface_hub import hf_hub_download  # only on the hub path

    return Path(
        hf_hub_download(
            spec["hub"], name, repo_type="dataset", revision=spec.get("revision") or None
        )
    )


def iter_release_rows(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Rows of every release file in `spec["releases"]`, in release order."""
    releases = spec.get("releases")
    if not isinstance(releases, dict) or not releases:
        raise DataError(f"source spec {spec!r}: 'releases' must map releases to files")
    for release, name in releases.items():
        path = _local_file(spec, str(name))
        for number, row in enumerate(read_jsonl(path), start=1):
            where = f"{path} record {number} ({row.get('question_id', '?')})"
            row = dict(row)
            row["first_release"] = release
            row["private_test_cases"] = decode_private_tests(
                row.get("private_test_cases") or "", where
            )
            yield row
