"""Effect of difflib's `autojunk` on the stage-1 validation ratio, on real CoT steps.

    python benchmarks/bench_autojunk.py [--min-chars 250] [--delete 0.33] [--seed 0]

Every step of the real CodeForces-CoTs records longer than `--min-chars` characters is pruned
the way a teacher that follows the coarse prompt prunes: a fraction `--delete` of its words is
removed (chosen with a seeded RNG), the rest is kept verbatim and in order. The Gestalt ratio of
the pruned step against its original (`asap.matching`, `SequenceMatcher(None, original, pruned,
autojunk=...)`) is printed with autojunk on (difflib's default, as the authors call it) and off,
with the share of steps that pass the 0.6 threshold.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from difflib import SequenceMatcher
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from asap.data.steps import split_steps  # noqa: E402
from tests.real_data import train_records  # noqa: E402


def delete_words(step: str, fraction: float, rng: random.Random) -> str:
    """`step` with `fraction` of its words removed, the others kept in order."""
    words = step.split(" ")
    drop = set(rng.sample(range(len(words)), round(fraction * len(words))))
    return " ".join(w for i, w in enumerate(words) if i not in drop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-chars", type=int, default=250)
    parser.add_argument("--delete", type=float, default=0.33)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.6)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    pairs = [
        (step, delete_words(step, args.delete, rng))
        for record in train_records()
        for step in split_steps(record["cot"])
        if len(step) > args.min_chars
    ]
    print(
        f"{len(pairs)} real steps over {args.min_chars} characters, {args.delete:.0%} of their "
        f"words deleted; threshold {args.threshold}"
    )
    print(f"{'autojunk':>9} {'min':>6} {'p10':>6} {'median':>6} {'p90':>6} {'max':>6} {'pass':>6}")
    for autojunk in (True, False):
        ratios = sorted(
            SequenceMatcher(None, original, pruned, autojunk=autojunk).ratio()
            for original, pruned in pairs
        )
        deciles = statistics.quantiles(ratios, n=10)
        passed = sum(r >= args.threshold for r in ratios) / len(ratios)
        print(
            f"{autojunk!s:>9} {ratios[0]:6.2f} {deciles[0]:6.2f} {statistics.median(ratios):6.2f} "
            f"{deciles[-1]:6.2f} {ratios[-1]:6.2f} {passed:6.0%}"
        )


if __name__ == "__main__":
    main()
