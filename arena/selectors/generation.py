"""Generation reads: the cost estimate before launch, progress while it runs, what failed or was
flagged, and the actual cost. What the lead's page and the API show; nothing here writes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from ..generation_requests import output_cost_estimate, usd
from ..models import Campaign, Response


def generation_actual_cost(*, campaign: Campaign | int) -> Decimal:
    """What the stored answers cost; a failed or abandoned call is not counted."""
    campaign_id = campaign if isinstance(campaign, int) else campaign.pk
    total = Response.objects.filter(campaign_id=campaign_id, status=Response.Status.DONE).aggregate(s=Sum("cost_usd"))
    return usd(total["s"])


def generation_estimate(*, campaign: Campaign) -> dict:
    """Before launch: prompts x expected output tokens x output price, per contestant and total.

    Input tokens are not estimated (the catalog gives output prices); the actual cost after
    generation counts both when the contestant has an input price.
    """
    prompts = campaign.prompts.count()
    tokens = campaign.expected_output_tokens
    rows = []
    total = Decimal("0")
    for c in campaign.contestants.all():
        cost = output_cost_estimate(output_tokens=prompts * tokens, price_per_mtok_out=c.price_per_mtok_out)
        total += cost
        rows.append(
            {
                "contestant_id": c.pk,
                "label": c.label,
                "model": c.model,
                "calls": prompts,
                "output_tokens": prompts * tokens,
                "price_per_mtok_out": c.price_per_mtok_out,
                "usd": cost,
            }
        )
    return {
        "prompts": prompts,
        "contestants": rows,
        "calls": prompts * len(rows),
        "expected_output_tokens": tokens,
        "total_usd": total,
        "budget_usd": campaign.budget_usd,
    }


# The progress payload has one count per status, named after it: "done", "failed", "pending", "running".
COUNTED_STATUSES = tuple(
    s.value for s in (Response.Status.DONE, Response.Status.FAILED, Response.Status.PENDING, Response.Status.RUNNING)
)


def generation_progress(*, campaign: Campaign) -> dict:
    """Done/failed/pending/running per contestant, calls per second over the last minute, ETA, cost."""
    now = timezone.now()
    counts = {
        (row["contestant_id"], row["status"]): row
        for row in Response.objects.filter(campaign_id=campaign.pk)
        .values("contestant_id", "status")
        .annotate(
            n=Count("id"),
            cost=Sum("cost_usd"),
            attempts=Sum("attempts"),
            mismatch=Count("id", filter=Q(model_mismatch=True)),
            leaks=Count("id", filter=Q(self_identifies=True)),
        )
    }
    per = []
    totals = {**dict.fromkeys(COUNTED_STATUSES, 0), "attempts": 0}
    total_cost = Decimal("0")
    for c in campaign.contestants.all():
        row = {s: counts.get((c.pk, s), {}).get("n", 0) for s in COUNTED_STATUSES}
        done = counts.get((c.pk, Response.Status.DONE.value), {})
        cost = usd(done.get("cost"))
        attempts = sum((counts.get((c.pk, s), {}).get("attempts") or 0) for s in Response.Status.values)
        per.append(
            {
                "contestant_id": c.pk,
                "label": c.label,
                "model": c.model,
                **row,
                "total": sum(row.values()),
                "attempts": attempts,
                "cost_usd": cost,
                "model_mismatch": done.get("mismatch", 0),
                "self_identifies": done.get("leaks", 0),
            }
        )
        for key in row:
            totals[key] += row[key]
        totals["attempts"] += attempts
        total_cost += cost
    # Calls finished per second over the last minute (or since the start, if more recent).
    window = 60.0
    if campaign.generation_started_at:
        window = max(1.0, min(window, (now - campaign.generation_started_at).total_seconds()))
    recent = Response.objects.filter(
        campaign_id=campaign.pk,
        completed_at__gte=now - timedelta(seconds=window),
        status__in=(Response.Status.DONE, Response.Status.FAILED),
    ).count()
    rate = recent / window
    remaining = totals[Response.Status.PENDING.value] + totals[Response.Status.RUNNING.value]
    eta = round(remaining / rate, 1) if rate > 0 and remaining else (0.0 if not remaining else None)
    return {
        "status": campaign.status,
        "paused_reason": campaign.paused_reason,
        "is_simulated": campaign.is_simulated,
        "contestants": per,
        **totals,
        "total": sum(totals[s] for s in COUNTED_STATUSES),
        "calls_per_second": round(rate, 3),
        "eta_seconds": eta,
        "cost_usd": total_cost,
        "budget_usd": campaign.budget_usd,
    }


def _listed_for_lead(responses, *, limit: int):
    return responses.select_related("prompt", "contestant").order_by("id")[:limit]


def _named_for_lead(r: Response) -> dict:
    """How the lead recognises a response: its prompt (external id, else position) and contestant."""
    return {
        "response_id": r.pk,
        "prompt": r.prompt.external_id or f"#{r.prompt.position}",
        "contestant": r.contestant.label,
    }


def generation_failures(*, campaign: Campaign, limit: int = 100) -> list[dict]:
    """The failed responses with their errors, for the lead."""
    failed = Response.objects.filter(campaign_id=campaign.pk, status=Response.Status.FAILED)
    return [
        {**_named_for_lead(r), "attempts": r.attempts, "last_error": r.last_error}
        for r in _listed_for_lead(failed, limit=limit)
    ]


def generation_flagged(*, campaign: Campaign, limit: int = 100) -> list[dict]:
    """Done responses flagged for the lead: another model served, or the text names a model."""
    flagged = Response.objects.filter(campaign_id=campaign.pk, status=Response.Status.DONE).filter(
        Q(model_mismatch=True) | Q(self_identifies=True)
    )
    return [
        {
            **_named_for_lead(r),
            "asked_model": r.contestant.model,
            "served_model": r.served_model,
            "model_mismatch": r.model_mismatch,
            "self_identifies": r.self_identifies,
            "excerpt": r.text[:200],
        }
        for r in _listed_for_lead(flagged, limit=limit)
    ]


def jsonable(value):
    """Money stays exact: Decimals go out as strings ("0.011000"), never as floats."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def generation_payload(*, campaign: Campaign) -> dict:
    """Progress, failures with their errors, and flagged responses, as JSON: what the campaign
    page renders first and then polls from the API."""
    return jsonable(
        {
            **generation_progress(campaign=campaign),
            "failures": generation_failures(campaign=campaign),
            "flagged": generation_flagged(campaign=campaign),
        }
    )
