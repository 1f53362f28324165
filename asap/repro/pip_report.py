"""Exact pins from a pip installation report (`pip install --dry-run --report`).

`constraints-gpu.txt` is written from the report of a dry-run resolution of the GPU set-up:
every distribution pip would install, as `name==version`, sorted, after a header that says how
to regenerate it and for which interpreter and platform pip resolved. The project itself (an
editable or local requirement) is left out.

    python -m asap.repro.pip_report REPORT.json > constraints-gpu.txt   # REPORT.json or - (stdin)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

HEADER = """\
# Exact versions of every dependency the GPU set-up installs (make setup-gpu uses them as pip
# constraints), as pip's resolver chose them for the pyproject ranges of the extras
# dev, serve and gpu. Resolved for {python} on {platform}.
# Regenerate after a deliberate upgrade with:
#   make constraints-gpu
# which runs (no package is downloaded: pip reads each wheel's metadata only):
#   pip install --dry-run --ignore-installed --use-feature=fast-deps --quiet --report - \\
#       -e ".[dev,serve,gpu]" | python -m asap.repro.pip_report - > constraints-gpu.txt
"""


def resolved(report: Mapping[str, Any]) -> dict[str, str]:
    """name -> version of every distribution in the report, except local/editable ones."""
    pins: dict[str, str] = {}
    for item in report["install"]:
        info = item.get("download_info", {})
        if item.get("is_direct") and (info.get("dir_info") is not None):
            continue  # the project itself (a local folder, editable or not)
        metadata = item["metadata"]
        pins[metadata["name"]] = metadata["version"]
    return pins


def constraints_text(report: Mapping[str, Any]) -> str:
    env = report.get("environment", {})
    python = f"{env.get('implementation_name', 'python')} {env.get('python_version', '?')}"
    platform = f"{env.get('sys_platform', '?')} {env.get('platform_machine', '?')}"
    lines = [f"{name}=={version}" for name, version in resolved(report).items()]
    body = "\n".join(sorted(lines, key=str.lower))
    return HEADER.format(python=python, platform=platform) + body + "\n"


def read_constraints(text: str) -> dict[str, str]:
    """name -> version of the `name==version` lines of a constraints file."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip()] = version.strip()
    return pins


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m asap.repro.pip_report REPORT.json|-", file=sys.stderr)
        return 2
    if args[0] == "-":
        report = json.load(sys.stdin)
    else:
        with open(args[0], encoding="utf-8") as handle:
            report = json.load(handle)
    sys.stdout.write(constraints_text(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
