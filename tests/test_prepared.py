"""arena/prepared.py: ORM statements compiled once, on both databases."""

import pytest
from django.db import transaction
from django.db.models import Count, F, Subquery, signals
from django.utils import timezone

from arena.models import Assignment, CampaignReviewer, Comparison, PairDecision, Vote
from arena.prepared import PreparedInsert, PreparedSelect, PreparedUpdate, Q
from tests.factories import make_open_campaign, new_assignment, new_vote

pytestmark = pytest.mark.django_db(transaction=False)


def test_a_prepared_update_is_conditional_and_counts_its_rows(lead, reviewer):
    campaign = make_open_campaign(prompts=2)
    comparison = Comparison.objects.filter(campaign=campaign).first()
    bump = PreparedUpdate(
        Comparison,
        where=lambda s: Q(pk=s.comparison_id, votes_count__lt=s.k),
        values=lambda s: {"votes_count": F("votes_count") + s.by},
    )
    assert bump.run(comparison_id=comparison.pk, k=2, by=1) == 1
    assert bump.run(comparison_id=comparison.pk, k=2, by=1) == 1
    assert bump.run(comparison_id=comparison.pk, k=2, by=1) == 0  # the condition holds at k
    assert bump.run(comparison_id=-1, k=9, by=1) == 0
    comparison.refresh_from_db()
    assert comparison.votes_count == 2


def test_a_prepared_insert_applies_defaults_and_auto_now_add_like_create(lead, reviewer):
    campaign = make_open_campaign(prompts=2)
    comparison = Comparison.objects.filter(campaign=campaign).first()
    now = timezone.now()
    insert = PreparedInsert(Assignment)
    # No token nor status given: the instances hold the model's defaults, and the rows must too.
    made = [
        insert.insert(new_assignment(comparison, reviewer, kind=kind, at=now))
        for kind in (Assignment.Kind.NORMAL, Assignment.Kind.REPEAT)
    ]
    rows = {a.pk: a for a in Assignment.objects.filter(pk__in=[m.pk for m in made])}
    assert len(rows) == 2 and all(m.pk for m in made)
    for m in made:
        stored = rows[m.pk]
        assert stored.token == m.token and len(stored.token) >= 20  # the model's default token
        assert stored.status == Assignment.Status.LEASED and stored.kind == m.kind
        assert stored.leased_at == now
    assert made[0].token != made[1].token
    vote = PreparedInsert(Vote).insert(new_vote(made[0], Vote.Resolved.A))  # no created_at given
    stored = Vote.objects.get(pk=made[0].pk)
    assert vote.pk == made[0].pk and stored.created_at is not None  # auto_now_add
    assert abs((stored.created_at - timezone.now()).total_seconds()) < 60


def test_no_signal_receiver_listens_to_the_rows_written_by_prepared_statements():
    """The prepared statements send no model signals, as `create()` and `update()` would:
    nothing may rely on them for these models."""
    for model in (Assignment, Vote, Comparison, CampaignReviewer, PairDecision):
        for signal in (signals.pre_save, signals.post_save):
            assert not signal.has_listeners(model), (model.__name__, signal)


def test_a_prepared_select_gives_what_the_queryset_gives_with_the_backends_conversions(lead, reviewer):
    """Booleans, datetimes and a subquery's count come out as the ORM gives them (SQLite hands
    a plain cursor 0/1 and naive text); a locking read compiles inside the transaction."""
    campaign = make_open_campaign(prompts=3)
    Comparison.objects.filter(pk=Comparison.objects.filter(campaign=campaign).order_by("id")[0].pk).update(
        excluded=True
    )

    def build(s, model=Comparison):
        return (
            model.objects.filter(campaign_id=s.campaign_id)
            .annotate(
                n=Subquery(
                    model.objects.filter(campaign_id=s.campaign_id)
                    .order_by()
                    .values("campaign_id")
                    .annotate(c=Count("pk"))
                    .values("c")
                )
            )
            .order_by("id")
            .values_list("id", "excluded", "campaign__created_at", "n")
        )

    prepared = PreparedSelect(Comparison, build)
    expected = list(build(type("S", (), {"campaign_id": campaign.pk})))
    assert prepared.rows(campaign_id=campaign.pk) == expected
    assert [type(v) for v in prepared.rows(campaign_id=campaign.pk)[0]] == [type(v) for v in expected[0]]
    assert expected[0][1] is True and expected[0][2].tzinfo is not None and expected[0][3] == len(expected)
    assert prepared.rows(campaign_id=-1) == []
    locked = PreparedSelect(
        Comparison, lambda s: Comparison.objects.select_for_update().filter(pk=s.pk).values_list("id")
    )
    first = expected[0][0]
    with transaction.atomic():
        assert locked.rows(pk=first) == [(first,)]
