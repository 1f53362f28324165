"""The fidelity ledger (FIDELITY.md) agrees with params.yaml: every profile cell it states is the
value that runs, so the ledger cannot drift."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from asap.repro.params import load_params

REPO = Path(__file__).resolve().parents[1]
HEADER = ["Setting", "Paper", "Authors' scripts", "Paper profile", "Embedded", "Why they differ"]
PARAM = re.compile(r"^(?P<path>[a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)+): (?P<value>.+)$")
CODE = re.compile(r"`([^`]+)`")
_MISSING = object()


def cells(line: str) -> list[str]:
    """The cells of a Markdown table row (`\\|` is a literal bar)."""
    inner = line.strip()[1:-1].replace("\\|", "\0")
    return [cell.strip().replace("\0", "|") for cell in inner.split("|")]


def ledger_rows() -> list[list[str]]:
    rows, header = [], None
    for line in (REPO / "FIDELITY.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None
            continue
        row = cells(line)
        if header is None:
            header = row
            assert header == HEADER, f"unexpected ledger header {header}"
        elif not set("".join(row)) <= set("-: "):
            assert len(row) == len(HEADER), f"row with {len(row)} cells: {line}"
            rows.append(row)
    return rows


def stated_params(cell: str) -> list[tuple[str, Any]]:
    found = []
    for span in CODE.findall(cell):
        match = PARAM.match(span)
        if match:
            found.append((match["path"], yaml.safe_load(f"v: {match['value']}")["v"]))
    return found


def lookup(section: dict[str, Any], path: str) -> Any:
    node: Any = section
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
    return node


ROWS = ledger_rows()


def test_the_ledger_has_a_row_per_setting() -> None:
    assert len(ROWS) >= 46
    settings = [row[0] for row in ROWS]
    assert len(set(settings)) == len(settings), "a setting appears twice"
    for row in ROWS:
        assert row[1] and row[2], f"{row[0]}: the paper and the authors' scripts must be stated"
        for cell in (row[3], row[4]):
            assert stated_params(cell) or cell.startswith("(code)"), (
                f"{row[0]}: a profile cell must state its params or be marked (code)"
            )


@pytest.mark.parametrize("column, profile", [(3, "paper"), (4, "embedded")])
def test_every_stated_param_is_the_value_in_params_yaml(column: int, profile: str) -> None:
    section = load_params(REPO / "params.yaml")[profile]
    wrong = []
    for row in ROWS:
        for path, value in stated_params(row[column]):
            actual = lookup(section, path)
            if actual is _MISSING or actual != value:
                shown = "missing" if actual is _MISSING else repr(actual)
                wrong.append(f"{row[0]}: {profile}.{path} is {shown}, the ledger says {value!r}")
    assert not wrong, "\n".join(wrong)


def test_the_parser_reads_flow_values_and_escaped_bars() -> None:
    row = cells('| a | `x.y: [1, 2]` and `x.z: "\\n"` | `a\\|b` |')
    assert row == ["a", '`x.y: [1, 2]` and `x.z: "\\n"`', "`a|b`"]
    assert stated_params(row[1]) == [("x.y", [1, 2]), ("x.z", "\n")]
    assert stated_params("`configs/prompts/x.txt` and `finish_reason`") == []
