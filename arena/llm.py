"""The one place that talks to model APIs (the official `openai` client).

The client runs with `max_retries=0`: retries happen here, one attempt at a time, so that the
caller can record every attempt before it is made (an attempt may be paid for) and the result
after. Every call has a timeout. Errors are classified once:

* retryable: 429 (honouring Retry-After), 408/409, 5xx, timeouts, connection errors, and
  malformed bodies (the client lets a JSONDecodeError through unwrapped on a truncated 200);
* permanent: every other 4xx (400 bad request, 401/403 key, 404 unknown model, 422).

Backoff after a retryable error is exponential with full jitter (AWS architecture blog,
"Exponential Backoff And Jitter"): sleep uniform(0, min(cap, base * 2**(n-1))). A 429 waits at
least its Retry-After instead (capped), plus a little jitter so that throttled callers do not
return at the same instant. Retrying goes on until a per-response deadline
(LLM_RETRY_DEADLINE_SECONDS), not for a fixed count: a provider with a bad quarter of an hour
still ends with every answer. A 429 is the provider asking us to wait, not a failed attempt,
so it does not count towards LLM_MAX_ATTEMPTS, which is only a safety bound against a hot
loop (a zero backoff base).

The generation engine streams (`stream=True` here, with `stream_options.include_usage`) to
record the time to the first token next to the total latency (request sent to last byte); text,
usage, served model and finish reason come from the chunks, and the request timeout bounds
the whole stream. A provider that refuses streaming (a 400 naming `stream`) is remembered per
process, endpoint and model, and asked again at once, in the same attempt, with a plain call;
a contestant (or campaign) with `"stream": false` in its extra parameters never streams.

No key is ever stored: the key is read from the environment variable the contestant names, at
call time, and the stored request is the JSON body without it. Before the key is read and again
before every attempt, the endpoint and key variable go through arena/endpoints.py's allow-lists
(the attempt check resolves the host name), so a row written around the API cannot send a key
anywhere the operator did not list.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import openai

logger = logging.getLogger(__name__)

# A Retry-After beyond this is not waited for in full: the next attempt simply gets another 429,
# which costs nothing, instead of parking a worker thread for an hour.
RETRY_AFTER_CAP_SECONDS = 300.0
# Used only when a contestant on a loopback endpoint (the simulator, a local server) has no key.
LOCAL_PLACEHOLDER_KEY = "sk-local-no-key"


@dataclass(frozen=True)
class Completion:
    text: str
    served_model: str
    input_tokens: int
    output_tokens: int
    finish_reason: str
    # From sending the request to the last byte of the answer.
    latency_ms: int
    # From sending the request to the first streamed content token; None for a plain call.
    ttft_ms: int | None = None
    streamed: bool = False


class LLMError(Exception):
    """One failed attempt. `retryable` says whether another attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    # Failed attempts, 429s not counted, after which a response fails even before its deadline.
    max_attempts: int
    backoff_base: float
    backoff_max: float
    timeout: float
    # No attempt starts, and no wait is begun, past this many seconds after the first attempt.
    deadline_seconds: float = 900.0

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        from django.conf import settings

        return cls(
            max_attempts=settings.LLM_MAX_ATTEMPTS,
            backoff_base=settings.LLM_BACKOFF_BASE,
            backoff_max=settings.LLM_BACKOFF_MAX,
            timeout=settings.LLM_REQUEST_TIMEOUT,
            deadline_seconds=settings.LLM_RETRY_DEADLINE_SECONDS,
        )


def is_loopback(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_key_for(*, api_key_env: str, base_url: str, simulated: bool = False) -> str:
    """The key from the named env var; a placeholder for the simulator or another loopback endpoint.

    Refused (permanently) when the variable or the endpoint is not on the allow-lists; only a
    listed variable is ever read, so the message about an empty one tells nothing new.
    """
    from . import endpoints

    try:
        endpoints.check_key_env(api_key_env)
        endpoints.check_resolved(base_url)
    except endpoints.EndpointUnresolved:
        pass  # checked again before every attempt, where a failed DNS lookup is retried
    except endpoints.EndpointRefused as refused:
        raise LLMError(f"refused before sending: {refused.message}", retryable=False) from None
    key = os.environ.get(api_key_env, "")
    if key:
        return key
    if simulated or is_loopback(base_url):
        return LOCAL_PLACEHOLDER_KEY
    raise LLMError(f"the allowed API key variable {api_key_env} has no value on the worker", retryable=False)


def endpoint_check_before_sending(base_url: str) -> None:
    """The allow-list and the resolved addresses, checked before every attempt (DNS may change between them)."""
    from . import endpoints

    try:
        endpoints.check_resolved(base_url)
    except endpoints.EndpointUnresolved as unresolved:
        raise LLMError(f"connection error: {unresolved.message}", retryable=True) from None
    except endpoints.EndpointRefused as refused:
        raise LLMError(f"refused before sending: {refused.message}", retryable=False) from None


_clients: dict[tuple[str, str, float], openai.OpenAI] = {}
_clients_lock = threading.Lock()
_http_client = None


def _shared_http_client():
    """One httpx connection pool per process, shared by every client (call with _clients_lock held).

    Building an httpx client loads the TLS trust store (~50-130 ms); sharing one means a new
    endpoint costs nothing, and the per-request timeout is passed by the openai client anyway.
    """
    global _http_client
    if _http_client is None:
        import openai

        _http_client = openai.DefaultHttpxClient()
    return _http_client


def client_for(*, base_url: str, api_key: str, timeout: float) -> openai.OpenAI:
    """One client per (endpoint, key, timeout) and process, shared by threads (httpx is thread-safe)."""
    import openai  # imported on first use: ~40 MB that a worker's main process never needs

    cache_key = (base_url, api_key, timeout)
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is None:
            client = openai.OpenAI(
                base_url=base_url,
                api_key=api_key,
                max_retries=0,
                timeout=timeout,
                http_client=_shared_http_client(),
            )
            _clients[cache_key] = client
        return client


def warm_up() -> None:
    """Pay the client's one-off costs now (a worker pool process calls this when it starts).

    Importing openai, building the shared connection pool, importing the chat resources (the
    client loads them on first access) and parsing one completion take 0.1-1 s on a busy
    machine; done lazily, they delayed the first call of every campaign a fresh worker ran.
    """
    import openai
    from openai.types.chat import ChatCompletion

    with _clients_lock:
        http_client = _shared_http_client()
    probe = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="warm-up", max_retries=0, http_client=http_client)
    probe.chat.completions  # noqa: B018 - the attribute access imports the resource modules
    ChatCompletion.model_validate(
        {
            "id": "warm-up",
            "object": "chat.completion",
            "created": 0,
            "model": "warm-up",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": ""}}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }
    )


def parse_retry_after(headers) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - time.time())


def classify(exc: BaseException) -> LLMError:
    """Turn whatever the client raised into a retryable or permanent LLMError."""
    import openai

    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return LLMError("timeout: no answer within the request timeout", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(f"connection error: {exc}", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = _error_detail(exc)
        if status == 429:
            retry_after = parse_retry_after(exc.response.headers if exc.response is not None else None)
            return LLMError(f"429 rate limited: {detail}", retryable=True, retry_after=retry_after, status=status)
        if status >= 500 or status in (408, 409):
            return LLMError(f"{status} server error: {detail}", retryable=True, status=status)
        return LLMError(f"{status} {detail}", retryable=False, status=status)
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        # JSONDecodeError is a ValueError: a truncated or non-JSON 200 body.
        return LLMError(f"malformed response body: {exc}", retryable=True)
    if isinstance(exc, openai.OpenAIError):
        return LLMError(f"API error: {exc}", retryable=False)
    return LLMError(f"unexpected error: {type(exc).__name__}: {exc}", retryable=False)


def _error_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:500]
    return str(exc.message)[:500]


# (endpoint, model) pairs whose provider refused `stream: true` in this process: they get plain calls.
_stream_refused: set[tuple[str, str]] = set()


def streaming_refused(*, base_url: str, model: str) -> bool:
    return (base_url.rstrip("/"), model) in _stream_refused


def _refuses_streaming(error: LLMError) -> bool:
    """A provider without streaming answers a 400 (or 422) that names the parameter."""
    return error.status in (400, 422) and "stream" in error.message.lower()


def chat_completion_once(*, client: openai.OpenAI, request: dict, timeout: float, stream: bool = False) -> Completion:
    """One attempt. `request` is the exact JSON body (model, messages, sampling settings).

    With `stream`, the answer is streamed (with `stream_options.include_usage`) to time its
    first token; a provider that refuses streaming is remembered (per process, endpoint and
    model) and asked again at once with a plain call, within the same attempt.
    """
    endpoint_check_before_sending(str(client.base_url))
    key = (str(client.base_url).rstrip("/"), str(request.get("model", "")))
    if stream and key not in _stream_refused:
        try:
            return _streamed_once(client=client, request=request, timeout=timeout)
        except LLMError as error:
            if not _refuses_streaming(error):
                raise
            _stream_refused.add(key)
            logger.warning("%s refused streaming for %s (%s): plain calls from now on", key[0], key[1], error.message)
    return _plain_once(client=client, request=request, timeout=timeout)


def _streamed_once(*, client: openai.OpenAI, request: dict, timeout: float) -> Completion:
    """One streamed call: the answer and the time to its first content token.

    The client sends the request and turns an error status into its usual exception; the
    event stream is then read from the raw response by arena/sse.py (the client's own SSE
    decoder and a model object per chunk cost ~3 ms of CPU per answer of a hundred chunks,
    twice what the whole plain call costs). The request timeout bounds the whole stream.
    """
    import httpx2

    from . import sse

    body = {
        **request,
        "stream": True,
        "stream_options": {**(request.get("stream_options") or {}), "include_usage": True},
    }
    started = time.monotonic()
    try:
        response = client.post(
            "/chat/completions",
            body=body,
            cast_to=httpx2.Response,
            stream=True,
            options={"timeout": timeout},
        )
        try:
            answer = sse.answer_of(sse.events(response.iter_bytes()), deadline=started + timeout)
        finally:
            response.close()
    except LLMError:
        raise
    except httpx2.TimeoutException:
        raise LLMError("timeout: no answer within the request timeout", retryable=True) from None
    except httpx2.TransportError as exc:
        raise LLMError(f"connection error: the stream broke off: {exc}", retryable=True) from None
    except Exception as exc:  # noqa: BLE001 - classified into retryable/permanent right here
        raise classify(exc) from exc
    return Completion(
        text=answer.text,
        served_model=answer.served_model,
        input_tokens=int(answer.usage.get("prompt_tokens") or 0),
        output_tokens=int(answer.usage.get("completion_tokens") or 0),
        finish_reason=answer.finish_reason,
        latency_ms=int((time.monotonic() - started) * 1000),
        ttft_ms=None if answer.first_token_at is None else int((answer.first_token_at - started) * 1000),
        streamed=True,
    )


def _plain_once(*, client: openai.OpenAI, request: dict, timeout: float) -> Completion:
    from openai.types.chat import ChatCompletion

    started = time.monotonic()
    try:
        # The stored request is posted as it is: the body sent is exactly the stored request
        # (with each stored image's reference as the data: URL of its bytes, put in by the
        # engine: arena/services/images.py), provider-specific parameters included, and the
        # client skips re-validating the messages against its typed parameters (~0.5 ms of CPU
        # per call, a tenth of what a call costs the worker). Errors and the parsed result are
        # the same as chat.completions.create's.
        result = client.post("/chat/completions", body=request, cast_to=ChatCompletion, options={"timeout": timeout})
    except Exception as exc:  # noqa: BLE001 - classified into retryable/permanent right here
        raise classify(exc) from exc
    latency_ms = int((time.monotonic() - started) * 1000)
    choices = getattr(result, "choices", None)
    if not choices or choices[0].message is None or choices[0].message.content is None:
        raise LLMError("malformed response body: no choices or no message content", retryable=True)
    usage = result.usage
    return Completion(
        text=choices[0].message.content,
        served_model=result.model or "",
        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        finish_reason=choices[0].finish_reason or "",
        latency_ms=latency_ms,
    )


def backoff_delay(*, attempt: int, policy: RetryPolicy, error: LLMError, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based)."""
    rng = rng or random
    if error.retry_after is not None:
        wait = min(error.retry_after, RETRY_AFTER_CAP_SECONDS)
        return wait + rng.uniform(0, min(1.0, 0.1 * wait + 0.05))
    ceiling = min(policy.backoff_max, policy.backoff_base * (2 ** (attempt - 1)))
    return rng.uniform(0, ceiling)


def chat_completion_with_retries(
    *,
    client: openai.OpenAI,
    request: dict,
    policy: RetryPolicy,
    before_attempt: Callable[[int], bool] | None = None,
    after_failure: Callable[[int, LLMError], bool] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    stream: bool = False,
) -> Completion:
    """Attempts until one succeeds, a permanent error, or the policy's deadline or bound.

    Raises the last LLMError. `before_attempt(n)` runs before attempt n is sent (the caller
    records it, and waits for the rate limiter); it returns False when the caller no longer
    owns the work, which stops here. `after_failure(n, error)` records the error (a 429 has
    `status` 429); False stops as well. With `stream`, each attempt streams (see
    chat_completion_once).
    """
    deadline = clock() + policy.deadline_seconds
    attempt = 0
    counted_failures = 0  # the failures that use up an attempt: every retryable one but a 429
    while True:
        attempt += 1
        if before_attempt is not None and not before_attempt(attempt):
            raise LLMError("abandoned: the work was taken over by another worker", retryable=False)
        try:
            return chat_completion_once(client=client, request=request, timeout=policy.timeout, stream=stream)
        except LLMError as error:
            if after_failure is not None and not after_failure(attempt, error):
                raise
            if not error.retryable:
                raise
            if error.status != 429:
                counted_failures += 1
            tried = f"{attempt} attempt{'' if attempt == 1 else 's'}"
            if counted_failures >= policy.max_attempts:
                raise LLMError(
                    f"gave up after {tried} ({counted_failures} failed, 429s not counted): {error.message}",
                    retryable=False,
                    status=error.status,
                ) from error
            delay = backoff_delay(attempt=attempt, policy=policy, error=error)
            if clock() + delay > deadline:
                raise LLMError(
                    f"gave up after {tried} in the {policy.deadline_seconds:g} s retry deadline: {error.message}",
                    retryable=False,
                    status=error.status,
                ) from error
            sleep(delay)
