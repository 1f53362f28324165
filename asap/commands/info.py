"""`asap info`: the active profile and the versions of the packages that shape results."""

from __future__ import annotations

import argparse

from asap.repro.io import dumps_stable
from asap.repro.params import active_profile, load_params
from asap.repro.provenance import package_versions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: %(default)s)"
    )


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    print(
        dumps_stable(
            {
                "profile": params["profile"],
                "params": active_profile(params),
                "versions": package_versions(),
            },
            indent=2,
        )
    )
    return 0
