"""arena/prepared.py's `batched()`: statements sent together on PostgreSQL, one by one elsewhere,
with the same results, row counts and errors either way."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from arena.models import Assignment, Comparison, Vote
from arena.prepared import PreparedInsert, PreparedUpdate, Q, batched
from tests.factories import make_open_campaign, new_assignment, new_vote

pytestmark = pytest.mark.django_db

_BUMP = PreparedUpdate(
    Comparison,
    where=lambda s: Q(pk=s.comparison_id, votes_count__lt=s.k),
    values=lambda s: {"votes_count": F("votes_count") + 1},
)


def _pipelined() -> bool:
    return connection.vendor == "postgresql" and connection.connection.pgconn.pipeline_status != 0


def test_writes_sent_in_a_batch_are_applied_in_order_and_row_counts_come_back(reviewer):
    campaign = make_open_campaign(prompts=2)
    comparison = Comparison.objects.filter(campaign=campaign).first()
    with transaction.atomic():
        with batched():
            assert _pipelined() == (connection.vendor == "postgresql")
            _BUMP.send(comparison_id=comparison.pk, k=2)
            _BUMP.send(comparison_id=comparison.pk, k=2)
            # A read inside sees every write sent before it; so does a row count.
            assert Comparison.objects.get(pk=comparison.pk).votes_count == 2
            assert _BUMP.run(comparison_id=comparison.pk, k=2) == 0  # at k: the condition fails
            assert _BUMP.run(comparison_id=comparison.pk, k=3) == 1
        assert not _pipelined()
    comparison.refresh_from_db()
    assert comparison.votes_count == 3


def test_a_write_that_fails_in_a_batch_raises_djangos_error_and_nothing_of_the_transaction_stays(reviewer):
    campaign = make_open_campaign(prompts=2)
    comparison = Comparison.objects.filter(campaign=campaign).first()
    assignment = new_assignment(comparison, reviewer)
    assignment.save()
    PreparedInsert(Vote).insert(new_vote(assignment, Vote.Resolved.A))
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            _BUMP.send(comparison_id=comparison.pk, k=5)
            with batched():
                _BUMP.send(comparison_id=comparison.pk, k=5)
                PreparedInsert(Vote).insert(new_vote(assignment, Vote.Resolved.B))  # same primary key
                _BUMP.send(comparison_id=comparison.pk, k=5)
    comparison.refresh_from_db()
    assert comparison.votes_count == 0
    assert list(Vote.objects.values_list("resolved", flat=True)) == [Vote.Resolved.A]
    # The connection is usable again.
    assert _BUMP.run(comparison_id=comparison.pk, k=5) == 1


def test_batches_do_not_nest_and_an_inner_block_rides_the_outer_one(reviewer):
    campaign = make_open_campaign(prompts=2)
    comparison = Comparison.objects.filter(campaign=campaign).first()
    with transaction.atomic(), batched():
        with batched():
            _BUMP.send(comparison_id=comparison.pk, k=9)
        assert _pipelined() == (connection.vendor == "postgresql")
        assert _BUMP.run(comparison_id=comparison.pk, k=9) == 1
    comparison.refresh_from_db()
    assert comparison.votes_count == 2


def test_a_row_inserted_in_a_batch_gets_its_primary_key_when_the_block_ends(reviewer):
    campaign = make_open_campaign(prompts=2)
    first, second = Comparison.objects.filter(campaign=campaign).order_by("pk")[:2]
    insert = PreparedInsert(Assignment)
    with transaction.atomic():
        with batched():
            made = [insert.insert(new_assignment(c, reviewer)) for c in (first, second)]
            _BUMP.send(comparison_id=first.pk, k=5)
            if connection.vendor == "postgresql":
                assert [m.pk for m in made] == [None, None]  # nothing waited for the replies
        stored = dict(Assignment.objects.filter(reviewer=reviewer).values_list("comparison_id", "pk"))
        assert [m.pk for m in made] == [stored[first.pk], stored[second.pk]]
        assert not made[0]._state.adding
