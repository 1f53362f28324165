"""Helpers for tests that run real `git` and `dvc` in small throwaway repositories."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# Limits on the commands the tests start, so that a hang fails its test with the command named
# (pytest-timeout's per-test limit is the last resort). QUICK_S: git, a CLI call, one small
# stage; STAGE_S: a stage or a pipeline of a few stages on the embedded model; PIPELINE_S: a
# whole pipeline (the miniature paper run: about 17 min on a 2-core CPU with AVX2 only, so a
# machine up to 3x slower still finishes).
QUICK_S = 120
STAGE_S = 900
PIPELINE_S = 3000


def tool_env(**extra: str) -> dict[str, str]:
    """Environment for `dvc` and stage commands: this venv first on PATH, the repo importable."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1", **extra}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.setdefault("GIT_AUTHOR_NAME", "test")
    env.setdefault("GIT_AUTHOR_EMAIL", "test@example.com")
    env.setdefault("GIT_COMMITTER_NAME", "test")
    env.setdefault("GIT_COMMITTER_EMAIL", "test@example.com")
    return env


def run(
    cmd: list[str], cwd: Path, check: bool = True, timeout: float = STAGE_S, **env: str
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        cmd, cwd=cwd, env=tool_env(**env), capture_output=True, text=True, check=False,
        timeout=timeout,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def make_dvc_repo(root: Path, files: dict[str, str]) -> Path:
    """A git + DVC repository at `root` holding `files` (path -> text), all committed."""
    root.mkdir(parents=True, exist_ok=True)
    run(["git", "init", "--quiet", "--initial-branch=main"], root)
    run(["dvc", "init", "--quiet"], root)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    run(["git", "add", "--all"], root)
    run(["git", "commit", "--quiet", "-m", "init"], root)
    return root


def verify_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`asap verify ARGS` of this checkout's code, run in `cwd`."""
    command = [sys.executable, "-m", "asap.cli", "verify", *args]
    return run(command, cwd, check=False, timeout=QUICK_S)


def wait_until(proc: subprocess.Popen, condition: Any) -> None:
    """Poll until `condition()` holds while `proc` runs; fails if `proc` ends first. No clock:
    a process that never gets there is stopped by the test's timeout, however loaded the
    machine is."""
    while not condition():
        assert proc.poll() is None, (
            f"the process ended before the kill: {proc.stderr.read() if proc.stderr else ''}"
        )
        time.sleep(0.02)


def kill_when(proc: subprocess.Popen, condition: Any) -> None:
    """SIGKILL the process group of `proc` (started with `start_new_session`) as soon as
    `condition()` holds (see `wait_until`)."""
    try:
        wait_until(proc, condition)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
