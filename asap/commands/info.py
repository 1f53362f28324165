"""`asap info`: the active profile and the versions of the packages that shape results."""

from __future__ import annotations

import argparse
import platform
from importlib import metadata

from asap.io import dumps_stable
from asap.params import active_profile, load_params

PACKAGES = ("asap", "torch", "transformers", "trl", "datasets", "dvc", "openai", "scipy")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


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
