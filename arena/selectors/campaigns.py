"""Campaign reads with the permission check built in (404 for what you may not see)."""

from django.db.models import Count, Q

from ..errors import NotFound
from ..models import Campaign, CampaignReviewer, Comparison, Response, Vote
from .judging import judging_progress_counts


def is_lead(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff and user.has_perm("arena.change_campaign"))


def access_campaign_for_lead(*, user, campaign_id) -> Campaign:
    if not is_lead(user):
        raise NotFound("no such campaign")
    try:
        return Campaign.objects.get(pk=int(campaign_id))
    except (Campaign.DoesNotExist, ValueError, TypeError):
        raise NotFound("no such campaign") from None


def campaigns_for_reviewer(*, user):
    """The campaigns this user reviews and may vote in now (open, not excluded)."""
    return Campaign.objects.filter(
        memberships__user=user, memberships__excluded=False, status=Campaign.Status.OPEN
    ).order_by("name", "id")


def access_campaign_for_reviewer(*, user, campaign_id) -> Campaign:
    try:
        return campaigns_for_reviewer(user=user).get(pk=int(campaign_id))
    except (Campaign.DoesNotExist, ValueError, TypeError):
        raise NotFound("no such campaign") from None


def campaign_progress(*, campaign: Campaign) -> dict:
    """Counts for the progress bar and the API: a handful of aggregate queries, no per-row Python."""
    responses = Response.objects.filter(campaign=campaign).aggregate(
        total=Count("id"),
        done=Count("id", filter=Q(status=Response.Status.DONE)),
        failed=Count("id", filter=Q(status=Response.Status.FAILED)),
    )
    prompts = campaign.prompts.count()
    contestants = campaign.contestants.count()
    comparisons = Comparison.objects.filter(campaign=campaign, excluded=False, judge_held=False).count()
    # Votes of excluded reviewers stay stored but count nowhere: their slots go back to the pool.
    excluded = CampaignReviewer.objects.filter(campaign=campaign, excluded=True).values("user_id")
    votes = Vote.objects.filter(campaign=campaign, counted=True).exclude(reviewer_id__in=excluded).count()
    return {
        "prompts": prompts,
        "responses_done": responses["done"],
        "responses_failed": responses["failed"],
        # Before generation starts no rows exist yet; the total is what generation will make.
        "responses_total": responses["total"] or prompts * contestants,
        "comparisons": comparisons,
        "votes": votes,
        "votes_target": comparisons * campaign.votes_per_comparison,
        **judging_progress_counts(campaign=campaign),
    }
