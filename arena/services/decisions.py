"""Each pair's sequential decision, kept up to date vote by vote (PRODUCT.md, "Contract:
adaptive stopping"; the statistics are in arena/sequential.py).

After every counted vote, `pair_decision_record` (called by vote_submit inside its transaction,
after the vote's write) moves the pair's `PairDecision` counts, recomputes its confidence
sequence and, the first time the sequence decides, stores the decision and the votes it took.
Fixed campaigns get the same rows (the report's decision column), but nothing stops there.

In an adaptive campaign a decided pair is `closed`: the pick (services/assignment.py) never
hands out a comparison whose pair row is closed, and every comparison carries its pair's
`pick_rank` so the pick's index walk serves the pair furthest from a decision first and finds
closed pairs at the end of the range. Leases already out are still accepted and counted.

Error over all pairs: every pair's sequence runs at level 1 - alpha/m, m = the campaign's
scheduled pairs (Bonferroni; `sequential.pair_alpha`), so with probability >= 1 - alpha no
sequence of the campaign ever misses its pair's true share, and no decision is wrong.

Locks: the pair row is locked after the vote's own rows (assignment, comparison). Nothing
holds a pair row and then waits for a comparison: the comparisons' `pick_rank` is rewritten
with SKIP LOCKED, so a comparison held by a concurrent pick or vote keeps its old rank until
the next vote on the pair (the closed check in the pick is what guarantees "no new
assignment", the rank only orders the walk).
"""

from __future__ import annotations

import math

from django.db import transaction
from django.db.models import Count, F, Q, Subquery
from django.utils import timezone

from .. import sequential
from ..errors import ValidationFailed
from ..models import Campaign, Comparison, PairDecision
from ..prepared import PreparedSelect, PreparedUpdate
from ..selectors.report import counted_votes
from .pairing import contestant_pairs

CLOSED_RANK = 2**31 - 1
# The campaign's settings of this feature, as admin shows them.
STOPPING_FIELDS = ["stopping", "alpha", "equivalence_margin", "power_share"]
OPEN_RANK_SCALE = 1000


def pair_rank(distance: float) -> int:
    """The pick order of an undecided pair: 0 for the pair furthest from a decision (infinite
    distance), up to OPEN_RANK_SCALE for one about due. Coarse on purpose: a pair's comparisons
    are rewritten only when this integer changes."""
    if math.isinf(distance):
        return 0
    return int(round(OPEN_RANK_SCALE / (1.0 + distance)))


def pair_decisions_ensure(*, campaign_id: int) -> None:
    """One PairDecision row per scheduled pair (idempotent; races settled by the unique key)."""
    campaign = Campaign.objects.get(pk=campaign_id)
    contestants = list(campaign.contestants.all())
    if len(contestants) < 2:
        return
    rows = [
        PairDecision(campaign_id=campaign_id, contestant_a=a, contestant_b=b)
        for a, b in contestant_pairs(contestants=contestants, pairing=campaign.pairing)
    ]
    PairDecision.objects.bulk_create(rows, ignore_conflicts=True)


def _apply_state(row: PairDecision, *, alpha: float, margin: float, pairs: int, adaptive: bool) -> None:
    """Recompute the row's sequence from its counts; a decision, once taken, is kept."""
    result = sequential.sequential_decision(
        a_wins=row.a_wins,
        b_wins=row.decisive - row.a_wins,
        alpha=sequential.pair_alpha(alpha, pairs),
        margin=margin,
    )
    row.cs_low, row.cs_high = result.cs_low, result.cs_high
    if row.decision == PairDecision.Decision.UNDECIDED and result.decision != PairDecision.Decision.UNDECIDED:
        row.decision = result.decision
        row.decided_at_votes = row.votes
        row.decided_at = timezone.now()
    row.closed = adaptive and row.decision != PairDecision.Decision.UNDECIDED


def _rank_of(row: PairDecision, *, margin: float, adaptive: bool, pairs: int) -> int:
    if not adaptive or pairs <= 1:
        return CLOSED_RANK if row.closed else 0
    if row.closed:
        return CLOSED_RANK
    return pair_rank(
        sequential.distance_to_decision(
            a_wins=row.a_wins,
            b_wins=row.decisive - row.a_wins,
            margin=margin,
            cs_low=row.cs_low,
            cs_high=row.cs_high,
        )
    )


def _ranks_write(*, campaign_id: int, row: PairDecision, rank: int) -> None:
    stale = Comparison.objects.filter(
        campaign_id=campaign_id, contestant_a_id=row.contestant_a_id, contestant_b_id=row.contestant_b_id
    ).exclude(pick_rank=rank)
    # SKIP LOCKED: see the module docstring (a held comparison is left for the next vote).
    ids = list(stale.select_for_update(skip_locked=True).order_by("id").values_list("id", flat=True))
    if ids:
        Comparison.objects.filter(id__in=ids).update(pick_rank=rank)


def _field(slots, name: str):
    return slots(name, PairDecision._meta.get_field(name))


_PAIR_STATE = (
    "votes",
    "decisive",
    "a_wins",
    "decision",
    "decided_at_votes",
    "decided_at",
    "cs_low",
    "cs_high",
    "closed",
)
# The pair's row, locked, with the campaign's number of pairs (the alpha split) in the same
# statement; then its new state. Both compiled once (arena/prepared.py): they run on every vote.
_PAIR_LOCKED = PreparedSelect(
    PairDecision,
    lambda s: (
        PairDecision.objects.select_for_update(of=("self",))
        .filter(campaign_id=s.campaign_id, contestant_a_id=s.contestant_a_id, contestant_b_id=s.contestant_b_id)
        .annotate(
            pairs=Subquery(
                PairDecision.objects.filter(campaign_id=s.campaign_id)
                .order_by()
                .values("campaign_id")
                .annotate(n=Count("pk"))
                .values("n")
            )
        )
        .values_list("id", *_PAIR_STATE, "pairs")
    ),
)
_PAIR_WRITE = PreparedUpdate(
    PairDecision,
    where=lambda s: Q(pk=s.id),
    values=lambda s: {name: _field(s, name) for name in (*_PAIR_STATE, "updated_at")},
)


def _pair_locked(key: dict) -> tuple[PairDecision, int] | None:
    rows = _PAIR_LOCKED.rows(**key)
    if not rows:
        return None
    pk, *state, pairs = rows[0]
    return PairDecision(id=pk, **key, **dict(zip(_PAIR_STATE, state, strict=True))), pairs


def pair_decision_record(
    *,
    campaign_id: int,
    contestant_a_id: int,
    contestant_b_id: int,
    stopping: str,
    alpha: float,
    margin: float,
    resolved: str,
) -> None:
    """Count one more counted vote (`resolved`: a, b, tie or both_bad) on the pair, with the
    campaign's stopping settings (the vote's locking read brings them).

    Must run inside the vote's transaction, after the vote's write; its statements may be sent
    in a batch (`batched()`), so none of them reads a row count or may fail on a conflict.
    """
    key = {"campaign_id": campaign_id, "contestant_a_id": contestant_a_id, "contestant_b_id": contestant_b_id}
    locked = _pair_locked(key)
    if locked is None:
        pair_decisions_ensure(campaign_id=campaign_id)
        locked = _pair_locked(key)
        if locked is None:  # a pair no longer scheduled (the pairing changed): still recorded
            # ignore_conflicts, not get_or_create: no statement here may fail, as the vote sends
            # its writes in one batch (arena/prepared.py) where a failed one aborts the rest.
            PairDecision.objects.bulk_create([PairDecision(**key)], ignore_conflicts=True)
            locked = _pair_locked(key)
    row, pairs = locked
    row.votes += 1
    if resolved in ("a", "b"):
        row.decisive += 1
        row.a_wins += resolved == "a"
    adaptive = stopping == Campaign.Stopping.ADAPTIVE
    _apply_state(row, alpha=alpha, margin=margin, pairs=pairs, adaptive=adaptive)
    _PAIR_WRITE.send(id=row.pk, updated_at=timezone.now(), **{name: getattr(row, name) for name in _PAIR_STATE})
    if adaptive:
        _ranks_write(campaign_id=campaign_id, row=row, rank=_rank_of(row, margin=margin, adaptive=True, pairs=pairs))


def pair_decisions_refresh(*, campaign_id: int) -> list[PairDecision]:
    """Recount every pair from the votes the report counts (after a reviewer or comparison is
    excluded or included, or the stopping rule changed) and put every comparison's rank right.

    A pair whose counts are unchanged keeps its decision; one whose counted votes changed is
    decided again from them (it may open again). Returns the rows in pair order.

    The pair rows are written and committed first; the comparisons' ranks after, one pair at a
    time, holding no pair row (a vote holds its comparison and then waits for its pair row).
    """
    with transaction.atomic():
        rows = _pairs_recount(campaign_id=campaign_id)
    campaign = Campaign.objects.get(pk=campaign_id)
    adaptive = campaign.stopping == Campaign.Stopping.ADAPTIVE
    for row in rows:
        rank = _rank_of(row, margin=campaign.equivalence_margin, adaptive=adaptive, pairs=len(rows))
        with transaction.atomic():
            ids = list(
                Comparison.objects.select_for_update()
                .filter(
                    campaign_id=campaign_id, contestant_a_id=row.contestant_a_id, contestant_b_id=row.contestant_b_id
                )
                .exclude(pick_rank=rank)
                .order_by("id")
                .values_list("id", flat=True)
            )
            Comparison.objects.filter(id__in=ids).update(pick_rank=rank)
    return rows


def _pairs_recount(*, campaign_id: int) -> list[PairDecision]:
    campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
    pair_decisions_ensure(campaign_id=campaign_id)
    counts = {
        (r["a"], r["b"]): r
        for r in counted_votes(campaign=campaign)
        .values(a=F("comparison__contestant_a_id"), b=F("comparison__contestant_b_id"))
        .annotate(
            votes=Count("pk"),
            decisive=Count("pk", filter=Q(resolved__in=["a", "b"])),
            a_wins=Count("pk", filter=Q(resolved="a")),
        )
        .order_by()
    }
    rows = list(PairDecision.objects.select_for_update().filter(campaign_id=campaign_id).order_by("id"))
    adaptive = campaign.stopping == Campaign.Stopping.ADAPTIVE
    for row in rows:
        got = counts.get((row.contestant_a_id, row.contestant_b_id), {"votes": 0, "decisive": 0, "a_wins": 0})
        if (row.votes, row.decisive, row.a_wins) != (got["votes"], got["decisive"], got["a_wins"]):
            # The counted votes changed (an exclusion): the decision is taken again from them.
            row.votes, row.decisive, row.a_wins = got["votes"], got["decisive"], got["a_wins"]
            row.decision, row.decided_at_votes, row.decided_at = PairDecision.Decision.UNDECIDED, None, None
        _apply_state(row, alpha=campaign.alpha, margin=campaign.equivalence_margin, pairs=len(rows), adaptive=adaptive)
        row.save()
    return rows


def pair_decisions_refresh_on_commit(*, campaign_id: int) -> None:
    """Refresh once the caller's transaction commits (its change is then visible, and the refresh
    holds no pair row of the caller's while it rewrites the comparisons' ranks)."""
    transaction.on_commit(lambda: pair_decisions_refresh(campaign_id=campaign_id))


def campaign_set_stopping(*, campaign_id: int, stopping: str) -> None:
    """Switch a campaign between fixed and adaptive stopping, also while it is open: from fixed,
    pairs already decided close at once; from adaptive, every pair is open again up to k.
    Not inside a transaction of the caller's (see pair_decisions_refresh)."""
    if stopping not in Campaign.Stopping.values:
        raise ValidationFailed(f"stopping must be one of {', '.join(Campaign.Stopping.values)}", field="stopping")
    Campaign.objects.filter(pk=campaign_id).update(stopping=stopping)
    pair_decisions_refresh(campaign_id=campaign_id)
