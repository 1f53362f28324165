"""Every stage lists, among its DVC deps, each module of this repository that it imports.

DVC reruns a stage only when a dep changes: a module missing from the list could change the
outputs while the cache still serves the old ones. The imports are followed statically
(`asap.repro.code.import_closure`, the closure the stages' caches fingerprint).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from asap.repro.code import import_closure

REPO = Path(__file__).resolve().parents[1]


def _stages() -> list[tuple[str, str, list[str]]]:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    found = []
    for name, stage in stages.items():
        stage = stage.get("do", stage)  # foreach stages
        deps = [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps") or []]
        found.append((name, stage["cmd"], deps))
    return found


@pytest.mark.parametrize(("name", "cmd", "deps"), _stages(), ids=[s[0] for s in _stages()])
def test_stage_deps_cover_its_imports(name: str, cmd: str, deps: list[str]) -> None:
    match = re.search(r"python -m (\S+)", cmd)
    assert match, f"{name}: expected `python -m stages.<module>`, got {cmd!r}"
    covered = [d.rstrip("/") for d in deps]
    missing = [
        path
        for path in import_closure(match.group(1))
        if not any(path == d or path.startswith(f"{d}/") for d in covered)
    ]
    assert not missing, f"stage {name} imports files that are not among its deps: {missing}"
    # a stage is params in, files out: it calls the library, never the command-line layer
    cli = [path for path in import_closure(match.group(1)) if path.startswith("asap/commands/")]
    assert not cli, f"stage {name} imports the CLI: {cli}"
    # and it lists no repository module it does not import (each one reruns it for nothing)
    closure = set(import_closure(match.group(1)))
    unused = [d for d in deps if d.endswith(".py") and d not in closure]
    assert not unused, f"stage {name} lists modules it does not import: {unused}"


def test_no_file_tracked_by_git_lies_inside_a_cached_output() -> None:
    """DVC refuses to run a stage whose cached output holds files git tracks (e.g. a .gitignore
    DVC once wrote inside a folder that later became one output)."""
    import subprocess

    from dvc.repo import Repo

    listed = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    )
    tracked = listed.stdout.split()
    with Repo(str(REPO)) as repo:
        outs = [out for stage in repo.index.stages for out in stage.outs if out.use_cache]
        cached = sorted({Path(out.fs_path).relative_to(REPO).as_posix() for out in outs})
    assert "data/eval/zero_shot" in cached  # the matrices are expanded
    clashes = {out: [t for t in tracked if t.startswith(f"{out}/")] for out in cached}
    assert not {out: files for out, files in clashes.items() if files}
