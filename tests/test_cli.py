"""The console script lists its subcommands and runs them."""

from __future__ import annotations

import json
import subprocess
import sys

from asap.cli import COMMANDS
from tests.dvc_repos import QUICK_S


def test_help_lists_every_command():
    result = subprocess.run(
        [sys.executable, "-m", "asap.cli", "--help"],
        capture_output=True, text=True, check=True, timeout=QUICK_S,
    )  # fmt: skip
    for name in COMMANDS:
        assert name in result.stdout


def test_info_reports_the_active_profile(repo_root):
    result = subprocess.run(
        [sys.executable, "-m", "asap.cli", "info"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=True,
        timeout=QUICK_S,
    )
    info = json.loads(result.stdout)
    assert info["profile"] == "embedded"
    assert info["versions"]["torch"].startswith("2.13.0")


def test_second_backbone_stages_are_the_evaluations_of_tables_4_and_12(repo_root):
    from tests.dvc_repos import run

    stage_list = run(["dvc", "stage", "list", "--name-only"], repo_root, timeout=QUICK_S)
    listed = set(stage_list.stdout.split())
    result = subprocess.run(
        [sys.executable, "-m", "asap.cli", "stages", "--second-backbone"],
        cwd=repo_root, capture_output=True, text=True, check=True, timeout=QUICK_S,
    )  # fmt: skip
    names = result.stdout.split()
    assert set(names) <= listed
    assert names == ["eval@zero_shot", "eval_sft@original", "eval_sft@spirit", "eval_sft@asap"]


def test_stages_refuses_an_unknown_method(repo_root):
    result = subprocess.run(
        [sys.executable, "-m", "asap.cli", "stages", "--methods", "asap", "nope"],
        cwd=repo_root, capture_output=True, text=True, timeout=QUICK_S,
    )  # fmt: skip
    assert result.returncode == 2 and "unknown method 'nope'" in result.stderr
    assert result.stdout == ""
