"""The code fingerprint behind every per-record cache covers each repository module the cached
computation imports: an edited module, however deep, is never served results of the old code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from asap.repro.code import code_fingerprint, import_closure
from tests.dvc_repos import run

# In a clone: the fingerprints each cache keys on, and whether a result cached under the
# compressor's key before an edit is still served after it.
PROBE = """
import json, sys
from asap.repro.code import code_fingerprint
from asap.repro.cache import RecordCache
from asap.compression.spirit import Spirit

record = {"id": "r", "question": "q", "cot": "a\\n\\nb"}
code = code_fingerprint(("stages.compress", *Spirit.modules))  # the compress stage's key
cache = RecordCache(sys.argv[1], {"method": "spirit", "code": code})
served = cache.get(cache.key(record))
if served is None:
    cache.put(cache.key(record), {"cot": "a"})
print(json.dumps({
    "spirit": code,
    "surprisal": code_fingerprint(["stages.surprisal"]),
    "generation": code_fingerprint(["asap.eval.generation"]),
    "served": served is not None,
}))
"""


def probe(clone: Path, cache: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(cache)],
        cwd=clone, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(result.stdout)


def test_closure_follows_imports_inside_functions_and_package_inits() -> None:
    closure = import_closure("asap.compression.spirit")
    # the module whose edit a hand-made module list once missed (results of the old scorer)
    assert "asap/scoring/last_layer.py" in closure
    assert {"asap/__init__.py", "asap/compression/__init__.py", "asap/scoring/logprobs.py"} <= set(
        closure
    )
    assert closure == sorted(closure) and not [p for p in closure if p.startswith("tests/")]
    assert "stages/surprisal.py" in import_closure("stages.surprisal")


def test_unknown_modules_are_refused() -> None:
    with pytest.raises(ModuleNotFoundError, match=r"asap\.no_such_module"):
        import_closure("asap.no_such_module")
    with pytest.raises(ModuleNotFoundError, match="no_such_package"):
        code_fingerprint(["no_such_package.module"])


def test_editing_an_imported_module_in_a_clone_invalidates_the_cache(
    repo_root: Path, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"
    run(["git", "clone", "--quiet", str(repo_root), str(clone)], repo_root)
    cache = tmp_path / "cache"
    before, again = probe(clone, cache), probe(clone, cache)
    assert not before["served"] and again == {**before, "served": True}  # same code: reused

    deep = (
        clone / "asap/scoring/last_layer.py"
    )  # imported by the scorer, not named by any compressor
    deep.write_text(deep.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    after = probe(clone, cache)
    assert not after["served"]  # the old result is not served to the edited code
    assert after["spirit"] != before["spirit"] and after["surprisal"] != before["surprisal"]
    assert after["generation"] == before["generation"]  # generation does not import it
