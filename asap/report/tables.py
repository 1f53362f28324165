"""The paper's tables (1-12) from the results frames, as Markdown and LaTeX.

Each table is pivoted from a frame: the per-cell numbers (`asap.report.results.summaries`,
index method x benchmark x budget) unstacked into methods x (benchmark, metric) or budgets x
(method, metric), or the training frame for Table 3. A `Panel` holds the printed texts and the
bold flags as two frames of the same shape, which pandas renders (`to_markdown`, `Styler`).
Best values are bold as in the paper: highest accuracy, lowest tokens, latency, training tokens
and time; per column across methods (Tables 1-8, 12) or per budget row across methods (sweeps,
Tables 9-11). Values compare as printed, so equal printed numbers are all bold. A cell whose input
is missing shows "—" and the table's notes say which cells were not run in the profile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from asap.methods import METHODS
from asap.report.results import KEYS
from asap.report.stats import MISSING, NOT_TESTABLE

GAP = "—"

# benchmark -> (group header, column header) as in the paper's Table 1
BENCHMARK_HEADERS: dict[str, tuple[str, str]] = {
    "humaneval": ("HumanEval", "HE"),
    "humanevalplus": ("HumanEval", "HE+"),
    "lcb_v1_v3": ("LiveCodeBench", "v1_v3"),
    "lcb_v4_v5": ("LiveCodeBench", "v4_v5"),
    "leetcode": ("LeetCodeDataset", "All"),
}
BENCHMARK_NAMES: dict[str, str] = {
    "humaneval": "HumanEval",
    "humanevalplus": "HumanEval+",
    "lcb_v1_v3": "LiveCodeBench v1_v3",
    "lcb_v4_v5": "LiveCodeBench v4_v5",
    "leetcode": "LeetCodeDataset",
}
MAIN_METHODS = ("zero_shot", "original", "selective_context", "llmlingua2", "tokenskip", "spirit")
MAIN_ROWS = (*MAIN_METHODS, "asap")
ABLATION_ROWS = ("asap", "wo_coarse", "wo_fine", "original")
ABLATION_LABELS = {"asap": "ASAP", "original": "w/o Any Pruning"}
TRAINING_ROWS = ("original", "selective_context", "llmlingua2", "tokenskip", "spirit", "asap")
STRONG_ROWS = ("zero_shot", "original", "spirit", "asap")  # Tables 4, 9-12
ABLATION_TABLES = {
    "lcb_v4_v5": 2,
    "humaneval": 5,
    "humanevalplus": 6,
    "lcb_v1_v3": 7,
    "leetcode": 8,
}
SWEEP_TABLES: dict[int, tuple[str, tuple[str, ...]]] = {
    9: ("HumanEval", ("humaneval", "humanevalplus")),
    10: ("LiveCodeBench", ("lcb_v1_v3", "lcb_v4_v5")),
    11: ("LeetCodeDataset", ("leetcode",)),
}
# summaries column -> (header, decimals printed, higher is better)
METRICS: dict[str, tuple[str, int, bool]] = {
    "pass_at_1": ("Acc", 2, True),
    "avg_tokens": ("Tok", 0, False),
    "avg_latency_s": ("Lat", 2, False),
}

Cell = tuple[str, str, int]  # (method, benchmark, budget)


class Cells:
    """The per-cell numbers of a `summaries` frame; `on_read(keys)` hears which cells each
    table asks for (the stage lists their files as the table's inputs)."""

    def __init__(
        self, frame: pd.DataFrame, on_read: Callable[[Sequence[Cell]], None] | None = None
    ) -> None:
        self.frame = frame
        self.on_read = on_read

    def get(self, keys: Sequence[Cell]) -> pd.DataFrame:
        """The rows of `keys`, in their order (all NaN for a cell that was not run)."""
        if self.on_read is not None:
            self.on_read(keys)
        index = pd.MultiIndex.from_tuples(list(keys), names=KEYS)
        if self.frame.empty:
            return pd.DataFrame(index=index, columns=self.frame.columns, dtype="float64")
        return self.frame.reindex(index)


@dataclass
class Panel:
    """One tabular: the printed `texts` and their `bold` flags, frames of the same shape. The
    index holds the row labels (its name is the stub column's header); the columns have one
    level per header row (a MultiIndex where groups span several columns)."""

    texts: pd.DataFrame
    bold: pd.DataFrame
    title: str | None = None


@dataclass
class Table:
    key: str  # file stem under reports/tables
    caption: str
    panels: list[Panel]
    notes: list[str] = field(default_factory=list)


# --- numbers -------------------------------------------------------------------------------


def budget_label(budget: int) -> str:
    """6144 or 6000 -> "6K"; budgets that are not whole thousands stay as numbers."""
    for unit in (1024, 1000):
        if budget >= unit and budget % unit == 0:
            return f"{budget // unit}K"
    return str(budget)


def printed(values: pd.Series, decimals: int) -> pd.Series:
    """`values` as printed with `decimals` decimals; a missing value prints as the gap."""
    numbers = pd.to_numeric(values, errors="raise").astype("float64")
    return numbers.map(lambda v: GAP if pd.isna(v) else f"{v:.{decimals}f}")


def as_printed(texts: pd.DataFrame) -> pd.DataFrame:
    """The numbers the texts show (NaN for a gap): best values compare as printed."""
    return texts.map(lambda t: float("nan") if t == GAP else float(t))


def best_in_columns(texts: pd.DataFrame, higher: Sequence[bool]) -> pd.DataFrame:
    """Bold flags: per column, every entry equal to the best printed number (`higher[j]`: the
    highest is best in column j). Nothing is bold in a column of fewer than two numbers."""
    sign = pd.Series([1.0 if h else -1.0 for h in higher], index=texts.columns)
    scored = as_printed(texts) * sign
    return scored.eq(scored.max()) & (scored.notna().sum() >= 2)


def best_in_rows(texts: pd.DataFrame) -> pd.DataFrame:
    """Bold flags of a sweep: per row, the best printed number of each metric (the columns'
    last level) across the column groups; nothing where fewer than two are present."""
    metric = texts.columns.get_level_values(-1)
    higher = {header: up for header, _, up in METRICS.values()}
    sign = pd.Series([1.0 if higher[m] else -1.0 for m in metric], index=texts.columns)
    scored = as_printed(texts) * sign
    by_metric = scored.T.groupby(level=-1, sort=False)
    top = by_metric.transform("max").T
    present = by_metric.transform("count").T
    return scored.eq(top) & (present >= 2)


def metric_texts(numbers: pd.DataFrame) -> pd.DataFrame:
    """Each summaries column (the columns' last level) printed at its metric's precision, and
    renamed to its header (Acc, Tok, Lat)."""
    texts = numbers.apply(lambda column: printed(column, METRICS[column.name[-1]][1]))
    return texts.rename(columns={name: METRICS[name][0] for name in METRICS}, level=-1)


def metric_columns(outer: Sequence[Any]) -> pd.MultiIndex:
    """(group, summaries column) for each group in `outer`, in the order the tables show."""
    return pd.MultiIndex.from_product([list(outer), list(METRICS)])


# --- gaps ----------------------------------------------------------------------------------


class Gaps:
    """Collects the cells a table could not fill, for its footnote."""

    def __init__(self) -> None:
        self.cells: dict[str, list[str]] = {}

    def add(self, row: str, where: str) -> None:
        """`row`: the row label as printed; `where`: the missing column(s) of that row."""
        places = self.cells.setdefault(row, [])
        if where not in places:
            places.append(where)

    def note(self, profile: str, everywhere: Sequence[str] = ()) -> list[str]:
        if not self.cells:
            return []
        parts = []
        for row, places in self.cells.items():
            whole = bool(everywhere) and list(places) == list(everywhere)
            parts.append(f"{row} ({'all' if whole else ', '.join(places)})")
        return [f"{GAP} not run in profile {profile}: " + "; ".join(parts) + "."]


def public_tests_note(benchmarks: Sequence[str]) -> str:
    """What a reader must know when LiveCodeBench was graded without its private tests."""
    names = ", ".join(BENCHMARK_NAMES[b] for b in benchmarks)
    return (
        f"{names}: graded on public tests only (the hub's private tests were not loaded), so "
        "Pass@1 there is higher than on the full tests."
    )


def method_label(method: str, overrides: Mapping[str, str] | None = None) -> str:
    return (overrides or {}).get(method, METHODS[method].label)


def column_headers(benchmarks: Sequence[str]) -> list[str]:
    return [BENCHMARK_HEADERS[b][1] for b in benchmarks]


def budgets_note(budgets: Mapping[str, int], benchmarks: Sequence[str]) -> str:
    parts = [f"{BENCHMARK_HEADERS[b][1]} {budget_label(budgets[b])}" for b in benchmarks]
    return "Token budget: " + ", ".join(parts) + "."


ACC_NOTE = "Acc: Pass@1 (%); Tok: average generated tokens; Lat: average latency (s per sample)."


# --- tables --------------------------------------------------------------------------------


def methods_by_benchmark(
    cells: Cells | None,
    rows: Sequence[str],
    benchmarks: Sequence[str],
    budgets: Mapping[str, int],
) -> pd.DataFrame:
    """Methods x (benchmark, summaries column) at each benchmark's budget: the cells pivoted
    (NaN where a cell was not run; everything when `cells` is None)."""
    keys = [(m, b, budgets[b]) for m in rows for b in benchmarks]
    columns = metric_columns(benchmarks)
    if cells is None:
        return pd.DataFrame(index=pd.Index(list(rows)), columns=columns, dtype="float64")
    numbers = cells.get(keys)[list(METRICS)].droplevel("budget")
    wide = numbers.unstack("benchmark").swaplevel(axis=1)
    return wide.reindex(index=list(rows), columns=columns)


def not_run_note(missing: pd.DataFrame, labels: Mapping[str, str], where: Mapping[Any, str],
                 profile: str, everywhere: Sequence[str] = ()) -> list[str]:  # fmt: skip
    """The footnote naming every row label with the places (`where` of each column of
    `missing`, a rows x places frame of flags) whose cell was not run."""
    gaps = Gaps()
    for row, flags in missing.iterrows():
        for place in flags.index[flags.to_numpy(dtype=bool)]:
            gaps.add(labels[row], where[place])
    return gaps.note(profile, everywhere)


def method_benchmark_table(
    key: str,
    caption: str,
    rows: Sequence[str],
    benchmarks: Sequence[str],
    budgets: Mapping[str, int],
    cells: Cells | None,
    profile: str,
    two_levels: bool,
    missing_note: str | None = None,
    labels: Mapping[str, str] | None = None,
    stub: str = "Methods",
) -> Table:
    """Rows = methods, columns = benchmark x (Acc, Tok, Lat); `cells=None`: nothing was run.
    Header rows: the paper's groups (HumanEval, ...), then HE, HE+, ... when `two_levels`; a
    single benchmark has no group row."""
    wide = methods_by_benchmark(cells, rows, benchmarks, budgets)
    texts = metric_texts(wide)
    bold = best_in_columns(texts, [METRICS[c][2] for c in wide.columns.get_level_values(-1)])
    names = {m: method_label(m, labels) for m in rows}
    missing = wide.isna().T.groupby(level=0, sort=False).all().T
    headers = {b: BENCHMARK_HEADERS[b] for b in benchmarks}
    columns: pd.Index
    if len(benchmarks) == 1:
        columns = pd.Index([metric for _, metric in texts.columns])
    elif two_levels:
        columns = pd.MultiIndex.from_tuples([(*headers[b], m) for b, m in texts.columns])
    else:
        columns = pd.MultiIndex.from_tuples([(headers[b][0], m) for b, m in texts.columns])
    for frame in (texts, bold):
        frame.index = pd.Index([names[m] for m in rows], name=stub)
        frame.columns = columns
    notes = [ACC_NOTE, budgets_note(budgets, benchmarks)]
    if missing_note and cells is None:
        notes.append(missing_note)
    else:
        everywhere = column_headers(benchmarks) if len(benchmarks) > 1 else ()
        where = {b: headers[b][1] for b in benchmarks}
        notes += not_run_note(missing, names, where, profile, everywhere)
    return Table(key=key, caption=caption, panels=[Panel(texts, bold)], notes=notes)


def table1(cells: Cells, budgets: Mapping[str, int], profile: str) -> Table:
    benchmarks = list(BENCHMARK_HEADERS)
    table = method_benchmark_table(
        "table01",
        "Table 1: Main results: accuracy (Acc), generated tokens (Tok) and latency (Lat).",
        MAIN_ROWS,
        benchmarks,
        budgets,
        cells,
        profile,
        two_levels=True,
    )
    table.notes.insert(
        1,
        "HE and HE+ each have their own generations here; the paper shares Tok and Lat between "
        "them.",
    )
    return table


def ablation_table(number: int, benchmark: str, cells: Cells, budget: int, profile: str) -> Table:
    table = method_benchmark_table(
        f"table{number:02d}",
        f"Table {number}: Ablation of the pruning stages on {BENCHMARK_NAMES[benchmark]}.",
        ABLATION_ROWS,
        [benchmark],
        {benchmark: budget},
        cells,
        profile,
        two_levels=False,
        labels=ABLATION_LABELS,
        stub="Variants",
    )
    table.notes.insert(2, "w/o Any Pruning is the Original baseline (fine-tuned on unpruned CoTs).")
    return table


TRAINING_COLUMNS = {  # training frame column -> (header, decimals printed)
    "records_trained": ("Records", 0),
    "tokens_per_sample": ("Tokens", 0),
    "seconds_per_step": ("Time", 2),
}


def percent_change(values: pd.Series, base: float) -> pd.Series:
    """The change relative to `base`, as " (+x.x%)", where both are known; else ""."""
    change = (values - base) / base * 100 if pd.notna(base) and base != 0 else values * float("nan")
    return change.map(lambda c: "" if pd.isna(c) else f" ({c:+.1f}%)")


def table3(training: pd.DataFrame, profile: str) -> Table:
    """Training tokens per sample and seconds per step, with the change vs Original, from the
    training frame (`asap.report.results.training_frame`: one row per trained method)."""
    frame = training.set_index("method").reindex(list(TRAINING_ROWS))
    numbers = frame[list(TRAINING_COLUMNS)].apply(pd.to_numeric).astype("float64")
    texts = pd.DataFrame(
        {column: printed(numbers[column], decimals)
         for column, (_, decimals) in TRAINING_COLUMNS.items()}
    )  # fmt: skip
    bold = best_in_columns(texts, [False] * len(TRAINING_COLUMNS))
    bold["records_trained"] = False  # a count, not an efficiency
    for column in ("tokens_per_sample", "seconds_per_step"):
        change = percent_change(numbers[column], numbers.loc["original", column])
        change["original"] = ""
        texts[column] = texts[column] + change
    names = {m: method_label(m) for m in TRAINING_ROWS}
    gaps = Gaps()
    reported = set(training["method"])
    for method in TRAINING_ROWS:
        if method not in reported:
            gaps.add(names[method], "training report")
        elif pd.isna(numbers.loc[method, "seconds_per_step"]):
            gaps.add(names[method], "seconds per step")
    for frame_ in (texts, bold):
        frame_.index = pd.Index([names[m] for m in TRAINING_ROWS], name="Methods")
        frame_.columns = pd.Index([header for header, _ in TRAINING_COLUMNS.values()])
    notes = [
        "Records: training records the method's model was trained on (a record without a valid "
        "coarse pruning leaves ASAP's and w/o fine's sets when coarse.on_failure is drop); "
        "Tokens: average training tokens per sample; Time: average seconds per optimizer step; "
        "in brackets: change relative to Original."
    ]
    notes += gaps.note(profile)
    return Table(
        key="table03",
        caption="Table 3: Training efficiency: records, tokens per sample and seconds per step.",
        panels=[Panel(texts, bold)],
        notes=notes,
    )


def budgets_by_method(cells: Cells, benchmark: str, budgets: Sequence[int]) -> pd.DataFrame:
    """Budgets x (method, summaries column) of the sweep methods on `benchmark`: pivoted cells."""
    keys = [(m, benchmark, b) for b in budgets for m in STRONG_ROWS]
    numbers = cells.get(keys)[list(METRICS)].droplevel("benchmark")
    wide = numbers.unstack("method").swaplevel(axis=1)
    return wide.reindex(index=list(budgets), columns=metric_columns(STRONG_ROWS))


def sweep_table(
    number: int,
    cells: Cells,
    sweep_budgets: Mapping[str, Sequence[int]],
    profile: str,
) -> Table:
    """Rows = budgets, columns = (Zero-shot, Original, SPIRIT, ASAP) x (Acc, Tok, Lat)."""
    name, benchmarks = SWEEP_TABLES[number]
    labels = {m: method_label(m) for m in STRONG_ROWS}
    panels = []
    unswept: list[str] = []
    gaps = Gaps()  # in the order the table shows them: budget rows, then methods
    places: list[str] = []  # every (benchmark, budget) cell of a method in this table
    for benchmark in benchmarks:
        budgets = list(sweep_budgets.get(benchmark, []))
        if not budgets:
            unswept.append(BENCHMARK_HEADERS[benchmark][1])
        wide = budgets_by_method(cells, benchmark, budgets)
        texts = metric_texts(wide)
        bold = best_in_rows(texts)
        gone = wide.isna().T.groupby(level=0, sort=False).all()  # methods x budgets
        for budget in budgets:
            where = f"{BENCHMARK_HEADERS[benchmark][1]} {budget_label(budget)}"
            places.append(where)
            for method in STRONG_ROWS:
                if gone.at[method, budget]:
                    gaps.add(labels[method], where)
        index = pd.Index([budget_label(b) for b in budgets] or [GAP], name="Budget")
        columns = pd.MultiIndex.from_tuples([(labels[m], h) for m, h in texts.columns])
        if not budgets:  # no sweep of this benchmark: one row of gaps
            texts = pd.DataFrame(GAP, index=index, columns=columns)
            bold = pd.DataFrame(False, index=index, columns=columns)
        for frame in (texts, bold):
            frame.index, frame.columns = index, columns
        title = BENCHMARK_NAMES[benchmark] if len(benchmarks) > 1 else None
        panels.append(Panel(texts, bold, title))
    notes = [ACC_NOTE, "Bold: best value among methods at each budget."]
    notes += gaps.note(profile, places)
    if unswept:
        notes.append(f"{GAP} no token-budget sweep in profile {profile}: {', '.join(unswept)}.")
    return Table(
        key=f"table{number:02d}",
        caption=f"Table {number}: Performance under different token budgets on {name}.",
        panels=panels,
        notes=notes,
    )


def backbone_table(
    number: int,
    benchmarks: Sequence[str],
    cells: Cells | None,
    budgets: Mapping[str, int],
    backbone: str | None,
    profile: str,
) -> Table:
    """Tables 4 and 12: the strong baselines and ASAP on a second backbone."""
    label = backbone or "the second backbone"
    return method_benchmark_table(
        f"table{number:02d}",
        f"Table {number}: Results on {label}.",
        STRONG_ROWS,
        benchmarks,
        budgets,
        cells,
        profile,
        two_levels=number == 12,
        missing_note=f"{GAP} second backbone not run in profile {profile} "
        "(stats.second_backbone is not set).",
    )


# --- Wilcoxon ------------------------------------------------------------------------------

WILCOXON_METRICS = {"passed": "Pass", "tokens": "Tok", "latency_s": "Lat"}


def wilcoxon_cell(result: Mapping[str, Any]) -> list[str]:
    """(non-tied pairs, rank-biserial r, adjusted p) for one test, with gaps spelled out."""
    if result["status"] == MISSING:
        return [GAP, GAP, "not run"]
    if result["status"] == NOT_TESTABLE:
        return [str(result["n_nontied"]), GAP, "not testable"]
    p = result["p_adjusted"]
    p_text = "<0.001" if p < 0.001 else f"{p:.3f}"
    return [str(result["n_nontied"]), f"{result['rank_biserial']:+.2f}", p_text]


def wilcoxon_table(report: Mapping[str, Any]) -> Table:
    params = report["params"]
    columns = pd.MultiIndex.from_product([list(WILCOXON_METRICS.values()), ["n", "r", "p"]])
    panels = []
    for benchmark, block in report["benchmarks"].items():
        comparators = list(next(iter(block["metrics"].values())))
        tests = {
            comparator: [block["metrics"][metric][comparator] for metric in WILCOXON_METRICS]
            for comparator in comparators
        }
        index = pd.Index([method_label(c) for c in comparators], name="vs")
        texts = pd.DataFrame(
            [[text for test in row for text in wilcoxon_cell(test)] for row in tests.values()],
            index, columns,
        )  # fmt: skip
        bold = pd.DataFrame(
            [[flag for test in row for flag in (False, False, bool(test.get("significant")))]
             for row in tests.values()],
            index, columns,
        )  # fmt: skip
        name = BENCHMARK_NAMES[benchmark]
        panels.append(Panel(texts, bold, f"{name} ({budget_label(block['budget'])})"))
    reference = METHODS[report["reference"]].label
    notes = [
        f"Wilcoxon signed-rank tests of {reference} against each method on paired problems "
        f"(zero_method={params['zero_method']}, alternative={params['alternative']}, "
        f"method={params['method']}); p: {params['correction']}-corrected across the methods "
        f"of one benchmark and metric; bold: p < {params['alpha']}.",
        f"n: non-tied pairs; r: matched-pairs rank-biserial correlation of {reference} minus "
        "the method (positive: more passes, more tokens or higher latency for "
        f"{reference}); not testable: fewer than {params['min_pairs']} non-tied pairs.",
    ]
    return Table(
        key="wilcoxon",
        caption=f"Wilcoxon signed-rank tests: {reference} against every baseline and ablation.",
        panels=panels,
        notes=notes,
    )


# --- rendering (pandas) ---------------------------------------------------------------------


def _header_tuples(panel: Panel) -> list[tuple[str, ...]]:
    """One (group, ..., leaf) tuple per column."""
    columns = panel.texts.columns
    return list(columns) if isinstance(columns, pd.MultiIndex) else [(c,) for c in columns]


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown_panel(panel: Panel) -> str:
    """Markdown has one header row: each leaf is prefixed with its innermost group label."""
    headers = [" ".join(t[-2:]) for t in _header_tuples(panel)]
    texts = panel.texts.map(_md_escape)
    cells = texts.mask(panel.bold & panel.texts.ne(GAP), "**" + texts + "**")
    cells.columns = pd.Index([_md_escape(h) for h in headers])
    cells.index = cells.index.map(_md_escape).rename(_md_escape(panel.texts.index.name))
    # the texts are printed as they are (tabulate would reparse "25.00" as 25)
    align = ("left", *["right"] * len(headers))
    return cells.to_markdown(tablefmt="pipe", colalign=align, disable_numparse=True)


def to_markdown(table: Table) -> str:
    lines = [f"**{table.caption}**", ""]
    for panel in table.panels:
        if panel.title:
            lines += [f"*{panel.title}*", ""]
        lines += [_markdown_panel(panel), ""]
    lines += [
        f"{note}  " if i < len(table.notes) - 1 else note for i, note in enumerate(table.notes)
    ]
    return "\n".join(lines).rstrip() + "\n"


LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    GAP: "---",
}


def latex_escape(text: str) -> str:
    """pandas' `escape="latex"` leaves <, > and the em dash of a gap as they are."""
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)


def _latex_panel(panel: Panel) -> str:
    """One booktabs tabular: spanning group headers (multicolumn), the stub on the leaf row."""
    tuples = _header_tuples(panel)
    levels = len(tuples[0])
    columns = pd.MultiIndex.from_tuples(
        tuples, names=[None] * (levels - 1) + [panel.texts.index.name]
    )
    texts = panel.texts.set_axis(columns, axis=1).rename_axis(None)  # stub: in the columns
    bold = (panel.bold & panel.texts.ne(GAP)).set_axis(columns, axis=1).rename_axis(None)
    styler = (
        texts.style.format(latex_escape)
        .format_index(latex_escape, axis=0)
        .format_index(latex_escape, axis=1)
        .apply(lambda _: bold.replace({True: "textbf:--rwrap;", False: ""}), axis=None)
    )
    lines = styler.to_latex(
        hrules=True, multicol_align="c", column_format="l" + "r" * len(tuples)
    ).splitlines()
    # what pandas cannot do: a \cmidrule under each spanning group, as booktabs tables have
    top = lines.index(r"\toprule")
    for level in reversed(range(levels - 1)):
        lines.insert(top + 2 + level, _cmidrules([t[: level + 1] for t in tuples]))
    return "\n".join(lines)


def _cmidrules(groups: list[tuple[str, ...]]) -> str:
    """A rule under each run of equal group labels (column 1 is the stub)."""
    rules, start = [], 0
    for end in range(1, len(groups) + 1):
        if end == len(groups) or groups[end] != groups[start]:
            rules.append(rf"\cmidrule(lr){{{start + 2}-{end + 1}}}")
            start = end
    return " ".join(rules)


def to_latex(table: Table) -> str:
    """A `table` environment for \\input (needs the booktabs package)."""
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{latex_escape(table.caption)}}}",
        rf"\label{{tab:{table.key}}}",
    ]
    for i, panel in enumerate(table.panels):
        if i:
            lines.append(r"\par\medskip")
        if panel.title:
            lines.append(rf"\textit{{{latex_escape(panel.title)}}}\par\smallskip")
        lines.append(_latex_panel(panel))
    if table.notes:
        lines.append(r"\par\smallskip")
        lines.append(r"\parbox{\linewidth}{\footnotesize")
        lines += [latex_escape(note) + r"\\" for note in table.notes[:-1]]
        lines.append(latex_escape(table.notes[-1]) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def table_builders(
    cells: Cells,
    training: pd.DataFrame,
    main_budgets: Mapping[str, int],
    sweep_budgets: Mapping[str, Sequence[int]],
    profile: str,
    backbone: str | None,
    backbone_cells: Cells | None,
) -> list[Callable[[], Table]]:
    """One builder per table of the paper (1-12), in order; each reads its cells when called."""
    builders: list[Callable[[], Table]] = [lambda: table1(cells, main_budgets, profile)]
    for benchmark, number in sorted(ABLATION_TABLES.items(), key=lambda item: item[1]):
        builders.append(
            lambda b=benchmark, n=number: ablation_table(n, b, cells, main_budgets[b], profile)
        )
    builders.append(lambda: table3(training, profile))
    strong = ["lcb_v4_v5", "leetcode"]
    builders.append(
        lambda: backbone_table(4, strong, backbone_cells, main_budgets, backbone, profile)
    )
    for number in SWEEP_TABLES:
        builders.append(lambda n=number: sweep_table(n, cells, sweep_budgets, profile))
    every = list(BENCHMARK_HEADERS)
    builders.append(
        lambda: backbone_table(12, every, backbone_cells, main_budgets, backbone, profile)
    )
    return builders
