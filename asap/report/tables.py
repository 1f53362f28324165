"""The paper's tables (1-12) from evaluation and training reports, as Markdown and LaTeX.

Tables are built as data (`Table` of `Panel`s) from lookup functions, then rendered. Best values
are bold as in the paper: highest accuracy, lowest tokens, latency, training tokens and time; per
column across methods (Tables 1-8, 12) or per budget row across methods (sweeps, Tables 9-11).
Values compare at their displayed precision, so equal printed numbers are all bold. A cell whose
input is missing shows "—" and the table's notes say which cells were not run in the profile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from asap.methods import METHODS
from asap.report.stats import MISSING, NOT_TESTABLE, Summary

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
METRIC_COLUMNS = ("Acc", "Tok", "Lat")

SummaryLookup = Callable[[str, str, int], Summary | None]  # (method, benchmark, budget)
TrainLookup = Callable[[str], Mapping[str, Any] | None]  # method -> training report


@dataclass(frozen=True)
class Value:
    text: str
    bold: bool = False


@dataclass
class Panel:
    """One tabular: a stub column, header rows of (label, span) groups, leaf columns, rows."""

    stub: str
    columns: list[str]
    rows: list[tuple[str, list[Value]]]
    groups: list[list[tuple[str, int]]] = field(default_factory=list)
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


def fmt(value: float | None, digits: int) -> str:
    return GAP if value is None else f"{value:.{digits}f}"


def mark_best(texts: Sequence[str], higher_is_better: bool) -> list[Value]:
    """Bold every entry equal (as printed) to the best printed number; gaps are skipped.

    Nothing is bold when fewer than two numbers are present: there is no comparison.
    """
    numbers = [float(t) if t != GAP else None for t in texts]
    present = [n for n in numbers if n is not None]
    if len(present) < 2:
        return [Value(t) for t in texts]
    best = max(present) if higher_is_better else min(present)
    return [Value(t, bold=n is not None and n == best) for t, n in zip(texts, numbers, strict=True)]


def summary_texts(summary: Summary | None) -> list[str]:
    if summary is None:
        return [GAP, GAP, GAP]
    return [fmt(summary.pass_at_1, 2), fmt(summary.avg_tokens, 0), fmt(summary.avg_latency_s, 2)]


def bold_columns(text_rows: list[list[str]]) -> list[list[Value]]:
    """Bold best per column; columns cycle Acc (max), Tok (min), Lat (min)."""
    width = len(text_rows[0]) if text_rows else 0
    columns = []
    for j in range(width):
        higher = j % len(METRIC_COLUMNS) == 0
        columns.append(mark_best([row[j] for row in text_rows], higher_is_better=higher))
    return [[columns[j][i] for j in range(width)] for i in range(len(text_rows))]


def bold_rows(text_rows: list[list[str]]) -> list[list[Value]]:
    """Bold best per row within each metric (sweeps: methods compete at one budget)."""
    marked = []
    for row in text_rows:
        values: list[Value | None] = [None] * len(row)
        for k, _ in enumerate(METRIC_COLUMNS):
            idx = list(range(k, len(row), len(METRIC_COLUMNS)))
            for j, value in zip(idx, mark_best([row[j] for j in idx], k == 0), strict=True):
                values[j] = value
        marked.append([v for v in values if v is not None])
    return marked


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


def benchmark_groups(benchmarks: Sequence[str], two_levels: bool) -> list[list[tuple[str, int]]]:
    """Header rows above Acc/Tok/Lat: paper groups (HumanEval, ...) then HE, HE+, ..."""
    width = len(METRIC_COLUMNS)
    inner = [(BENCHMARK_HEADERS[b][1], width) for b in benchmarks]
    if not two_levels:
        return [[(BENCHMARK_HEADERS[b][0], width) for b in benchmarks]]
    outer: list[tuple[str, int]] = []
    for b in benchmarks:
        name = BENCHMARK_HEADERS[b][0]
        if outer and outer[-1][0] == name:
            outer[-1] = (name, outer[-1][1] + width)
        else:
            outer.append((name, width))
    return [outer, inner]


def budgets_note(budgets: Mapping[str, int], benchmarks: Sequence[str]) -> str:
    parts = [f"{BENCHMARK_HEADERS[b][1]} {budget_label(budgets[b])}" for b in benchmarks]
    return "Token budget: " + ", ".join(parts) + "."


ACC_NOTE = "Acc: Pass@1 (%); Tok: average generated tokens; Lat: average latency (s per sample)."


# --- tables --------------------------------------------------------------------------------


def method_benchmark_table(
    key: str,
    caption: str,
    rows: Sequence[str],
    benchmarks: Sequence[str],
    budgets: Mapping[str, int],
    lookup: SummaryLookup | None,
    profile: str,
    two_levels: bool,
    missing_note: str | None = None,
) -> Table:
    """Rows = methods, columns = benchmark x (Acc, Tok, Lat); `lookup=None`: nothing was run."""
    gaps = Gaps()
    text_rows = []
    for method in rows:
        texts: list[str] = []
        for benchmark in benchmarks:
            summary = lookup(method, benchmark, budgets[benchmark]) if lookup else None
            if summary is None:
                gaps.add(method_label(method), BENCHMARK_HEADERS[benchmark][1])
            texts += summary_texts(summary)
        text_rows.append(texts)
    panel = Panel(
        stub="Methods",
        columns=list(METRIC_COLUMNS) * len(benchmarks),
        rows=[
            (method_label(m), values)
            for m, values in zip(rows, bold_columns(text_rows), strict=True)
        ],
        groups=benchmark_groups(benchmarks, two_levels),
    )
    notes = [ACC_NOTE, budgets_note(budgets, benchmarks)]
    if missing_note and lookup is None:
        notes.append(missing_note)
    else:
        notes += gaps.note(profile, column_headers(benchmarks))
    return Table(key=key, caption=caption, panels=[panel], notes=notes)


def table1(lookup: SummaryLookup, budgets: Mapping[str, int], profile: str) -> Table:
    benchmarks = list(BENCHMARK_HEADERS)
    table = method_benchmark_table(
        "table01",
        "Table 1: Main results: accuracy (Acc), generated tokens (Tok) and latency (Lat).",
        MAIN_ROWS,
        benchmarks,
        budgets,
        lookup,
        profile,
        two_levels=True,
    )
    table.notes.insert(
        1,
        "HE and HE+ each have their own generations here; the paper shares Tok and Lat between "
        "them.",
    )
    return table


def ablation_table(
    number: int, benchmark: str, lookup: SummaryLookup, budget: int, profile: str
) -> Table:
    gaps = Gaps()
    text_rows = []
    for method in ABLATION_ROWS:
        summary = lookup(method, benchmark, budget)
        if summary is None:
            gaps.add(method_label(method, ABLATION_LABELS), BENCHMARK_HEADERS[benchmark][1])
        text_rows.append(summary_texts(summary))
    name = BENCHMARK_NAMES[benchmark]
    panel = Panel(
        stub="Variants",
        columns=list(METRIC_COLUMNS),
        rows=[
            (method_label(m, ABLATION_LABELS), values)
            for m, values in zip(ABLATION_ROWS, bold_columns(text_rows), strict=True)
        ],
    )
    notes = [ACC_NOTE, budgets_note({benchmark: budget}, [benchmark])]
    notes.append("w/o Any Pruning is the Original baseline (fine-tuned on unpruned CoTs).")
    notes += gaps.note(profile)
    return Table(
        key=f"table{number:02d}",
        caption=f"Table {number}: Ablation of the pruning stages on {name}.",
        panels=[panel],
        notes=notes,
    )


def percent_change(value: float | None, base: float | None) -> str:
    if value is None or base is None or base == 0:
        return ""
    return f" ({(value - base) / base * 100:+.1f}%)"


def training_value(report: Mapping[str, Any] | None, key: str) -> float | None:
    if report is None or report.get(key) is None:
        return None
    return float(report[key])


def table3(train: TrainLookup, profile: str) -> Table:
    """Training tokens per sample and seconds per step, with the change vs Original."""
    reports = {m: train(m) for m in TRAINING_ROWS}
    tokens = {m: training_value(r, "tokens_per_sample") for m, r in reports.items()}
    records = {m: training_value(r, "records_trained") for m, r in reports.items()}
    seconds = {m: training_value(r, "seconds_per_step") for m, r in reports.items()}
    gaps = Gaps()
    for method in TRAINING_ROWS:
        if reports[method] is None:
            gaps.add(method_label(method), "training report")
        elif seconds[method] is None:
            gaps.add(method_label(method), "seconds per step")
    bold_tokens = mark_best([fmt(tokens[m], 0) for m in TRAINING_ROWS], higher_is_better=False)
    bold_time = mark_best([fmt(seconds[m], 2) for m in TRAINING_ROWS], higher_is_better=False)
    rows = []
    for i, method in enumerate(TRAINING_ROWS):
        base_tokens = tokens["original"] if method != "original" else None
        base_time = seconds["original"] if method != "original" else None
        rows.append(
            (
                method_label(method),
                [
                    Value(fmt(records[method], 0)),
                    Value(
                        bold_tokens[i].text + percent_change(tokens[method], base_tokens),
                        bold_tokens[i].bold,
                    ),
                    Value(
                        bold_time[i].text + percent_change(seconds[method], base_time),
                        bold_time[i].bold,
                    ),
                ],
            )
        )
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
        panels=[Panel(stub="Methods", columns=["Records", "Tokens", "Time"], rows=rows)],
        notes=notes,
    )


def sweep_table(
    number: int,
    lookup: SummaryLookup,
    sweep_budgets: Mapping[str, Sequence[int]],
    profile: str,
) -> Table:
    """Rows = budgets, columns = (Zero-shot, Original, SPIRIT, ASAP) x (Acc, Tok, Lat)."""
    name, benchmarks = SWEEP_TABLES[number]
    gaps = Gaps()
    panels = []
    unswept: list[str] = []
    places: list[str] = []  # every (benchmark, budget) cell of a method in this table
    for benchmark in benchmarks:
        budgets = list(sweep_budgets.get(benchmark, []))
        if not budgets:
            unswept.append(BENCHMARK_HEADERS[benchmark][1])
        text_rows = []
        for budget in budgets:
            where = f"{BENCHMARK_HEADERS[benchmark][1]} {budget_label(budget)}"
            places.append(where)
            texts: list[str] = []
            for method in STRONG_ROWS:
                summary = lookup(method, benchmark, budget)
                if summary is None:
                    gaps.add(method_label(method), where)
                texts += summary_texts(summary)
            text_rows.append(texts)
        title = BENCHMARK_NAMES[benchmark] if len(benchmarks) > 1 else None
        panels.append(
            Panel(
                stub="Budget",
                columns=list(METRIC_COLUMNS) * len(STRONG_ROWS),
                rows=[
                    (budget_label(b), values)
                    for b, values in zip(budgets, bold_rows(text_rows), strict=True)
                ]
                or [(GAP, [Value(GAP)] * len(METRIC_COLUMNS) * len(STRONG_ROWS))],
                groups=[[(method_label(m), len(METRIC_COLUMNS)) for m in STRONG_ROWS]],
                title=title,
            )
        )
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
    lookup: SummaryLookup | None,
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
        lookup,
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
    panels = []
    for benchmark, block in report["benchmarks"].items():
        comparators = list(next(iter(block["metrics"].values())))
        rows = []
        for comparator in comparators:
            texts: list[str] = []
            significant: list[bool] = []
            for metric in WILCOXON_METRICS:
                result = block["metrics"][metric][comparator]
                texts += wilcoxon_cell(result)
                significant += [False, False, bool(result.get("significant"))]
            rows.append(
                (
                    method_label(comparator),
                    [Value(t, bold=s) for t, s in zip(texts, significant, strict=True)],
                )
            )
        name = BENCHMARK_NAMES[benchmark]
        panels.append(
            Panel(
                stub="vs",
                columns=["n", "r", "p"] * len(WILCOXON_METRICS),
                rows=rows,
                groups=[[(label, 3) for label in WILCOXON_METRICS.values()]],
                title=f"{name} ({budget_label(block['budget'])})",
            )
        )
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


def _cell_frame(panel: Panel, columns: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The panel's texts and bold flags as frames (index: row labels, columns: `columns`)."""
    index = pd.Index([label for label, _ in panel.rows])
    texts = pd.DataFrame([[v.text for v in values] for _, values in panel.rows], index, columns)
    bold = pd.DataFrame(
        [[v.bold and v.text != GAP for v in values] for _, values in panel.rows], index, columns
    )
    return texts, bold


def _header_tuples(panel: Panel) -> list[tuple[str, ...]]:
    """One (group, ..., leaf) tuple per column, from the panel's spanning header rows."""
    levels = []
    for groups in panel.groups:
        labels: list[str] = []
        for label, span in groups:
            labels += [label] * span
        levels.append(labels)
    return list(zip(*levels, panel.columns, strict=True))


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown_panel(panel: Panel) -> str:
    """Markdown has one header row: each leaf is prefixed with its innermost group label."""
    headers = [" ".join(t[-2:]) if panel.groups else t[-1] for t in _header_tuples(panel)]
    texts, bold = _cell_frame(panel, pd.Index([_md_escape(h) for h in headers]))
    cells = texts.map(_md_escape).mask(bold, "**" + texts.map(_md_escape) + "**")
    cells.index = cells.index.map(_md_escape).rename(_md_escape(panel.stub))
    # the texts are printed as they are (tabulate would reparse "25.00" as 25)
    align = ("left", *["right"] * len(panel.columns))
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
    names = [None] * len(panel.groups) + [panel.stub]
    columns = pd.MultiIndex.from_tuples(_header_tuples(panel), names=names)
    texts, bold = _cell_frame(panel, columns)
    styler = (
        texts.style.format(latex_escape)
        .format_index(latex_escape, axis=0)
        .format_index(latex_escape, axis=1)
        .apply(lambda _: bold.replace({True: "textbf:--rwrap;", False: ""}), axis=None)
    )
    lines = styler.to_latex(
        hrules=True, multicol_align="c", column_format="l" + "r" * len(panel.columns)
    ).splitlines()
    # what pandas cannot do: a \cmidrule under each spanning group, as booktabs tables have
    top = lines.index(r"\toprule")
    for level, groups in reversed(list(enumerate(panel.groups))):
        lines.insert(top + 2 + level, _cmidrules(groups))
    return "\n".join(lines)


def _cmidrules(groups: list[tuple[str, int]]) -> str:
    rules, col = [], 2
    for _, span in groups:
        rules.append(rf"\cmidrule(lr){{{col}-{col + span - 1}}}")
        col += span
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
    lookup: SummaryLookup,
    train: TrainLookup,
    main_budgets: Mapping[str, int],
    sweep_budgets: Mapping[str, Sequence[int]],
    profile: str,
    backbone: str | None,
    backbone_lookup: SummaryLookup | None,
) -> list[Callable[[], Table]]:
    """One builder per table of the paper (1-12), in order; each reads its inputs when called."""
    builders: list[Callable[[], Table]] = [lambda: table1(lookup, main_budgets, profile)]
    for benchmark, number in sorted(ABLATION_TABLES.items(), key=lambda item: item[1]):
        builders.append(
            lambda b=benchmark, n=number: ablation_table(n, b, lookup, main_budgets[b], profile)
        )
    builders.append(lambda: table3(train, profile))
    strong = ["lcb_v4_v5", "leetcode"]
    builders.append(
        lambda: backbone_table(4, strong, backbone_lookup, main_budgets, backbone, profile)
    )
    for number in SWEEP_TABLES:
        builders.append(lambda n=number: sweep_table(n, lookup, sweep_budgets, profile))
    every = list(BENCHMARK_HEADERS)
    builders.append(
        lambda: backbone_table(12, every, backbone_lookup, main_budgets, backbone, profile)
    )
    return builders
