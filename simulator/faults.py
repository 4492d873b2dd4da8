"""Errors the simulated API answers, and the faults it injects on purpose.

Error bodies have OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``) so the
real ``openai`` client raises the same exception it would raise against the real API. Injected
faults are 429 with ``Retry-After``, 500, a hang and a malformed 200 body; one draw of the
fault RNG per chat request picks among them (see ``FAULT_RATES``), and the requests-per-minute
window answers 429 of its own once ``rpm_limit`` is reached.
"""

from __future__ import annotations

import math
import random
import threading
from collections import Counter, deque
from typing import Any, NamedTuple, TypeVar

from simulator.config import FAULT_RATES, SimulatorConfig

__all__ = [
    "MALFORMED_STREAM_TAIL",
    "ErrorAnswer",
    "FaultInjector",
    "RpmVerdict",
    "control_not_found",
    "injected_429",
    "injected_500",
    "invalid_request",
    "model_not_found",
    "rpm_exceeded",
    "rpm_headers",
    "simulator_bug",
    "truncated",
    "unauthorised",
    "unknown_url",
]

_Sliceable = TypeVar("_Sliceable", bytes, list)

# A malformed stream sends half its events, then this cut-off event, then closes the connection.
MALFORMED_STREAM_TAIL = b'data: {"id": "chatcmpl-broken", "choices": [{"ind\n\n'


class ErrorAnswer(NamedTuple):
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = {}


def _error(status: int, message: str, type_: str, code: str | None = None, param: str | None = None) -> ErrorAnswer:
    return ErrorAnswer(status, {"error": {"message": message, "type": type_, "param": param, "code": code}})


def invalid_request(message: str, param: str | None = None) -> ErrorAnswer:
    return _error(400, message, "invalid_request_error", None, param)


def unauthorised(*, key_given: bool) -> ErrorAnswer:
    if key_given:
        message = "Incorrect API key provided. You can find your API key in your account settings."
    else:
        message = (
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
    return _error(401, message, "invalid_request_error", "invalid_api_key")


def model_not_found(model: str) -> ErrorAnswer:
    message = f"The model `{model}` does not exist or you do not have access to it."
    return _error(404, message, "invalid_request_error", "model_not_found", "model")


def unknown_url(method: str, path: str) -> ErrorAnswer:
    return _error(404, f"Invalid URL ({method} {path})", "invalid_request_error")


def control_not_found(method: str, path: str) -> ErrorAnswer:
    return _error(404, f"unknown control endpoint {method} {path}", "not_found")


def simulator_bug() -> ErrorAnswer:
    """A bug in the simulator itself: answered as a 500 rather than a dropped connection."""
    return _error(500, "simulator internal error", "server_error")


def _rate_limited(message: str, code: str, wait: float) -> ErrorAnswer:
    # The openai client waits retry-after-ms when given (else Retry-After, whole seconds) before
    # its next attempt, so both are sent, the first exact and the second rounded up.
    headers = {"Retry-After": str(max(0, math.ceil(wait))), "retry-after-ms": str(max(0, round(wait * 1000)))}
    return ErrorAnswer(429, _error(429, message, "rate_limit_exceeded", code, "requests").body, headers)


def rpm_exceeded(model: str, limit: int, wait: float) -> ErrorAnswer:
    message = (
        f"Rate limit reached for {model}: Limit {limit}, Used {limit}, Requested 1. Please try again in {wait:.3f}s."
    )
    return _rate_limited(message, "rpm_limit_exceeded", wait)


def injected_429(model: str, retry_after: float) -> ErrorAnswer:
    message = f"Rate limit reached for {model} (simulated). Please try again in {retry_after:g}s."
    return _rate_limited(message, "rate_limit_exceeded", retry_after)


def injected_500() -> ErrorAnswer:
    message = "The server had an error while processing your request. Sorry about that! (simulated)"
    return _error(500, message, "server_error")


def truncated(whole: _Sliceable) -> _Sliceable:
    """A malformed answer: the first half (at least one) of a JSON body's bytes or of a stream's events."""
    return whole[: max(1, len(whole) // 2)]


def rpm_headers(config: SimulatorConfig, remaining: int) -> dict[str, str]:
    """The x-ratelimit headers of every chat answer while an ``rpm_limit`` is set."""
    if config.rpm_limit is None:
        return {}
    return {
        "x-ratelimit-limit-requests": str(config.rpm_limit),
        "x-ratelimit-remaining-requests": str(max(remaining, 0)),
    }


class RpmVerdict(NamedTuple):
    admitted: bool
    wait: float
    """Seconds until the window frees a slot (0 when admitted)."""
    remaining: int
    """Requests still admitted in the window (-1 without a limit)."""


class FaultInjector:
    """The fault RNG, the faults injected (in all and per key) and the requests-per-minute window.

    Shared by every handler thread, hence the lock around each draw and counter.
    """

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self.reset(seed)

    def reset(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)
            self._faults: Counter[str] = Counter()
            self._faults_by_key: Counter[str] = Counter()
            self._rpm_admitted: deque[float] = deque()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {"faults": dict(self._faults), "faults_by_key": dict(self._faults_by_key)}

    def check_rpm(self, config: SimulatorConfig, now: float) -> RpmVerdict:
        """Admit the request into the sliding window of ``rpm_window`` seconds, or refuse it."""
        with self._lock:
            window = self._rpm_admitted
            cutoff = now - config.rpm_window
            while window and window[0] <= cutoff:
                window.popleft()
            if config.rpm_limit is None:
                return RpmVerdict(True, 0.0, -1)
            if len(window) >= config.rpm_limit:
                wait = (window[0] + config.rpm_window - now) if window else config.rpm_window
                self._faults["rpm_limit"] += 1
                return RpmVerdict(False, max(wait, 0.0), 0)
            window.append(now)
            return RpmVerdict(True, 0.0, config.rpm_limit - len(window))

    def draw(self, config: SimulatorConfig, key: str) -> str | None:
        """The fault injected into this request (a name of ``FAULT_RATES``), or None.

        The roll is drawn even when the key's budget (``max_failures_per_key``) is spent, so the
        n-th chat request always gets the n-th roll of the seeded RNG, whatever the budgets.
        """
        with self._lock:
            roll = self._rng.random()
            limit = config.max_failures_per_key
            if limit is not None and self._faults_by_key[key] >= limit:
                return None
            edge = 0.0
            for name, rate_field in FAULT_RATES:
                rate = getattr(config, rate_field)
                edge += rate
                if rate > 0 and roll < edge:
                    self._faults_by_key[key] += 1
                    self._faults[name] += 1
                    return name
            return None

    def latency(self, config: SimulatorConfig) -> float:
        """Seconds to wait before this answer: ``latency`` with its jitter drawn from the fault RNG."""
        if config.latency_jitter <= 0:
            return config.latency
        with self._lock:
            jitter = self._rng.uniform(-config.latency_jitter, config.latency_jitter)
        return max(0.0, config.latency + jitter)

    def uniform(self, bounds: tuple[float, float]) -> float:
        """A draw from [low, high] of the fault RNG (per-model timing profiles)."""
        with self._lock:
            return self._rng.uniform(*bounds)
