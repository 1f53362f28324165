"""Teacher client (asap.teacher.client) against loopback HTTP servers: retries, errors, cache."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from asap.model.digest import model_digest
from asap.teacher.client import (
    Teacher,
    TeacherConfig,
    TeacherError,
)
from tests.loopback import LoopbackServer

MESSAGES = [{"role": "user", "content": "hello"}]


def make_teacher(
    server: LoopbackServer | str, cache_dir: Path | None = None, **overrides: object
) -> Teacher:
    base_url = server if isinstance(server, str) else server.base_url
    settings: dict[str, object] = {
        "model": "loopback",
        "base_url": base_url,
        "max_retries": 3,
        "timeout": 5.0,
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
        **overrides,
    }
    return Teacher(TeacherConfig.from_params(settings), cache_dir)


@pytest.mark.parametrize("failure", ["429", "500", "drop", "garbage"])
def test_transient_failures_are_retried_and_counted(failure: str) -> None:
    with LoopbackServer(script=[failure, failure]) as server, make_teacher(server) as teacher:
        completion = teacher.complete(MESSAGES)
    assert completion.text == "echo: hello"
    assert server.count == 3
    assert completion.tries == 3
    assert teacher.counters.tries == 3
    assert teacher.counters.retries == 2


def test_dead_endpoint_fails_clearly_after_max_retries() -> None:
    with LoopbackServer(default="500") as server:
        teacher = make_teacher(server, max_retries=2)
        with pytest.raises(TeacherError, match=r"failed 3 tries .*HTTP 500"):
            teacher.complete(MESSAGES)
    assert server.count == 3  # every try counted: 1 + max_retries


def test_refused_connection_fails_after_max_retries() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    teacher = make_teacher(f"http://127.0.0.1:{port}/v1", max_retries=2)
    with pytest.raises(TeacherError, match=r"failed 3 tries .*connection error"):
        teacher.complete(MESSAGES)


def test_a_server_that_never_answers_times_out_and_fails() -> None:
    with LoopbackServer(default="hang") as server:
        teacher = make_teacher(server, timeout=0.5, max_retries=1)
        with pytest.raises(TeacherError, match=r"failed 2 tries .*timed out"):
            teacher.complete(MESSAGES)
    assert server.count == 2  # two tries, each ended by the client's timeout, not a hang


def test_client_errors_are_not_retried() -> None:
    with LoopbackServer(default="400") as server:
        teacher = make_teacher(server)
        with pytest.raises(TeacherError, match="HTTP 400"):
            teacher.complete(MESSAGES)
    assert server.count == 1


def test_backoff_grows_exponentially_and_honours_retry_after() -> None:
    with LoopbackServer(script=["500", "500", "500"]) as server:
        make_teacher(server, backoff_initial=0.1, backoff_max=10.0).complete(MESSAGES)
    gaps = [b - a for a, b in zip(server.arrivals, server.arrivals[1:], strict=False)]
    # delay before retry r is in [0.5, 1] x 0.1 x 2^(r-1)
    assert [round(g, 2) >= 0.05 * 2**r for r, g in enumerate(gaps)] == [True] * 3
    assert gaps[2] > gaps[0]
    with LoopbackServer(script=["429"], retry_after="0.6") as server:
        make_teacher(server, backoff_initial=0.01, backoff_max=10.0).complete(MESSAGES)
    assert server.arrivals[1] - server.arrivals[0] >= 0.55


def test_api_key_comes_from_the_named_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ASAP_TEST_KEY", raising=False)
    with pytest.raises(TeacherError, match="ASAP_TEST_KEY"):
        make_teacher("http://127.0.0.1:9/v1", api_key_env="ASAP_TEST_KEY")
    monkeypatch.setenv("ASAP_TEST_KEY", "sk-test-123")
    with LoopbackServer() as server:
        make_teacher(server, api_key_env="ASAP_TEST_KEY").complete(MESSAGES)
    authorization = {k.lower(): v for k, v in server.headers[0].items()}["authorization"]
    assert authorization == "Bearer sk-test-123"


def test_sampling_settings_reach_the_server() -> None:
    with LoopbackServer() as server:
        teacher = make_teacher(server, top_p=0.9, max_tokens=77, seed=5, generation_config=True)
        teacher.complete(MESSAGES, temperature=2.0, sample_index=3)
    body = server.requests[0]
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (
        2.0,
        0.9,
        77,
        8,
    )
    assert json.loads(body["generation_config"]) == {"do_sample": True, "top_k": 0}


def test_a_second_run_is_served_from_the_cache(tmp_path: Path) -> None:
    prompts = [[{"role": "user", "content": f"prompt {i}"}] for i in range(3)]
    with LoopbackServer() as server:
        first = make_teacher(server, tmp_path)
        answers = [first.complete(m) for m in prompts]
        answers.append(first.complete(prompts[0], temperature=1.0, sample_index=1))
        assert server.count == 4  # a new sample index is a new request
        second = make_teacher(server, tmp_path)
        again = [second.complete(m) for m in prompts]
        again.append(second.complete(prompts[0], temperature=1.0, sample_index=1))
        assert server.count == 4
    assert [a.text for a in again] == [a.text for a in answers]
    assert all(a.cached for a in again)
    assert second.counters.cache_hits == 4
    assert [a.completion_tokens for a in again] == [a.completion_tokens for a in answers]


def test_partial_cache_files_are_never_accepted(tmp_path: Path) -> None:
    done = [{"role": "user", "content": "finished before the kill"}]
    killed = [{"role": "user", "content": "being written when killed"}]
    corrupt = [{"role": "user", "content": "final file damaged"}]
    with LoopbackServer() as server:
        teacher = make_teacher(server, tmp_path)
        for messages in (done, killed, corrupt):
            teacher.complete(messages)
        assert server.count == 3
        # A kill during the atomic write leaves a truncated temporary file and no final file.
        killed_path = teacher.cache_path(_key(teacher, killed))
        assert killed_path is not None
        content = killed_path.read_text()
        killed_path.unlink()
        temp = killed_path.with_name(f".{killed_path.name}.abc123.tmp")
        temp.write_text(content[: len(content) // 2])
        # A final file cut short (e.g. copied by hand) must not be read as a response either.
        corrupt_path = teacher.cache_path(_key(teacher, corrupt))
        assert corrupt_path is not None
        corrupt_path.write_text(corrupt_path.read_text()[:40])
        assert teacher.cached(_key(teacher, corrupt)) is None

        rerun = make_teacher(server, tmp_path)
        assert not temp.exists()  # stale temporary files are removed when the cache opens
        texts = [rerun.complete(m).text for m in (done, killed, corrupt)]
        assert server.count == 5  # only the two unusable entries were requested again
    assert texts == [f"echo: {m[0]['content']}" for m in (done, killed, corrupt)]
    assert rerun.cached(_key(rerun, corrupt)) is not None


def _key(teacher: Teacher, messages: list[dict[str, str]]) -> str:
    return teacher.cache_key(messages, teacher.request_body(messages), 0)


def test_concurrency_is_bounded_and_results_keep_their_order() -> None:
    prompts = [[{"role": "user", "content": f"p{i}"}] for i in range(12)]
    with LoopbackServer(delay_s=0.2) as server:
        teacher = make_teacher(server, concurrency=4)
        texts = [c.text for c in teacher.map(teacher.complete, prompts)]
    assert texts == [f"echo: p{i}" for i in range(12)]
    assert server.max_in_flight == 4


def test_map_stops_at_the_first_permanent_failure() -> None:
    prompts = [[{"role": "user", "content": f"p{i}"}] for i in range(40)]
    with LoopbackServer(script=["400"], delay_s=0.05) as server:
        teacher = make_teacher(server, concurrency=2)
        with pytest.raises(TeacherError, match="HTTP 400"):
            teacher.map(teacher.complete, prompts)
        assert server.count < 10  # the remaining items were cancelled


def test_the_cache_key_follows_the_served_model_fingerprint(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 8}')
    (model / "model.safetensors").write_bytes(b"weights-1")
    first_salt = model_digest(model)
    assert model_digest(model) == first_salt
    (model / "model.safetensors").write_bytes(b"weights-2")  # retrained weights
    second_salt = model_digest(model)
    assert second_salt != first_salt
    cache = tmp_path / "cache"
    with LoopbackServer() as server:
        config = TeacherConfig.from_params(
            {"model": "loopback", "base_url": server.base_url, "max_retries": 0}
        )
        for salt in (first_salt, first_salt, second_salt):
            with Teacher(config, cache, cache_salt=salt) as teacher:
                teacher.complete(MESSAGES)
        assert server.count == 2  # the same model is served from the cache, another one is not
