"""The GPU set-up resolves: pip's resolver, run on `make setup-gpu`'s requirements.

`make resolve-gpu` runs `pip install --dry-run --ignore-installed --use-feature=fast-deps
--report ... -c constraints-gpu.txt -e ".[dev,serve,gpu]"`, which needs the package index
(reachable in CI) but installs nothing and downloads no CUDA wheel: pip reads each wheel's
metadata through the index's metadata files or HTTP range requests. The test checks the
resolution against the constraints and pip's log for what it downloaded.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from asap.repro.pip_report import constraints_text, read_constraints, resolved

REPO = Path(__file__).resolve().parents[1]
# Packages built for CUDA: their wheels are hundreds of MB to GBs each.
CUDA_PACKAGES = re.compile(r"^(torch|triton|vllm|xformers|flashinfer|nvidia|cuda|bitsandbytes)")
DOWNLOAD = re.compile(r"Downloading (\S+) \(([\d.]+) (kB|MB|GB)\)")
UNITS = {"kB": 1e3, "MB": 1e6, "GB": 1e9}


def pins(path: Path) -> dict[str, str]:
    return {canonicalize_name(k): v for k, v in read_constraints(path.read_text()).items()}


def makefile_value(name: str) -> str:
    match = re.search(rf"^{name} := (.+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert match, f"Makefile sets no {name}"
    return match.group(1).strip()


def downloads(log: str) -> list[tuple[str, float]]:
    """(file name, bytes) of every file pip's log says it downloaded."""
    return [
        (Path(name).name, float(size) * UNITS[unit]) for name, size, unit in DOWNLOAD.findall(log)
    ]


def test_torch_is_a_range_in_the_project_and_exact_in_each_set_up() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    torch_spec = next(d for d in project["dependencies"] if d.startswith("torch"))
    specifier = SpecifierSet(torch_spec.removeprefix("torch"))
    cpu, gpu = pins(REPO / "constraints.txt"), pins(REPO / "constraints-gpu.txt")
    assert cpu["torch"] == "2.13.0"  # the CPU build the Makefile installs first
    assert cpu["torch"] in specifier and gpu["torch"] in specifier
    assert gpu["torch"] != cpu["torch"]  # vLLM needs another torch: nothing pins it out of reach


def test_constraints_file_is_the_report_rendered() -> None:
    report = {
        "environment": {"implementation_name": "cpython", "python_version": "3.11",
                        "sys_platform": "linux", "platform_machine": "x86_64"},
        "install": [
            {"is_direct": True,
             "download_info": {"url": "file:///r", "dir_info": {"editable": True}},
             "metadata": {"name": "asap", "version": "0.1.0"}},
            {"is_direct": False, "download_info": {"url": "https://x/vllm.whl"},
             "metadata": {"name": "vllm", "version": "0.33.0"}},
            {"is_direct": True, "download_info": {"url": "file:///src/local", "dir_info": {}},
             "metadata": {"name": "local", "version": "1.0"}},
            {"is_direct": False, "download_info": {"url": "https://x/Jinja2.whl"},
             "metadata": {"name": "Jinja2", "version": "3.1.6"}},
            {"is_direct": True, "download_info": {"url": "https://x/tool.whl",
                                                  "archive_info": {}},
             "metadata": {"name": "tool", "version": "2.0"}},
            {"is_direct": False, "download_info": {"url": "https://x/aiohttp.whl"},
             "metadata": {"name": "aiohttp", "version": "3.14.5"}},
            {"is_direct": False, "download_info": {"url": "https://x/aiohttp_retry.whl"},
             "metadata": {"name": "aiohttp-retry", "version": "2.9.1"}},
        ],
    }  # fmt: skip
    # Written by hand: every distribution but the two local folders, one `name==version` line
    # each, sorted ignoring case ("-" sorts before "=", as in constraints-gpu.txt).
    pinned = ["aiohttp-retry==2.9.1", "aiohttp==3.14.5", "Jinja2==3.1.6", "tool==2.0",
              "vllm==0.33.0"]  # fmt: skip
    # The committed file's header, which says how it was made and for which interpreter
    committed = (REPO / "constraints-gpu.txt").read_text().splitlines()
    header = [line for line in committed if line.startswith("#")]
    assert "# dev, serve and gpu. Resolved for cpython 3.11 on linux x86_64." in header
    expected = "\n".join([*header, *pinned]) + "\n"
    assert constraints_text(report) == expected
    by_hand = dict(line.split("==") for line in pinned)
    assert resolved(report) == by_hand and read_constraints(expected) == by_hand
    # the command `make constraints-gpu` runs, the report on its stdin
    command = [sys.executable, "-m", "asap.repro.pip_report", "-"]
    rendered = subprocess.run(
        command, cwd=REPO, input=json.dumps(report), capture_output=True, text=True, timeout=120
    )
    assert rendered.returncode == 0 and rendered.stdout == expected, rendered.stderr


def test_gpu_set_up_resolves_without_downloading_cuda_wheels(tmp_path: Path) -> None:
    import pip

    assert pip.__version__ == makefile_value("PIP_VERSION"), (
        "this environment's pip is not the Makefile's (older ones download every wheel during a "
        "dry run): run make setup"
    )
    report_path, log_path = tmp_path / "report.json", tmp_path / "pip.log"
    resolver = f"{sys.executable} -m pip --log {log_path}"
    env = {**os.environ, "PIP_CACHE_DIR": str(tmp_path / "pip-cache")}
    result = subprocess.run(
        ["make", "-s", "resolve-gpu", f"RESOLVER={resolver}", f"GPU_REPORT={report_path}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(report_path.read_text())
    got = {canonicalize_name(k): v for k, v in resolved(report).items()}
    wanted = pins(REPO / "constraints-gpu.txt")
    for name in ("vllm", "unsloth", "torch", "transformers", "trl", "accelerate"):
        assert got[name] == wanted[name], name
    unpinned = sorted(set(got) - set(wanted))
    assert not unpinned, f"resolved but not in constraints-gpu.txt: {unpinned}"
    assert all(got[name] == wanted[name] for name in got)

    log = log_path.read_text()
    fetched = downloads(log)
    wheels = [(name, size) for name, size in fetched if name.endswith(".whl")]
    assert not [name for name, _ in wheels if CUDA_PACKAGES.match(name)], wheels
    assert sum(size for _, size in wheels) < 20e6, wheels  # a build back-end at most
    version = wanted["torch"]
    assert (
        f"Obtaining dependency information from torch {version}" in log
        or any(n.startswith(f"torch-{version}") and n.endswith(".metadata") for n, _ in fetched)
        or re.search(rf"Processing \S*torch-{re.escape(version)}\S*\.whl", log)
    ), "pip's log does not say how it read torch's metadata"


@pytest.mark.parametrize("line", ["Downloading setuptools-84.2.1-py3-none-any.whl (876 kB)"])
def test_download_lines_are_parsed(line: str) -> None:
    assert downloads(f"2026 {line}\n") == [("setuptools-84.2.1-py3-none-any.whl", 876e3)]
