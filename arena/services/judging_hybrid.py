"""Hybrid campaigns: once the judges have judged, reviewers get first the comparisons where a
judge was inconsistent between the two orders (or could not give both verdicts), then a random
share (`Campaign.hybrid_share`) of the rest, to keep measuring the judge's agreement; the other
comparisons are held back (`Comparison.judge_held`), their result is the judge's.

The order reviewers see them in is the pick's own (least-handed-out first, then
`Comparison.order_key`): the service rewrites `order_key` so that the inconsistent comparisons
take the lower half of the random ranks and the sampled rest the upper half. The pick itself
only gained `NOT judge_held` in its WHERE (services/assignment.py).
"""

from __future__ import annotations

import random
import secrets

from django.db import transaction

from ..judge_prompts import winner_side
from ..models import Campaign, Comparison, Judgement

HALF = 2**30


def hybrid_hold(*, campaign_id: int, rng: random.Random | None = None) -> dict:
    """Set `judge_held` and `order_key` of the campaign's comparisons from the judgements.

    A comparison is *settled* when every judge gave a parsed verdict in both orders and those
    name the same winner (or both a tie); the others go to reviewers first. Returns the counts.
    """
    rng = rng or random.Random(secrets.randbits(64))
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        judges = campaign.judges.count()
        rows = Judgement.objects.filter(campaign_id=campaign_id, status=Judgement.Status.DONE).values_list(
            "comparison_id", "judge_id", "order", "verdict"
        )
        sides: dict[int, dict[tuple[int, str], str]] = {}
        for comparison_id, judge_id, order, verdict in rows:
            sides.setdefault(comparison_id, {})[(judge_id, order)] = winner_side(order=order, verdict=verdict)
        ids = list(Comparison.objects.filter(campaign_id=campaign_id, excluded=False).values_list("id", flat=True))
        settled, unsettled = [], []
        for cid in ids:
            got = sides.get(cid, {})
            winners = set(got.values())
            (settled if judges and len(got) == 2 * judges and len(winners) == 1 else unsettled).append(cid)
        sample = set(rng.sample(settled, round(len(settled) * max(0.0, min(1.0, campaign.hybrid_share)))))
        updates = []
        for cid in unsettled:
            updates.append(Comparison(pk=cid, judge_held=False, order_key=rng.randrange(HALF)))
        for cid in settled:
            held = cid not in sample
            updates.append(Comparison(pk=cid, judge_held=held, order_key=HALF + rng.randrange(HALF)))
        Comparison.objects.bulk_update(updates, ["judge_held", "order_key"], batch_size=1000)
    return {"inconsistent": len(unsettled), "sampled": len(sample), "held": len(settled) - len(sample)}
