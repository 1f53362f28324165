"""A local OpenAI-compatible endpoint: `transformers serve` on 127.0.0.1, always stopped after use.

The embedded profile has no remote teacher: the stage starts ``transformers serve MODEL_DIR``
pinned to the model (``--host 127.0.0.1 --port <free port>``), waits until ``GET /health``
answers 200 (the pinned model is loaded before the server starts listening), and kills the
server's whole process group when the block ends, on success, exception or interrupt. A small
supervisor process runs the server and stops it if the starting process dies without cleanup
(SIGKILL), so no orphaned server keeps the CPU busy. Requests
must name the model exactly as it was served (`MODEL_DIR` as given). The server runs with
``HF_HUB_OFFLINE=1``: nothing is fetched from a hub.

Note: `transformers serve` decodes greedily unless the request carries a `generation_config`
with ``do_sample``; `asap.teacher.client` sends one when `TeacherConfig.generation_config` is set.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from asap.model.digest import model_digest
from asap.repro.io import DataError
from asap.repro.precision import dtype_name
from asap.teacher.client import Teacher, TeacherConfig

HOST = "127.0.0.1"


class ServeError(RuntimeError):
    """The local server did not start or stopped unexpectedly."""


def free_port(host: str = HOST) -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# Runs the server as its child and stops it when the process that started it dies (even by
# SIGKILL, which skips every cleanup): it polls its parent pid and terminates the server once
# it changes. A SIGTERM to the group reaches both; the supervisor then waits for the server.
SUPERVISOR = """
import os, signal, subprocess, sys, time
parent = int(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: None)
server = subprocess.Popen(sys.argv[2:])
while server.poll() is None:
    if os.getppid() != parent:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        break
    time.sleep(0.5)
sys.exit(server.wait())
"""


def serve_command(model_dir: str, port: int, dtype: str = "auto", host: str = HOST) -> list[str]:
    """The supervised `transformers serve` command line, run with this interpreter."""
    return [
        sys.executable,
        "-c",
        SUPERVISOR,
        str(os.getpid()),
        sys.executable,
        "-m",
        "transformers.cli.transformers",
        "serve",
        model_dir,
        "--host",
        host,
        "--port",
        str(port),
        "--dtype",
        dtype,
        "--log-level",
        "warning",
    ]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, chars: int = 2000) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return text[-chars:]


def stop_process_group(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM the process group of `process`, then SIGKILL it if it is still alive."""
    if process.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 30.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def local_server(
    model_dir: str | Path,
    dtype: str = "auto",
    startup_timeout_s: float = 600.0,
    host: str = HOST,
) -> Iterator[str]:
    """Serve `model_dir` with `transformers serve`; yield its OpenAI base URL (".../v1")."""
    model_dir = str(model_dir)
    if not (Path(model_dir) / "config.json").exists():
        raise ServeError(f"{model_dir}: not a transformers model folder (no config.json)")
    port = free_port(host)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory(prefix="asap-serve-") as log_dir:
        log_path = Path(log_dir) / "serve.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                serve_command(model_dir, port, dtype, host),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # own process group: stopped as a whole
            )
        try:
            deadline = time.monotonic() + startup_timeout_s
            health = f"http://{host}:{port}/health"
            while not _healthy(health):
                if process.poll() is not None:
                    raise ServeError(
                        f"transformers serve {model_dir} exited with code {process.returncode} "
                        f"before answering:\n{_tail(log_path)}"
                    )
                if time.monotonic() > deadline:
                    raise ServeError(
                        f"transformers serve {model_dir} did not answer {health} within "
                        f"{startup_timeout_s:.0f} s:\n{_tail(log_path)}"
                    )
                time.sleep(0.5)
            yield f"http://{host}:{port}/v1"
        finally:
            stop_process_group(process)


def teacher_inputs(teacher_params: dict[str, Any], records: Path) -> list[Path | str]:
    """What a teacher stage's answers depend on, for its provenance: the records, and the model
    folder when it is served locally (`base_url: null`)."""
    if teacher_params.get("base_url"):
        return [records]
    return [records, teacher_params["model"]]


@contextlib.contextmanager
def open_teacher(
    teacher_params: dict[str, Any], serve_params: dict[str, Any], cache_dir: str | Path
) -> Iterator[Teacher]:
    """A `Teacher` for a `teacher` params block; with `base_url: null` it serves `model` locally.

    The local server starts at the first cache miss and stops when the block ends. Its cache key
    is salted with a fingerprint of the model folder and the serving dtype, so responses of other
    weights or precision never match.
    """
    config = TeacherConfig.from_params(teacher_params)
    if config.base_url is not None:
        with Teacher(config, cache_dir) as teacher:
            yield teacher
        return
    unknown = sorted(set(serve_params) - {"dtype", "startup_timeout_s"})
    if unknown:
        raise DataError(f"params: unknown serve settings {unknown} (dtype, startup_timeout_s)")
    config = replace(config, generation_config=True)
    # served on cuda when there is one (transformers serve's choice); `auto` resolved here,
    # since the server's own `auto` means the checkpoint's dtype
    serve_params = {**serve_params, "dtype": dtype_name(serve_params.get("dtype", "auto"))}
    # what changes the answers: the model's files and the dtype it is served in
    salt = f"{model_digest(config.model)}:{serve_params['dtype']}"
    with contextlib.ExitStack() as stack:

        def start() -> str:
            return stack.enter_context(local_server(config.model, **serve_params))

        with Teacher(config, cache_dir, cache_salt=salt, start_endpoint=start) as teacher:
            yield teacher
