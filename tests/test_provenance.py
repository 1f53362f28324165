"""Report provenance: commit, dirty flag, params, input hashes; byte-stable for equal inputs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from packaging.utils import canonicalize_name

from asap.repro.io import DataError, dumps_stable
from asap.repro.provenance import PACKAGES, provenance
from asap.repro.verify import dvc_md5
from tests.dvc_repos import QUICK_S, run

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


FILES = {
    "params.yaml": "profile: embedded\nembedded:\n  make:\n    n: 3\n",
    "make.py": "print('make')\n",
    "dvc.lock": LOCK,
    "reports/make.json": "{}\n",
    "data/raw/a.txt": "a\n",
    "data/raw/b/c.txt": "c\n",
    "data/.gitignore": "/out\n",
}


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository holding FILES, committed. Provenance reads git, params.yaml, dvc.lock
    and the inputs, not DVC's own state: the repository needs no `dvc init`."""
    root = tmp_path / "repo"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    for command in (["init", "--quiet", "--initial-branch=main"], ["add", "--all"]):
        run(["git", *command], root, timeout=QUICK_S)
    run(["git", "commit", "--quiet", "-m", "init"], root, timeout=QUICK_S)
    monkeypatch.chdir(root)
    return root


def _head(root):
    return run(["git", "rev-parse", "HEAD"], root, timeout=QUICK_S).stdout.strip()


def _versions_pip_lists() -> dict[str, str]:
    """The versions of PACKAGES as pip sees this interpreter's installation (`pip list`)."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
        capture_output=True, text=True, check=True, timeout=QUICK_S,
    )  # fmt: skip
    installed = {canonicalize_name(p["name"]): p["version"] for p in json.loads(listed.stdout)}
    versions = {"python": "{}.{}.{}".format(*sys.version_info[:3])}
    for name in PACKAGES:
        versions[name] = installed.get(canonicalize_name(name), "not installed")
    return versions


def test_provenance_records_commit_params_inputs_and_versions(repo):
    block = provenance("make", {"n": 3}, ["data/raw", "make.py"])
    assert block["git"] == {"commit": _head(repo), "dirty": False}
    assert block["profile"] == "embedded" and block["params"] == {"n": 3}
    assert block["inputs"] == {"data/raw": dvc_md5("data/raw"), "make.py": dvc_md5("make.py")}
    assert block["inputs"]["data/raw"].endswith(".dir")
    assert block["versions"] == _versions_pip_lists()
    assert block["versions"]["torch"] != "not installed"
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
