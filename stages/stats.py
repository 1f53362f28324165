"""Stage `stats`: Wilcoxon tests, the paper's tables, figures, the results CSVs and an index.

    python -m stages.stats

Reads the params section `<profile>.stats` and the run label; the work is `asap.report.build.run`
(its docstring lists every output).
"""

from __future__ import annotations

from asap.report.build import run
from asap.report.run_label import run_label
from asap.repro.params import load_params, stage_params


def main() -> int:
    profile = str(load_params()["profile"])
    run({**stage_params("stats"), "run_label": run_label()}, profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
