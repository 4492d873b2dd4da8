"""Votes: one per assignment, never lost or doubled, idempotent for the same choice.

The assignment row is locked first (`SELECT ... FOR UPDATE`), so a vote sent twice at once is
handled one after the other: the first creates it (201), the second finds it (200 if the
choice is the same, 409 if not). The vote's primary key is the assignment (one-to-one), and
`Comparison.votes_count` moves by a conditional UPDATE that never passes k.
"""

import math

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..models import Assignment, Campaign, CampaignReviewer, Comparison, Vote
from .assignment import slot_retake

COMMENT_MAX = 5000
# A client's own timer (which can leave out time the tab was hidden) is trusted only when it is
# no longer than the server's clock allows, plus this much for clock and network jitter.
CLIENT_SECONDS_SLACK = 2.0


def resolve_choice(*, choice: str, a_on_left: bool) -> str:
    """What was shown (left/right) turned into what it means for the pair (a/b)."""
    if choice == Vote.Choice.LEFT:
        return Vote.Resolved.A if a_on_left else Vote.Resolved.B
    if choice == Vote.Choice.RIGHT:
        return Vote.Resolved.B if a_on_left else Vote.Resolved.A
    return choice  # tie, both_bad


def _seconds_on_task(*, server_seconds: float, client_seconds) -> float:
    try:
        client = float(client_seconds) if client_seconds is not None else None
    except (TypeError, ValueError):
        client = None
    if client is not None and math.isfinite(client) and 0 <= client <= server_seconds + CLIENT_SECONDS_SLACK:
        return client
    return server_seconds


def vote_submit(
    *, token: str, reviewer, choice: str, comment: str = "", seconds_on_task: float | None = None
) -> tuple[Vote, bool]:
    """Record the reviewer's choice on their assignment. Returns (vote, created)."""
    if choice not in Vote.Choice.values:
        raise ValidationFailed(f"choice must be one of {', '.join(Vote.Choice.values)}", field="choice")
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise ValidationFailed(f"the comment is longer than {COMMENT_MAX} characters", field="comment")
    now = timezone.now()
    with transaction.atomic():
        try:
            assignment = (
                Assignment.objects.select_for_update(of=("self",))
                .select_related("campaign")
                .get(token=str(token), reviewer=reviewer)
            )
        except Assignment.DoesNotExist:
            raise NotFound("no such item") from None
        if assignment.status == Assignment.Status.VOTED:
            existing = Vote.objects.get(assignment=assignment)
            if existing.choice == choice:
                return existing, False
            raise Conflict("you already voted differently on this item")
        if assignment.status in (Assignment.Status.SKIPPED, Assignment.Status.FLAGGED):
            raise Conflict(f"this item was {assignment.status}; it can no longer be voted on")
        campaign = assignment.campaign
        if campaign.status != Campaign.Status.OPEN:
            raise Conflict("this campaign is not open for review")
        if not CampaignReviewer.objects.filter(campaign=campaign, user=reviewer, excluded=False).exists():
            raise Forbidden("you are not a reviewer of this campaign")
        counted = assignment.kind == Assignment.Kind.NORMAL
        if counted:
            # A lease that expired gave its slot back; a late vote may take it again only if
            # nobody else filled the comparison meanwhile.
            if assignment.status == Assignment.Status.EXPIRED and not slot_retake(assignment=assignment):
                raise Conflict("this item expired and was given to someone else; load the next one")
            filled = Comparison.objects.filter(
                pk=assignment.comparison_id, votes_count__lt=campaign.votes_per_comparison
            ).update(votes_count=F("votes_count") + 1)
            if not filled:
                raise Conflict("this item already has all its votes")
        server_seconds = max(0.0, (now - assignment.leased_at).total_seconds())
        seconds = _seconds_on_task(server_seconds=server_seconds, client_seconds=seconds_on_task)
        Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.VOTED)
        vote = Vote.objects.create(
            assignment=assignment,
            campaign=campaign,
            comparison_id=assignment.comparison_id,
            reviewer=reviewer,
            choice=choice,
            resolved=resolve_choice(choice=choice, a_on_left=assignment.a_on_left),
            a_on_left=assignment.a_on_left,
            counted=counted,
            comment=comment,
            seconds_on_task=round(seconds, 3),
            too_fast=seconds < campaign.min_seconds_per_vote,
        )
    return vote, True
