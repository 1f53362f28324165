"""A stage killed mid-way leaves dvc.lock untouched; the next `dvc repro` redoes it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from asap.verify import OK, verify_lock
from tests.dvc_repos import make_dvc_repo, run, tool_env

WRITER = """\
import os, time
from pathlib import Path
import yaml
from asap.io import atomic_path
Path("writer.pid").write_text(str(os.getpid()))
n = yaml.safe_load(open("params.yaml"))["write"]["parts"]
for i in range(n):
    with atomic_path(f"out/part-{i:03d}.txt") as tmp, tmp.open("w") as handle:
        for line in range(5):
            handle.write(f"part {i} line {line}\\n")
            handle.flush()
            time.sleep(0.01)
"""

DVC_YAML = """\
stages:
  write:
    cmd: python writer.py
    deps:
      - writer.py
    params:
      - write
    outs:
      - out
"""


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the stage did not reach the kill point in time"
        time.sleep(0.02)


@pytest.mark.parametrize("victim", ["stage", "dvc and stage"])
def test_killed_stage_never_reaches_the_lock(tmp_path, victim):
    repo = make_dvc_repo(
        tmp_path / "repo",
        {"writer.py": WRITER, "dvc.yaml": DVC_YAML, "params.yaml": "write:\n  parts: 2\n"},
    )
    run(["dvc", "repro", "--quiet"], repo)
    lock_before = (repo / "dvc.lock").read_bytes()

    (repo / "params.yaml").write_text("write:\n  parts: 40\n")
    (repo / "writer.pid").unlink()
    proc = subprocess.Popen(
        ["dvc", "repro", "--quiet"],
        cwd=repo,
        env=tool_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Mid-way: parts of the new run are complete and the next one is half written.
        _wait_for(lambda: (repo / "out/part-005.txt").exists())
        _wait_for(lambda: any(p.name.endswith(".tmp") for p in (repo / "out").iterdir()))
        if victim == "stage":
            os.kill(int((repo / "writer.pid").read_text()), signal.SIGKILL)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    assert (repo / "dvc.lock").read_bytes() == lock_before
    assert not (repo / "out/part-039.txt").exists()
    status = run(["dvc", "status", "write"], repo).stdout
    assert "changed" in status, status
    stale = [f for f in verify_lock(repo / "dvc.lock") if f.status != OK]
    assert {(f.kind, f.path) for f in stale} == {("param", "params.yaml:write"), ("out", "out")}

    run(["dvc", "repro", "--quiet"], repo)
    parts = sorted(p.name for p in (repo / "out").iterdir())
    assert parts == [f"part-{i:03d}.txt" for i in range(40)]  # no leftover temporary file
    assert all(f.status == OK for f in verify_lock(repo / "dvc.lock"))
    assert "up to date" in run(["dvc", "status"], repo).stdout
