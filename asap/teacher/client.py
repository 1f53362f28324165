"""The teacher LLM: chat completions from any OpenAI-compatible endpoint, cached on disk.

One `Teacher` wraps the `openai` SDK (DeepSeek API, vLLM, llama.cpp, `transformers serve`).

Retries: the SDK's own retries are off; `Teacher` retries HTTP 408, 409, 429 and 5xx answers,
timeouts, dropped connections and malformed responses with exponential backoff (full jitter on
the upper half, capped, at least the server's Retry-After). Every try counts: a request makes at
most ``max_retries + 1`` tries, then raises `TeacherError` naming the endpoint and the last
error. Other HTTP errors (400, 401, 404, ...) fail at once. The first failure stops the other
workers of `Teacher.map` (pending items are cancelled, running ones stop before their next try),
so a dead endpoint ends a run after a bounded time instead of hanging.

Concurrency: at most `concurrency` HTTP requests are in flight per `Teacher` (a semaphore around
each try), whatever the number of calling threads.

Cache (`asap.repro.cache.RecordCache`, the one per-record cache of every stage): every finished
response is one JSON file ``<cache_dir>/<key[:2]>/<key>.json``, written atomically. The cache's
identity is its format and `cache_salt` (e.g. the digest of a local model's weights); the record
is the request: its messages, model, sampling parameters (temperature, top_p, max_tokens, seed)
and `sample_index` (distinct samples of one prompt, e.g. resampling attempts). The endpoint URL
is not part of the key, and neither is a code fingerprint: a response depends only on the request
sent and the weights that answer it, both in the key (code that changes a prompt changes the
request), so an edit elsewhere never buys a paid API's answers again. A cached file is used only
when it parses and names its own key; anything else is requested again and overwritten.
Temporary files left by a killed run are deleted when a `Teacher` opens the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from asap.repro.cache import RecordCache, record_key
from asap.repro.io import DataError, dumps_stable

log = logging.getLogger(__name__)

Message = dict[str, str]
T = TypeVar("T")
R = TypeVar("R")

RETRYABLE_STATUS = frozenset({408, 409, 429})
CACHE_FORMAT = 2  # 2: keys of `asap.repro.cache.record_key`
CALL_FIELDS = ("key", "cached", "tries")  # of this call, not of the response


class TeacherError(RuntimeError):
    """The endpoint failed for good (retries spent, or a non-retryable answer)."""


class TeacherAborted(TeacherError):
    """Another request of the same run failed for good; this one stopped early."""


@dataclass(frozen=True)
class TeacherConfig:
    """Endpoint, sampling and retry settings (one `params.yaml` `teacher` block).

    base_url: OpenAI-compatible endpoint (".../v1"); None = a local `transformers serve`.
    api_key_env: name of the environment variable holding the key (None: no key needed).
    generation_config: also send the sampling settings as a transformers `generation_config`
        (`transformers serve` decodes greedily at any temperature without it).
    seed: sent as ``seed + sample_index`` when not None (servers that honour it reproduce).
    timeout: seconds for each try (connect, read, write).
    """

    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 1024
    concurrency: int = 8
    timeout: float = 120.0
    max_retries: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    seed: int | None = None
    generation_config: bool = False

    @classmethod
    def from_params(cls, params: dict[str, Any], **overrides: Any) -> TeacherConfig:
        """Build from a params mapping; unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise DataError(f"params: unknown teacher settings {unknown}; known: {sorted(known)}")
        values = {**params, **overrides}
        if "model" not in values or not values["model"]:
            raise DataError("params: the teacher block needs a `model`")
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if self.concurrency < 1:
            raise DataError(f"teacher: concurrency must be >= 1, got {self.concurrency}")
        if self.max_retries < 0:
            raise DataError(f"teacher: max_retries must be >= 0, got {self.max_retries}")
        if self.max_tokens < 1:
            raise DataError(f"teacher: max_tokens must be >= 1, got {self.max_tokens}")
        if self.timeout <= 0:
            raise DataError(f"teacher: timeout must be > 0, got {self.timeout}")


@dataclass(frozen=True)
class Completion:
    """One finished response. `cached` and `tries` describe this call, not the response."""

    key: str
    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cached: bool = False
    tries: int = 0

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@dataclass
class TeacherCounters:
    """What a `Teacher` did so far (differs between a first run and a rerun)."""

    tries: int = 0
    retries: int = 0
    cache_hits: int = 0
    completions: int = 0

    def summary(self) -> str:
        return f"{self.completions} requested, {self.cache_hits} from cache, {self.retries} retries"


def messages_digest(messages: Sequence[Message]) -> str:
    return hashlib.sha256(dumps_stable(list(messages)).encode("utf-8")).hexdigest()


def _describe(error: BaseException) -> str:
    import openai

    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}: {error.message}"
    if isinstance(error, openai.APITimeoutError):
        return "timed out"
    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__ or error.__context__
        return f"connection error ({type(cause).__name__ if cause else 'no detail'})"
    return f"{type(error).__name__}: {error}"


def _retry_after_s(error: BaseException) -> float | None:
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Teacher:
    """Chat completions with bounded concurrency, counted retries and an on-disk cache."""

    def __init__(
        self,
        config: TeacherConfig,
        cache_dir: str | Path | None,
        cache_salt: str = "",
        start_endpoint: Callable[[], str] | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        """`start_endpoint` (when `config.base_url` is None) starts a server and returns its URL;
        it runs at the first cache miss, so a run served from the cache starts nothing.

        `sleep(seconds)` waits before each retry; by default it waits on this teacher's abort
        event, so that a failure elsewhere in `map` ends the wait at once. Tests pass a function
        that records the requested delays instead of waiting."""
        config.validate()
        if config.base_url is None and start_endpoint is None:
            raise TeacherError("teacher: no base_url and no local server to start")
        self.api_key = "unused"
        if config.api_key_env:
            self.api_key = os.environ.get(config.api_key_env, "")
            if not self.api_key:
                raise TeacherError(
                    f"teacher: environment variable {config.api_key_env} (api_key_env) is not set"
                )
        self.config = config
        self.base_url = config.base_url
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.cache_identity = {"format": CACHE_FORMAT, "salt": cache_salt}
        self.cache = (
            RecordCache(self.cache_dir, self.cache_identity, required=("key", "response"))
            if self.cache_dir is not None
            else None
        )
        self.counters = TeacherCounters()
        self._start_endpoint = start_endpoint
        self._client: Any = None
        self._lock = threading.Lock()
        self._connect_lock = threading.Lock()
        self._in_flight = threading.BoundedSemaphore(config.concurrency)
        self._abort = threading.Event()
        self._sleep: Callable[[float], object] = self._abort.wait if sleep is None else sleep
        if self.cache is not None:
            self.cache.directory.mkdir(parents=True, exist_ok=True)
            self.cache.remove_temp_files()  # a killed run's partial writes

    def _connect(self) -> Any:
        """The SDK client, created (and the local server started) at first use."""
        import openai

        with self._connect_lock:
            if self._client is None:
                if self.base_url is None:
                    assert self._start_endpoint is not None
                    self.base_url = self._start_endpoint()
                self._client = openai.OpenAI(
                    base_url=self.base_url,
                    api_key=self.api_key,
                    max_retries=0,  # every try is counted here, not hidden inside the SDK
                    timeout=self.config.timeout,
                )
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> Teacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ---------------------------------------------------------------------------

    def request_body(
        self,
        messages: Sequence[Message],
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        sample_index: int = 0,
    ) -> dict[str, Any]:
        """The chat-completion request (without `messages`) for these settings."""
        config = self.config
        body: dict[str, Any] = {
            "model": config.model,
            "temperature": config.temperature if temperature is None else temperature,
            "top_p": config.top_p if top_p is None else top_p,
            "max_tokens": config.max_tokens if max_tokens is None else max_tokens,
        }
        if config.seed is not None:
            body["seed"] = config.seed + sample_index
        if config.generation_config:
            # transformers serve: sample only when asked; top_k 0 = no top-k cut (OpenAI semantics)
            body["extra_body"] = {
                "generation_config": json.dumps(
                    {"do_sample": body["temperature"] > 0, "top_k": 0}, sort_keys=True
                )
            }
        return body

    def cache_key(
        self, messages: Sequence[Message], body: dict[str, Any], sample_index: int
    ) -> str:
        request = {"messages": messages_digest(messages), "request": body, "index": sample_index}
        return record_key(self.cache_identity, request)

    def cache_path(self, key: str) -> Path | None:
        return self.cache.path(key) if self.cache is not None else None

    def cached(self, key: str) -> Completion | None:
        """The cached completion of `key`, or None when it is missing, partial or not `key`'s."""
        data = self.cache.get(key) if self.cache is not None else None
        response = data.get("response") if data is not None else None
        if data is None or data.get("key") != key or not isinstance(response, dict):
            return None
        if not isinstance(response.get("text"), str):
            return None
        return Completion(
            key=key,
            text=response["text"],
            finish_reason=response.get("finish_reason"),
            prompt_tokens=response.get("prompt_tokens"),
            completion_tokens=response.get("completion_tokens"),
            cached=True,
            tries=0,
        )

    def complete(
        self,
        messages: Sequence[Message],
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        sample_index: int = 0,
    ) -> Completion:
        """The response to `messages` (from the cache when it holds it)."""
        body = self.request_body(messages, temperature, top_p, max_tokens, sample_index)
        key = self.cache_key(messages, body, sample_index)
        cached = self.cached(key)
        if cached is not None:
            with self._lock:
                self.counters.cache_hits += 1
            return cached
        response, tries = self._create(list(messages), body)
        choice = response.choices[0]  # _create returns only responses with choices
        usage = response.usage
        completion = Completion(
            key=key,
            text=choice.message.content or "",
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage is not None else None,
            completion_tokens=usage.completion_tokens if usage is not None else None,
            cached=False,
            tries=tries,
        )
        if self.cache is not None:
            response = {k: v for k, v in asdict(completion).items() if k not in CALL_FIELDS}
            request = {**body, "sample_index": sample_index}
            self.cache.put(key, {"key": key, "request": request, "response": response})
        with self._lock:
            self.counters.completions += 1
        return completion

    def _backoff_s(self, retry: int, error: BaseException | None) -> float:
        """Delay before retry `retry` (1-based): capped doubling, jittered, >= Retry-After."""
        config = self.config
        ceiling = min(config.backoff_max, config.backoff_initial * 2 ** (retry - 1))
        delay = ceiling * (0.5 + random.random() / 2)
        retry_after = _retry_after_s(error) if error is not None else None
        if retry_after is not None:
            delay = max(delay, min(retry_after, config.backoff_max))
        return delay

    def _create(self, messages: list[Message], body: dict[str, Any]) -> tuple[Any, int]:
        import openai

        client = self._connect()
        config = self.config
        last_error: BaseException | None = None
        for try_index in range(config.max_retries + 1):
            if try_index:
                self._sleep(self._backoff_s(try_index, last_error))
            if self._abort.is_set():
                raise TeacherAborted("teacher: stopped because another request failed for good")
            with self._lock:
                self.counters.tries += 1
                self.counters.retries += 1 if try_index else 0
            try:
                with self._in_flight:
                    response = client.chat.completions.create(messages=messages, **body)
                if not getattr(response, "choices", None):
                    raise TeacherError("response has no choices")
                return response, try_index + 1
            except openai.APIStatusError as err:
                if err.status_code not in RETRYABLE_STATUS and err.status_code < 500:
                    raise TeacherError(
                        f"teacher at {self.base_url} (model {config.model}): {_describe(err)}"
                    ) from err
                last_error = err
            except (openai.APIConnectionError, openai.APIResponseValidationError) as err:
                last_error = err
            except (TeacherError, json.JSONDecodeError, ValueError) as err:
                last_error = err
            log.warning(
                "teacher try %d/%d failed: %s",
                try_index + 1,
                config.max_retries + 1,
                _describe(last_error),
            )
        raise TeacherError(
            f"teacher at {self.base_url} (model {config.model}) failed "
            f"{config.max_retries + 1} tries (max_retries={config.max_retries}); "
            f"last error: {_describe(last_error) if last_error else 'none'}"
        ) from last_error

    # -- running many -----------------------------------------------------------------------

    def map(self, function: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """`function` over `items` with `concurrency` threads, results in input order.

        The first exception (or an interrupt) stops the run: pending items are cancelled, running
        ones stop before their next try, and the exception is raised at once without waiting for
        requests in flight (finished responses stay cached).
        """
        items = list(items)
        if not items:
            return []
        self._abort.clear()
        pool = ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(items)))
        futures: list[Future[R]] = [pool.submit(function, item) for item in items]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:  # interrupted: do not wait for requests in flight
            self._abort.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        errors = [f.exception() for f in futures if f.done() and not f.cancelled()]
        errors = [error for error in errors if error is not None]
        if errors:
            self._abort.set()
            pool.shutdown(wait=False, cancel_futures=True)
            primary = [e for e in errors if not isinstance(e, TeacherAborted)] or errors
            raise primary[0]
        pool.shutdown(wait=True)
        return [future.result() for future in futures]
