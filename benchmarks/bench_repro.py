"""Wall time of `make repro` in a fresh clone, in total and per stage.

    python benchmarks/bench_repro.py [--runs 2] [--keep DIR] [--each]

Each run clones the committed HEAD of this repository into a new temporary directory, runs `make
repro` there (the set-up into the clone's own `.venv` included) and timestamps every output line
as it arrives. A stage's time runs from DVC's "Running stage" line to the next stage's (or to
the end of `dvc repro`); "set-up" is everything before the first stage; "status" is the closing
`dvc status`. Prints one table of per-stage times (median over the runs, then each run) and the
total: the figure the README's Timings quotes. Pip's download cache is the user's, as it is for
`make repro`. With `--keep DIR` the clones stay in DIR/run1, DIR/run2, ...: `python
benchmarks/check_determinism.py --pair DIR/run1 DIR/run2` then compares their outputs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGE_LINE = re.compile(r"^Running stage '([^']+)':")
STATUS_LINE = re.compile(r"^dvc status")


def stage_group(stage: str) -> str:
    """`eval_sft@asap` -> `eval_sft`: the row a stage's time is summed into."""
    return stage.split("@", 1)[0]


def timed_make_repro(clone: Path, log_path: Path) -> tuple[float, dict[str, float]]:
    """Run `make repro` in `clone`; return its wall time and seconds per stage."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
    env["PYTHONUNBUFFERED"] = "1"  # DVC's "Running stage" lines arrive when they are written
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO))
    )
    started = time.monotonic()
    marks: list[tuple[str, float]] = [("set-up", started)]
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            ["make", "repro"],
            cwd=clone,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert process.stdout is not None
        for line in process.stdout:
            now = time.monotonic()
            log.write(f"{now - started:9.1f} {line}")
            match = STAGE_LINE.match(line)
            if match:
                marks.append((match.group(1), now))
            elif STATUS_LINE.match(line):
                marks.append(("status", now))
        returncode = process.wait()
    ended = time.monotonic()
    if returncode != 0:
        sys.exit(f"make repro failed in {clone} (exit {returncode}); log: {log_path}")
    per_stage: dict[str, float] = {}
    for (name, at), (_, until) in zip(marks, [*marks[1:], ("end", ended)], strict=True):
        per_stage[name] = per_stage.get(name, 0.0) + until - at
    return ended - started, per_stage


def grouped(per_stage: dict[str, float]) -> dict[str, float]:
    groups: dict[str, float] = defaultdict(float)
    for name, seconds in per_stage.items():
        groups[stage_group(name)] += seconds
    return dict(groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the clones and logs under this folder")
    parser.add_argument("--each", action="store_true", help="also print every stage, ungrouped")
    args = parser.parse_args()
    if subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=REPO, check=False).returncode:
        print("note: uncommitted changes are not benchmarked (the clone is of HEAD)")
    # every run at one commit, however the source moves on meanwhile
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    root = args.keep or Path(tempfile.mkdtemp(prefix="asap-bench-repro-"))
    root.mkdir(parents=True, exist_ok=True)
    totals, runs = [], []
    try:
        for index in range(1, args.runs + 1):
            clone = root / f"run{index}"
            shutil.rmtree(clone, ignore_errors=True)
            subprocess.run(
                ["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=300
            )
            subprocess.run(["git", "checkout", "--quiet", commit], cwd=clone, check=True)
            total, per_stage = timed_make_repro(clone, root / f"run{index}.log")
            totals.append(total)
            runs.append(per_stage)
            print(f"run {index}: make repro {total / 60:.1f} min", flush=True)
            if not args.keep:
                shutil.rmtree(clone, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    rows = [grouped(r) for r in runs]
    if args.each:
        rows = runs
    names = list(dict.fromkeys(name for row in rows for name in row))
    header = "| stage | median s | " + " | ".join(f"run {i} s" for i in range(1, len(rows) + 1))
    print(header + " |")
    print("|---|---|" + "---|" * len(rows))
    for name in names:
        values = [row.get(name, 0.0) for row in rows]
        cells = " | ".join(f"{v:.0f}" for v in values)
        print(f"| {name} | {statistics.median(values):.0f} | {cells} |")
    print(
        f"make repro, fresh clone, set-up included: median {statistics.median(totals) / 60:.1f} "
        f"min over {len(totals)} runs ({', '.join(f'{t / 60:.1f}' for t in totals)})"
    )


if __name__ == "__main__":
    main()
