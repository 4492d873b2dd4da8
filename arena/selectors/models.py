"""What each contestant's generation cost and how fast it answered: the rows behind models.csv.

Two reads per campaign, whatever its size: the done responses' token counts and timings (one
row each; the percentiles need every value), and per contestant and status the counts of
responses, attempts and 429s. The numbers are made in arena/reports/models.py (pure).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q, Sum

from ..models import Campaign, Response


@dataclass
class ContestantUsage:
    contestant_id: int
    label: str
    price_per_mtok_in: str
    price_per_mtok_out: str
    done: int = 0
    failed: int = 0
    pending: int = 0
    # Attempts of done and failed responses, and how many of those responses were attempted.
    attempts: int = 0
    attempted: int = 0
    rate_limited: int = 0
    mismatches: int = 0
    # One entry per done response.
    input_tokens: list[int] = field(default_factory=list)
    output_tokens: list[int] = field(default_factory=list)
    latency_ms: list[int | None] = field(default_factory=list)
    ttft_ms: list[int | None] = field(default_factory=list)


def contestant_usage(*, campaign: Campaign) -> list[ContestantUsage]:
    """Per contestant, in campaign order: prices (as frozen when generation started, else the
    contestant's current ones), counts and the done responses' tokens and timings."""
    frozen = (campaign.frozen_settings or {}).get("contestants") or {}
    usage = {}
    for c in campaign.contestants.order_by("position", "id"):
        prices = frozen.get(str(c.pk)) or {}
        usage[c.pk] = ContestantUsage(
            contestant_id=c.pk,
            label=c.label,
            price_per_mtok_in=str(prices.get("price_per_mtok_in", c.price_per_mtok_in) or "0"),
            price_per_mtok_out=str(prices.get("price_per_mtok_out", c.price_per_mtok_out) or "0"),
        )
    counts = (
        Response.objects.filter(campaign=campaign)
        .values("contestant_id", "status")
        .annotate(
            n=Count("id"),
            attempts_sum=Sum("attempts"),
            attempted=Count("id", filter=Q(attempts__gt=0)),
            rate_limited_sum=Sum("rate_limited"),
            mismatches=Count("id", filter=Q(model_mismatch=True)),
        )
    )
    for row in counts:
        u = usage.get(row["contestant_id"])
        if u is None:
            continue
        status = row["status"]
        if status == Response.Status.DONE:
            u.done = row["n"]
            u.mismatches = row["mismatches"]
        elif status == Response.Status.FAILED:
            u.failed = row["n"]
        else:
            u.pending += row["n"]
            continue  # a running row's attempts are not finished yet
        u.attempts += row["attempts_sum"] or 0
        u.attempted += row["attempted"]
        u.rate_limited += row["rate_limited_sum"] or 0
    done = (
        Response.objects.filter(campaign=campaign, status=Response.Status.DONE)
        .order_by("id")
        .values_list("contestant_id", "input_tokens", "output_tokens", "latency_ms", "ttft_ms")
    )
    for contestant_id, tokens_in, tokens_out, latency, ttft in done.iterator(chunk_size=5000):
        u = usage.get(contestant_id)
        if u is None:
            continue
        u.input_tokens.append(tokens_in or 0)
        u.output_tokens.append(tokens_out or 0)
        u.latency_ms.append(latency)
        u.ttft_ms.append(ttft)
    return list(usage.values())
