"""Many reviewers at once on PostgreSQL: exact k, nothing lost or doubled, sides balanced.

40 reviewer clients run in parallel threads, each with its own database connection, fetching
and voting as fast as they can and sending some votes twice (one after the other, and some at
the same moment from two threads). Races are settled by row locks with SKIP LOCKED, the
conditional counter updates and the unique constraints; this test is the proof.
"""

import random
import threading
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from arena.models import Assignment, Comparison, Vote
from arena.services.assignment import assignment_next_for_reviewer, assignments_expire
from arena.services.voting import vote_submit
from tests.conftest import run_in_parallel
from tests.factories import add_reviewers, make_campaign, open_campaign

REVIEWERS = 40
COMPARISONS = 300
K = 3

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite serialises every writer, so parallel clients prove nothing there "
            "(run with DATABASE_URL=postgres://...)"
        )


def test_forty_parallel_reviewers_fill_every_comparison_with_exactly_k_votes(settings):
    settings.REVIEW_REPEAT_SHARE = 0.05
    campaign = make_campaign(prompts=COMPARISONS, k=K)
    open_campaign(campaign)
    users = add_reviewers(campaign, *[f"par{i:02d}" for i in range(REVIEWERS)])
    created_by_reviewer: dict[int, int] = defaultdict(int)
    replays = Counter()
    lock = threading.Lock()

    def send_twice_at_once(token, user, choice):
        results = []

        def send():
            try:
                results.append(vote_submit(token=token, reviewer_id=user.id, choice=choice)[1])
            finally:
                connections.close_all()

        twins = [threading.Thread(target=send) for _ in range(2)]
        for t in twins:
            t.start()
        for t in twins:
            t.join()
        return results

    def reviewer_client(user, seed):
        rng = random.Random(seed)
        while True:
            assignment = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=user.id)
            if assignment is None:
                break
            choice = rng.choice(["left", "right", "tie", "both_bad"])
            roll = rng.random()
            if roll < 0.1:
                results = send_twice_at_once(assignment.token, user, choice)
                created = sum(results)
                with lock:
                    replays["concurrent"] += 1
                assert sorted(results) == [False, True], results
            else:
                _, created = vote_submit(token=assignment.token, reviewer_id=user.id, choice=choice)
                assert created
                if roll < 0.2:
                    _, again = vote_submit(token=assignment.token, reviewer_id=user.id, choice=choice)
                    assert not again
                    with lock:
                        replays["sequential"] += 1
            with lock:
                created_by_reviewer[user.pk] += int(created)

    errors = run_in_parallel(reviewer_client, users)
    assert not errors, errors[:3]
    assert replays["concurrent"] > 0 and replays["sequential"] > 0

    counted = Vote.objects.filter(campaign=campaign, counted=True)
    # Nothing lost or doubled: every created vote is stored once, and nothing else is.
    assert Vote.objects.filter(campaign=campaign).count() == sum(created_by_reviewer.values())
    assert counted.count() == COMPARISONS * K
    per_comparison = defaultdict(list)
    for comparison_id, reviewer_id, a_on_left in counted.values_list("comparison_id", "reviewer_id", "a_on_left"):
        per_comparison[comparison_id].append((reviewer_id, a_on_left))
    assert len(per_comparison) == COMPARISONS
    for comparison_id, votes in per_comparison.items():
        reviewers = [r for r, _ in votes]
        assert len(votes) == K and len(set(reviewers)) == K, (comparison_id, votes)
        lefts = sum(1 for _, left in votes if left)
        assert abs(lefts - (K - lefts)) <= 1, (comparison_id, votes)
    for comparison in Comparison.objects.filter(campaign=campaign):
        assert (comparison.votes_count, comparison.active_assignments) == (K, K)
    assert not Assignment.objects.filter(campaign=campaign, status="leased").exists()
    # Repeat checks happened and never counted.
    assert Vote.objects.filter(campaign=campaign, counted=False).exists()


def test_next_passes_over_an_own_expired_item_that_a_late_vote_holds(settings):
    """Two tabs of one reviewer: tab 1 sends a late vote on an item whose lease expired (it locks
    the assignment, then the comparison to take the slot back), while tab 2 asks for the next
    item, which would be that same item. "next" must not wait for the assignment while holding
    the comparison (a deadlock PostgreSQL settles by killing one of them): it passes over it."""
    settings.REVIEW_REPEAT_SHARE = 0.0
    settings.REVIEW_EXPIRY_EVERY_SECONDS = 0
    campaign = make_campaign(prompts=1, k=1)
    (comparison,) = open_campaign(campaign)
    (user,) = add_reviewers(campaign, "twotabs")
    held = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=user.id)
    Assignment.objects.filter(pk=held.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert assignments_expire() == 1

    vote_locked, go_on = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def late_vote_in_flight():  # the general vote path's lock order: the assignment, then the comparison
        try:
            with transaction.atomic():
                Assignment.objects.select_for_update().get(pk=held.pk)
                vote_locked.set()
                go_on.wait(30)
                Comparison.objects.select_for_update().get(pk=comparison.pk)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            outcome["tab1"] = exc
        finally:
            connections.close_all()

    def next_item():
        try:
            outcome["next"] = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=user.id)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            outcome["next"] = exc
        finally:
            connections.close_all()

    tab1 = threading.Thread(target=late_vote_in_flight)
    tab1.start()
    assert vote_locked.wait(30)
    tab2 = threading.Thread(target=next_item)
    tab2.start()
    tab2.join(timeout=20)
    waited = tab2.is_alive()
    go_on.set()
    tab1.join(timeout=30)
    tab2.join(timeout=30)
    assert not waited, '"next" waited for the assignment a late vote holds'
    assert outcome["next"] is None  # the only item left is the one being voted on
    assert "tab1" not in outcome, outcome["tab1"]
    comparison.refresh_from_db()
    assert (comparison.active_assignments, comparison.votes_count) == (0, 0)  # nothing claimed

    # The late vote itself then goes through and takes the slot back.
    vote, created = vote_submit(token=held.token, reviewer_id=user.id, choice="left")
    assert created and vote.counted
    comparison.refresh_from_db()
    assert (comparison.active_assignments, comparison.votes_count) == (1, 1)


def test_review_tables_are_vacuumed_after_a_fixed_number_of_dead_rows():
    """The pick walks past dead index entries until a vacuum; the migration bounds them by a
    fixed count instead of PostgreSQL's 20% of the table (which grows with the campaign)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN (%s, %s)",
            [Comparison._meta.db_table, Assignment._meta.db_table],
        )
        options = dict(cursor.fetchall())
    for table in (Comparison._meta.db_table, Assignment._meta.db_table):
        assert "autovacuum_vacuum_scale_factor=0" in options[table], options
        assert "autovacuum_vacuum_threshold=2000" in options[table], options
