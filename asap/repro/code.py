"""The repository's source files that a module runs, and a fingerprint of that code.

Imports are followed statically through this repository's packages (`asap`, `stages`): at
module level and inside functions, with the `__init__` of every package on the way. A cache
keyed by `code_fingerprint` of the modules that compute its results is never served by results
of older code, whichever imported module changed; the same closure is what each stage must
list among its DVC deps (`tests/test_stage_deps.py`).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OWN_PACKAGES = ("asap", "stages")


def _is_own(name: str) -> bool:
    return name.split(".")[0] in OWN_PACKAGES


def module_path(name: str) -> Path | None:
    """The source file of a module of this repository (a package's `__init__.py`), if any."""
    base = REPO / name.replace(".", "/")
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _imported(path: Path) -> set[str]:
    """Dotted names this file imports from the repository's packages (`from m import x` gives
    both `m` and `m.x`: x may be a submodule)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if _is_own(name)}


def import_closure(*modules: str) -> list[str]:
    """Files of this repository that importing `modules` may run, relative to it, sorted."""
    for name in modules:
        if module_path(name) is None:
            raise ModuleNotFoundError(f"no module {name!r} in this repository")
    todo, seen = list(modules), set()
    while todo:
        parts = todo.pop().split(".")
        for end in range(1, len(parts) + 1):  # packages on the way run their __init__
            path = module_path(".".join(parts[:end]))
            if path is not None and path not in seen:
                seen.add(path)
                todo.extend(_imported(path))
    return sorted(p.relative_to(REPO).as_posix() for p in seen)


def code_fingerprint(modules: Iterable[str]) -> str:
    """SHA-256 over the code of `modules`: for this repository's modules, every file of their
    import closure; for other packages' modules (e.g. `llmlingua.utils`), their own file."""
    modules = list(modules)
    own = [name for name in modules if _is_own(name)]
    files = [(rel, REPO / rel) for rel in import_closure(*own)] if own else []
    for name in modules:
        if not _is_own(name):
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                raise ModuleNotFoundError(f"no source file for module {name!r}")
            files.append((name, Path(spec.origin)))
    digest = hashlib.sha256()
    for label, path in files:
        digest.update(label.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
