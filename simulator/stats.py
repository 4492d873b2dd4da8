"""Counters of the traffic the simulator served, read by tests and benchmarks through ``stats()``."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, NamedTuple

__all__ = ["Completion", "Traffic"]


class Completion(NamedTuple):
    """What one successful chat answer adds to the counters."""

    key: str
    """``stats_key(model, messages)``."""
    prompt_tokens: int
    completion_tokens: int
    self_identified: bool


class Traffic:
    """Requests, answers, completions and requests in flight; shared by every handler thread.

    Control-plane requests (``/_control/...``) are never counted.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Clear every counter but the requests still in flight (they will depart later)."""
        with self._lock:
            self._requests_total = 0
            self._requests_by_model: Counter[str] = Counter()
            self._requests_by_status: Counter[str] = Counter()
            self._requests_by_path: Counter[str] = Counter()
            self._request_times: list[float] = []
            self._completions_by_key: Counter[str] = Counter()
            self._self_identified = 0
            self._prompt_tokens = 0
            self._completion_tokens = 0
            self._max_in_flight = self._in_flight

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests_total": self._requests_total,
                "requests_by_model": dict(self._requests_by_model),
                "requests_by_status": dict(self._requests_by_status),
                "requests_by_path": dict(self._requests_by_path),
                "request_times": list(self._request_times),
                "completions_by_key": dict(self._completions_by_key),
                "completions_total": sum(self._completions_by_key.values()),
                "self_identified": self._self_identified,
                "prompt_tokens": self._prompt_tokens,
                "completion_tokens": self._completion_tokens,
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
            }

    def arrived(self, path: str, now: float) -> None:
        with self._lock:
            self._requests_total += 1
            self._request_times.append(now)
            self._requests_by_path[path] += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def departed(self) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def requested_model(self, model: str) -> None:
        with self._lock:
            self._requests_by_model[model] += 1

    def answered(self, status: int, completion: Completion | None, *, depart: bool) -> None:
        """Count an answer just before it is written, so a client holding it already sees it."""
        with self._lock:
            self._requests_by_status[str(status)] += 1
            if completion is not None:
                self._add_completion(completion, +1)
            if depart:
                self._in_flight = max(0, self._in_flight - 1)

    def withdraw(self, completion: Completion) -> None:
        """The client went away before the completion could be written: it is not counted."""
        with self._lock:
            self._add_completion(completion, -1)

    def _add_completion(self, completion: Completion, sign: int) -> None:
        self._completions_by_key[completion.key] += sign
        if self._completions_by_key[completion.key] <= 0:
            del self._completions_by_key[completion.key]
        self._prompt_tokens += sign * completion.prompt_tokens
        self._completion_tokens += sign * completion.completion_tokens
        self._self_identified += sign * completion.self_identified
