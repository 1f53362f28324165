"""`asap verify`: recompute every hash recorded in dvc.lock; exit 1 on a mismatch or a missing file.

Runs nothing from the pipeline. `--cache` verifies outputs from a DVC cache (after `dvc fetch`,
or a local remote directory) instead of the checked-out workspace.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from asap.repro.io import DataError, dumps_stable
from asap.repro.verify import FAILED, OK, default_cache_dir, verify_lock


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "stages",
        nargs="*",
        metavar="STAGE",
        help="stages to verify (a foreach name covers all its items; default: all)",
    )
    parser.add_argument("--lock", default="dvc.lock", help="lock file (default: %(default)s)")
    parser.add_argument(
        "--cache",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="verify outputs from this DVC cache or local remote directory "
        "(no DIR: the repository's cache, as `dvc cache dir` shows it; name stages before "
        "this option)",
    )
    parser.add_argument("--json", action="store_true", help="print every finding as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="also list entries that match")


def run(args: argparse.Namespace) -> int:
    cache = None
    if args.cache is not None:
        cache = args.cache or default_cache_dir(args.lock)
    try:
        findings = verify_lock(args.lock, cache=cache, stages=args.stages)
    except DataError as err:
        print(f"asap verify: {err}", file=sys.stderr)
        return 2
    failed = [f for f in findings if f.status in FAILED]
    if args.json:
        print(dumps_stable([f.as_dict() for f in findings], indent=2))
    else:
        for finding in findings:
            if finding.status != OK or args.verbose:
                source = " [cache]" if finding.source == "cache" else ""
                detail = f"  {finding.detail}" if finding.detail else ""
                print(
                    f"{finding.status.upper():<9}{finding.stage}  {finding.kind}  "
                    f"{finding.path}{source}{detail}"
                )
        counts = Counter(f.status for f in findings)
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        stages = len({f.stage for f in findings})
        where = f" against cache {cache}" if cache is not None else ""
        print(f"verify: {len(findings)} entries in {stages} stages{where}: {summary or 'nothing'}")
    return 1 if failed else 0
