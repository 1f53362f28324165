"""The `asap` console script. Each subcommand is one entry of `COMMANDS`.

An entry names a module that defines `add_arguments(parser)` and `run(args) -> int`. Command
modules import heavy libraries (torch, transformers) inside `run`, so `asap --help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("asap.commands.info", "show the active profile, its params and package versions"),
    "evaluate": ("asap.commands.evaluate", "run samples against a benchmark's tests in a sandbox"),
    "surprisal": ("asap.commands.surprisal", "prune CoTs by first-token surprisal to a budget"),
    "stages": ("asap.commands.stages", "list the DVC stages of evaluation cells (dvc targets)"),
    "verify": ("asap.commands.verify", "recompute every hash in dvc.lock; exit 1 on any mismatch"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asap", description="ASAP reproduction: pruning, evaluation and verification tools."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
