"""A stage killed mid-way leaves dvc.lock untouched; the next `dvc repro` finishes it cleanly.

Covers an ordinary output (DVC deletes it before the rerun) and a `persist: true` per-record
cache (the rerun resumes; the killed write's temporary file stays on disk but, through the
repository's `.dvcignore`, never enters the output's hash).
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from asap.repro.verify import OK, file_md5, listing_md5, load_lock, verify_lock
from tests.dvc_repos import REPO, make_dvc_repo, run, tool_env, wait_until

WRITER = """\
import os, time
from pathlib import Path
import yaml
from asap.repro.io import atomic_path
Path("writer.pid").write_text(str(os.getpid()))
n = yaml.safe_load(open("params.yaml"))["write"]["parts"]
for i in range(n):
    if Path(f"out/part-{i:03d}.txt").exists():  # finished by an earlier, killed run
        continue
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
      - out:
          persist: {persist}
"""


@pytest.mark.parametrize(("victim", "persist"), [("dvc and stage", False), ("stage", True)])
def test_killed_stage_never_reaches_the_lock(tmp_path, victim, persist):
    repo = make_dvc_repo(
        tmp_path / "repo",
        {
            "writer.py": WRITER,
            "dvc.yaml": DVC_YAML.format(persist=str(persist).lower()),
            "params.yaml": "write:\n  parts: 2\n",
            ".dvcignore": (REPO / ".dvcignore").read_text(),
        },
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
        wait_until(proc, lambda: (repo / "out/part-005.txt").exists())
        wait_until(proc, lambda: any(p.name.endswith(".tmp") for p in (repo / "out").iterdir()))
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

    first_part = (repo / "out/part-000.txt").stat().st_mtime_ns
    run(["dvc", "repro", "--quiet"], repo)
    parts = [f"part-{i:03d}.txt" for i in range(40)]
    names = sorted(p.name for p in (repo / "out").iterdir())
    leftovers = [n for n in names if n.endswith(".tmp")]
    assert [n for n in names if not n.endswith(".tmp")] == parts
    assert bool(leftovers) == persist  # DVC deletes ordinary outputs before a rerun
    resumed = (repo / "out/part-000.txt").stat().st_mtime_ns == first_part
    assert resumed == persist
    out = load_lock(repo / "dvc.lock")["write"]["outs"][0]
    clean = [{"md5": file_md5(repo / "out" / name), "relpath": name} for name in parts]
    assert out["md5"] == listing_md5(clean) and out["nfiles"] == 40
    assert all(f.status == OK for f in verify_lock(repo / "dvc.lock"))
    assert "up to date" in run(["dvc", "status"], repo).stdout
