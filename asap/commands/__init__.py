"""Subcommands of the `asap` console script (registered in `asap.cli.COMMANDS`)."""
