"""Comparing the outputs of two reproductions of the pipeline (two checkouts after `dvc repro`).

Measurements that can never repeat (wall times, latencies) are marked by name, and only there
may two runs differ:
  * a file named `timings.<ext>` (e.g. `timings.jsonl`), or any file under a directory named
    `timings`, is a measurement file and is not compared;
  * in `.json` and `.jsonl` files, fields whose names end in `_s` (`latency_s`, `wall_s`) are
    measurements and are dropped, at any depth, before the contents are compared;
  * the outputs of a stage in `MEASUREMENT_STAGES` render measurements next to deterministic
    numbers (the `stats` stage: latency columns, budget figures, Wilcoxon tests on latency).
    Such a stage computes nothing new from its inputs, and every input is compared in the stage
    that wrote it, so its files may differ; a file missing on one side still counts.
Everything else must be byte-identical: the DVC hashes in both `dvc.lock` files agree.
Checkouts of two commits can be compared too, stage by stage where the code, data and params
agree (`compare_checkouts(..., ignore_commit=True)`): their reports then differ only in the
commit their provenance records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from asap.repro.verify import DIR_SUFFIX, dir_listing, file_md5, load_lock, select_stages

IDENTICAL, MEASUREMENTS_ONLY, DIFFERENT = "identical", "measurements only", "different"
COMMIT_ONLY = "commit only"  # with `ignore_commit`: JSON that differs in its provenance commit
MEASUREMENT_DIR = "timings"
MEASUREMENT_FIELD_SUFFIX = "_s"
MEASUREMENT_STAGES = frozenset({"stats"})


@dataclass(frozen=True)
class OutputComparison:
    stage: str
    path: str
    status: str  # identical | measurements only | different
    detail: str = ""


def is_measurement_file(relpath: str) -> bool:
    """`timings.*` files and files under a `timings/` directory hold only measurements."""
    pure = PurePosixPath(relpath)
    return pure.name.split(".")[0] == MEASUREMENT_DIR or MEASUREMENT_DIR in pure.parts[:-1]


def strip_measurements(value: Any) -> Any:
    """`value` without the fields named `*_s`, at any depth."""
    if isinstance(value, dict):
        return {
            k: strip_measurements(v)
            for k, v in value.items()
            if not str(k).endswith(MEASUREMENT_FIELD_SUFFIX)
        }
    if isinstance(value, list):
        return [strip_measurements(v) for v in value]
    return value


def strip_commit(value: Any) -> Any:
    """`value` without the git state (commit, dirty flag) of its `provenance` blocks."""
    if isinstance(value, dict):
        return {
            k: (
                {f: x for f, x in v.items() if f != "git"}
                if k == "provenance" and isinstance(v, dict)
                else strip_commit(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [strip_commit(v) for v in value]
    return value


def _parsed(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def _file_status(stage: str, relpath: str, a: Path, b: Path, ignore_commit: bool) -> str:
    """Status of one file that differs byte-wise between the two checkouts."""
    if stage in MEASUREMENT_STAGES or is_measurement_file(relpath):
        return MEASUREMENTS_ONLY
    if a.suffix in (".json", ".jsonl"):
        try:
            content_a, content_b = _parsed(a), _parsed(b)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return DIFFERENT
        content_a, content_b = strip_measurements(content_a), strip_measurements(content_b)
        if content_a == content_b:
            return MEASUREMENTS_ONLY
        if ignore_commit and strip_commit(content_a) == strip_commit(content_b):
            return COMMIT_ONLY
    return DIFFERENT


def compare_output(
    stage: str, rel: str, root_a: Path, root_b: Path, ignore_commit: bool = False
) -> OutputComparison:
    """Compare, file by file in both checkouts, an output whose recorded hashes differ."""
    a, b = root_a / rel, root_b / rel
    for side, path in (("first", a), ("second", b)):
        if not path.exists():
            return OutputComparison(stage, rel, DIFFERENT, f"missing in the {side} checkout")
    if a.is_dir() != b.is_dir():
        return OutputComparison(stage, rel, DIFFERENT, "a directory in only one checkout")
    if a.is_dir():
        files_a = {e["relpath"]: e["md5"] for e in dir_listing(a)}
        files_b = {e["relpath"]: e["md5"] for e in dir_listing(b)}
        names = sorted(set(files_a) | set(files_b))
        pairs = [
            (f"{rel}/{name}", a / name, b / name)
            for name in names
            if files_a.get(name) != files_b.get(name)
        ]
    else:
        pairs = [(rel, a, b)] if file_md5(a) != file_md5(b) else []
    differing, commit_only = [], False
    for relpath, file_a, file_b in pairs:
        if not (file_a.is_file() and file_b.is_file()):
            differing.append(f"{relpath} (in one checkout only)")
            continue
        status = _file_status(stage, relpath, file_a, file_b, ignore_commit)
        if status == DIFFERENT:
            differing.append(relpath)
        commit_only |= status == COMMIT_ONLY
    if not pairs:
        stale = "the recorded hashes differ but the files agree: a dvc.lock is out of date"
        return OutputComparison(stage, rel, DIFFERENT, stale)
    if differing:
        return OutputComparison(stage, rel, DIFFERENT, ", ".join(differing[:10]))
    return OutputComparison(stage, rel, COMMIT_ONLY if commit_only else MEASUREMENTS_ONLY)


def produced_paths(lock: dict[str, dict[str, Any]]) -> list[PurePosixPath]:
    """The output paths of every stage of `lock`."""
    return [PurePosixPath(str(o["path"])) for e in lock.values() for o in e.get("outs") or []]


def _produced(path: str, produced: Sequence[PurePosixPath]) -> bool:
    """Whether `path` is, lies inside or holds one of the `produced` outputs."""
    pure = PurePosixPath(path)
    return any(pure == p or p in pure.parents or pure in p.parents for p in produced)


def source_input_mismatches(
    lock_a: dict[str, dict[str, Any]],
    lock_b: dict[str, dict[str, Any]],
    stage: str,
    produced: Sequence[PurePosixPath] | None = None,
) -> list[str]:
    """Inputs of `stage` that no stage produces (code, data, params) and that differ between
    the two locks: outputs are comparable only when these agree. Inputs that other stages
    produce are compared as those stages' outputs. `produced`: `produced_paths(lock_a)`."""
    produced = produced_paths(lock_a) if produced is None else produced
    deps_a = {str(d["path"]): d.get("md5") for d in lock_a[stage].get("deps") or []}
    deps_b = {str(d["path"]): d.get("md5") for d in lock_b[stage].get("deps") or []}
    mismatched = [
        path
        for path in sorted(set(deps_a) | set(deps_b))
        if deps_a.get(path) != deps_b.get(path) and not _produced(path, produced)
    ]
    if lock_a[stage].get("params") != lock_b[stage].get("params"):
        mismatched.append("params")
    return mismatched


def compare_checkouts(
    root_a: str | Path,
    root_b: str | Path,
    stages: Sequence[str] | None = None,
    ignore_commit: bool = False,
) -> list[OutputComparison]:
    """Compare every output recorded in the `dvc.lock` of two reproduced checkouts.

    A stage whose source inputs (code, data, params) differ between the two is reported as
    different without comparing its outputs. `ignore_commit` (checkouts of two commits whose
    stage inputs agree): reports that differ only in their provenance commit count as equal."""
    root_a, root_b = Path(root_a), Path(root_b)
    lock_a, lock_b = load_lock(root_a / "dvc.lock"), load_lock(root_b / "dvc.lock")
    names = select_stages(list(lock_a) + [s for s in lock_b if s not in lock_a], stages)
    produced = produced_paths(lock_a)
    results = []
    for stage in names:
        if stage not in lock_a or stage not in lock_b:
            side = "first" if stage in lock_a else "second"
            results.append(OutputComparison(stage, "", DIFFERENT, f"stage only in the {side}"))
            continue
        mismatched = source_input_mismatches(lock_a, lock_b, stage, produced)
        if mismatched:
            detail = "not comparable: inputs differ: " + ", ".join(mismatched[:10])
            results.append(OutputComparison(stage, "", DIFFERENT, detail))
            continue
        outs_a = {str(o["path"]): o for o in lock_a[stage].get("outs") or []}
        outs_b = {str(o["path"]): o for o in lock_b[stage].get("outs") or []}
        for rel in sorted(set(outs_a) | set(outs_b)):
            md5_a = outs_a.get(rel, {}).get("md5")
            md5_b = outs_b.get(rel, {}).get("md5")
            if md5_a and md5_a == md5_b:
                results.append(OutputComparison(stage, rel, IDENTICAL))
            elif rel not in outs_a or rel not in outs_b:
                side = "first" if rel in outs_a else "second"
                results.append(OutputComparison(stage, rel, DIFFERENT, f"only in the {side} lock"))
            else:
                comparison = compare_output(stage, rel, root_a, root_b, ignore_commit)
                if str(md5_a).endswith(DIR_SUFFIX) != str(md5_b).endswith(DIR_SUFFIX):
                    comparison = OutputComparison(stage, rel, DIFFERENT, "file in one lock only")
                results.append(comparison)
    return results
