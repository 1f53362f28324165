"""Teacher client (asap.teacher.client) against loopback HTTP servers: retries, errors, cache."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable
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
    server: LoopbackServer | str,
    cache_dir: Path | None = None,
    sleep: Callable[[float], object] | None = None,
    **overrides: object,
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
    return Teacher(TeacherConfig.from_params(settings), cache_dir, sleep=sleep)


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
    # "hang" holds each request until the server stops, after the client has given up
    with LoopbackServer(default="hang") as server:
        teacher = make_teacher(server, timeout=0.5, max_retries=1)
        with pytest.raises(TeacherError, match=r"failed 2 tries .*timed out"):
            teacher.complete(MESSAGES)
        server.wait_for_requests(2)  # the second try reached the server too
        assert server.count == 2  # two tries, each ended by the client's timeout, not a hang
    assert teacher.counters.tries == 2


def test_client_errors_are_not_retried() -> None:
    with LoopbackServer(default="400") as server:
        teacher = make_teacher(server)
        with pytest.raises(TeacherError, match="HTTP 400"):
            teacher.complete(MESSAGES)
    assert server.count == 1


def requested_delays(script: list[str], retry_after: str | None = None, **settings: float):
    """The delays the teacher asks to wait before its retries (it waits for none of them)."""
    delays: list[float] = []
    with LoopbackServer(script=script, retry_after=retry_after) as server:
        make_teacher(server, sleep=delays.append, **settings).complete(MESSAGES)
    assert server.count == len(script) + 1
    return delays


def test_backoff_grows_exponentially_and_honours_retry_after() -> None:
    delays = requested_delays(["500"] * 3, backoff_initial=0.1, backoff_max=10.0)
    # the delay before retry r is in [0.5, 1] x 0.1 x 2^(r-1)
    assert len(delays) == 3
    for retry, delay in enumerate(delays, start=1):
        assert 0.05 * 2 ** (retry - 1) <= delay <= 0.1 * 2 ** (retry - 1), delays
    # ceilings 1, 2 and 4, capped at backoff_max 1.5, then jittered in [0.5, 1] x the ceiling
    capped = requested_delays(["500"] * 3, backoff_initial=1.0, backoff_max=1.5)
    assert 0.5 <= capped[0] <= 1.0 and all(0.75 <= d <= 1.5 for d in capped[1:]), capped
    # at least the server's Retry-After (far above a backoff of at most 0.01 s), capped as well
    assert requested_delays(["429"], "0.6", backoff_initial=0.01, backoff_max=10.0) == [0.6]
    assert requested_delays(["429"], "30", backoff_initial=0.01, backoff_max=2.0) == [2.0]


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
    # the server holds the first 4 requests until all 4 are in flight (the test ends only if
    # the client sends 4 at once); max_in_flight shows that no 5th ever joined them
    with LoopbackServer(gather=4) as server:
        teacher = make_teacher(server, concurrency=4, timeout=60.0)
        texts = [c.text for c in teacher.map(teacher.complete, prompts)]
    assert texts == [f"echo: p{i}" for i in range(12)]
    assert server.max_in_flight == 4
    # one try each: no held request was given up and sent again to complete the 4
    assert server.count == 12 and teacher.counters.retries == 0


def blocked_in(semaphore: object, threads: list[threading.Thread]) -> int:
    """How many of `threads` wait inside `semaphore.acquire()`, read from their stacks."""
    frames = sys._current_frames()
    count = 0
    for thread in threads:
        frame = frames.get(thread.ident or -1)
        caller = frame.f_back if frame is not None else None
        count += (
            frame is not None
            and frame.f_code.co_name == "wait"  # Condition.wait, called by Semaphore.acquire
            and caller is not None
            and caller.f_code.co_name == "acquire"
            and caller.f_locals.get("self") is semaphore
        )
    return count


def test_concurrency_bounds_requests_from_more_calling_threads() -> None:
    prompts = [[{"role": "user", "content": f"p{i}"}] for i in range(8)]
    with LoopbackServer(held=True) as server:
        teacher = make_teacher(server, concurrency=4, timeout=60.0)
        callers = [threading.Thread(target=teacher.complete, args=(m,)) for m in prompts]
        for caller in callers:
            caller.start()
        # Poll until every caller is accounted for: its request held by the server, or the
        # caller blocked on the teacher's semaphore (no permit comes back while all are held).
        while server.in_flight + blocked_in(teacher._in_flight, callers) < len(callers):
            time.sleep(0.01)
        assert server.in_flight == 4  # the other 4 callers wait for a permit
        server.release()
        for caller in callers:
            caller.join()
    assert teacher.counters.completions == 8 and server.max_in_flight == 4


def test_map_stops_at_the_first_permanent_failure() -> None:
    prompts = [[{"role": "user", "content": f"p{i}"}] for i in range(40)]
    # the first request fails for good; every later one is held until the server stops
    with LoopbackServer(script=["400"], default="hang") as server:
        teacher = make_teacher(server, concurrency=2)
        with pytest.raises(TeacherError, match="HTTP 400"):
            teacher.map(teacher.complete, prompts)
        # map returned while the other worker's request is held: it did not wait for it, and
        # at most one more item (taken by the failed worker's thread) was started
        assert server.count <= 3


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
