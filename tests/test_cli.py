"""The console script lists its subcommands and runs them."""

from __future__ import annotations

import json
import subprocess
import sys

from asap.cli import COMMANDS


def test_help_lists_every_command():
    result = subprocess.run(
        [sys.executable, "-m", "asap.cli", "--help"], capture_output=True, text=True, check=True
    )
    for name in COMMANDS:
        assert name in result.stdout


def test_info_reports_the_active_profile(repo_root):
    result = subprocess.run(
        [sys.executable, "-m", "asap.cli", "info"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(result.stdout)
    assert info["profile"] == "embedded"
    assert info["versions"]["torch"].startswith("2.13.0")
