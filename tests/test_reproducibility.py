"""Reproducibility of the cheap stages in fresh clones: same hashes, verify, push/pull, --pull.

Two clones of the committed repository run `dvc repro data base_model` in different
environments (offline flag, time zone); every output must hash the same. The first is the
session's foundation clone, which other tests read too: tests here damage only copies. A copy
of it pushes to a local-directory remote, loses its outputs and cache, and gets them back with
`dvc pull` and with `dvc repro --pull` (which must not rerun the stage).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from asap.repro.determinism import IDENTICAL, compare_checkouts
from asap.repro.io import read_json
from asap.repro.verify import OK, dvc_md5, verify_lock
from tests.dvc_repos import run

# one worker runs this module: its tests share the two clones (make test: --dist loadgroup)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reproducibility")]

STAGES = ["data", "base_model"]
DATA_OUTS = ["data/train/cots.jsonl", "data/benchmarks"]


@pytest.fixture(scope="module")
def clones(repo_root, foundation_clone, tmp_path_factory):
    """Two fresh clones, each after its own `dvc repro data base_model`: the session's
    foundation clone (conftest, the test environment) and one in another environment."""
    other = tmp_path_factory.mktemp("reproducibility") / "b"
    run(["git", "clone", "--quiet", str(repo_root), str(other)], repo_root)
    run(["dvc", "repro", *STAGES], other, HF_HUB_OFFLINE="0", TZ="Asia/Tokyo")
    return foundation_clone, other


def _verify(lock, *args):
    return run(
        [sys.executable, "-m", "asap.cli", "verify", "--lock", str(lock), *args],
        lock.parent,
        check=False,
    )


def test_two_fresh_clones_produce_identical_outputs(clones):
    results = compare_checkouts(*clones, STAGES)
    assert {r.path for r in results} >= {*DATA_OUTS, "reports/data.json", "models/base"}
    assert [r for r in results if r.status != IDENTICAL] == []


def test_data_report_carries_provenance(clones):
    clone = clones[0]
    block = read_json(clone / "reports/data.json")["provenance"]
    head = run(["git", "rev-parse", "HEAD"], clone).stdout.strip()
    assert block["git"] == {"commit": head, "dirty": False}
    assert block["stage"] == "data" and block["profile"] == "embedded"
    assert block["inputs"] and all(
        md5 == dvc_md5(clone / path) for path, md5 in block["inputs"].items()
    )


def test_push_pull_verify_and_repro_pull(clones, tmp_path):
    assert _verify(clones[0] / "dvc.lock", *STAGES).returncode == 0  # the lock holds more
    # A copy of its own, for the test damages outputs and the cache: only `data` is pushed,
    # so the model and the cache stay behind and `dvc commit` caches the data outputs again.
    clone = tmp_path / "copy"
    shutil.copytree(clones[0], clone, symlinks=True, ignore=_model_and_cache(clones[0]))
    run(["dvc", "commit", "--force", "data"], clone)
    lock = clone / "dvc.lock"
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "--default", "--force", "tmp", str(remote)], clone)
    run(["dvc", "push", "data"], clone)

    # Tampered and deleted outputs are reported.
    (clone / "data/benchmarks/humaneval.jsonl").write_text("{}\n")
    (clone / "data/train/cots.jsonl").unlink()
    broken = _verify(lock, "data")
    assert broken.returncode == 1
    assert "MISMATCH data  out  data/benchmarks" in broken.stdout
    assert "changed: humaneval.jsonl" in broken.stdout
    assert "MISSING  data  out  data/train/cots.jsonl" in broken.stdout

    def wipe():
        for out in DATA_OUTS:
            path = clone / out
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        shutil.rmtree(clone / ".dvc/cache")

    wipe()
    run(["dvc", "pull", "data"], clone)
    assert all(f.status == OK for f in verify_lock(lock, stages=["data"]))
    wipe()
    from_remote = verify_lock(lock, cache=remote, stages=["data"])  # a reviewer, no checkout
    assert all(f.status == OK for f in from_remote)
    assert {f.path for f in from_remote if f.source == "cache"} == set(DATA_OUTS)

    pulled = run(["dvc", "repro", "--pull", "data"], clone)
    assert "Running stage" not in pulled.stdout, pulled.stdout  # the stage command did not run
    assert all(f.status == OK for f in verify_lock(lock, stages=["data"]))


def _model_and_cache(clone):
    """A `copytree` filter that leaves out the clone's model folder and its DVC cache."""
    skipped = {clone / "models", clone / ".dvc" / "cache"}

    def ignore(folder, names):
        return [name for name in names if Path(folder) / name in skipped]

    return ignore
