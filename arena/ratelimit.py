"""A rate limiter per model endpoint, shared by every worker process and machine.

Celery's `rate_limit` is per worker process, so two workers would each use the whole quota.
This limiter keeps one sliding window per endpoint in a shared store:

* Redis (when `REDIS_URL` is set, i.e. the broker is Redis): one Lua script per admission, so
  the check and the insert are atomic, with Redis' own clock (the same for every machine);
* the database otherwise (the embedded SQLite default): the endpoint's `RateLimitBucket` row
  is locked (`select_for_update`; SQLite's IMMEDIATE transactions serialise writers anyway)
  while the window is read and the new event is inserted.

The window is exact, not a token bucket: a request is admitted only if fewer than `rpm`
requests and at most `tpm` tokens were admitted in the last `RATE_LIMIT_WINDOW_SECONDS`
(60 in production), so no window of that length ever holds more (a token bucket would allow a
full burst plus a full refill, up to twice the limit, in one window). Tokens are reserved from
an estimate before the call and settled to the real usage after it.

The endpoint key is a hash of the base URL and the *name* of the key's env var: never the key.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from .ratelimit_models import RateLimitBucket, RateLimitEvent


def endpoint_key(*, base_url: str, api_key_env: str) -> str:
    return hashlib.sha256(f"{base_url.rstrip('/')}|{api_key_env}".encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Permit:
    key: str
    event_id: str


class Limiter:
    """`acquire` blocks until a request may be sent; returns a Permit to settle later."""

    poll_cap = 1.0  # never sleep longer than this between checks (another caller may settle lower)

    def __init__(self, *, window: float | None = None):
        self.window = float(window if window is not None else settings.RATE_LIMIT_WINDOW_SECONDS)

    def try_acquire(self, *, key: str, rpm: int | None, tpm: int | None, tokens: int) -> tuple[Permit | None, float]:
        raise NotImplementedError

    def settle(self, permit: Permit, *, tokens: int) -> None:
        raise NotImplementedError

    def acquire(
        self,
        *,
        key: str,
        rpm: int | None,
        tpm: int | None,
        tokens: int,
        heartbeat: Callable[[], None] | None = None,
        heartbeat_every: float = 30.0,
    ) -> Permit | None:
        if not rpm and not tpm:
            return None
        last_beat = time.monotonic()
        while True:
            permit, wait = self.try_acquire(key=key, rpm=rpm, tpm=tpm, tokens=tokens)
            if permit is not None:
                return permit
            time.sleep(min(max(wait, 0.005), self.poll_cap))
            if heartbeat is not None and time.monotonic() - last_beat > heartbeat_every:
                heartbeat()
                last_beat = time.monotonic()


# --------------------------------------------------------------------------- Redis

_ACQUIRE_LUA = """
local events, weights = KEYS[1], KEYS[2]
local window_ms = tonumber(ARGV[1])
local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])
local id = ARGV[5]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cutoff = now - window_ms
local old = redis.call('ZRANGEBYSCORE', events, '-inf', cutoff)
for i = 1, #old, 500 do
  redis.call('HDEL', weights, unpack(old, i, math.min(i + 499, #old)))
end
redis.call('ZREMRANGEBYSCORE', events, '-inf', cutoff)
local count = redis.call('ZCARD', events)
local wait = 0
if rpm > 0 and count >= rpm then
  local e = redis.call('ZRANGE', events, count - rpm, count - rpm, 'WITHSCORES')
  wait = math.max(wait, tonumber(e[2]) + window_ms - now)
end
if tpm > 0 and count > 0 then
  local members = redis.call('ZRANGE', events, 0, -1, 'WITHSCORES')
  local used = 0
  local w = {}
  for i = 1, #members, 2 do
    local v = tonumber(redis.call('HGET', weights, members[i]) or '0')
    used = used + v
    w[#w + 1] = {v, tonumber(members[i + 1])}
  end
  local excess = used + tokens - tpm
  local k = 1
  while excess > 0 and k <= #w do
    excess = excess - w[k][1]
    if excess <= 0 or k == #w then
      wait = math.max(wait, w[k][2] + window_ms - now)
    end
    k = k + 1
  end
end
if wait > 0 then
  return wait
end
redis.call('ZADD', events, now, id)
redis.call('HSET', weights, id, tokens)
redis.call('PEXPIRE', events, window_ms * 2 + 1000)
redis.call('PEXPIRE', weights, window_ms * 2 + 1000)
return 0
"""

_SETTLE_LUA = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 0
"""


class RedisLimiter(Limiter):
    def __init__(self, *, url: str, window: float | None = None):
        super().__init__(window=window)
        import redis

        self.redis = redis.Redis.from_url(url)
        self._acquire = self.redis.register_script(_ACQUIRE_LUA)
        self._settle = self.redis.register_script(_SETTLE_LUA)

    @staticmethod
    def _keys(key: str) -> list[str]:
        return [f"arena:ratelimit:{key}:events", f"arena:ratelimit:{key}:tokens"]

    def try_acquire(self, *, key, rpm, tpm, tokens):
        event_id = uuid.uuid4().hex
        wait_ms = self._acquire(
            keys=self._keys(key),
            args=[int(self.window * 1000), int(rpm or 0), int(tpm or 0), int(tokens), event_id],
        )
        if int(wait_ms) <= 0:
            return Permit(key=key, event_id=event_id), 0.0
        return None, int(wait_ms) / 1000.0

    def settle(self, permit, *, tokens):
        self._settle(keys=self._keys(permit.key)[1:], args=[permit.event_id, int(tokens)])


# --------------------------------------------------------------------------- database


class DatabaseLimiter(Limiter):
    """The same window in two tables; the bucket row lock makes check-and-insert atomic."""

    def try_acquire(self, *, key, rpm, tpm, tokens):
        with transaction.atomic():
            RateLimitBucket.objects.get_or_create(key=key)
            RateLimitBucket.objects.select_for_update().get(key=key)
            now = time.time()
            cutoff = now - self.window
            RateLimitEvent.objects.filter(key=key, at__lte=cutoff).delete()
            events = RateLimitEvent.objects.filter(key=key)
            wait = 0.0
            if rpm:
                count = events.count()
                if count >= rpm:
                    # The (count - rpm + 1)-th oldest event must leave the window first.
                    at = events.order_by("at").values_list("at", flat=True)[count - rpm]
                    wait = max(wait, at + self.window - now)
            if tpm:
                used = events.aggregate(total=Sum("tokens"))["total"] or 0
                if used and used + tokens > tpm:
                    # Wait until enough of the oldest events leave the window to make room.
                    excess = used + tokens - tpm
                    frees_at = now
                    for at, weight in events.order_by("at").values_list("at", "tokens"):
                        excess -= weight
                        frees_at = at
                        if excess <= 0:
                            break
                    wait = max(wait, frees_at + self.window - now)
            if wait > 0:
                return None, wait
            event = RateLimitEvent.objects.create(key=key, at=now, tokens=tokens)
        return Permit(key=key, event_id=str(event.pk)), 0.0

    def settle(self, permit, *, tokens):
        RateLimitEvent.objects.filter(pk=int(permit.event_id)).update(tokens=tokens)


_limiter: Limiter | None = None
_limiter_lock = threading.Lock()


def limiter() -> Limiter:
    """The process-wide limiter: Redis when REDIS_URL is set, else the database."""
    global _limiter
    with _limiter_lock:
        if _limiter is None or _limiter.window != settings.RATE_LIMIT_WINDOW_SECONDS:
            if settings.REDIS_URL:
                _limiter = RedisLimiter(url=settings.REDIS_URL)
            else:
                _limiter = DatabaseLimiter()
        return _limiter
