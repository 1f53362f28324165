"""Where raw rows come from: a local JSONL file or a dataset on the hub (through `datasets`).

A source spec is a mapping with either
  `path: FILE`                          local JSONL or JSONL.GZ, read line by line, or
  `hub: ID` [+ `config`, `split`, `revision`, `data_files`]
                                        anything `datasets.load_dataset` accepts; `hub: json`
                                        with `data_files` reads local files through the same path,
  `releases: {release: FILE}` [+ `hub`, `revision` | `root`]
                                        LiveCodeBench release files with their private tests
                                        (`asap.data.lcb_release`), from a hub dataset repo or a
                                        folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from asap.repro.io import DataError, read_jsonl


def describe(spec: dict[str, Any]) -> str:
    if "releases" in spec:
        from asap.data.lcb_release import describe as describe_releases

        return describe_releases(spec)
    if "path" in spec:
        return str(spec["path"])
    if "hub" in spec:
        revision = f"@{spec['revision']}" if spec.get("revision") else ""
        config = f"/{spec['config']}" if spec.get("config") else ""
        return f"hub:{spec['hub']}{config}{revision}"
    raise DataError(f"source spec {spec!r}: needs 'path', 'hub' or 'releases'")


def iter_rows(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Rows of the source in their stored order."""
    describe(spec)  # validates the spec
    if "releases" in spec:
        from asap.data.lcb_release import iter_release_rows

        yield from iter_release_rows(spec)
        return
    if "path" in spec:
        yield from read_jsonl(spec["path"])
        return
    from datasets import load_dataset  # heavy import, only on the hub path

    dataset = load_dataset(
        spec["hub"],
        spec.get("config"),
        split=spec.get("split", "train"),
        revision=spec.get("revision"),
        data_files=spec.get("data_files"),
    )
    yield from dataset
