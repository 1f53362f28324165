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
import os, threading
from pathlib import Path
import yaml
from asap.repro.io import atomic_path
Path("writer.pid").write_text(str(os.getpid()))
n = yaml.safe_load(open("params.yaml"))["write"]["parts"]
hold = int(os.environ.get("WRITER_HOLD_AT", "-1"))
for i in range(n):
    if Path(f"out/part-{i:03d}.txt").exists():  # finished by an earlier, killed run
        continue
    with atomic_path(f"out/part-{i:03d}.txt") as tmp, tmp.open("w") as handle:
        for line in range(5):
            handle.write(f"part {i} line {line}\\n")
            handle.flush()
            if i == hold and line == 2:  # half written: tell the test, wait for its SIGKILL
                Path("writer.held").touch()
                threading.Event().wait()
    with open("writer.log", "a") as log:  # the parts this stage wrote, outside its output
        log.write(f"{i}\\n")
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
        env=tool_env(WRITER_HOLD_AT="5"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Mid-way: the writer holds with parts 0-4 complete and part 5 half written.
        wait_until(proc, (repo / "writer.held").exists)
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
    names = sorted(p.name for p in (repo / "out").iterdir())
    assert [n for n in names if not n.endswith(".tmp")] == [f"part-{i:03d}.txt" for i in range(5)]
    (torn,) = [n for n in names if n.endswith(".tmp")]
    assert torn.startswith(".part-005.txt.")
    assert (repo / "out" / torn).read_text().count("\n") == 3  # half written
    status = run(["dvc", "status", "write"], repo).stdout
    assert "changed" in status, status
    stale = [f for f in verify_lock(repo / "dvc.lock") if f.status != OK]
    assert {(f.kind, f.path) for f in stale} == {("param", "params.yaml:write"), ("out", "out")}

    (repo / "writer.log").unlink()
    run(["dvc", "repro", "--quiet"], repo)
    parts = [f"part-{i:03d}.txt" for i in range(40)]
    names = sorted(p.name for p in (repo / "out").iterdir())
    leftovers = [n for n in names if n.endswith(".tmp")]
    assert [n for n in names if not n.endswith(".tmp")] == parts
    assert bool(leftovers) == persist  # DVC deletes ordinary outputs before a rerun
    # the rerun writes only the missing parts 5-39 when the output persists, else all 40
    written = [int(line) for line in (repo / "writer.log").read_text().split()]
    assert written == list(range(5 if persist else 0, 40))
    out = load_lock(repo / "dvc.lock")["write"]["outs"][0]
    clean = [{"md5": file_md5(repo / "out" / name), "relpath": name} for name in parts]
    assert out["md5"] == listing_md5(clean) and out["nfiles"] == 40
    assert all(f.status == OK for f in verify_lock(repo / "dvc.lock"))
    assert "up to date" in run(["dvc", "status"], repo).stdout
