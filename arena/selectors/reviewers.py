"""Reads about reviewers: their progress (for the reviewer) and their quality (for the lead).

`reviewer_quality(campaign=...)` returns plain data, one dict per reviewer of the campaign,
sorted by username:

    {
      "username": str, "excluded": bool,
      "votes": int,              # counted votes (normal items)
      "too_fast": int,           # counted votes faster than the campaign's min_seconds_per_vote
      "median_seconds": float | None,
      "repeats": int,            # repeat checks answered (each pairs with the reviewer's first vote)
      "repeats_consistent": int, # repeat votes that resolve to the same answer as the first vote
      "self_consistency": float | None,   # repeats_consistent / repeats
      "gold_votes": int,         # counted votes on comparisons with a gold answer
      "gold_correct": int,
      "gold_accuracy": float | None,      # gold_correct / gold_votes
      "skips": int, "flags": int,
      "criteria_repeats": int,   # criteria answers in repeat checks with a first answer to compare
      "criteria_repeats_consistent": int,  # of which resolve as the first answer did
    }

Consistency compares resolved answers (a/b/tie/both_bad), so the swapped sides of a repeat do
not matter. None means "no data", never 0.
"""

import math
import statistics
import time
from collections import defaultdict

from django.core.cache import cache
from django.db.models import Count, F, Q

from ..models import Assignment, Campaign, CampaignReviewer, Comparison, Vote
from .criteria import criterion_consistency

REVIEW_TOTALS_TTL = 10  # seconds; progress totals may lag a lead's changes by this much


_local_totals: dict[str, tuple[float, tuple[int, int]]] = {}


def _review_totals(campaign_id: int, created) -> tuple[int, int]:
    """(comparisons in review, included reviewers), cached for a few seconds.

    Counting 100,000 comparisons on every "next" would make it slow down with campaign size.
    The key carries the campaign's creation time, so a reused id (SQLite after a rollback)
    never reads another campaign's numbers. A copy kept in this process for the same few
    seconds spares "next" a round trip to the shared cache (a file read without Redis).
    """
    key = f"arena:review-totals:{campaign_id}:{created.timestamp() if created else 0}"
    now = time.monotonic()
    local = _local_totals.get(key)
    if local is not None and local[0] > now:
        return local[1]
    totals = cache.get(key)
    if totals is None:
        totals = (
            Comparison.objects.filter(campaign_id=campaign_id, excluded=False).count(),
            CampaignReviewer.objects.filter(campaign_id=campaign_id, excluded=False).count(),
        )
        cache.set(key, totals, REVIEW_TOTALS_TTL)
    if len(_local_totals) > 1000:
        _local_totals.clear()
    _local_totals[key] = (now + REVIEW_TOTALS_TTL, tuple(totals))
    return tuple(totals)


def reviewer_progress(
    *, campaign_id: int, reviewer_id: int, k: int | None = None, created=None, done: int | None = None
) -> dict:
    """{"done": votes this reviewer cast here, "total": their share of the campaign}.

    The share is the campaign's vote target split over its included reviewers, capped at the
    number of comparisons (nobody judges one twice), and never less than what they did.
    `k`, `created` (the campaign's) and `done` may be given by a caller that read them in its
    own query.
    """
    if done is None:
        done = (
            CampaignReviewer.objects.filter(campaign_id=campaign_id, user_id=reviewer_id)
            .values_list("votes_cast", flat=True)
            .first()
        ) or 0
    if k is None or created is None:
        k, created = Campaign.objects.filter(pk=campaign_id).values_list("votes_per_comparison", "created_at").get()
    comparisons, reviewers = _review_totals(campaign_id, created)
    share = min(comparisons, math.ceil(comparisons * k / max(reviewers, 1)))
    return {"done": done, "total": max(share, done)}


def reviewer_campaigns_with_progress(*, user) -> list[dict]:
    """The reviewer's home: open campaigns with their own progress. An allow-list of fields."""
    from .campaigns import campaigns_for_reviewer

    return [
        {"id": c.id, "name": c.name, "progress": reviewer_progress(campaign_id=c.id, reviewer_id=user.pk)}
        for c in campaigns_for_reviewer(user=user)
    ]


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def reviewer_quality(*, campaign: Campaign) -> list[dict]:
    """Per-reviewer quality numbers for the lead (see the module docstring for the fields)."""
    memberships = list(
        CampaignReviewer.objects.filter(campaign=campaign).select_related("user").order_by("user__username")
    )
    counted = Vote.objects.filter(campaign=campaign, counted=True)
    per_reviewer = {
        row["reviewer_id"]: row
        for row in counted.values("reviewer_id").annotate(
            votes=Count("pk"),
            too_fast=Count("pk", filter=Q(too_fast=True)),
            gold_votes=Count("pk", filter=~Q(comparison__gold="")),
            gold_correct=Count("pk", filter=~Q(comparison__gold="") & Q(resolved=F("comparison__gold"))),
        )
    }
    seconds: dict[int, list[float]] = defaultdict(list)
    for reviewer_id, s in counted.exclude(seconds_on_task=None).values_list("reviewer_id", "seconds_on_task"):
        seconds[reviewer_id].append(s)
    first_answer = {
        (reviewer_id, comparison_id): resolved
        for reviewer_id, comparison_id, resolved in counted.values_list("reviewer_id", "comparison_id", "resolved")
    }
    repeats: dict[int, list[bool]] = defaultdict(list)
    repeat_votes = Vote.objects.filter(campaign=campaign, counted=False).values_list(
        "reviewer_id", "comparison_id", "resolved"
    )
    for reviewer_id, comparison_id, resolved in repeat_votes:
        first = first_answer.get((reviewer_id, comparison_id))
        if first is not None:
            repeats[reviewer_id].append(first == resolved)
    given_up = {
        (row["reviewer_id"], row["status"]): row["n"]
        for row in Assignment.objects.filter(
            campaign=campaign, status__in=[Assignment.Status.SKIPPED, Assignment.Status.FLAGGED]
        )
        .values("reviewer_id", "status")
        .annotate(n=Count("pk"))
    }
    criteria_checks: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for by_reviewer in criterion_consistency(campaign=campaign).values():
        for reviewer_id, (same, n) in by_reviewer.items():
            criteria_checks[reviewer_id][0] += same
            criteria_checks[reviewer_id][1] += n
    out = []
    for m in memberships:
        row = per_reviewer.get(m.user_id, {})
        checks = repeats.get(m.user_id, [])
        times = seconds.get(m.user_id, [])
        gold_votes, gold_correct = row.get("gold_votes", 0), row.get("gold_correct", 0)
        out.append(
            {
                "username": m.user.username,
                "excluded": m.excluded,
                "votes": row.get("votes", 0),
                "too_fast": row.get("too_fast", 0),
                "median_seconds": round(statistics.median(times), 2) if times else None,
                "repeats": len(checks),
                "repeats_consistent": sum(checks),
                "self_consistency": _ratio(sum(checks), len(checks)),
                "gold_votes": gold_votes,
                "gold_correct": gold_correct,
                "gold_accuracy": _ratio(gold_correct, gold_votes),
                "skips": given_up.get((m.user_id, Assignment.Status.SKIPPED), 0),
                "flags": given_up.get((m.user_id, Assignment.Status.FLAGGED), 0),
                "criteria_repeats": criteria_checks.get(m.user_id, [0, 0])[1],
                "criteria_repeats_consistent": criteria_checks.get(m.user_id, [0, 0])[0],
            }
        )
    return out


def flagged_items(*, campaign: Campaign) -> list[dict]:
    """Items reviewers flagged as broken or harmful, for the lead (who may exclude or fix them)."""
    return list(
        Assignment.objects.filter(campaign=campaign, status=Assignment.Status.FLAGGED)
        .order_by("-leased_at")
        .values("comparison_id", "comparison__prompt__external_id", "reviewer__username", "flag_reason", "leased_at")
    )
