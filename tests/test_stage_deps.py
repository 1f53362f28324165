"""Every stage lists, among its DVC deps, each module of this repository that it imports.

DVC reruns a stage only when a dep changes: a module missing from the list could change the
outputs while the cache still serves the old ones. The imports are followed statically through
`asap` and `stages` (module level and inside functions), with the packages whose `__init__`
runs on the way.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
OWN_PACKAGES = ("asap", "stages")


def _module_path(name: str) -> Path | None:
    for candidate in (REPO / f"{name.replace('.', '/')}.py", REPO / name.replace(".", "/")):
        if candidate.suffix == ".py" and candidate.is_file():
            return candidate
        if (candidate / "__init__.py").is_file():
            return candidate / "__init__.py"
    return None


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.split(".")[0] in OWN_PACKAGES}


def import_closure(entry: Path) -> set[str]:
    """Files of this repository that running `entry` may import, relative to the repo."""
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported(path):
            parts = name.split(".")
            for end in range(1, len(parts) + 1):  # packages on the way run their __init__
                found = _module_path(".".join(parts[:end]))
                if found is not None:
                    todo.append(found)
    return {p.relative_to(REPO).as_posix() for p in seen}


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
    entry = _module_path(match.group(1))
    assert entry is not None, f"{name}: no module {match.group(1)}"
    covered = [d.rstrip("/") for d in deps]
    missing = sorted(
        path
        for path in import_closure(entry)
        if not any(path == d or path.startswith(f"{d}/") for d in covered)
    )
    assert not missing, f"stage {name} imports files that are not among its deps: {missing}"
