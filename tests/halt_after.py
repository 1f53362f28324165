"""Run a module as `python -m` would, but halt it when a named function has returned N times.

    python -m tests.halt_after TARGET N MARKER MODULE [ARGS...]

TARGET is `package.module:Class.method` (or `package.module:function`). After its N-th return
the process creates MARKER and waits forever: a test kills it on that event
(`tests.dvc_repos.kill_when`), so the kill lands at a known point (exactly N cache entries on
disk, a checkpoint written up to a known file), however fast the model is. The stage code
itself is unchanged.
"""

from __future__ import annotations

import functools
import importlib
import runpy
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def halting(function: Callable[..., Any], limit: int, marker: Path) -> Callable[..., Any]:
    calls = 0

    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        result = function(*args, **kwargs)
        calls += 1
        if calls == limit:
            marker.touch()
            threading.Event().wait()  # until the test's SIGKILL
        return result

    return wrapped


def patch(target: str, limit: int, marker: Path) -> None:
    module_name, _, attribute_path = target.partition(":")
    *owners, name = attribute_path.split(".")
    owner: Any = importlib.import_module(module_name)
    for attribute in owners:
        owner = getattr(owner, attribute)
    setattr(owner, name, halting(getattr(owner, name), limit, marker))


def main() -> None:
    target, limit, marker, module, *args = sys.argv[1:]
    patch(target, int(limit), Path(marker))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
