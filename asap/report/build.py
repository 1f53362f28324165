"""The stats stage's work: the results frames, Wilcoxon tests, tables, figures and the index.

`run(params, profile)` reads every evaluation cell that exists (data/eval, reports/eval), the
training reports (reports/train) and the compression reports, and writes:

    reports/results.csv                every evaluated problem (asap.report.results), one row each
    reports/training.csv               per trained method: records, tokens, seconds per step
    reports/compression.csv            per method: requested and achieved ratio, tokens
    reports/stats/wilcoxon.json        tests of the reference method against every other one
    reports/tables/<table>.md|.tex     Tables 1-12 and the Wilcoxon results
    reports/figures/budget_<b>.png     accuracy, tokens and latency against budget (Figure 3)
    reports/figures/compression_overview.png
    reports/README.md                  index: commit, profile, params, input hashes per artifact

Every table, test and figure is computed from the results frame (per-cell numbers by groupby,
per-problem pairs for the tests). Cells that were not run show as gaps; nothing here fails
because a method is missing. Paths are relative to the working directory (the repository).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from asap.methods import METHODS
from asap.report import figures, results, tables
from asap.report.stats import WilcoxonParams, cell_dir, summary_path, wilcoxon_report
from asap.repro import not_run
from asap.repro.io import DataError, dumps_stable, read_json, write_json, write_text_atomic
from asap.repro.provenance import git_state, input_hashes, provenance

REPORTS = Path("reports")
TABLES_DIR = REPORTS / "tables"
FIGURES_DIR = REPORTS / "figures"
WILCOXON_JSON = REPORTS / "stats" / "wilcoxon.json"
RESULTS_CSV = REPORTS / "results.csv"
TRAINING_CSV = REPORTS / "training.csv"
COMPRESSION_CSV = REPORTS / "compression.csv"
INDEX = REPORTS / "README.md"
SWEEP_METHODS = tables.STRONG_ROWS


@dataclass
class Artifact:
    """Files written from one set of inputs, for the index."""

    files: list[str]
    caption: str
    inputs: list[str]


class InputLog:
    """Records the input files read while one artifact is built."""

    def __init__(self) -> None:
        self.current: set[str] = set()

    def read(self, path: Path) -> None:
        if path.exists():
            self.current.add(path.as_posix())

    def take(self) -> list[str]:
        """The inputs read since the last call (and forget them)."""
        inputs, self.current = sorted(self.current), set()
        return inputs


def read_cells(
    frame: pd.DataFrame, log: InputLog, *files: Callable[[str, str, int], Path]
) -> tables.Cells:
    """The per-cell numbers of a `summaries` frame; every cell a table asks for logs `files`."""

    def on_read(keys: Sequence[tables.Cell]) -> None:
        for key in keys:
            for path_of in files:
                log.read(path_of(*key))

    return tables.Cells(frame, on_read)


def cell_files(data_root: Path, reports_root: Path) -> list[Callable[[str, str, int], Path]]:
    """The files a cell's numbers come from: results, timings and its metrics JSON."""
    return [
        lambda m, b, n: cell_dir(data_root, m, b, n) / "results.jsonl",
        lambda m, b, n: cell_dir(data_root, m, b, n) / "timings.jsonl",
        lambda m, b, n: summary_path(reports_root, m, b, n),
    ]


def train_lookup(train_root: Path, log: InputLog) -> Callable[[str], dict[str, Any] | None]:
    """reports/train/<method>.json, with seconds_per_step taken from the timing file
    (reports/train/timings/<method>.json, or reports/train/<method>.timing.json) if present."""

    def lookup(method: str) -> dict[str, Any] | None:
        report_file = train_root / f"{method}.json"
        if not report_file.exists():
            return None
        log.read(report_file)
        report = read_json(report_file)
        if not isinstance(report, dict):
            raise DataError(f"{report_file}: expected a JSON object")
        if not_run.is_not_run(report):
            return None
        for timing_file in (
            train_root / "timings" / f"{method}.json",
            train_root / f"{method}.timing.json",
        ):
            if not timing_file.exists():
                continue
            log.read(timing_file)
            timing = read_json(timing_file)
            if not isinstance(timing, dict):
                raise DataError(f"{timing_file}: expected a JSON object")
            if timing.get("seconds_per_step") is not None:
                report = {**report, "seconds_per_step": timing["seconds_per_step"]}
            break
        for key in ("tokens_per_sample", "seconds_per_step"):
            value = report.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise DataError(f"{report_file}: {key} must be a number, got {value!r}")
        return report

    return lookup


def public_only(roots: list[Path]) -> list[str]:
    """The benchmarks with an eval cell graded on LiveCodeBench's public tests only."""
    found = set()
    for root in roots:
        for path in sorted(root.glob("*/*/*.json")):
            data = read_json(path)
            if isinstance(data, dict) and data.get("tests_used") == "public":
                found.add(path.parent.name)
    return [benchmark for benchmark in tables.BENCHMARK_NAMES if benchmark in found]


def with_label(label: str | None, note: str | None) -> str | None:
    """`note` after the run's label (what the run is), either one alone, or None."""
    return " ".join(part for part in (label, note) if part) or None


def budget_figures(
    cells: tables.Cells,
    sweep_budgets: Mapping[str, list[int]],
    profile: str,
    log: InputLog,
    label: str | None = None,
    public: tuple[str, ...] = (),
) -> list[Artifact]:
    """One figure per benchmark: Acc, Tok and Lat against budget (Figure 3 is LCB v4_v5);
    `public`: benchmarks graded on public tests only (said in their figure)."""
    artifacts = []
    for benchmark, name in tables.BENCHMARK_NAMES.items():
        budgets = list(sweep_budgets.get(benchmark, []))
        numbers = cells.get([(m, benchmark, b) for m in SWEEP_METHODS for b in budgets])
        run = numbers.dropna(subset=["n"])
        series = {}
        missing = []
        for method in SWEEP_METHODS:
            rows = run[run.index.get_level_values("method") == method]
            points = [(key[2], results.summary(row)) for key, row in rows.iterrows()]
            series[METHODS[method].label] = points
            if len(points) < len(budgets):
                missing.append(METHODS[method].label)
        if not budgets:
            note = f"no token-budget sweep in profile {profile}"
        elif missing:
            note = f"not run in profile {profile} (some or all budgets): " + ", ".join(missing)
        else:
            note = None
        if benchmark in public:
            note = with_label(tables.public_tests_note([benchmark]), note)
        path = FIGURES_DIR / f"budget_{benchmark}.png"
        figures.budget_figure(
            path,
            f"{name}: performance under different token budgets",
            series,
            {b: tables.budget_label(b) for b in budgets},
            with_label(label, note),
        )
        figure = "Figure 3: " if benchmark == "lcb_v4_v5" else ""
        caption = f"{figure}Acc, Tok and Lat against token budget on {name}"
        artifacts.append(Artifact([path.as_posix()], caption, log.take()))
    return artifacts


STAGE_LABELS = {"original": "Original", "coarse": "Coarse", "surprisal": "Fine (surprisal)"}


def pruning_stages(path: Path) -> list[figures.StageTokens] | None:
    """ASAP's mean CoT tokens per record after each stage, from reports/pruning.json.

    Layout (the surprisal stage's report): `stage_order` ["original", ..., "surprisal"] and
    `stages`: {stage: {"tokens_before", "tokens_after", ...}} for every stage after the first.
    """
    if not path.exists():
        return None
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object")
    order, stages = data.get("stage_order"), data.get("stages")
    if not isinstance(order, list) or len(order) < 2 or not isinstance(stages, dict):
        raise DataError(f"{path}: expected 'stage_order' (2+ stages) and a 'stages' mapping")
    points: list[figures.StageTokens] = []
    for name in order[1:]:
        block = stages.get(name)
        numbers = [block.get(k) for k in ("tokens_before", "tokens_after")] if block else []
        if len(numbers) != 2 or not all(isinstance(n, int | float) for n in numbers):
            raise DataError(f"{path}: stage {name!r} lacks numeric tokens_before/tokens_after")
        if not points:
            points.append(figures.StageTokens(STAGE_LABELS.get(order[0], order[0]), numbers[0]))
        points.append(figures.StageTokens(STAGE_LABELS.get(name, str(name)), numbers[1]))
    return points


def method_compression(
    frame: pd.DataFrame,
) -> tuple[list[figures.MethodCompression], list[str]]:
    """Achieved and requested ratio per method run, and the labels of the methods not run, from
    the compression frame (`asap.report.results.compression_frame`)."""
    labels = frame["method"].map(lambda m: METHODS[m].label if m in METHODS else str(m))
    done = frame["status"].eq("ok")
    methods = [
        figures.MethodCompression(
            label, float(row.achieved_ratio),
            None if pd.isna(row.requested_ratio) else float(row.requested_ratio),
        )
        for label, row in zip(labels[done], frame[done].itertuples(index=False), strict=True)
    ]  # fmt: skip
    return methods, list(labels[~done])


def compression_figure(
    params: Mapping[str, Any],
    compression: pd.DataFrame,
    profile: str,
    log: InputLog,
    label: str | None = None,
) -> Artifact:
    """ASAP's tokens per stage (reports/pruning.json) and every method's ratio (`compression`,
    read from the compression report)."""
    pruning_file = Path(params["pruning_report"])
    compression_file = Path(params["compression_report"])
    log.read(pruning_file)
    log.read(compression_file)
    path = FIGURES_DIR / "compression_overview.png"
    methods, not_run = method_compression(compression) if compression_file.exists() else (None, [])
    figures.compression_figure(
        path,
        pruning_stages(pruning_file),
        methods,
        f"{pruning_file.as_posix()} not present in profile {profile}",
        f"{compression_file.as_posix()} not present in profile {profile}",
        with_label(
            label, f"not run in profile {profile}: " + ", ".join(not_run) if not_run else None
        ),
    )
    caption = "Compression: ASAP tokens per sample per stage, ratio per method"
    return Artifact([path.as_posix()], caption, log.take())


def index_markdown(
    profile: str,
    params: Mapping[str, Any],
    artifacts: list[Artifact],
    git: Mapping[str, Any],
    public: list[str] | None = None,
) -> str:
    """reports/README.md: every table and figure with the inputs (and their hashes) it used."""
    hashes = input_hashes(sorted({path for a in artifacts for path in a.inputs}))
    modified = " (with uncommitted changes)" if git["dirty"] else ""
    lines = [
        "# Reports",
        "",
        "Generated by the `stats` stage (`dvc repro stats`); do not edit by hand. A dash (—) in",
        "a table marks a cell whose inputs were not produced in this profile; each table's notes",
        "name them.",
        "",
        *([f"**What this run is.** {params['run_label']}", ""] if params.get("run_label") else []),
        *([f"**Tests.** {tables.public_tests_note(public)}", ""] if public else []),
        f"- git commit: `{git['commit']}`{modified}",
        f"- profile: `{profile}`",
        f"- params `{profile}.stats`:",
        "",
        "```json",
        dumps_stable(params, indent=2),
        "```",
        "",
        "## Artifacts",
        "",
        "| files | content | inputs (md5 prefix) |",
        "|:---|:---|:---|",
    ]
    for artifact in artifacts:
        links = []
        for file in artifact.files:
            link = Path(file).relative_to(REPORTS).as_posix()
            links.append(f"[{link}]({link})")
        listed = "<br>".join(f"`{p}` `{hashes[p][:12]}`" for p in artifact.inputs)
        lines.append(f"| {'<br>'.join(links)} | {artifact.caption} | {listed or 'none'} |")
    lines += ["", "## Input hashes", "", "DVC md5, as `dvc.lock` records them.", ""]
    lines += ["| input | md5 |", "|:---|:---|"]
    lines += [f"| `{path}` | `{digest}` |" for path, digest in sorted(hashes.items())]
    return "\n".join(lines) + "\n"


def check_params(params: Mapping[str, Any]) -> None:
    for benchmark in tables.BENCHMARK_HEADERS:
        if benchmark not in params["main_budget"]:
            raise DataError(f"params stats.main_budget: no budget for benchmark {benchmark!r}")
    for method in [params["reference"], *params["comparators"]]:
        if method not in METHODS:
            raise DataError(f"params stats: unknown method {method!r}; known: {sorted(METHODS)}")
    second = params.get("second_backbone")
    if second is not None and not {"label", "eval_reports_dir"} <= set(second):
        raise DataError("params stats.second_backbone: needs 'label' and 'eval_reports_dir'")


def run(params: Mapping[str, Any], profile: str) -> dict[str, Any]:
    """Write every report of the stage; return the Wilcoxon report."""
    check_params(params)
    test_params = WilcoxonParams.from_params(params)
    data_root = Path(params["eval_data_dir"])
    reports_root = Path(params["eval_reports_dir"])
    main_budgets = {b: int(v) for b, v in params["main_budget"].items()}
    sweep_budgets = {b: [int(x) for x in v or []] for b, v in params["sweep_budgets"].items()}
    reference, comparators = str(params["reference"]), list(params["comparators"])
    log = InputLog()
    artifacts: list[Artifact] = []

    frame = results.results_frame(data_root, reports_root)
    results.write_csv(frame, RESULTS_CSV)
    per_cell = results.summaries(frame)
    cells = read_cells(per_cell, log, *cell_files(data_root, reports_root))
    cells.get(list(per_cell.index))  # every cell the frame holds: the CSV's inputs
    frame_inputs = log.take()

    methods = [reference, *comparators]
    cells.get([(m, b, n) for b, n in main_budgets.items() for m in methods])  # the tests' inputs
    outcomes = results.outcomes(frame, methods, main_budgets)
    report = wilcoxon_report(outcomes, reference, comparators, main_budgets, test_params, profile)
    wilcoxon_inputs = log.take()
    report["provenance"] = provenance("stats", params, wilcoxon_inputs, profile=profile)
    write_json(WILCOXON_JSON, report)
    artifacts.append(
        Artifact([WILCOXON_JSON.as_posix()], "Wilcoxon tests (JSON, DVC metrics)", wilcoxon_inputs)
    )

    train = train_lookup(Path(params["train_reports_dir"]), log)
    training = results.training_frame({m: train(m) for m, s in METHODS.items() if s.finetuned})
    training_inputs = log.take()
    shown = set(tables.TRAINING_ROWS)  # Table 3's rows: the reports it is computed from
    table3_inputs = [p for p in training_inputs if Path(p).name.split(".")[0] in shown]
    results.write_csv(training, TRAINING_CSV)
    compression_file = Path(params["compression_report"])
    compression = results.compression_frame(compression_file)
    results.write_csv(compression, COMPRESSION_CSV)
    log.read(compression_file)
    artifacts.append(
        Artifact(
            [RESULTS_CSV.as_posix(), TRAINING_CSV.as_posix(), COMPRESSION_CSV.as_posix()],
            "The results tables (pandas): every evaluated problem, training, compression",
            sorted({*frame_inputs, *training_inputs, *log.take()}),
        )
    )

    second = params.get("second_backbone")
    second_cells = None
    if second is not None:
        second_root = Path(second["eval_reports_dir"])
        second_cells = read_cells(
            results.summaries_from_reports(second_root),
            log,
            lambda m, b, n: summary_path(second_root, m, b, n),
        )
    builders = tables.table_builders(
        cells,
        training,
        main_budgets,
        sweep_budgets,
        profile,
        second["label"] if second is not None else None,
        second_cells,
    )
    built = []
    for build in builders:
        table = build()
        built.append((table, table3_inputs if table.key == "table03" else log.take()))
    built.append((tables.wilcoxon_table(report), wilcoxon_inputs))
    label = params.get("run_label")
    public = public_only(
        [reports_root, *([Path(second["eval_reports_dir"])] if second is not None else [])]
    )
    for table, inputs in sorted(built, key=lambda item: item[0].key):
        if public:
            table.notes.insert(0, tables.public_tests_note(public))
        if label:
            table.notes.insert(0, label)
        files = []
        for suffix, render in ((".md", tables.to_markdown), (".tex", tables.to_latex)):
            path = TABLES_DIR / f"{table.key}{suffix}"
            write_text_atomic(path, render(table))
            files.append(path.as_posix())
        artifacts.append(Artifact(files, table.caption, inputs))

    artifacts += budget_figures(cells, sweep_budgets, profile, log, label, tuple(public))
    artifacts.append(compression_figure(params, compression, profile, log, label))
    write_text_atomic(INDEX, index_markdown(profile, params, artifacts, git_state(), public))
    return report
