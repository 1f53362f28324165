"""Verifying artifacts by hash against `dvc.lock`, recomputed the way DVC computes them.

DVC 3 records `hash: md5` entries: a file's md5 is the md5 of its bytes; a directory's is the
md5 of its `.dir` listing, the JSON text of `[{"md5": ..., "relpath": ...}, ...]` sorted by
relpath and dumped with `json.dumps(..., sort_keys=True)` (default separators), plus the suffix
`.dir`. Files matched by `.dvcignore` are not part of a directory. Entries without `hash: md5`
come from DVC 2 and use `md5-dos2unix` (CRLF -> LF in chunks that look like text).

Every hash is recomputed from the bytes (DVC's mtime-keyed state database is not consulted), so
a tampered file with a preserved mtime is still caught. With a cache directory (`.dvc/cache`
after `dvc fetch`, or a local remote, which has the same layout) outputs are verified from their
cache objects without a checkout; anything without a cache object (sources, `cache: false`
metrics) is verified in the workspace.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from asap.repro.io import DataError

MD5 = "md5"
LEGACY_MD5 = "md5-dos2unix"  # DVC 2 lock entries (no `hash:` field)
DIR_SUFFIX = ".dir"
_CHUNK = 1 << 20
_TEXT_PROBE = 512  # DVC decides text/binary per chunk from its first 512 bytes
_TEXT_CHARS = bytes(range(32, 127)) + b"\n\r\t\f\b"

OK, MISMATCH, MISSING, SKIPPED, STALE = "ok", "mismatch", "missing", "skipped", "stale"
FAILED = (MISMATCH, MISSING, STALE)

Listing = list[dict[str, str]]


@dataclass(frozen=True)
class Finding:
    """The outcome for one lock entry: an output, a dependency or a params key of a stage."""

    stage: str
    kind: str  # "out" | "dep" | "param" | "stage"
    path: str
    status: str  # ok | mismatch | missing | skipped | stale
    detail: str = ""
    source: str = "workspace"  # where the bytes were read: workspace | cache

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


# ---- hashing, DVC-compatible ----------------------------------------------------------------


def _is_text_block(block: bytes) -> bool:
    if not block:
        return True
    if b"\x00" in block:
        return False
    return len(block.translate(None, _TEXT_CHARS)) / len(block) <= 0.30


def file_md5(path: str | Path, name: str = MD5) -> str:
    """md5 of the file's bytes (`md5-dos2unix`: CRLF normalised in text-looking chunks)."""
    digest = hashlib.md5(usedforsecurity=False)
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if name == LEGACY_MD5 and _is_text_block(chunk[:_TEXT_PROBE]):
                chunk = chunk.replace(b"\r\n", b"\n")
            digest.update(chunk)
    return digest.hexdigest()


def listing_md5(listing: Iterable[dict[str, str]]) -> str:
    """The `.dir` hash of a listing of `{"md5", "relpath"}` entries, as DVC computes it."""
    entries = sorted(
        ({"md5": e["md5"], "relpath": e["relpath"]} for e in listing), key=lambda e: e["relpath"]
    )
    text = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(text, usedforsecurity=False).hexdigest() + DIR_SUFFIX


def _dvc_root(start: Path) -> Path:
    """The nearest ancestor holding `.dvc/` (whose `.dvcignore` files apply), else `start`."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / ".dvc").is_dir():
            return candidate
    return start


def dir_listing(path: str | Path, name: str = MD5, root: str | Path | None = None) -> Listing:
    """The sorted `{"md5", "relpath"}` entries of every file under `path` that DVC tracks."""
    from dvc.fs import LocalFileSystem
    from dvc.ignore import DvcIgnoreFilter

    path = Path(path).resolve()
    fs = LocalFileSystem()
    ignore = DvcIgnoreFilter(fs, str(Path(root).resolve() if root else _dvc_root(path)))
    listing = []
    for dirpath, _dirs, files in ignore.walk(fs, str(path)):
        for fname in files:
            full = Path(dirpath) / fname
            relpath = full.relative_to(path).as_posix()
            listing.append({"md5": file_md5(full, name), "relpath": relpath})
    return sorted(listing, key=lambda e: e["relpath"])


def dvc_md5(path: str | Path, name: str = MD5, root: str | Path | None = None) -> str:
    """The hash DVC records for a file or a directory (directories end in `.dir`)."""
    path = Path(path)
    if path.is_dir():
        return listing_md5(dir_listing(path, name, root))
    return file_md5(path, name)


# ---- reading lock and params files ---------------------------------------------------------


def _yaml_load(path: Path, fast: bool = False) -> Any:
    """DVC's own YAML reader (ruamel, YAML 1.2 scalars: 1e-5 is a float); `fast`: PyYAML's C
    loader, ten times faster on a large lock, with YAML 1.1 scalars (1e-5 is a string): right
    for paths and hashes, which DVC quotes whenever either reading could differ."""
    try:
        with path.open(encoding="utf-8") as handle:
            if fast:
                import yaml

                return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            from ruamel.yaml import YAML

            return YAML(typ="safe", pure=True).load(handle)
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror})") from err
    except Exception as err:  # ruamel raises several unrelated error classes
        raise DataError(f"{path}: malformed YAML ({err})") from err


def load_lock(path: str | Path, fast: bool = False) -> dict[str, dict[str, Any]]:
    """The `stages` mapping of a dvc.lock file (schema 2.0); `fast`: see `_yaml_load`."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no lock file (run `dvc repro` or check out a commit with one)")
    lock = _yaml_load(path, fast)
    if not isinstance(lock, dict) or not isinstance(lock.get("stages"), dict):
        raise DataError(f"{path}: expected a dvc.lock with a 'stages' mapping")
    if str(lock.get("schema", "2.0")) != "2.0":
        raise DataError(f"{path}: unsupported lock schema {lock.get('schema')!r}")
    return lock["stages"]


def load_params_file(path: Path) -> Any:
    if path.suffix in (".yaml", ".yml"):
        return _yaml_load(path)
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    if path.suffix == ".toml":
        import tomllib

        return tomllib.loads(path.read_text(encoding="utf-8"))
    raise DataError(f"{path}: params files of type {path.suffix!r} are not supported")


_ABSENT = object()


def lookup_param(params: Any, key: str) -> Any:
    """`a.b.c` in nested mappings (a literal key containing dots wins); `_ABSENT` if missing."""
    if isinstance(params, dict) and key in params:
        return params[key]
    head, dot, rest = key.partition(".")
    if dot and isinstance(params, dict) and head in params:
        return lookup_param(params[head], rest)
    return _ABSENT


def value_differences(recorded: Any, found: Any, prefix: str = "") -> list[str]:
    """Human-readable leaf differences between two parsed params values."""
    if isinstance(recorded, dict) and isinstance(found, dict):
        diffs = []
        for key in sorted(set(recorded) | set(found), key=str):
            where = f"{prefix}.{key}" if prefix else str(key)
            diffs += value_differences(recorded.get(key, _ABSENT), found.get(key, _ABSENT), where)
        return diffs
    if recorded == found and type(recorded) is type(found):
        return []

    def show(value: Any) -> str:
        return "(absent)" if value is _ABSENT else json.dumps(value, default=str)[:80]

    return [f"{prefix or '(value)'}: recorded {show(recorded)}, found {show(found)}"]


# ---- verification --------------------------------------------------------------------------


def _hash_name(entry: dict[str, Any]) -> str:
    return MD5 if entry.get("hash") == MD5 else LEGACY_MD5


class Verifier:
    """Recomputes lock entries, each path (or cache object) hashed once."""

    def __init__(self, lock_path: Path, cache: Path | None, outs: list[dict[str, Any]]):
        self.base = lock_path.resolve().parent
        self.root = _dvc_root(self.base)
        self.cache = cache
        self.outs = outs  # every out entry of the lock: cache lookups for paths inside them
        self._memo: dict[tuple[str, str, str], str] = {}

    # -- cache ---------------------------------------------------------------------------
    def _object(self, value: str, name: str, cache: Path | None = None) -> Path | None:
        cache = cache or self.cache
        if cache is None:
            return None
        prefix = cache / "files" / "md5" if name == MD5 else cache
        obj = prefix / value[:2] / value[2:]
        return obj if obj.is_file() else None

    def _cached_listing(self, value: str, name: str, cache: Path | None = None) -> Listing | None:
        obj = self._object(value, name, cache)
        if obj is None:
            return None
        try:
            listing = json.loads(obj.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(listing, list):
            return None
        return [{"md5": e["md5"], "relpath": e["relpath"]} for e in listing]

    def _cached_file(self, value: str, name: str) -> tuple[str, str]:
        """(status, detail) of one file object in the cache."""
        obj = self._object(value, name)
        if obj is None:
            return MISSING, f"object {value} missing from the cache"
        found = self._memo_hash(("cache", str(obj), name), lambda: file_md5(obj, name))
        if found != value:
            return MISMATCH, f"cache object corrupt: recorded {value}, found {found}"
        return OK, ""

    def _cached_tree(self, listing: Listing, name: str) -> tuple[str, str]:
        """(status, detail) of a tree whose file objects are read from the cache."""
        problems: dict[str, list[str]] = {MISSING: [], MISMATCH: []}
        for entry in listing:
            status, _ = self._cached_file(entry["md5"], name)
            if status != OK:
                problems[status].append(entry["relpath"])
        detail = _summarise(
            {"missing from cache": problems[MISSING], "corrupt in cache": problems[MISMATCH]}
        )
        status = MISSING if problems[MISSING] else MISMATCH if problems[MISMATCH] else OK
        return status, detail

    def _from_cache(self, rel: str, value: str, name: str) -> tuple[str, str] | None:
        """(status, detail) read from the cache, or None when the cache holds no such object."""
        if value.endswith(DIR_SUFFIX):
            listing = self._cached_listing(value, name)
            if listing is not None:
                if listing_md5(listing) != value:
                    return MISMATCH, f"cache listing {value} is corrupt"
                return self._cached_tree(listing, name)
        elif self._object(value, name) is not None:
            return self._cached_file(value, name)
        # A path inside a directory output: derive it from that output's cached listing.
        child = PurePosixPath(rel)
        for out in self.outs:
            parent = PurePosixPath(str(out.get("path", "")))
            if parent not in child.parents:
                continue
            out_name = _hash_name(out)
            listing = self._cached_listing(str(out.get("md5", "")), out_name)
            if listing is None:
                continue
            sub = child.relative_to(parent).as_posix()
            inner = [
                {"md5": e["md5"], "relpath": e["relpath"][len(sub) + 1 :]}
                for e in listing
                if e["relpath"].startswith(sub + "/")
            ]
            files = [e for e in listing if e["relpath"] == sub]
            derived = files[0]["md5"] if files else listing_md5(inner) if inner else None
            if derived is None:
                return MISSING, f"not in the cached listing of {parent}"
            if derived != value:
                return MISMATCH, f"recorded {value}, the cached {parent} holds {derived}"
            return (
                self._cached_file(derived, out_name)
                if files
                else self._cached_tree(inner, out_name)
            )
        return None

    # -- workspace -----------------------------------------------------------------------
    def _memo_hash(self, key: tuple[str, str, str], compute: Any) -> str:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def _dir_detail(self, path: Path, recorded: str, name: str) -> str:
        """Which files of a directory differ, when the recorded listing is in a cache."""
        expected = self._cached_listing(recorded, name, self.cache or self.root / ".dvc" / "cache")
        if expected is None:
            return ""
        actual = {e["relpath"]: e["md5"] for e in dir_listing(path, name, self.root)}
        wanted = {e["relpath"]: e["md5"] for e in expected}
        return _summarise(
            {
                "changed": sorted(p for p in wanted if p in actual and actual[p] != wanted[p]),
                "missing": sorted(p for p in wanted if p not in actual),
                "extra": sorted(p for p in actual if p not in wanted),
            }
        )

    def check(self, stage: str, kind: str, entry: dict[str, Any]) -> Finding:
        rel = str(entry.get("path", ""))
        recorded = entry.get("md5")
        if not recorded:
            keys = sorted(k for k in entry if k != "path")
            return Finding(stage, kind, rel, SKIPPED, f"no md5 recorded (fields: {keys})")
        recorded = str(recorded)
        name = _hash_name(entry)
        if self.cache is not None:
            cached = self._from_cache(rel, recorded, name)
            if cached is not None:
                return Finding(stage, kind, rel, *cached, source="cache")
        path = self.base / rel
        if not path.exists():
            where = "neither in the cache nor in the workspace" if self.cache else "not found"
            return Finding(stage, kind, rel, MISSING, where)
        if recorded.endswith(DIR_SUFFIX) != path.is_dir():
            expected = "a directory" if recorded.endswith(DIR_SUFFIX) else "a file"
            return Finding(stage, kind, rel, MISMATCH, f"recorded as {expected}")
        found = self._memo_hash(
            ("workspace", str(path), name), lambda: dvc_md5(path, name, self.root)
        )
        if found == recorded:
            return Finding(stage, kind, rel, OK)
        detail = f"recorded {recorded}, found {found}"
        if path.is_dir() and (files := self._dir_detail(path, recorded, name)):
            detail += f"; {files}"
        return Finding(stage, kind, rel, MISMATCH, detail)

    def check_params(self, stage: str, params: dict[str, Any]) -> list[Finding]:
        findings = []
        for file_name, keys in sorted(params.items()):
            path = self.base / file_name
            loaded = load_params_file(path) if path.exists() else None
            for key, recorded in sorted((keys or {}).items()):
                where = f"{file_name}:{key}"
                if loaded is None:
                    findings.append(
                        Finding(stage, "param", where, MISSING, f"{file_name} not found")
                    )
                    continue
                found = lookup_param(loaded, key)
                if found is _ABSENT:
                    findings.append(Finding(stage, "param", where, MISSING, "key not found"))
                    continue
                diffs = value_differences(recorded, found, key)
                status = MISMATCH if diffs else OK
                findings.append(Finding(stage, "param", where, status, "; ".join(diffs[:5])))
        return findings


def _summarise(groups: dict[str, list[str]], limit: int = 5) -> str:
    parts = []
    for label, paths in groups.items():
        if paths:
            more = f" (+{len(paths) - limit} more)" if len(paths) > limit else ""
            parts.append(f"{label}: {', '.join(paths[:limit])}{more}")
    return "; ".join(parts)


def select_stages(names: Iterable[str], wanted: Sequence[str] | None) -> list[str]:
    """Stages in lock order; a wanted name matches exactly or a foreach group (`eval@*`)."""
    names = list(names)
    if not wanted:
        return names
    unknown = [w for w in wanted if not any(n == w or n.startswith(f"{w}@") for n in names)]
    if unknown:
        raise DataError(f"dvc.lock has no stage {', '.join(unknown)}; stages: {', '.join(names)}")
    return [n for n in names if any(n == w or n.startswith(f"{w}@") for w in wanted)]


def defined_stages(dvc_yaml: Path) -> set[str] | None:
    """The stage names `dvc.yaml` defines, foreach items expanded (None without a dvc.yaml,
    or outside a DVC repository, e.g. a lock copied elsewhere for checking)."""
    if not dvc_yaml.is_file():
        return None
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        repo = Repo(str(dvc_yaml.resolve().parent))
    except NotDvcRepoError:
        return None
    with repo:
        return {
            stage.addressing.split(":")[-1]
            for stage in repo.index.stages
            if Path(stage.path).resolve() == dvc_yaml.resolve()
        }


def verify_lock(
    lock_path: str | Path = "dvc.lock",
    *,
    cache: str | Path | None = None,
    stages: Sequence[str] | None = None,
) -> list[Finding]:
    """Recompute every dependency, output and params value recorded in `lock_path`."""
    lock_path = Path(lock_path)
    lock = load_lock(lock_path)
    outs = [out for entry in lock.values() for out in entry.get("outs") or []]
    cache_dir = Path(cache) if cache is not None else None
    if cache_dir is not None and not cache_dir.is_dir():
        raise DataError(f"{cache_dir}: no such cache directory")
    verifier = Verifier(lock_path, cache_dir, outs)
    findings: list[Finding] = []
    defined = defined_stages(lock_path.parent / "dvc.yaml")
    for stage in select_stages(lock, stages):
        if defined is not None and stage not in defined:
            # DVC keeps the entry of a renamed or removed stage and ignores it; its outputs may
            # now belong to another stage, so its hashes say nothing.
            detail = "in dvc.lock but not a stage of dvc.yaml (renamed or removed): delete it"
            findings.append(Finding(stage, "stage", stage, STALE, detail))
            continue
        entry = lock[stage] or {}
        for dep in entry.get("deps") or []:
            findings.append(verifier.check(stage, "dep", dep))
        findings += verifier.check_params(stage, entry.get("params") or {})
        for out in entry.get("outs") or []:
            findings.append(verifier.check(stage, "out", out))
    return findings


def default_cache_dir(lock_path: str | Path = "dvc.lock") -> Path:
    """The DVC cache of the repository holding `lock_path` (honours `dvc config cache.dir`)."""
    root = _dvc_root(Path(lock_path).resolve().parent)
    try:
        from dvc.repo import Repo

        with Repo(str(root)) as repo:
            return Path(repo.cache.legacy.path)
    except Exception:  # not a DVC repository, or an older DVC layout: the default location
        return root / ".dvc" / "cache"
