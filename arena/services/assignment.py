"""The assignment engine: who judges which comparison next, with which side on the left.

Every rule is written once, with the ORM, and the same code runs on SQLite and PostgreSQL:
- Exactly k (`votes_per_comparison`) reviewers per comparison, never more.
  `Comparison.active_assignments` counts the live normal assignments (leased or voted). A claim
  is a conditional `UPDATE ... WHERE active_assignments < k` checked by its row count; the
  unique constraint on (comparison, reviewer) for normal assignments stops one reviewer taking
  a comparison twice.
- Candidates are read with `select_for_update(skip_locked=True)`: on PostgreSQL concurrent
  reviewers take different rows instead of queueing on the same one. SQLite has no row locks;
  the settings open every transaction with BEGIN IMMEDIATE, so writers are serialised there and
  the same code is correct (just not parallel).
- A reviewer's own requests are serialised by a row lock on their `CampaignReviewer` row. That
  makes "an unexpired lease is handed back again" (a reload shows the same item) race-free.
- A lease expires after `REVIEW_LEASE_MINUTES` and its slot returns to the pool. Expiry runs
  lazily at the start of "next" (a bounded batch, at most every few seconds per process) and
  can also run from a periodic task via `assignments_expire()`.
- Least-handed-out comparisons first, then a random rank (`Comparison.order_key`) so the order
  says nothing about the pair; never the same prompt twice in a row unless nothing else is left.
- Counterbalancing: `Comparison.a_left_count` counts the live normal assignments that show A on
  the left. Each claim puts A on the minority side (a coin flip when even), so across the k
  reviewers A is left as often as right to within one.
- Repeat checks: a share (`REVIEW_REPEAT_SHARE`) of a reviewer's items re-shows a comparison
  they already voted on, sides swapped. Repeats never touch the counters and their votes are
  stored with `counted=False`.
- Lock order: "next" locks the membership, then a comparison, and takes the reviewer's own
  expired assignment (to lease it again) only with SKIP LOCKED; a vote locks its assignment,
  then the comparison. So a late vote from another tab is passed over, never waited for, and
  the two never deadlock.
The query count of `assignment_next_for_reviewer` does not depend on the campaign's size: each
step is one statement walking an index (campaign, excluded, judge_held, pick_rank,
active_assignments, order_key); `judge_held` marks what a hybrid campaign's judge settled
(services/judging_hybrid.py), `pick_rank` orders an adaptive campaign's pairs.
"""

import secrets
import time
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, Value, When
from django.utils import timezone

from ..errors import Conflict, NotFound, ValidationFailed
from ..models import Assignment, Campaign, CampaignReviewer, Comparison, PairDecision
from ..prepared import PreparedInsert, PreparedSelect, PreparedUpdate, Q, batched
from ..raw_sql import Names, db_datetime, fetch_one, row_lock
from .decisions import CLOSED_RANK

EXPIRY_BATCH = 100
# Lazy expiry runs at most this often per process and campaign (settings may override it; the
# tests set 0). Leases last minutes, so a few seconds of delay returns nothing noticeably late,
# and most "next" calls skip a transaction.
EXPIRY_EVERY_SECONDS = 5.0
_last_expiry: dict[int, float] = {}
FLAG_REASON_MAX = 1000
# How many comparisons one "next" passes over (taken meanwhile, or held by a late vote) before
# it answers that nothing is left; each try is one more pick.
PICK_ATTEMPTS = 3


def lease_duration() -> timedelta:
    return timedelta(minutes=settings.REVIEW_LEASE_MINUTES)


# --- Slots ------------------------------------------------------------------------------------


def release_slots(rows: list[tuple[int, bool]], *, voted: bool = False) -> None:
    """Give back the slots of normal assignments, given as (comparison_id, a_on_left) pairs
    (and their votes, if `voted`)."""
    slots_shift(rows, by=-1, votes=voted)


def slots_shift(rows: list[tuple[int, bool]], *, by: int, votes: bool) -> None:
    """Move the slot counters of the comparisons of `rows`, (comparison_id, a_on_left) pairs, by
    `by` per row: active assignments, A-on-the-left count, and the vote count if `votes`.

    The comparison rows are locked in id order first: two transactions moving overlapping
    sets then queue instead of deadlocking. One UPDATE follows, whatever the batch size.
    """
    if not rows:
        return
    counts: dict[int, int] = defaultdict(int)
    lefts: dict[int, int] = defaultdict(int)
    for comparison_id, a_on_left in rows:
        counts[comparison_id] += by
        lefts[comparison_id] += by if a_on_left else 0
    ids = sorted(counts)
    list(Comparison.objects.select_for_update().filter(id__in=ids).order_by("id").values_list("id", flat=True))

    def moved(column: str, per_id: dict[int, int]):
        return F(column) + Case(*[When(id=i, then=Value(n)) for i, n in per_id.items()], default=Value(0))

    fields = {"active_assignments": moved("active_assignments", counts), "a_left_count": moved("a_left_count", lefts)}
    if votes:
        fields["votes_count"] = moved("votes_count", counts)
    Comparison.objects.filter(id__in=ids).update(**fields)


def _a_goes_left(*, active: int, a_left: int) -> bool:
    """The side for A on the next assignment of a comparison: the minority side, a coin flip
    when the sides are even."""
    right = active - a_left
    if a_left != right:
        return a_left < right
    return secrets.randbelow(2) == 0


def _side_keeps_balance(*, active: int, a_left: int, a_on_left: bool) -> bool:
    """Whether adding one assignment on this side keeps A's left/right split within one.

    A move that brings an uneven split (after releases) closer to even is allowed too.
    """
    before = abs(2 * a_left - active)
    after = abs(2 * (a_left + (1 if a_on_left else 0)) - (active + 1))
    return after <= 1 or after < before


# The writes of "next", compiled once (arena/prepared.py): the same ORM statements, without
# building them again on every call.
_SLOT_TAKE = PreparedUpdate(
    Comparison,
    where=lambda s: Q(pk=s.comparison_id, active_assignments__lt=s.k),
    values=lambda s: {
        "active_assignments": F("active_assignments") + 1,
        "a_left_count": F("a_left_count") + s.left,
    },
)
_SERVED_NORMAL = PreparedUpdate(
    CampaignReviewer,
    where=lambda s: Q(pk=s.membership_id),
    values=lambda s: {"normal_served": F("normal_served") + 1, "last_prompt_id": s.prompt_id},
)
_SERVED_REPEAT = PreparedUpdate(
    CampaignReviewer,
    where=lambda s: Q(pk=s.membership_id),
    values=lambda s: {"repeats_served": F("repeats_served") + 1, "last_prompt_id": s.prompt_id},
)
_ASSIGNMENT_INSERT = PreparedInsert(Assignment)


def _slot_take(*, comparison_id: int, k: int, a_on_left: bool) -> bool:
    """Count one more live normal assignment on the comparison, unless it already has k.

    The conditional UPDATE is the guard of exact k: its row count says whether the slot was
    taken, whatever else runs at the same moment.
    """
    return _SLOT_TAKE.run(comparison_id=comparison_id, k=k, left=1 if a_on_left else 0) == 1


def _lease_new(**fields) -> Assignment:
    """`Assignment.objects.create(**fields)`, with the statement compiled once."""
    return _ASSIGNMENT_INSERT.insert(Assignment(**fields))


def slot_retake(*, comparison_id: int, k: int, a_on_left: bool) -> bool:
    """Take a slot back for an expired normal assignment (a late vote), if k is not reached and
    A's sides stay balanced.

    Must run inside the caller's transaction. The comparison row is locked, so the check and
    the update see the same counts.
    """
    row = (
        Comparison.objects.select_for_update()
        .filter(pk=comparison_id)
        .values_list("active_assignments", "a_left_count")
        .first()
    )
    if row is None or row[0] >= k:
        return False
    if not _side_keeps_balance(active=row[0], a_left=row[1], a_on_left=a_on_left):
        return False
    return _slot_take(comparison_id=comparison_id, k=k, a_on_left=a_on_left)


# --- Expiry -----------------------------------------------------------------------------------


def assignments_expire(*, campaign_id: int | None = None, limit: int = EXPIRY_BATCH) -> int:
    """Expire overdue leases (a bounded batch) and return their slots to the pool."""
    now = timezone.now()
    with transaction.atomic():
        overdue = Assignment.objects.filter(status=Assignment.Status.LEASED, lease_expires_at__lte=now)
        if campaign_id is not None:
            overdue = overdue.filter(campaign_id=campaign_id)
        # SKIP LOCKED: a lease being voted on right now is left to the vote.
        rows = list(
            overdue.select_for_update(skip_locked=True)
            .order_by("lease_expires_at")
            .values_list("id", "comparison_id", "kind", "a_on_left")[:limit]
        )
        if not rows:
            return 0
        Assignment.objects.filter(id__in=[r[0] for r in rows], status=Assignment.Status.LEASED).update(
            status=Assignment.Status.EXPIRED
        )
        release_slots([(cid, left) for _, cid, kind, left in rows if kind == Assignment.Kind.NORMAL])
    return len(rows)


def _expire_if_due(campaign_id: int) -> None:
    every = getattr(settings, "REVIEW_EXPIRY_EVERY_SECONDS", EXPIRY_EVERY_SECONDS)
    if time.monotonic() - _last_expiry.get(campaign_id, -1e9) >= every:
        if len(_last_expiry) > 10_000:  # ids come from requests: keep the table bounded
            _last_expiry.clear()
        _last_expiry[campaign_id] = time.monotonic()
        assignments_expire(campaign_id=campaign_id)


# --- Next -------------------------------------------------------------------------------------


def _repeat_due(membership: CampaignReviewer) -> bool:
    share = settings.REVIEW_REPEAT_SHARE
    if share <= 0:
        return False
    # Deterministic: after 1/share normal items, one repeat is due, and so on.
    return membership.repeats_served < int(membership.normal_served * share)


_A, _C, _M, _K = Names(Assignment), Names(Comparison), Names(CampaignReviewer), Names(Campaign)
_D = Names(PairDecision)
# SQL, not the ORM: see arena/raw_sql.py. The newest unexpired lease is a subquery of the lock,
# so "do they hold a lease already" costs no statement of its own.
_MEMBERSHIP_SQL = f"""
SELECT m.{_M.id}, m.{_M.excluded}, m.{_M.last_prompt}, m.{_M.normal_served}, m.{_M.repeats_served},
       k.{_K.status}, k.{_K.votes_per_comparison},
       (SELECT a.{_A.id} FROM {_A} a
        WHERE a.{_A.campaign} = m.{_M.campaign} AND a.{_A.reviewer} = m.{_M.user}
          AND a.{_A.status} = %s AND a.{_A.lease_expires_at} > %s
        ORDER BY a.{_A.leased_at} DESC LIMIT 1)
FROM {_M} m JOIN {_K} k ON k.{_K.id} = m.{_M.campaign}
WHERE m.{_M.campaign} = %s AND m.{_M.user} = %s
"""


def _membership_locked(*, campaign_id: int, reviewer_id: int, now) -> CampaignReviewer | None:
    """The reviewer's membership row, locked, with its campaign and `current_id`: the id of the
    newest unexpired lease they hold in it, or None. One statement.

    Only the membership row is locked: locking the campaign row too would queue every reviewer
    of the campaign behind each other.
    """
    row = fetch_one(
        _MEMBERSHIP_SQL + row_lock(of="m"),
        [Assignment.Status.LEASED.value, db_datetime(now), campaign_id, reviewer_id],
    )
    if row is None:
        return None
    membership_id, excluded, last_prompt_id, normal_served, repeats_served, status, k, current_id = row
    membership = CampaignReviewer(
        id=membership_id,
        campaign_id=campaign_id,
        user_id=reviewer_id,
        excluded=bool(excluded),
        last_prompt_id=last_prompt_id,
        normal_served=normal_served,
        repeats_served=repeats_served,
    )
    membership.campaign = Campaign(id=campaign_id, status=status, votes_per_comparison=k)
    membership.current_id = current_id
    return membership


# The pick walks the (campaign, excluded, judge_held, pick_rank, active_assignments, order_key)
# index in order and stops at the first comparison free for this reviewer. `pick_rank` is 0 everywhere in fixed
# campaigns; in adaptive ones it puts the pair furthest from a decision first and a decided pair
# out of range, and the closed-pair probe is the guarantee (services/decisions.py); a hybrid
# campaign's judge-settled comparisons are `judge_held` (services/judging_hybrid.py).
# `LIMIT 1 OFFSET 0` keeps each EXISTS a per-row probe of its unique index: without it
# PostgreSQL may turn a NOT EXISTS into an anti-join, and the EXISTS of the select list into a
# hashed subplan, each of which reads every assignment the reviewer ever had (the second cost
# 0.7 ms of the pick's 0.9 ms at 300 assignments per reviewer, and grows with the campaign).
_PICK_SQL = f"""
SELECT c.{_C.id}, c.{_C.prompt}, c.{_C.active_assignments}, c.{_C.a_left_count},
       EXISTS (SELECT 1 FROM {_A} h WHERE h.{_A.comparison} = c.{_C.id} AND h.{_A.reviewer} = %s
               AND h.{_A.kind} = %s AND h.{_A.status} = %s LIMIT 1 OFFSET 0)
FROM {_C} c
WHERE c.{_C.campaign} = %s AND NOT c.{_C.excluded} AND NOT c.{_C.judge_held}
  AND c.{_C.active_assignments} < %s AND c.{_C.prompt} <> %s
  AND NOT EXISTS (SELECT 1 FROM {_A} h WHERE h.{_A.comparison} = c.{_C.id} AND h.{_A.reviewer} = %s
                  AND h.{_A.kind} = %s AND h.{_A.status} <> %s LIMIT 1 OFFSET 0)
  AND c.{_C.pick_rank} < %s
  AND NOT EXISTS (SELECT 1 FROM {_D} d WHERE d.{_D.campaign} = c.{_C.campaign}
                  AND d.{_D.contestant_a} = c.{_C.contestant_a} AND d.{_D.contestant_b} = c.{_C.contestant_b}
                  AND d.{_D.closed} LIMIT 1 OFFSET 0)
  {{passed}}
ORDER BY c.{_C.pick_rank}, c.{_C.active_assignments}, c.{_C.order_key}
LIMIT 1
"""


def _pick_normal(*, campaign_id: int, reviewer_id: int, k: int, avoid_prompt_id, passed: list[int]):
    """(id, prompt_id, active, a_left, own_expired) of the comparison to offer, locked, or None.

    A comparison this reviewer already holds, voted, skipped or flagged is never offered to them
    again; one whose lease expired on them may be (they just walked away from it). Rows another
    transaction is claiming are skipped (PostgreSQL), not waited for, and so are the `passed` ids.
    """
    normal, expired = Assignment.Kind.NORMAL.value, Assignment.Status.EXPIRED.value
    passed_sql = f"AND c.{_C.id} NOT IN ({', '.join(['%s'] * len(passed))})" if passed else ""
    sql = _PICK_SQL.format(passed=passed_sql) + row_lock(of="c", skip_locked=True)
    avoid = avoid_prompt_id if avoid_prompt_id is not None else -1
    params = [reviewer_id, normal, expired, campaign_id, k, avoid, reviewer_id, normal, expired, CLOSED_RANK, *passed]
    row = fetch_one(sql, params)
    return None if row is None else (*row[:4], bool(row[4]))


def _claim_normal(*, membership: CampaignReviewer, now) -> Assignment | None:
    campaign = membership.campaign
    k = campaign.votes_per_comparison
    reviewer_id = membership.user_id
    passed: list[int] = []
    for _attempt in range(PICK_ATTEMPTS):
        pick = {"campaign_id": campaign.pk, "reviewer_id": reviewer_id, "k": k, "passed": passed}
        row = _pick_normal(**pick, avoid_prompt_id=membership.last_prompt_id)
        if row is None and membership.last_prompt_id is not None:
            # Only the last prompt's comparisons are left: better the same prompt than nothing.
            row = _pick_normal(**pick, avoid_prompt_id=None)
        if row is None:
            return None
        comparison_id, prompt_id, active, a_left, own_expired = row
        own = None
        if own_expired:
            # Their own expired assignment, leased again below. A late vote on it from another
            # tab locks it and then the comparison (to retake the slot); this transaction holds
            # the comparison, so waiting for the assignment would deadlock. Pass over it instead.
            own = (
                Assignment.objects.select_for_update(skip_locked=True)
                .filter(comparison_id=comparison_id, reviewer_id=reviewer_id, kind=Assignment.Kind.NORMAL)
                .first()
            )
            if own is None or own.status != Assignment.Status.EXPIRED:
                passed.append(comparison_id)
                continue
        a_on_left = _a_goes_left(active=active, a_left=a_left)
        if not _slot_take(comparison_id=comparison_id, k=k, a_on_left=a_on_left):
            passed.append(comparison_id)
            continue
        lease = {
            "status": Assignment.Status.LEASED,
            "a_on_left": a_on_left,
            "leased_at": now,
            "lease_expires_at": now + lease_duration(),
        }
        # The served count and a new lease go out together, one reply awaited (arena/prepared.py).
        with batched():
            _SERVED_NORMAL.send(membership_id=membership.pk, prompt_id=prompt_id)
            if own is None:
                assignment = _lease_new(
                    campaign_id=campaign.pk,
                    comparison_id=comparison_id,
                    reviewer_id=reviewer_id,
                    kind=Assignment.Kind.NORMAL,
                    **lease,
                )
        if own is not None:
            # The same row (and token) is leased again, so an old tab's vote lands on it.
            for field, value in lease.items():
                setattr(own, field, value)
            own.save(update_fields=list(lease))
            assignment = own
        return assignment
    return None


# The walk of `_claim_repeat`, compiled once (arena/prepared.py): building it (two EXISTS
# subqueries) took 1.61 ms of CPU per repeat, filling in the compiled statement 0.007 ms.
# `avoid_prompt_id` -1 avoids none, as in `_pick_normal`.
_REPEAT_PICK = PreparedSelect(
    Assignment,
    lambda s: (
        Assignment.objects.filter(
            reviewer_id=s.reviewer_id,
            campaign_id=s.campaign_id,
            status=Assignment.Status.VOTED,
            kind=Assignment.Kind.NORMAL,
            comparison__excluded=False,
        )
        .filter(
            ~Exists(
                Assignment.objects.filter(
                    comparison_id=OuterRef("comparison_id"), reviewer_id=s.reviewer_id, kind=Assignment.Kind.REPEAT
                )
            )
        )
        # Not on a decided pair of an adaptive campaign: its comparisons go to no one any more.
        .filter(
            ~Exists(
                PairDecision.objects.filter(
                    campaign_id=s.campaign_id,
                    contestant_a_id=OuterRef("comparison__contestant_a_id"),
                    contestant_b_id=OuterRef("comparison__contestant_b_id"),
                    closed=True,
                )
            )
        )
        .exclude(comparison__prompt_id=s.avoid_prompt_id)
        .order_by("leased_at")
        .values_list("comparison_id", "comparison__prompt_id", "a_on_left")[:1]
    ),
)


def _claim_repeat(*, membership: CampaignReviewer, now) -> Assignment | None:
    """A comparison the reviewer already voted on, shown again with the sides swapped (a
    consistent reviewer then presses the other side). Never counted; one repeat per comparison.

    The oldest of their counted votes not yet repeated, on a comparison still in the results,
    not on the prompt they just saw: the walk is over their own voted assignments in this
    campaign, oldest first (index reviewer, campaign, status, leased_at), and stops at the first
    one not yet repeated.
    """
    reviewer_id = membership.user_id
    avoid = membership.last_prompt_id if membership.last_prompt_id is not None else -1
    rows = _REPEAT_PICK.rows(reviewer_id=reviewer_id, campaign_id=membership.campaign_id, avoid_prompt_id=avoid)
    if not rows:
        return None
    comparison_id, prompt_id, a_on_left = rows[0]
    with batched():
        _SERVED_REPEAT.send(membership_id=membership.pk, prompt_id=prompt_id)
        assignment = _lease_new(
            campaign_id=membership.campaign_id,
            comparison_id=comparison_id,
            reviewer_id=reviewer_id,
            kind=Assignment.Kind.REPEAT,
            a_on_left=not a_on_left,
            status=Assignment.Status.LEASED,
            leased_at=now,
            lease_expires_at=now + lease_duration(),
        )
    return assignment


def assignment_next_for_reviewer(*, campaign_id: int, reviewer_id: int) -> Assignment | None:
    """The reviewer's next item in this campaign, or None when nothing is left for them.

    NotFound (404) unless the campaign is open and the user is an included reviewer of it; the
    check is made on the membership row this transaction locks, not by a query of its own. An
    unexpired lease they already hold is returned again (a reload shows the same item).
    """
    _expire_if_due(campaign_id)
    now = timezone.now()
    with transaction.atomic():
        membership = _membership_locked(campaign_id=campaign_id, reviewer_id=reviewer_id, now=now)
        if membership is None or membership.excluded or membership.campaign.status != Campaign.Status.OPEN:
            raise NotFound("no such campaign")
        if membership.current_id is not None:
            return Assignment.objects.get(pk=membership.current_id)
        if _repeat_due(membership) and (repeat := _claim_repeat(membership=membership, now=now)):
            return repeat
        return _claim_normal(membership=membership, now=now)


# --- Skip and flag ----------------------------------------------------------------------------


def _give_up(*, token: str, reviewer_id: int, status: Assignment.Status, reason: str = "") -> Assignment:
    with transaction.atomic():
        assignment = Assignment.objects.select_for_update().filter(token=token, reviewer_id=reviewer_id).first()
        if assignment is None:
            raise NotFound("no such item")
        if assignment.status == Assignment.Status.VOTED:
            raise Conflict("this item is already voted")
        if assignment.status == status:
            return assignment  # the same press twice
        if assignment.status in (Assignment.Status.SKIPPED, Assignment.Status.FLAGGED):
            raise Conflict(f"this item is already {assignment.status}")
        if assignment.status == Assignment.Status.LEASED and assignment.kind == Assignment.Kind.NORMAL:
            release_slots([(assignment.comparison_id, assignment.a_on_left)])
        assignment.status = status
        assignment.flag_reason = reason
        assignment.save(update_fields=["status", "flag_reason"])
    return assignment


def assignment_skip(*, token: str, reviewer_id: int) -> Assignment:
    """Give the item back at once; this reviewer is not offered it again."""
    return _give_up(token=token, reviewer_id=reviewer_id, status=Assignment.Status.SKIPPED)


def assignment_flag(*, token: str, reviewer_id: int, reason: str) -> Assignment:
    """Report a broken or harmful item: it goes back to the pool and the lead sees the reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("say what is wrong with this item", field="reason")
    if len(reason) > FLAG_REASON_MAX:
        raise ValidationFailed(f"the reason is longer than {FLAG_REASON_MAX} characters", field="reason")
    return _give_up(token=token, reviewer_id=reviewer_id, status=Assignment.Status.FLAGGED, reason=reason)
