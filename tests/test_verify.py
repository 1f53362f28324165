"""`asap verify` recomputes dvc.lock hashes exactly as DVC does and reports every difference."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from dvc_data.hashfile.hash import fobj_md5
from dvc_data.hashfile.hash_info import HashInfo
from dvc_data.hashfile.meta import Meta
from dvc_data.hashfile.tree import Tree
from hypothesis import given, settings
from hypothesis import strategies as st

from asap.repro.io import DataError
from asap.repro.verify import (
    LEGACY_MD5,
    MISMATCH,
    MISSING,
    OK,
    STALE,
    defined_stages,
    file_md5,
    listing_md5,
    load_lock,
    value_differences,
    verify_lock,
)
from tests.dvc_repos import make_dvc_repo, run, verify_cli

relpaths = st.lists(
    st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=["Cs"]), min_size=1),
    min_size=1,
    max_size=3,
).map("/".join)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(relpaths, st.binary(min_size=16, max_size=16).map(bytes.hex), max_size=8))
def test_directory_hash_equals_dvc_data(entries):
    tree = Tree()
    for relpath, md5 in entries.items():
        tree.add(tuple(relpath.split("/")), Meta(), HashInfo("md5", md5))
    tree.digest()
    listing = [{"md5": md5, "relpath": relpath} for relpath, md5 in entries.items()]
    assert listing_md5(listing) == tree.hash_info.value


@settings(max_examples=60, deadline=None)
@given(blob=st.binary(max_size=3000), name=st.sampled_from(["md5", LEGACY_MD5]))
def test_file_hash_equals_dvc_data(tmp_path_factory, blob, name):
    path = tmp_path_factory.mktemp("f") / "blob"
    path.write_bytes(blob.replace(b"\n", b"\r\n"))
    assert file_md5(path, name) == fobj_md5(io.BytesIO(path.read_bytes()), name=name)


def test_params_differences_name_the_leaf():
    recorded = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    assert value_differences(recorded, recorded) == []
    diffs = value_differences(recorded, {"a": {"b": 2, "c": [1, 2]}, "e": 0}, "sec")
    assert diffs == [
        "sec.a.b: recorded 1, found 2",
        'sec.d: recorded "x", found (absent)',
        "sec.e: recorded (absent), found 0",
    ]
    assert value_differences(1, 1.0) != []  # an int turned float is a change


STAGE_SCRIPT = """\
import sys
from pathlib import Path
import yaml
from asap.repro.io import write_text_atomic
n = yaml.safe_load(open("params.yaml"))["make"]["n"]
for i in range(n):
    write_text_atomic(f"out/dir/sub/part-{i}.txt", f"part {i}\\n" * (i + 1))
write_text_atomic("out/single.txt", "single\\n")
write_text_atomic("metrics.json", '{"n": %d}\\n' % n)
"""

DVC_YAML = """\
stages:
  make:
    cmd: python make.py
    deps:
      - make.py
      - input
    params:
      - make
    outs:
      - out/dir
      - out/single.txt
    metrics:
      - metrics.json:
          cache: false
  use:
    cmd: cat out/dir/sub/part-1.txt out/single.txt > used.txt
    deps:
      - out/dir/sub/part-1.txt
      - out/dir/sub
      - out/single.txt
    outs:
      - used.txt
"""


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory) -> Path:
    """A small repository after a real `dvc repro` (file, directory and nested deps)."""
    root = make_dvc_repo(
        tmp_path_factory.mktemp("verify") / "repo",
        {
            "make.py": STAGE_SCRIPT,
            "dvc.yaml": DVC_YAML,
            "params.yaml": "make:\n  n: 3\n  rate: 1e-5\n",
            "input/a.txt": "a\r\nb\n",
            ".dvcignore": "*.bak\n",
        },
    )
    run(["dvc", "repro", "--quiet"], root)
    return root


@pytest.fixture
def repo(reproduced, tmp_path) -> Path:
    """A copy of `reproduced` of the test's own, to damage (DVC keeps no absolute paths)."""
    return Path(shutil.copytree(reproduced, tmp_path / "repo", symlinks=True))


def _by_path(findings):
    return {(f.stage, f.kind, f.path): f for f in findings}


def test_fresh_repro_verifies_and_matches_dvc(repo):
    findings = verify_lock(repo / "dvc.lock")
    assert findings and all(f.status == OK for f in findings), findings
    kinds = {(f.kind, f.path) for f in findings}
    assert ("out", "out/dir") in kinds and ("dep", "out/dir/sub") in kinds
    assert ("param", "params.yaml:make") in kinds  # 1e-5 is a float for DVC and for us
    (repo / "out/dir/sub/notes.bak").write_text("ignored by .dvcignore")
    assert all(f.status == OK for f in verify_lock(repo / "dvc.lock"))
    result = verify_cli("--lock", str(repo / "dvc.lock"), cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(
        rf"verify: {len(findings)} entries in 2 stages: {len(findings)} ok$",
        result.stdout,
        re.MULTILINE,
    ), result.stdout


def test_tampered_deleted_and_extra_files_are_reported(repo):
    (repo / "out/dir/sub/part-2.txt").write_text("tampered\n")
    (repo / "out/dir/sub/new.txt").write_text("extra\n")
    (repo / "out/single.txt").unlink()
    (repo / "params.yaml").write_text("make:\n  n: 4\n  rate: 1e-5\n")
    found = _by_path(verify_lock(repo / "dvc.lock"))
    tree = found[("make", "out", "out/dir")]
    assert tree.status == MISMATCH
    assert "changed: sub/part-2.txt" in tree.detail and "extra: sub/new.txt" in tree.detail
    assert found[("make", "out", "out/single.txt")].status == MISSING
    assert found[("use", "dep", "out/single.txt")].status == MISSING
    assert found[("use", "dep", "out/dir/sub")].status == MISMATCH
    assert found[("use", "dep", "out/dir/sub/part-1.txt")].status == OK
    param = found[("make", "param", "params.yaml:make")]
    assert param.status == MISMATCH and "make.n: recorded 3, found 4" in param.detail
    assert found[("make", "dep", "input")].status == OK

    result = verify_cli("--lock", str(repo / "dvc.lock"), cwd=repo)
    assert result.returncode == 1
    assert "MISSING  make  out  out/single.txt" in result.stdout
    assert "MISMATCH make  out  out/dir" in result.stdout
    only_use = verify_cli("use", "--lock", str(repo / "dvc.lock"), cwd=repo)
    assert "make" not in only_use.stdout.replace("make.py", "")


def test_the_entry_of_a_renamed_stage_is_reported_stale(repo):
    """DVC keeps a renamed stage's old lock entry and ignores it; verify names it."""
    (repo / "dvc.yaml").write_text(DVC_YAML.replace("  use:", "  combine:"))
    run(["dvc", "repro", "--quiet"], repo)
    assert "use" in load_lock(repo / "dvc.lock")  # DVC left it there
    found = _by_path(verify_lock(repo / "dvc.lock"))
    stale = found[("use", "stage", "use")]
    assert stale.status == STALE and "not a stage of dvc.yaml" in stale.detail
    assert not any(f.stage == "use" and f.kind != "stage" for f in found.values())
    assert all(f.status == OK for f in found.values() if f.stage != "use")
    result = verify_cli("--lock", str(repo / "dvc.lock"), cwd=repo)
    assert result.returncode == 1 and "STALE" in result.stdout, result.stdout


def test_the_committed_lock_holds_only_stages_of_dvc_yaml():
    repo_root = Path(__file__).resolve().parents[1]
    defined = defined_stages(repo_root / "dvc.yaml")
    assert defined and set(load_lock(repo_root / "dvc.lock")) <= defined


def test_cache_mode_needs_no_checkout_and_catches_corrupt_objects(repo):
    for out in ("out", "used.txt"):
        path = repo / out
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert any(f.status == MISSING for f in verify_lock(repo / "dvc.lock"))
    findings = verify_lock(repo / "dvc.lock", cache=repo / ".dvc/cache")
    assert all(f.status == OK for f in findings), findings
    sources = {(f.kind, f.path): f.source for f in findings}
    assert sources[("out", "out/dir")] == "cache"
    assert sources[("dep", "out/dir/sub/part-1.txt")] == "cache"  # found inside out/dir
    assert sources[("dep", "out/dir/sub")] == "cache"
    assert sources[("dep", "make.py")] == "workspace"  # git-tracked, never cached
    assert verify_cli("--cache", "--lock", str(repo / "dvc.lock"), cwd=repo).returncode == 0

    lock = load_lock(repo / "dvc.lock")
    single = next(o for o in lock["make"]["outs"] if o["path"] == "out/single.txt")
    obj = repo / ".dvc/cache/files/md5" / single["md5"][:2] / single["md5"][2:]
    obj.chmod(0o644)
    obj.write_text("corrupt\n")
    found = _by_path(verify_lock(repo / "dvc.lock", cache=repo / ".dvc/cache"))
    assert found[("make", "out", "out/single.txt")].status == MISMATCH
    assert "corrupt" in found[("make", "out", "out/single.txt")].detail
    obj.unlink()
    found = _by_path(verify_lock(repo / "dvc.lock", cache=repo / ".dvc/cache"))
    assert found[("make", "out", "out/single.txt")].status == MISSING


def test_bad_invocations_exit_2_with_a_reason(tmp_path, repo):
    assert verify_cli("--lock", str(tmp_path / "none.lock"), cwd=tmp_path).returncode == 2
    unknown = verify_cli("nostage", "--lock", str(repo / "dvc.lock"), cwd=repo)
    assert unknown.returncode == 2 and "no stage nostage" in unknown.stderr
    (tmp_path / "bad.lock").write_text("stages: [1, 2\n")
    with pytest.raises(DataError, match="malformed YAML"):
        load_lock(tmp_path / "bad.lock")
