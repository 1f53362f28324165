"""Report provenance: commit, dirty flag, params, input hashes; byte-stable for equal inputs."""

from __future__ import annotations

import subprocess

import pytest

from asap.repro.io import DataError, dumps_stable
from asap.repro.provenance import package_versions, provenance
from asap.repro.verify import dvc_md5
from tests.dvc_repos import make_dvc_repo, run

LOCK = """\
schema: '2.0'
stages:
  make:
    cmd: python make.py
    outs:
    - path: reports/make.json
      hash: md5
      md5: 0123456789abcdef0123456789abcdef
      size: 2
"""


@pytest.fixture
def repo(tmp_path, monkeypatch):
    root = make_dvc_repo(
        tmp_path / "repo",
        {
            "params.yaml": "profile: embedded\nembedded:\n  make:\n    n: 3\n",
            "make.py": "print('make')\n",
            "dvc.lock": LOCK,
            "reports/make.json": "{}\n",
            "data/raw/a.txt": "a\n",
            "data/raw/b/c.txt": "c\n",
            "data/.gitignore": "/out\n",
        },
    )
    monkeypatch.chdir(root)
    return root


def _head(root):
    return run(["git", "rev-parse", "HEAD"], root).stdout.strip()


def test_provenance_records_commit_params_inputs_and_versions(repo):
    block = provenance("make", {"n": 3}, ["data/raw", "make.py"])
    assert block["git"] == {"commit": _head(repo), "dirty": False}
    assert block["profile"] == "embedded" and block["params"] == {"n": 3}
    assert block["inputs"] == {"data/raw": dvc_md5("data/raw"), "make.py": dvc_md5("make.py")}
    assert block["inputs"]["data/raw"].endswith(".dir")
    assert block["versions"] == package_versions()
    assert "timestamp" not in dumps_stable(block)
    assert dumps_stable(block) == dumps_stable(
        provenance("make", {"n": 3}, ["make.py", "data/raw"])
    )


def test_dirty_ignores_what_a_pipeline_run_rewrites(repo):
    (repo / "dvc.lock").write_text(LOCK.replace("size: 2", "size: 3"))
    (repo / "reports/make.json").write_text('{"n": 3}\n')  # a cache: false output, in git
    (repo / "data/.gitignore").write_text("/out\n/more\n")
    assert provenance("make", {}, [])["git"]["dirty"] is False
    (repo / "make.py").write_text("print('changed')\n")
    assert provenance("make", {}, [])["git"]["dirty"] is True


def test_input_change_changes_the_block(repo):
    before = provenance("make", {}, ["data/raw"])
    (repo / "data/raw/b/c.txt").write_text("changed\n")
    assert provenance("make", {}, ["data/raw"])["inputs"] != before["inputs"]


def test_outside_git_the_commit_is_unknown(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    work = tmp_path / "plain"
    work.mkdir()
    (work / "params.yaml").write_text("profile: embedded\nembedded: {}\n")
    monkeypatch.chdir(work)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, timeout=60)
    assert head.returncode != 0
    assert provenance("x", {}, [])["git"] == {"commit": "unknown", "dirty": None}


def test_missing_input_is_named(repo):
    with pytest.raises(DataError, match=r"data/raw/nope\.txt: input not found"):
        provenance("make", {}, ["data/raw/nope.txt"])


def test_fast_lock_reading_gives_the_same_paths_and_hashes(repo_root):
    from asap.repro.verify import load_lock

    exact, fast = load_lock(repo_root / "dvc.lock"), load_lock(repo_root / "dvc.lock", fast=True)
    assert exact.keys() == fast.keys()
    for name, stage in exact.items():
        for kind in ("deps", "outs"):
            assert [(f["path"], f.get("md5")) for f in stage.get(kind) or []] == [
                (f["path"], f.get("md5")) for f in fast[name].get(kind) or []
            ], (name, kind)
