"""A real OpenAI-style chat-completions server on 127.0.0.1 whose answers follow a script.

Each request takes the next behaviour of `script` (then `default`): "ok" (answer via
`responder`), "429" / "500" / "400" (an error status), "drop" (close the connection without
an answer), "hang" (answer nothing until the server stops), "garbage" (200 with a non-JSON
body). The server counts requests, records their bodies and headers, and tracks the largest
number of requests in flight at once.

Synchronisation is by events, never by the clock: with `gather=N` the first N requests are held
until N are in flight at once (a client that never sends N together hangs its test, which
pytest-timeout fails, unless it gives up held requests and sends them again: check its
retries); with `held=True` every request is held until `release()`;
`wait_for_requests(n)` returns once n requests have arrived. `delay_s` is an answer latency for
benchmarks, not a way to order events.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from asap.data.steps import join_steps, split_steps

# A responder returns the answer text, or (text, finish_reason).
Responder = Callable[[dict[str, Any]], str | tuple[str, str]]


def echo_responder(body: dict[str, Any]) -> str:
    """Answer with the last user message, so different prompts get different answers."""
    return f"echo: {body['messages'][-1]['content']}"


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog of 5 resets bursts of new connections


class LoopbackServer:
    def __init__(
        self,
        script: list[str] | None = None,
        default: str = "ok",
        responder: Responder = echo_responder,
        delay_s: float = 0.0,
        retry_after: str | None = None,
        gather: int = 0,
        held: bool = False,
    ) -> None:
        self.script = list(script or [])
        self.default = default
        self.responder = responder
        self.delay_s = delay_s
        self.retry_after = retry_after
        self.gather = gather
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Condition()  # notified at every arrival and at the stop
        self._gathered = gather == 0
        self._released = not held
        self._stop = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # a short poll interval: `shutdown` (at every `with` exit) waits for one
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._stop.set()
            self._lock.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def release(self) -> None:
        """Answer the requests held by `held=True`, and every later one at once."""
        with self._lock:
            self._released = True
            self._lock.notify_all()

    def wait_for_requests(self, count: int) -> None:
        """Return once `count` requests have arrived (no clock: a test's timeout ends a hang)."""
        with self._lock:
            self._lock.wait_for(lambda: len(self.requests) >= count)

    def _next_behaviour(self, body: dict[str, Any], headers: dict[str, str]) -> str:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._gathered = self._gathered or self.in_flight >= self.gather
            self._lock.notify_all()
            # held until `gather` requests are in flight together, and (`held`) until `release`
            self._lock.wait_for(lambda: (self._gathered and self._released) or self._stop.is_set())
            return self.script.pop(0) if self.script else self.default

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            counted = False  # this request counts in `in_flight`

            def log_message(self, *args: object) -> None:
                pass

            def _leave(self) -> None:
                """No longer in flight: called before any byte of the answer is sent, so the
                client's next request cannot arrive while this one still counts."""
                if self.counted:
                    self.counted = False
                    server._done()

            def _send(self, status: int, payload: bytes, extra: dict[str, str] | None = None):
                self._leave()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                behaviour = server._next_behaviour(body, dict(self.headers.items()))
                self.counted = True
                try:
                    if server.delay_s:
                        time.sleep(server.delay_s)
                    self._act(behaviour, body)
                finally:
                    self._leave()  # "drop" and "hang": before the connection closes

            def _act(self, behaviour: str, body: dict[str, Any]) -> None:
                if behaviour == "drop":
                    self.close_connection = True
                    return
                if behaviour == "hang":
                    server._stop.wait(60)
                    self.close_connection = True
                    return
                if behaviour == "garbage":
                    self._send(200, b"<html>not json")
                    return
                if behaviour in ("400", "429", "500"):
                    extra = {"Retry-After": server.retry_after} if server.retry_after else {}
                    error = {"error": {"message": f"scripted {behaviour}", "type": "scripted"}}
                    self._send(int(behaviour), json.dumps(error).encode(), extra)
                    return
                result = server.responder(body)
                text, finish_reason = result if isinstance(result, tuple) else (result, "stop")
                answer = {
                    "id": f"cmpl-{len(server.requests)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "loopback"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": finish_reason,
                        }
                    ],
                    "usage": {
                        "prompt_tokens": 10,
                        "completion_tokens": len(text.split()),
                        "total_tokens": 10 + len(text.split()),
                    },
                }
                self._send(200, json.dumps(answer).encode())

        return Handler


COARSE_THINKING = re.compile(r"Thinking:\n```\n(.*)\n```\nThe compressed thinking:", re.DOTALL)
ANCHOR_CODE = re.compile(r"Code:\n```python\n(.*)\n```\nReply with", re.DOTALL)


class ScriptedTeacher:
    """A responder in the role of the paper's teacher, for the two teacher prompts.

    Anchor prompt: a short step-by-step explanation, then the code it was shown. Coarse rewrite
    prompt: the first answer for each thinking is an unrelated sentence (no valid pruning, so
    the record is resampled); every later answer keeps every other step of the thinking it was
    shown, verbatim. Any other prompt is an error of the test.
    """

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        if thinking := COARSE_THINKING.search(prompt):
            with self._lock:
                attempt = self.seen.get(thinking.group(1), 0)
                self.seen[thinking.group(1)] = attempt + 1
            if attempt == 0:
                return "Here is a shorter version of the reasoning."
            return join_steps(split_steps(thinking.group(1))[::2])
        if code := ANCHOR_CODE.search(prompt):
            return (
                "Step-by-Step Solution\n1. Read the input.\n2. Compute the answer.\n\n"
                f"Final Code\n```python\n{code.group(1)}\n```"
            )
        raise AssertionError(f"not a teacher prompt: {prompt[:200]!r}")
