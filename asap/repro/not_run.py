"""Methods a profile does not run, carried explicitly from stage to stage.

A method disabled in the active profile (e.g. LLMLingua-2 without its classifier weights in the
embedded profile) still has its stages in the DVC matrices, which cannot vary by profile. Its
compression stage writes an empty SFT dataset and a report `{"status": "not_run", "reason"}`;
the SFT stage then writes `models/<method>/NOT_RUN.json` instead of a model, and the eval stage
writes not-run cell reports, so tables and figures show the gap with its reason instead of
failing or inventing numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from asap.repro.io import read_json, write_json

MARKER = "NOT_RUN.json"
STATUS = "not_run"


def record(method: str, reason: str, **fields: Any) -> dict[str, Any]:
    return {"method": method, "status": STATUS, "reason": reason, **fields}


def is_not_run(report: Any) -> bool:
    return isinstance(report, dict) and report.get("status") == STATUS


def reason_in(path: Path) -> str | None:
    """The not-run reason recorded in a report file (or a folder's marker), else None."""
    path = path / MARKER if path.is_dir() else path
    if not path.is_file():
        return None
    report = read_json(path)
    return str(report["reason"]) if is_not_run(report) else None


def mark_folder(folder: Path, method: str, reason: str) -> None:
    """Write the not-run marker into `folder`, the DVC output standing in for real results."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / MARKER, record(method, reason))
