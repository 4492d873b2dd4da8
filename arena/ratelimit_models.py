"""The database rate limiter's rows (arena/ratelimit.py, used when there is no Redis).

Imported by arena/models.py (Django finds the app's models there); kept apart with the limiter
they serve.
"""

from django.db import models


class RateLimitBucket(models.Model):
    """One row per rate-limited endpoint (a hash of base URL and key env name, never a key).

    The database limiter (used when there is no Redis) locks this row so that every worker
    process sees the same window; `arena/ratelimit.py` explains the algorithm.
    """

    key = models.CharField(max_length=64, unique=True)


class RateLimitEvent(models.Model):
    """One admitted request in an endpoint's sliding window (seconds since the epoch, tokens)."""

    key = models.CharField(max_length=64)
    at = models.FloatField()
    tokens = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["key", "at"])]
