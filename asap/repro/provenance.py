"""Provenance block for report files: code version, profile, params, input hashes, packages.

The block is deterministic (no timestamps, no host names, no kernel versions), so a report stays
byte-identical when the same code runs on the same inputs. Input hashes are DVC's md5 (the values
`dvc.lock` records; directories end in `.dir`), so a reviewer can match them against the lock.

`dirty` says whether tracked files differ from the commit, not counting what a `dvc repro`
itself writes: `dvc.lock`, `.gitignore` files and every output recorded in `dvc.lock`.
"""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from asap.repro.io import DataError
from asap.repro.params import DEFAULT_PARAMS, load_params
from asap.repro.verify import dvc_md5, load_lock

UNKNOWN = "unknown"
LOCK = Path("dvc.lock")
# the packages whose versions shape results (also printed by `asap info`)
PACKAGES = ("asap", "torch", "transformers", "trl", "datasets", "dvc", "openai", "scipy")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:  # no git executable
        return None
    return result.stdout if result.returncode == 0 else None


def _run_outputs(root: Path) -> set[str]:
    """Paths that a pipeline run rewrites: dvc.lock and the outputs it records."""
    lock = root / LOCK
    if not lock.exists():
        return {LOCK.as_posix()}
    try:
        stages = load_lock(lock, fast=True)  # only paths are read
    except DataError:
        return {LOCK.as_posix()}
    outs = {str(o["path"]) for s in stages.values() for o in (s or {}).get("outs") or []}
    return outs | {LOCK.as_posix()}


def _is_run_output(path: str, outputs: set[str]) -> bool:
    pure = PurePosixPath(path)
    if pure.name == ".gitignore" or path in outputs:
        return True
    return any(PurePosixPath(out) in pure.parents for out in outputs)


def _changed_paths(porcelain_z: str) -> list[str]:
    """Paths of `git status --porcelain=v1 -z`: "XY path" records; a rename or copy is followed
    by a record holding the original path."""
    records = iter(porcelain_z.split("\0"))
    paths = []
    for record in records:
        if len(record) < 4:
            continue
        paths.append(record[3:])
        if record[0] in "RC":
            paths.append(next(records, ""))
    return [p for p in paths if p]


def git_state(root: str | Path = ".") -> dict[str, Any]:
    """`{"commit": sha or "unknown", "dirty": bool or None}` of the repository at `root`."""
    root = Path(root)
    commit = _git(["rev-parse", "HEAD"], root)
    if commit is None:
        return {"commit": UNKNOWN, "dirty": None}
    status = _git(["status", "--porcelain=v1", "-z", "--untracked-files=no"], root)
    if status is None:
        return {"commit": commit.strip(), "dirty": None}
    outputs = _run_outputs(root)
    dirty = any(not _is_run_output(path, outputs) for path in _changed_paths(status))
    return {"commit": commit.strip(), "dirty": dirty}


def input_hashes(inputs: Iterable[str | Path]) -> dict[str, str]:
    """DVC md5 of every input file or directory, keyed by its path as given."""
    hashes = {}
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise DataError(f"{path}: input not found (needed for the report's provenance)")
        hashes[path.as_posix()] = dvc_md5(path)
    return dict(sorted(hashes.items()))


def local_inputs(*names: str | Path) -> list[str]:
    """The names that are local files or folders; a hub model id is recorded by the params."""
    return [Path(name).as_posix() for name in names if name and Path(name).exists()]


def provenance(
    stage: str,
    params_section: Any,
    inputs: Iterable[str | Path],
    params_path: str | Path = DEFAULT_PARAMS,
    profile: str | None = None,
) -> dict[str, Any]:
    """Where a report of `stage` comes from; add it under the report's "provenance" key. The
    profile is read from `params_path` unless given."""
    return {
        "stage": stage,
        "profile": load_params(params_path)["profile"] if profile is None else profile,
        "params": params_section,
        "inputs": input_hashes(inputs),
        "git": git_state(Path(params_path).resolve().parent),
        "versions": package_versions(),
        "platform": {
            "python_implementation": platform.python_implementation(),
            "system": platform.system(),
            "machine": platform.machine(),
        },
    }
