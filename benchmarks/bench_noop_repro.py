"""Wall time of `dvc repro` when nothing changed, in a fresh clone.

    python benchmarks/bench_noop_repro.py [--repeats 5] [STAGES ...]

Clones the repository, reproduces STAGES (default: data base_model) once, then times
`dvc repro STAGES` with nothing changed `--repeats` times and prints min / median / max. A
no-op repro only hashes dependencies against dvc.lock; a figure far above a few seconds means
a stage dependency is being rehashed (a large directory without a .dir cache) or a stage reruns.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("stages", nargs="*", default=["data", "base_model"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="asap-noop-") as tmp:
        clone = Path(tmp) / "repo"
        run(["git", "clone", "--quiet", str(REPO), str(clone)], REPO)
        run(["dvc", "repro", *args.stages], clone)
        times = []
        for _ in range(args.repeats):
            started = time.monotonic()
            out = run(["dvc", "repro", *args.stages], clone)
            times.append(time.monotonic() - started)
            if "Running stage" in out:
                sys.exit(f"a stage reran although nothing changed:\n{out}")
    print(
        f"no-op dvc repro {' '.join(args.stages)}: min {min(times):.2f} s, "
        f"median {statistics.median(times):.2f} s, max {max(times):.2f} s ({args.repeats} runs)"
    )


if __name__ == "__main__":
    main()
