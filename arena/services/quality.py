"""A lead's quality controls on a campaign under review: gold answers, comparisons taken out of
review, reviewers excluded from the results (every report is recomputed without their votes).

Excluding or including a reviewer moves the assignment engine's slot counters
(`arena/services/assignment.py`), so each comparison still reaches k votes from included
reviewers.
"""

from django.db import transaction

from ..errors import NotFound, ValidationFailed
from ..models import Assignment, Campaign, CampaignReviewer, Comparison, Vote
from .assignment import release_slots, slots_shift
from .campaigns import reviewer_set_excluded
from .decisions import pair_decisions_refresh_on_commit


def comparison_set_gold(*, comparison: Comparison, gold: str) -> Comparison:
    """Mark the expected answer (a, b, tie, both_bad) of a comparison, or clear it with ''."""
    if gold not in ("", *Comparison.Gold.values):
        raise ValidationFailed(f"gold must be one of {', '.join(Comparison.Gold.values)} or empty", field="gold")
    Comparison.objects.filter(pk=comparison.pk).update(gold=gold)
    comparison.gold = gold
    return comparison


def comparison_set_excluded(*, comparison: Comparison, excluded: bool) -> Comparison:
    """Take a comparison out of review (e.g. after a flag), or put it back."""
    Comparison.objects.filter(pk=comparison.pk).update(excluded=excluded)
    comparison.excluded = excluded
    pair_decisions_refresh_on_commit(campaign_id=comparison.campaign_id)
    return comparison


def reviewer_exclude(*, campaign: Campaign, user, excluded: bool = True) -> dict:
    """Exclude a reviewer (their votes stay stored, every report leaves them out) or include them.

    Excluding also frees their slots: open leases end and the comparisons they voted on are
    offered to other reviewers, so each still reaches k votes from included reviewers.
    Including them again brings their votes back into the counts; a comparison that was filled
    up meanwhile then has more than k votes (the report shows them all).
    """
    with transaction.atomic():
        membership = CampaignReviewer.objects.select_for_update().filter(campaign=campaign, user=user).first()
        if membership is None:
            raise NotFound(f"{user} is not a reviewer of this campaign")
        if membership.excluded == excluded:
            return {"excluded": excluded, "leases_ended": 0, "votes_freed": 0}
        reviewer_set_excluded(campaign=campaign, user=user, excluded=excluded)
        pair_decisions_refresh_on_commit(campaign_id=campaign.pk)
        normal = Assignment.objects.filter(campaign=campaign, reviewer=user, kind=Assignment.Kind.NORMAL)
        if excluded:
            leases = list(
                normal.select_for_update()
                .filter(status=Assignment.Status.LEASED)
                .values_list("id", "comparison_id", "a_on_left")
            )
            Assignment.objects.filter(id__in=[r[0] for r in leases]).update(status=Assignment.Status.EXPIRED)
            release_slots([(cid, left) for _, cid, left in leases])
            voted = list(
                Vote.objects.filter(campaign=campaign, reviewer=user, counted=True).values_list(
                    "comparison_id", "a_on_left"
                )
            )
            release_slots(voted, voted=True)
            return {"excluded": True, "leases_ended": len(leases), "votes_freed": len(voted)}
        voted = list(
            Vote.objects.filter(campaign=campaign, reviewer=user, counted=True).values_list(
                "comparison_id", "a_on_left"
            )
        )
        if voted:
            slots_shift(voted, by=+1, votes=True)
        return {"excluded": False, "leases_ended": 0, "votes_freed": -len(voted)}
