"""Votes: resolved with the stored side, idempotent, never doubled, timed on the server."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from arena.errors import Conflict, NotFound, ValidationFailed
from arena.models import Assignment, Comparison, Vote
from arena.services.assignment import assignment_next_for_reviewer, assignment_skip
from arena.services.voting import vote_submit
from tests.factories import add_reviewers, make_campaign, open_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_repeats(settings):
    settings.REVIEW_REPEAT_SHARE = 0.0
    settings.REVIEW_EXPIRY_EVERY_SECONDS = 0  # expire overdue leases on every "next"


@pytest.fixture
def campaign():
    c = make_campaign(prompts=2, k=1, min_seconds_per_vote=3.0)
    open_campaign(c)
    return c


@pytest.fixture
def r1(campaign):
    return add_reviewers(campaign, "r1")[0]


def lease(campaign, user, *, a_on_left=None, started_seconds_ago=0):
    a = assignment_next_for_reviewer(campaign=campaign, reviewer=user)
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
    vote, created = vote_submit(token=a.token, reviewer=r1, choice=choice)
    assert created
    assert (vote.choice, vote.resolved, vote.a_on_left, vote.counted) == (choice, resolved, a_on_left, True)


def test_same_vote_again_is_idempotent_and_counts_once(campaign, r1):
    a = lease(campaign, r1)
    first, created1 = vote_submit(token=a.token, reviewer=r1, choice="tie")
    second, created2 = vote_submit(token=a.token, reviewer=r1, choice="tie")
    assert (created1, created2) == (True, False)
    assert first.pk == second.pk
    assert Vote.objects.count() == 1
    assert Comparison.objects.get(pk=a.comparison_id).votes_count == 1


def test_second_vote_with_other_choice_is_rejected(campaign, r1):
    a = lease(campaign, r1)
    vote_submit(token=a.token, reviewer=r1, choice="left")
    with pytest.raises(Conflict):
        vote_submit(token=a.token, reviewer=r1, choice="right")
    assert Vote.objects.get().choice == "left"


def test_another_reviewers_token_is_not_found(campaign, r1):
    (r2,) = add_reviewers(campaign, "r2")
    a = lease(campaign, r1)
    with pytest.raises(NotFound):
        vote_submit(token=a.token, reviewer=r2, choice="left")


def test_unknown_choice_is_invalid(campaign, r1):
    a = lease(campaign, r1)
    with pytest.raises(ValidationFailed):
        vote_submit(token=a.token, reviewer=r1, choice="a")


def test_time_on_task_is_measured_on_the_server_and_fast_votes_are_marked(campaign, r1):
    slow = lease(campaign, r1, started_seconds_ago=20)
    vote, _ = vote_submit(token=slow.token, reviewer=r1, choice="left")
    assert 19 <= vote.seconds_on_task <= 25 and not vote.too_fast
    fast = lease(campaign, r1, started_seconds_ago=1)
    vote, _ = vote_submit(token=fast.token, reviewer=r1, choice="left")
    assert vote.seconds_on_task < 3 and vote.too_fast


def test_client_time_is_used_only_when_it_fits_the_server_clock(campaign, r1):
    a = lease(campaign, r1, started_seconds_ago=10)
    vote, _ = vote_submit(token=a.token, reviewer=r1, choice="left", seconds_on_task=3600)
    assert vote.seconds_on_task < 20  # a client claiming an hour is ignored
    b = lease(campaign, r1, started_seconds_ago=10)
    vote, _ = vote_submit(token=b.token, reviewer=r1, choice="left", seconds_on_task=6.5)
    assert vote.seconds_on_task == 6.5


def test_expired_lease_nobody_took_may_still_be_voted(campaign, r1):
    a = lease(campaign, r1)
    Assignment.objects.filter(pk=a.pk).update(status="expired")
    Comparison.objects.filter(pk=a.comparison_id).update(active_assignments=0, a_left_count=0)
    vote, created = vote_submit(token=a.token, reviewer=r1, choice="left")
    assert created and vote.counted
    c = Comparison.objects.get(pk=a.comparison_id)
    assert (c.votes_count, c.active_assignments) == (1, 1)


def test_expired_lease_taken_by_someone_else_is_a_conflict():
    campaign = make_campaign(prompts=1, k=1)
    open_campaign(campaign)
    r1, r2 = add_reviewers(campaign, "r1", "r2")
    a = assignment_next_for_reviewer(campaign=campaign, reviewer=r1)
    Assignment.objects.filter(pk=a.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    b = assignment_next_for_reviewer(campaign=campaign, reviewer=r2)
    vote_submit(token=b.token, reviewer=r2, choice="left")
    with pytest.raises(Conflict):
        vote_submit(token=a.token, reviewer=r1, choice="left")
    assert Vote.objects.count() == 1


def test_skipped_item_cannot_be_voted(campaign, r1):
    a = lease(campaign, r1)
    assignment_skip(token=a.token, reviewer=r1)
    with pytest.raises(Conflict):
        vote_submit(token=a.token, reviewer=r1, choice="left")


def test_votes_on_a_closed_campaign_are_refused(campaign, r1):
    a = lease(campaign, r1)
    campaign.status = "closed"
    campaign.save(update_fields=["status"])
    with pytest.raises(Conflict):
        vote_submit(token=a.token, reviewer=r1, choice="left")


# --- The one-statement vote on PostgreSQL and the time-on-task rule it shares ----------------

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the one-statement vote runs on PostgreSQL only"
)


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


@needs_postgres
def test_postgresql_computes_time_on_task_exactly_as_python_does():
    import random

    from arena.services import voting

    rng = random.Random(7)
    t0 = timezone.now()
    # The expressions as the vote statement uses them: the server's seconds in a CTE, then the rule.
    server = voting.SERVER_SECONDS_SQL.format(leased_at="%s::timestamptz")
    rule = voting.SECONDS_SQL.format(server="a.server_seconds")
    sql = f"WITH a AS (SELECT {server} AS server_seconds) SELECT {rule} FROM a"
    cases = [(us, c) for us in (0, 500, 1_500, 12_345_500, 3_000_000) for c in (None, 0.0005, 1.0005, 2.0015, -0.1)]
    cases += [(rng.randrange(0, 600_000_000), rng.choice([None, rng.uniform(-1, 700), round(rng.uniform(0, 9), 4)]))]
    cases += [(rng.randrange(0, 10_000_000) // 500 * 500, rng.uniform(0, 12)) for _ in range(300)]
    cases += [(-7, None), (4_000_000, 6.0), (4_000_000, 6.000001)]
    with connection.cursor() as cursor:
        for us, client in cases:
            now = t0 + timedelta(microseconds=us)
            cursor.execute(sql, [now, t0, *voting.seconds_params(client)])
            expected = voting.time_on_task(leased_at=t0, now=now, client_seconds=client)
            assert cursor.fetchone()[0] == expected, (us, client)


@needs_postgres
def test_an_ordinary_vote_is_one_statement_and_every_other_takes_the_general_path(campaign, r1):
    a = lease(campaign, r1, started_seconds_ago=5)
    with CaptureQueriesContext(connection) as queries:
        vote, created = vote_submit(token=a.token, reviewer=r1, choice="left", seconds_on_task=4.25)
    assert created and len(queries.captured_queries) == 1, [q["sql"][:60] for q in queries.captured_queries]
    stored = Vote.objects.get(pk=a.pk)
    assert (stored.choice, stored.seconds_on_task, stored.too_fast, stored.counted) == ("left", 4.25, False, True)
    assert (vote.choice, vote.seconds_on_task, vote.resolved) == ("left", 4.25, stored.resolved)
    assert Comparison.objects.get(pk=a.comparison_id).votes_count == 1
    with CaptureQueriesContext(connection) as queries:  # the same vote again: 200, via the general path
        assert vote_submit(token=a.token, reviewer=r1, choice="left") == (stored, False)
    assert len(queries.captured_queries) > 1
    assert Vote.objects.count() == 1
