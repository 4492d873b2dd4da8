"""The assignment engine: exact k, leases, skip, order, counterbalance, repeats, gold, exclusion."""

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from arena.errors import NotFound, ValidationFailed
from arena.models import Assignment, CampaignReviewer, Comparison, PairDecision, Vote
from arena.selectors.reviewers import reviewer_quality
from arena.services.assignment import (
    assignment_flag,
    assignment_next_for_reviewer,
    assignment_skip,
    assignments_expire,
)
from arena.services.quality import comparison_set_gold, reviewer_exclude
from arena.services.voting import vote_submit
from tests.factories import add_reviewers, make_campaign, open_campaign

# Most tests count items exactly; repeat checks get their own tests (which set their own share).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_repeats", "expiry_on_every_next")]


def open_with(prompts=4, k=3, reviewers=("r1", "r2", "r3"), **kw):
    campaign = make_campaign(prompts=prompts, k=k, **kw)
    comparisons = open_campaign(campaign)
    users = add_reviewers(campaign, *reviewers)
    return campaign, comparisons, users


def take_and_vote(campaign, user, choice="left"):
    assignment = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=user.id)
    if assignment is None:
        return None
    vote_submit(token=assignment.token, reviewer_id=user.id, choice=choice)
    return assignment


def drain(campaign, users, choice="left"):
    """Every reviewer takes and votes items in turn until nobody gets one."""
    progressing = True
    while progressing:
        progressing = False
        for user in users:
            if take_and_vote(campaign, user, choice) is not None:
                progressing = True


def test_every_comparison_gets_exactly_k_votes_from_different_reviewers():
    campaign, comparisons, users = open_with(prompts=6, k=3, reviewers=("r1", "r2", "r3", "r4", "r5"))
    drain(campaign, users)
    for comparison in comparisons:
        voters = list(Vote.objects.filter(comparison=comparison).values_list("reviewer_id", flat=True))
        assert len(voters) == 3
        assert len(set(voters)) == 3
    for user in users:
        assert assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=user.id) is None


def test_a_reviewer_never_judges_the_same_comparison_twice():
    campaign, comparisons, users = open_with(prompts=3, k=3)
    drain(campaign, users[:1])
    seen = list(Assignment.objects.filter(reviewer=users[0]).values_list("comparison_id", flat=True))
    assert sorted(seen) == sorted(c.id for c in comparisons)


def test_reload_returns_the_same_unexpired_lease():
    campaign, _, (r1, *_) = open_with()
    first = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r1.id)
    again = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r1.id)
    assert again.token == first.token
    assert Assignment.objects.filter(reviewer=r1).count() == 1


def test_expired_lease_returns_its_slot_to_the_pool(settings):
    campaign, (comparison,), users = open_with(prompts=1, k=1, reviewers=("r1", "r2"))
    r1, r2 = users
    held = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r1.id)
    assert assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r2.id) is None  # k=1 is taken
    Assignment.objects.filter(pk=held.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    given = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r2.id)
    assert given is not None and given.comparison_id == comparison.id
    held.refresh_from_db()
    assert held.status == Assignment.Status.EXPIRED
    comparison.refresh_from_db()
    assert comparison.active_assignments == 1


def test_lease_lasts_the_configured_minutes(settings):
    settings.REVIEW_LEASE_MINUTES = 7
    campaign, _, (r1, *_) = open_with()
    a = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r1.id)
    assert a.lease_expires_at - a.leased_at == timedelta(minutes=7)


def test_assignments_expire_ends_only_overdue_leases():
    campaign, _, (r1, r2, _r3) = open_with()
    a1 = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r1.id)
    a2 = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r2.id)
    Assignment.objects.filter(pk=a1.pk).update(lease_expires_at=timezone.now() - timedelta(minutes=1))
    assert assignments_expire() == 1
    statuses = dict(Assignment.objects.values_list("pk", "status"))
    assert statuses == {a1.pk: "expired", a2.pk: "leased"}


def test_skipped_item_returns_at_once_and_is_not_offered_to_that_reviewer_again():
    campaign, (comparison,), (r1, r2) = open_with(prompts=1, k=1, reviewers=("r1", "r2"))
    a = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r1.id)
    assignment_skip(token=a.token, reviewer_id=r1.id)
    assert assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r1.id) is None
    other = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r2.id)
    assert other.comparison_id == comparison.id


def test_flag_needs_a_reason_and_frees_the_item():
    campaign, (comparison,), (r1, r2) = open_with(prompts=1, k=1, reviewers=("r1", "r2"))
    a = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r1.id)
    with pytest.raises(ValidationFailed):
        assignment_flag(token=a.token, reviewer_id=r1.id, reason="  ")
    assignment_flag(token=a.token, reviewer_id=r1.id, reason="The left answer is cut off")
    a.refresh_from_db()
    assert (a.status, a.flag_reason) == ("flagged", "The left answer is cut off")
    assert assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r2.id).comparison_id == comparison.id


def test_least_voted_comparisons_come_first():
    campaign, comparisons, users = open_with(prompts=4, k=3, reviewers=("r1", "r2", "r3", "r4"))
    r1, r2, r3, r4 = users
    # r1 votes two items; r2 must get one of the two nobody has touched yet.
    touched = {take_and_vote(campaign, r1).comparison_id, take_and_vote(campaign, r1).comparison_id}
    fresh = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r2.id)
    assert fresh.comparison_id not in touched


def test_a_reviewer_does_not_get_the_same_prompt_twice_in_a_row():
    # Three models, all pairs: three comparisons per prompt.
    campaign, comparisons, (r1,) = open_with(prompts=3, k=1, reviewers=("r1",), labels=("X", "Y", "Z"))
    prompts = []
    while (a := take_and_vote(campaign, r1)) is not None:
        prompts.append(Comparison.objects.get(pk=a.comparison_id).prompt_id)
    assert len(prompts) == 9
    # Only at the very end can the one prompt left be forced twice in a row (items 8 and 9 may be
    # the last two comparisons of one prompt); up to item 7 another prompt is always available.
    head = prompts[:7]
    assert all(p != q for p, q in zip(head, head[1:], strict=False)), prompts


def test_sides_are_counterbalanced_across_a_comparisons_reviewers():
    campaign, comparisons, users = open_with(prompts=5, k=4, reviewers=("r1", "r2", "r3", "r4", "r5"))
    drain(campaign, users)
    for comparison in comparisons:
        sides = Counter(Vote.objects.filter(comparison=comparison).values_list("a_on_left", flat=True))
        assert sides[True] == 2 and sides[False] == 2, sides


def test_odd_k_splits_left_and_right_within_one_and_starts_on_either_side():
    campaign, comparisons, users = open_with(prompts=30, k=3)
    drain(campaign, users)
    starts = set()
    for comparison in comparisons:
        sides = list(
            Vote.objects.filter(comparison=comparison).order_by("created_at").values_list("a_on_left", flat=True)
        )
        assert abs(sides.count(True) - sides.count(False)) == 1
        starts.add(sides[0])
    assert starts == {True, False}  # the first side is random (30 coin flips)


def test_repeat_checks_reshow_a_voted_item_with_sides_swapped_and_do_not_count(settings):
    settings.REVIEW_REPEAT_SHARE = 0.25
    campaign, comparisons, (r1,) = open_with(prompts=8, k=1, reviewers=("r1",))
    kinds = []
    while (a := take_and_vote(campaign, r1, choice="left")) is not None:
        kinds.append(a.kind)
    assert kinds.count("normal") == 8
    assert kinds.count("repeat") == 2  # 25% of 8
    for repeat in Assignment.objects.filter(kind="repeat"):
        original = Assignment.objects.get(comparison=repeat.comparison, reviewer=r1, kind="normal")
        assert repeat.a_on_left != original.a_on_left
    assert Vote.objects.filter(counted=True).count() == 8
    assert Vote.objects.filter(counted=False).count() == 2
    for comparison in comparisons:
        comparison.refresh_from_db()
        assert comparison.votes_count == 1
    # Always pressing "left" on a swapped repeat is inconsistent.
    (quality,) = reviewer_quality(campaign=campaign)
    assert (quality["repeats"], quality["self_consistency"]) == (2, 0.0)


def test_a_repeat_is_never_of_the_prompt_just_seen_nor_of_a_decided_pair(settings):
    settings.REVIEW_REPEAT_SHARE = 1.0  # a repeat is due after every normal item
    campaign, _, (r1,) = open_with(prompts=3, k=1, reviewers=("r1",))
    first = take_and_vote(campaign, r1)
    # Due, but the only voted comparison is of the prompt just seen: a normal item instead.
    second = take_and_vote(campaign, r1)
    assert (first.kind, second.kind) == ("normal", "normal")
    assert first.comparison.prompt_id != second.comparison.prompt_id
    third = take_and_vote(campaign, r1)
    assert (third.kind, third.comparison_id) == ("repeat", first.comparison_id)
    # Once the pair is decided (closed), none of its comparisons is shown again, repeats included.
    PairDecision.objects.filter(campaign=campaign).update(closed=True)
    assert assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r1.id) is None
    PairDecision.objects.filter(campaign=campaign).update(closed=False)
    assert assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r1.id).kind == "repeat"


def test_consistent_reviewer_scores_full_self_consistency(settings):
    settings.REVIEW_REPEAT_SHARE = 0.25
    campaign, _, (r1,) = open_with(prompts=8, k=1, reviewers=("r1",))
    while (a := assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r1.id)) is not None:
        # A consistent reviewer always prefers the answer of the contestant listed first.
        vote_submit(token=a.token, reviewer_id=r1.id, choice="left" if a.a_on_left else "right")
    (quality,) = reviewer_quality(campaign=campaign)
    assert (quality["repeats"], quality["self_consistency"]) == (2, 1.0)


def test_gold_accuracy_counts_votes_matching_the_expected_answer():
    campaign, comparisons, (r1,) = open_with(prompts=4, k=1, reviewers=("r1",))
    for comparison in comparisons[:2]:
        comparison_set_gold(comparison=comparison, gold="a")
    while (a := assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r1.id)) is not None:
        vote_submit(token=a.token, reviewer_id=r1.id, choice="left" if a.a_on_left else "right")  # always A
    (quality,) = reviewer_quality(campaign=campaign)
    assert (quality["gold_votes"], quality["gold_correct"], quality["gold_accuracy"]) == (2, 2, 1.0)
    Vote.objects.filter(comparison=comparisons[0]).update(resolved="b")
    (quality,) = reviewer_quality(campaign=campaign)
    assert quality["gold_accuracy"] == 0.5


def test_gold_must_be_a_known_answer():
    _, (comparison, *_), _ = open_with()
    with pytest.raises(ValidationFailed):
        comparison_set_gold(comparison=comparison, gold="left")


def test_excluded_reviewer_gets_no_items_and_their_votes_are_reoffered_to_others():
    campaign, comparisons, users = open_with(prompts=2, k=1, reviewers=("r1", "r2"))
    r1, r2 = users
    drain(campaign, [r1])
    assert assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r2.id) is None
    result = reviewer_exclude(campaign=campaign, user=r1)
    assert result["votes_freed"] == 2
    assert CampaignReviewer.objects.get(campaign=campaign, user=r1).excluded
    with pytest.raises(NotFound):
        assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r1.id)
    drain(campaign, [r2])
    assert Vote.objects.filter(reviewer=r2).count() == 2
    for comparison in comparisons:
        comparison.refresh_from_db()
        assert (comparison.votes_count, comparison.active_assignments) == (1, 1)


def test_excluded_comparisons_are_never_offered():
    campaign, comparisons, (r1, *_) = open_with(prompts=2, k=1)
    Comparison.objects.filter(pk=comparisons[0].pk).update(excluded=True)
    got = []
    while (a := take_and_vote(campaign, r1)) is not None:
        got.append(a.comparison_id)
    assert got == [comparisons[1].pk]


def test_closed_campaign_hands_out_nothing():
    campaign, _, (r1, *_) = open_with()
    campaign.status = "closed"
    campaign.save(update_fields=["status"])
    with pytest.raises(NotFound):
        assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=r1.id)


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_queries_per_next_and_per_vote_do_not_grow_with_campaign_size():
    def measure(prompts):
        campaign, _, users = open_with(prompts=prompts, k=3, reviewers=("a", "b", "c", "d"))
        for user in users[:3]:  # some history, so the engine has voted rows to skip past
            for _ in range(3):
                take_and_vote(campaign, user)
        reviewer = users[3]
        holder = {}
        next_q = _queries(
            lambda: holder.update(a=assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=reviewer.id))
        )
        vote_q = _queries(lambda: vote_submit(token=holder["a"].token, reviewer_id=reviewer.id, choice="tie"))
        return next_q, vote_q

    small = measure(5)
    large = measure(400)
    assert large[0] <= small[0], (small, large)
    assert large[1] <= small[1], (small, large)
