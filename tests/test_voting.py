"""Votes: resolved with the stored side, idempotent, never doubled, timed on the server."""

from datetime import timedelta

import pytest
from django.utils import timezone

from arena.errors import Conflict, NotFound, ValidationFailed
from arena.models import Assignment, Comparison, Vote
from arena.services.assignment import assignment_next_for_reviewer, assignment_skip
from arena.services.voting import vote_submit
from tests.factories import add_reviewers, make_campaign, make_open_campaign, open_campaign

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_repeats", "expiry_on_every_next")]


@pytest.fixture
def campaign():
    return make_open_campaign(prompts=2, k=1, min_seconds_per_vote=3.0)


@pytest.fixture
def r1(campaign):
    return add_reviewers(campaign, "r1")[0]


def lease(campaign, user, *, a_on_left=None, started_seconds_ago=0):
    a = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=user.id)
    fields = {"leased_at": timezone.now() - timedelta(seconds=started_seconds_ago)}
    if a_on_left is not None:
        fields["a_on_left"] = a_on_left
    Assignment.objects.filter(pk=a.pk).update(**fields)
    a.refresh_from_db()
    return a


@pytest.mark.parametrize(
    ("a_on_left", "choice", "resolved"),
    [
        (True, "left", "a"),
        (True, "right", "b"),
        (False, "left", "b"),
        (False, "right", "a"),
        (False, "tie", "tie"),
        (True, "both_bad", "both_bad"),
    ],
)
def test_left_and_right_resolve_to_the_pair_with_the_stored_side(campaign, r1, a_on_left, choice, resolved):
    a = lease(campaign, r1, a_on_left=a_on_left)
    vote, created = vote_submit(token=a.token, reviewer_id=r1.id, choice=choice)
    assert created
    assert (vote.choice, vote.resolved, vote.a_on_left, vote.counted) == (choice, resolved, a_on_left, True)


def test_same_vote_again_is_idempotent_and_counts_once(campaign, r1):
    a = lease(campaign, r1)
    first, created1 = vote_submit(token=a.token, reviewer_id=r1.id, choice="tie")
    second, created2 = vote_submit(token=a.token, reviewer_id=r1.id, choice="tie")
    assert (created1, created2) == (True, False)
    assert first.pk == second.pk
    assert Vote.objects.count() == 1
    assert Comparison.objects.get(pk=a.comparison_id).votes_count == 1


def test_second_vote_with_other_choice_is_rejected(campaign, r1):
    a = lease(campaign, r1)
    vote_submit(token=a.token, reviewer_id=r1.id, choice="left")
    with pytest.raises(Conflict):
        vote_submit(token=a.token, reviewer_id=r1.id, choice="right")
    assert Vote.objects.get().choice == "left"


def test_another_reviewers_token_is_not_found(campaign, r1):
    (r2,) = add_reviewers(campaign, "r2")
    a = lease(campaign, r1)
    with pytest.raises(NotFound):
        vote_submit(token=a.token, reviewer_id=r2.id, choice="left")


def test_unknown_choice_is_invalid(campaign, r1):
    a = lease(campaign, r1)
    with pytest.raises(ValidationFailed):
        vote_submit(token=a.token, reviewer_id=r1.id, choice="a")


def test_time_on_task_is_measured_on_the_server_and_fast_votes_are_marked(campaign, r1):
    slow = lease(campaign, r1, started_seconds_ago=20)
    vote, _ = vote_submit(token=slow.token, reviewer_id=r1.id, choice="left")
    assert 19 <= vote.seconds_on_task <= 25 and not vote.too_fast
    fast = lease(campaign, r1, started_seconds_ago=1)
    vote, _ = vote_submit(token=fast.token, reviewer_id=r1.id, choice="left")
    assert vote.seconds_on_task < 3 and vote.too_fast


def test_client_time_is_used_only_when_it_fits_the_server_clock(campaign, r1):
    a = lease(campaign, r1, started_seconds_ago=10)
    vote, _ = vote_submit(token=a.token, reviewer_id=r1.id, choice="left", seconds_on_task=3600)
    assert vote.seconds_on_task < 20  # a client claiming an hour is ignored
    b = lease(campaign, r1, started_seconds_ago=10)
    vote, _ = vote_submit(token=b.token, reviewer_id=r1.id, choice="left", seconds_on_task=6.5)
    assert vote.seconds_on_task == 6.5


def test_expired_lease_nobody_took_may_still_be_voted(campaign, r1):
    a = lease(campaign, r1)
    Assignment.objects.filter(pk=a.pk).update(status="expired")
    Comparison.objects.filter(pk=a.comparison_id).update(active_assignments=0, a_left_count=0)
    vote, created = vote_submit(token=a.token, reviewer_id=r1.id, choice="left")
    assert created and vote.counted
    c = Comparison.objects.get(pk=a.comparison_id)
    assert (c.votes_count, c.active_assignments) == (1, 1)


def test_expired_lease_taken_by_someone_else_is_a_conflict():
    campaign = make_campaign(prompts=1, k=1)
    open_campaign(campaign)
    r1, r2 = add_reviewers(campaign, "r1", "r2")
    a = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r1.id)
    Assignment.objects.filter(pk=a.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    b = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r2.id)
    vote_submit(token=b.token, reviewer_id=r2.id, choice="left")
    with pytest.raises(Conflict):
        vote_submit(token=a.token, reviewer_id=r1.id, choice="left")
    assert Vote.objects.count() == 1


def test_skipped_item_cannot_be_voted(campaign, r1):
    a = lease(campaign, r1)
    assignment_skip(token=a.token, reviewer_id=r1.id)
    with pytest.raises(Conflict):
        vote_submit(token=a.token, reviewer_id=r1.id, choice="left")


def test_votes_on_a_closed_campaign_are_refused(campaign, r1):
    a = lease(campaign, r1)
    campaign.status = "closed"
    campaign.save(update_fields=["status"])
    with pytest.raises(Conflict):
        vote_submit(token=a.token, reviewer_id=r1.id, choice="left")


# --- Time on task ------------------------------------------------------------------------------


def test_time_on_task_rounds_exact_milliseconds_half_up_and_trusts_the_client_within_the_slack():
    from arena.services.voting import time_on_task

    t0 = timezone.now()
    at = lambda us: t0 + timedelta(microseconds=us)  # noqa: E731
    assert time_on_task(leased_at=t0, now=at(12_345_500), client_seconds=None) == 12.346  # a tie: up
    assert time_on_task(leased_at=t0, now=at(12_345_499), client_seconds=None) == 12.345
    assert time_on_task(leased_at=at(5), now=t0, client_seconds=None) == 0.0  # clocks never go negative
    assert time_on_task(leased_at=t0, now=at(4_000_000), client_seconds=1.0005) == 1.001
    assert time_on_task(leased_at=t0, now=at(4_000_000), client_seconds=6.0) == 6.0  # within 2 s slack
    assert time_on_task(leased_at=t0, now=at(4_000_000), client_seconds=6.001) == 4.0  # beyond: server
    for untrusted in (-1, float("nan"), float("inf"), "soon", None):
        assert time_on_task(leased_at=t0, now=at(4_000_000), client_seconds=untrusted) == 4.0


def test_progress_counts_counted_votes_only_and_holds_for_a_vote_sent_twice(settings):
    """The reviewer's `done` is their membership's counter: moved by counted votes, once per
    vote (a vote sent again changes nothing), never by a repeat check's vote."""
    from arena.models import CampaignReviewer
    from arena.review_items import review_item_build
    from arena.selectors.reviewers import reviewer_progress

    settings.REVIEW_REPEAT_SHARE = 0.5  # a repeat after every second normal item
    campaign = make_open_campaign(prompts=6, k=1)
    (r,) = add_reviewers(campaign, "r")
    kinds = []
    for _ in range(6):
        a = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r.id)
        kinds.append(a.kind)
        item = review_item_build(assignment_id=a.pk)
        counted_before = Vote.objects.filter(campaign=campaign, reviewer=r, counted=True).count()
        assert item.progress["done"] == counted_before
        vote_submit(token=a.token, reviewer_id=r.id, choice="left")
        vote_submit(token=a.token, reviewer_id=r.id, choice="left")  # the same again: 200
    counted = Vote.objects.filter(campaign=campaign, reviewer=r, counted=True).count()
    assert Assignment.Kind.REPEAT in kinds and 0 < counted < 6
    assert CampaignReviewer.objects.get(campaign=campaign, user=r).votes_cast == counted
    assert reviewer_progress(campaign_id=campaign.id, reviewer_id=r.id)["done"] == counted
