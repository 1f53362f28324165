"""The digest of a model folder: the one identity every cache and reuse check keys models by.

sha256 over each file's path (relative to the folder) and content hash, in sorted order: two
folders with the same files give the same digest wherever they lie (a copied model is the same
model). Content hashes can be memoized by size and mtime (like DVC's state database), so a
multi-GB folder is read once per change rather than once per run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from asap.repro.io import DataError, read_json, sha256_file, write_json


def model_digest(folder: str | Path, memo_path: str | Path | None = None) -> str:
    """sha256 over the names and contents of the files of a model folder; `memo_path`: a JSON
    file of content hashes by path, size and mtime, read and updated."""
    folder = Path(folder)
    memo: dict[str, str] = {}
    if memo_path is not None and Path(memo_path).exists():
        try:
            memo = read_json(memo_path)
        except DataError:
            memo = {}  # a memo is only a speed-up: recompute
    digest = hashlib.sha256()
    changed = False
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        if key not in memo:
            memo[key] = sha256_file(path)
            changed = True
        digest.update(f"{path.relative_to(folder).as_posix()}\0{memo[key]}\n".encode())
    if memo_path is not None and changed:
        write_json(memo_path, memo)
    return digest.hexdigest()


def model_fingerprint(model: str | Path) -> str:
    """`model_digest` of a local folder; a hub id (no such folder) stands for itself."""
    return model_digest(model) if Path(model).is_dir() else f"hub:{model}"
