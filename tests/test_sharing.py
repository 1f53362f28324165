"""Collaborators share the pipeline's outputs through a real S3-protocol object store, and
over SSH.

An S3 server (moto's, on 127.0.0.1: no account, no network beyond loopback) holds a DVC
remote configured with `endpointurl` and credentials through `dvc remote modify --local`, so
nothing secret is in a tracked file. The miniature paper run (`tests/miniature.py`) pushes
every output; fresh clones then pull as the README's "Sharing" commands do: only the SFT
datasets, datasets and models, or everything with only `stats` left to run. A corrupted object
on the remote and a `dvc pull` killed mid-way must both be caught, with nothing partial kept.
The same datasets then travel over SSH (an SFTP server on 127.0.0.1).
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from asap.repro.verify import OK, Finding, file_md5, load_lock, verify_lock
from tests.dvc_repos import kill_when, run, tool_env, verify_cli
from tests.miniature import RUNNING, PaperRun

# One worker runs the miniature paper run once and every test built on it (make test-e2e).
pytestmark = [pytest.mark.slow, pytest.mark.paper_run, pytest.mark.xdist_group("paper_run")]

BUCKET = "asap"
CREDENTIALS = {"access_key_id": "miniature", "secret_access_key": "miniature"}
DATASETS = [f"data/sft/{m}.jsonl" for m in (
    "original", "selective_context", "llmlingua2", "tokenskip", "spirit", "asap", "wo_coarse",
    "wo_fine",
)]  # fmt: skip
MODELS = ["models/base", "models/sft_base"] + [f"models/{Path(d).stem}" for d in DATASETS]


def outputs(findings: list[Finding], paths: Iterable[str]) -> list[Finding]:
    """The findings of these paths as stage outputs (each also appears as a dependency)."""
    wanted = set(paths)
    return [f for f in findings if f.kind == "out" and f.path in wanted]


def assert_all_verified(clone: Path) -> None:
    """Every entry of the lock is present and hashes right, by `asap verify` (one pass)."""
    checked = verify_cli(cwd=clone)
    assert checked.returncode == 0, checked.stdout


@pytest.fixture(scope="module")
def s3():
    """An S3 server on 127.0.0.1 with one bucket; yields its endpoint URL and a client."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in the log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["access_key_id"],
        aws_secret_access_key=CREDENTIALS["secret_access_key"],
    )
    client.create_bucket(Bucket=BUCKET)
    try:
        yield endpoint, client
    finally:
        server.stop()


def use_s3(clone: Path, endpoint: str, prefix: str) -> None:
    """The remote in the tracked config; endpoint and credentials only in .dvc/config.local."""
    run(["dvc", "remote", "add", "--force", "--default", "s3", f"s3://{BUCKET}/{prefix}"], clone)
    run(["dvc", "remote", "modify", "--local", "s3", "endpointurl", endpoint], clone)
    for key, value in CREDENTIALS.items():
        run(["dvc", "remote", "modify", "--local", "s3", key, value], clone)


@pytest.fixture(scope="module")
def shared(paper_run: PaperRun, s3) -> tuple[Path, str]:
    """The miniature paper run, committed and pushed to S3; returns (that clone, endpoint)."""
    first = paper_run.clone
    endpoint, client = s3
    use_s3(first, endpoint, "shared")
    run(["git", "add", "--all"], first)
    run(["git", "commit", "--quiet", "-m", "share through S3"], first)
    tracked = (first / ".dvc/config").read_text(encoding="utf-8")
    assert endpoint not in tracked and "miniature" not in tracked  # nothing secret tracked
    started = time.perf_counter()
    pushed = run(["dvc", "push"], first).stdout
    objects = client.list_objects_v2(Bucket=BUCKET, Prefix="shared/")
    size = sum(o["Size"] for o in objects.get("Contents", []))
    print(
        f"dvc push: {pushed.strip()}; {size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s"
    )
    return first, endpoint


def fresh_clone(shared: tuple[Path, str], where: Path) -> Path:
    first, endpoint = shared
    run(["git", "clone", "--quiet", str(first), str(where)], first)
    use_s3(where, endpoint, "shared")
    return where


def test_only_the_sft_datasets_then_repro_pull_runs_nothing(shared, tmp_path) -> None:
    clone = fresh_clone(shared, tmp_path / "datasets")
    status = run(["dvc", "status", "--cloud", *DATASETS], clone).stdout
    assert "deleted" in status or "new" in status  # what the remote holds, before pulling
    run(["dvc", "pull", *DATASETS], clone)
    assert all((clone / path).is_file() for path in DATASETS)
    assert not (clone / "models/asap/model.safetensors").exists()  # nothing else came
    findings = outputs(verify_lock(clone / "dvc.lock"), DATASETS)
    assert len(findings) == len(DATASETS) and all(f.status == OK for f in findings)

    pulled = run(["dvc", "repro", "--pull"], clone)
    assert "Running stage" not in pulled.stdout, pulled.stdout
    assert_all_verified(clone)


def test_datasets_and_models(shared, tmp_path) -> None:
    clone = fresh_clone(shared, tmp_path / "models")
    run(["dvc", "pull", *DATASETS, *MODELS], clone)
    wanted = set(DATASETS) | set(MODELS)
    findings = outputs(verify_lock(clone / "dvc.lock"), wanted)
    assert {f.path for f in findings} == wanted and all(f.status == OK for f in findings)
    assert not (clone / "data/eval").exists() or not any((clone / "data/eval").rglob("*.jsonl"))


def test_a_corrupted_object_on_the_remote_is_caught(shared, s3, tmp_path) -> None:
    _, client = s3
    clone = fresh_clone(shared, tmp_path / "corrupt")
    out = next(
        o for o in load_lock(clone / "dvc.lock")["surprisal"]["outs"]
        if o["path"] == "data/sft/asap.jsonl"
    )  # fmt: skip
    key = f"shared/files/md5/{out['md5'][:2]}/{out['md5'][2:]}"
    original = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    flipped = bytes([original[0] ^ 0xFF]) + original[1:]
    client.put_object(Bucket=BUCKET, Key=key, Body=flipped)
    try:
        # DVC does not re-hash downloads (remote option `verify`, false by default): the
        # corrupted bytes arrive, and asap verify is what catches them.
        run(["dvc", "pull", "data/sft/asap.jsonl"], clone)
        checked = verify_cli("surprisal", cwd=clone)
        assert checked.returncode == 1, checked.stdout
        line = next(x for x in checked.stdout.splitlines() if "out  data/sft/asap.jsonl" in x)
        assert line.startswith("MISMATCH surprisal") and f"recorded {out['md5']}" in line
    finally:
        client.put_object(Bucket=BUCKET, Key=key, Body=original)


def cached_objects(cache: Path) -> list[Path]:
    """The objects under `cache`, without DVC's staging files of downloads in flight."""
    if not cache.is_dir():
        return []
    return [p for p in cache.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_a_pull_killed_mid_way_keeps_nothing_partial_then_only_stats_runs(shared, tmp_path) -> None:
    """A killed `dvc pull` leaves only whole objects; pulling again completes it, and then the
    README's "everything, then only the tables" reruns `stats` alone, to the same tables."""
    clone = fresh_clone(shared, tmp_path / "killed")
    cache = clone / ".dvc/cache/files/md5"
    proc = subprocess.Popen(
        ["dvc", "pull"], cwd=clone, env=tool_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    kill_when(proc, lambda: bool(cached_objects(cache)))
    # every object that reached the cache is whole: its bytes hash to its name (a download in
    # flight is a hidden `.<random>.tmp` file, renamed only once complete)
    objects = cached_objects(cache)
    assert objects
    for obj in objects:
        assert file_md5(obj) == obj.parent.name + obj.name.removesuffix(".dir"), obj
    run(["dvc", "pull"], clone)
    assert_all_verified(clone)

    tables = clone / "reports/tables"
    pulled = {p.name: p.read_bytes() for p in sorted(tables.iterdir())}
    rerun = run(["dvc", "repro", "--force", "--single-item", "stats"], clone)
    assert RUNNING.findall(rerun.stdout) == ["stats"], rerun.stdout
    assert {p.name: p.read_bytes() for p in sorted(tables.iterdir())} == pulled
    assert "Running stage" not in run(["dvc", "repro"], clone).stdout


# -- SSH ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """An SSH server with SFTP on 127.0.0.1 (asyncssh, the library dvc-ssh itself uses; no
    privileges needed), accepting one client key; yields (port, key file, storage folder)."""
    import asyncio
    import threading

    import asyncssh

    root = tmp_path_factory.mktemp("sshd")
    host_key, client_key = (asyncssh.generate_private_key("ssh-ed25519") for _ in range(2))
    host_key.write_private_key(root / "host_key")
    client_key.write_private_key(root / "client_key")
    client_key.write_public_key(root / "client_key.pub")
    loop = asyncio.new_event_loop()
    started: dict[str, object] = {}
    ready = threading.Event()

    async def serve() -> None:
        server = await asyncssh.create_server(
            asyncssh.SSHServer, "127.0.0.1", 0,
            server_host_keys=[str(root / "host_key")],
            authorized_client_keys=str(root / "client_key.pub"),
            sftp_factory=True,
        )  # fmt: skip
        started["server"] = server
        started["port"] = server.sockets[0].getsockname()[1]
        ready.set()
        await server.wait_closed()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30), "the SSH server did not start"
    (root / "store").mkdir()
    try:
        yield started["port"], root / "client_key", root / "store"
    finally:
        loop.call_soon_threadsafe(started["server"].close)  # type: ignore[attr-defined]
        thread.join(30)


def use_ssh(clone: Path, sshd) -> None:
    """An SSH remote of this clone only (.dvc/config.local): URL, user and key."""
    port, key, store = sshd
    run(
        ["dvc", "remote", "add", "--local", "--force", "ssh", f"ssh://127.0.0.1:{port}{store}"],
        clone,
    )
    run(["dvc", "remote", "modify", "--local", "ssh", "user", "collaborator"], clone)
    run(["dvc", "remote", "modify", "--local", "ssh", "keyfile", str(key)], clone)


def test_ssh_round_trip_of_the_sft_datasets(paper_run: PaperRun, sshd, tmp_path) -> None:
    first = paper_run.clone
    use_ssh(first, sshd)
    run(["dvc", "push", "--remote", "ssh", *DATASETS], first)
    _, _, store = sshd
    assert len([p for p in store.rglob("*") if p.is_file()]) == len(DATASETS)

    clone = tmp_path / "over-ssh"
    run(["git", "clone", "--quiet", str(first), str(clone)], first)
    use_ssh(clone, sshd)
    run(["dvc", "pull", "--remote", "ssh", *DATASETS], clone)
    findings = outputs(verify_lock(clone / "dvc.lock"), DATASETS)
    assert len(findings) == len(DATASETS) and all(f.status == OK for f in findings)
