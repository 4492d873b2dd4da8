"""The assignment engine: who judges which comparison next, with which side on the left.

Rules, each settled in the database rather than in Python:
- Exactly k (`votes_per_comparison`) reviewers per comparison, never more.
  `Comparison.active_assignments` counts the live normal assignments (leased or voted). A claim
  is a conditional `UPDATE ... WHERE active_assignments < k`; the unique constraint on
  (comparison, reviewer) for normal assignments stops one reviewer taking a comparison twice.
- On PostgreSQL candidates are read with `SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent
  reviewers take different rows instead of queueing on the same one. On SQLite the settings
  open every transaction with BEGIN IMMEDIATE, so writers are serialised and the same code is
  correct (just not parallel).
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
The query count of `assignment_next_for_reviewer` does not depend on the campaign's size: each
step is one statement walking an index (campaign, excluded, active_assignments, order_key).
"""

import secrets
import time
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from ..db import adapt_datetime, hot_cursor, is_postgres
from ..errors import Conflict, NotFound, ValidationFailed
from ..models import Assignment, Campaign, CampaignReviewer, Comparison, new_assignment_token
from ..review_items import item_select
from ..tokens import TokenReviewer, reviewer_match

EXPIRY_BATCH = 100
# Lazy expiry runs at most this often per process and campaign (settings may override it; the
# tests set 0). Leases last minutes, so a few seconds of delay returns nothing noticeably late,
# and most "next" calls skip a transaction.
EXPIRY_EVERY_SECONDS = 5.0
_last_expiry: dict[int, float] = {}
FLAG_REASON_MAX = 1000


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


def _side_keeps_balance(*, active: int, a_left: int, a_on_left: bool) -> bool:
    """Whether adding one assignment on this side keeps A's left/right split within one.

    A move that brings an uneven split (after releases) closer to even is allowed too.
    """
    before = abs(2 * a_left - active)
    after = abs(2 * (a_left + (1 if a_on_left else 0)) - (active + 1))
    return after <= 1 or after < before


def slot_retake(*, assignment: Assignment) -> bool:
    """Take a slot back for an expired normal assignment (a late vote), if k is not reached.

    Must run inside the caller's transaction. The comparison row is locked, so the check and
    the update see the same counts.
    """
    k = assignment.campaign.votes_per_comparison
    row = (
        Comparison.objects.select_for_update()
        .filter(pk=assignment.comparison_id)
        .values("active_assignments", "a_left_count")
        .first()
    )
    if row is None or row["active_assignments"] >= k:
        return False
    if not _side_keeps_balance(
        active=row["active_assignments"], a_left=row["a_left_count"], a_on_left=assignment.a_on_left
    ):
        return False
    Comparison.objects.filter(pk=assignment.comparison_id).update(
        active_assignments=F("active_assignments") + 1,
        a_left_count=F("a_left_count") + (1 if assignment.a_on_left else 0),
    )
    return True


# --- Expiry -----------------------------------------------------------------------------------


def assignments_expire(*, campaign: Campaign | int | None = None, limit: int = EXPIRY_BATCH) -> int:
    """Expire overdue leases (a bounded batch) and return their slots to the pool.

    `campaign` (an instance or an id) limits it to one campaign.
    """
    now = timezone.now()
    with transaction.atomic():
        overdue = Assignment.objects.filter(status=Assignment.Status.LEASED, lease_expires_at__lte=now)
        if campaign is not None:
            overdue = overdue.filter(campaign_id=getattr(campaign, "pk", campaign))
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


# --- Next -------------------------------------------------------------------------------------


def _repeat_due(membership: CampaignReviewer) -> bool:
    share = settings.REVIEW_REPEAT_SHARE
    if share <= 0:
        return False
    # Deterministic: after 1/share normal items, one repeat is due, and so on.
    return membership.repeats_served < int(membership.normal_served * share)


# "next" is the hot path of review, and the ORM spends 1-2 ms of CPU building each of its larger
# statements (more than PostgreSQL spends running them), so its two reads are written as SQL.
# Table and column names come from the models; the statements run on PostgreSQL and SQLite.
_A, _C, _M, _K = (m._meta.db_table for m in (Assignment, Comparison, CampaignReviewer, Campaign))
# `OFFSET 0` keeps each EXISTS a per-row probe of the unique index (comparison, reviewer): without
# it PostgreSQL may turn NOT EXISTS into an anti-join that reads every assignment the reviewer
# ever had (or the whole index), which grows with the campaign. With it, the walk down the
# (campaign, excluded, active_assignments, order_key) index stops at the first free comparison.
_PICK_SQL = f"""
SELECT c.id, c.prompt_id, c.active_assignments, c.a_left_count,
       EXISTS (SELECT 1 FROM {_A} h WHERE h.comparison_id = c.id AND h.reviewer_id = %s
               AND h.kind = 'normal' AND h.status = 'expired' LIMIT 1 OFFSET 0)
FROM {_C} c
WHERE c.campaign_id = %s AND NOT c.excluded AND c.active_assignments < %s AND c.prompt_id <> %s
  AND NOT EXISTS (SELECT 1 FROM {_A} h WHERE h.comparison_id = c.id AND h.reviewer_id = %s
                  AND h.kind = 'normal' AND h.status <> 'expired' LIMIT 1 OFFSET 0)
ORDER BY c.active_assignments, c.order_key
LIMIT 1"""


def _pick_normal(*, campaign: Campaign, reviewer, avoid_prompt_id: int | None, passed: tuple[int, ...] = ()):
    """(id, prompt_id, active, a_left, own_expired) of the comparison to offer, locked, or None.

    A comparison this reviewer already holds, voted, skipped or flagged is never offered to them
    again; one whose lease expired on them may be (they just walked away from it). Rows another
    transaction is claiming are skipped (PostgreSQL), not waited for, and so are the `passed` ids.
    """
    reviewer_id = getattr(reviewer, "pk", reviewer)
    sql = _PICK_SQL
    if passed:
        sql = sql.replace("ORDER BY", f"AND c.id NOT IN ({', '.join(['%s'] * len(passed))})\nORDER BY")
    sql += " FOR UPDATE OF c SKIP LOCKED" if is_postgres() else ""
    avoid = avoid_prompt_id if avoid_prompt_id is not None else -1
    with hot_cursor() as cursor:
        params = [reviewer_id, campaign.pk, campaign.votes_per_comparison, avoid, reviewer_id, *passed]
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    return (*row[:4], bool(row[4]))


_CLAIM_SQL = f"""
UPDATE {_C} SET active_assignments = active_assignments + 1, a_left_count = a_left_count + %s
WHERE id = %s AND active_assignments < %s"""
_LEASE_FIELDS = [
    "token",
    "campaign_id",
    "comparison_id",
    "reviewer_id",
    "kind",
    "a_on_left",
    "status",
    "leased_at",
    "lease_expires_at",
    "flag_reason",
]
_LEASE_SQL = (
    f"INSERT INTO {_A} ({', '.join(_LEASE_FIELDS)}) VALUES ({', '.join(['%s'] * len(_LEASE_FIELDS))}) RETURNING id"
)
_SERVED_SQL = f"UPDATE {_M} SET normal_served = normal_served + 1, last_prompt_id = %s WHERE id = %s"


def _insert_lease(*, campaign_id, comparison_id, reviewer_id, kind, a_on_left, leased_at, lease_expires_at):
    """A new leased assignment row (one INSERT), returned as a model instance without a re-read."""
    values = {
        "token": new_assignment_token(),
        "campaign_id": campaign_id,
        "comparison_id": comparison_id,
        "reviewer_id": reviewer_id,
        "kind": kind,
        "a_on_left": a_on_left,
        "status": Assignment.Status.LEASED.value,
        "leased_at": leased_at,
        "lease_expires_at": lease_expires_at,
        "flag_reason": "",
    }
    params = [adapt_datetime(values[f]) if f.endswith("_at") else values[f] for f in _LEASE_FIELDS]
    with hot_cursor() as cursor:
        cursor.execute(_LEASE_SQL, params)
        pk = cursor.fetchone()[0]
    return Assignment.from_db(DEFAULT_DB_ALIAS, ["id", *_LEASE_FIELDS], [pk, *(values[f] for f in _LEASE_FIELDS)])


def _claim_normal(*, campaign: Campaign, reviewer, membership: CampaignReviewer, now) -> Assignment | None:
    k = campaign.votes_per_comparison
    reviewer_id = getattr(reviewer, "pk", reviewer)
    passed: list[int] = []
    for _attempt in range(3):
        row = _pick_normal(
            campaign=campaign, reviewer=reviewer, avoid_prompt_id=membership.last_prompt_id, passed=tuple(passed)
        )
        if row is None and membership.last_prompt_id is not None:
            # Only the last prompt's comparisons are left: better the same prompt than nothing.
            row = _pick_normal(campaign=campaign, reviewer=reviewer, avoid_prompt_id=None, passed=tuple(passed))
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
                .filter(comparison_id=comparison_id, reviewer=reviewer, kind=Assignment.Kind.NORMAL)
                .first()
            )
            if own is None or own.status != Assignment.Status.EXPIRED:
                passed.append(comparison_id)
                continue
        right = active - a_left
        a_on_left = a_left < right if a_left != right else secrets.randbelow(2) == 0
        # The row is locked (PostgreSQL) or the transaction is serialised (SQLite); the
        # condition still guards k in case a caller runs this outside those guarantees.
        # The claim's three writes are SQL, like the reads: the ORM cost more CPU than them.
        with hot_cursor() as cursor:
            cursor.execute(_CLAIM_SQL, [1 if a_on_left else 0, comparison_id, k])
            if cursor.rowcount != 1:
                passed.append(comparison_id)
                continue
        lease = {"leased_at": now, "lease_expires_at": now + lease_duration(), "a_on_left": a_on_left}
        if own is not None:
            # The same row (and token) is leased again, so an old tab's vote lands on it.
            for field, value in lease.items():
                setattr(own, field, value)
            own.status = Assignment.Status.LEASED
            own.save(update_fields=[*lease, "status"])
            assignment = own
        else:
            assignment = _insert_lease(
                campaign_id=campaign.pk, comparison_id=comparison_id, reviewer_id=reviewer_id, kind="normal", **lease
            )
        with hot_cursor() as cursor:
            cursor.execute(_SERVED_SQL, [prompt_id, membership.pk])
        return assignment
    return None


# The oldest of the reviewer's counted votes not yet repeated, on a comparison still in the
# results, preferably not on the prompt they just saw. The walk is over the reviewer's own voted
# assignments in this campaign, oldest first (index reviewer, campaign, status, leased_at), and
# stops at the first one not yet repeated: no sort of their whole history.
_REPEAT_PICK_SQL = f"""
SELECT a.comparison_id, c.prompt_id, a.a_on_left
FROM {_A} a JOIN {_C} c ON c.id = a.comparison_id
WHERE a.reviewer_id = %s AND a.campaign_id = %s AND a.status = 'voted' AND a.kind = 'normal'
  AND NOT c.excluded AND c.prompt_id <> %s
  AND NOT EXISTS (SELECT 1 FROM {_A} r WHERE r.comparison_id = a.comparison_id AND r.reviewer_id = a.reviewer_id
                  AND r.kind = 'repeat')
ORDER BY a.leased_at
LIMIT 1"""
_REPEAT_SERVED_SQL = f"UPDATE {_M} SET repeats_served = repeats_served + 1, last_prompt_id = %s WHERE id = %s"


def _claim_repeat(*, campaign: Campaign, reviewer, membership: CampaignReviewer, now) -> Assignment | None:
    """A comparison the reviewer already voted on, shown again with the sides swapped (a
    consistent reviewer then presses the other side). Never counted; one repeat per comparison."""
    reviewer_id = getattr(reviewer, "pk", reviewer)
    avoid = membership.last_prompt_id if membership.last_prompt_id is not None else -1
    with hot_cursor() as cursor:
        cursor.execute(_REPEAT_PICK_SQL, [reviewer_id, campaign.pk, avoid])
        row = cursor.fetchone()
    if row is None:
        return None
    comparison_id, prompt_id, a_on_left = row
    assignment = _insert_lease(
        campaign_id=campaign.pk,
        comparison_id=comparison_id,
        reviewer_id=reviewer_id,
        kind="repeat",
        a_on_left=not bool(a_on_left),
        leased_at=now,
        lease_expires_at=now + lease_duration(),
    )
    with hot_cursor() as cursor:
        cursor.execute(_REPEAT_SERVED_SQL, [prompt_id, membership.pk])
    return assignment


def _expire_if_due(campaign_id: int) -> None:
    every = getattr(settings, "REVIEW_EXPIRY_EVERY_SECONDS", EXPIRY_EVERY_SECONDS)
    if time.monotonic() - _last_expiry.get(campaign_id, -1e9) >= every:
        if len(_last_expiry) > 10_000:  # ids come from requests: keep the table bounded
            _last_expiry.clear()
        _last_expiry[campaign_id] = time.monotonic()
        assignments_expire(campaign=campaign_id)


_MEMBERSHIP_FIELDS = ["id", "campaign_id", "user_id", "excluded", "last_prompt_id", "normal_served", "repeats_served"]
_CAMPAIGN_FIELDS = ["id", "status", "votes_per_comparison"]
_LOCK_SQL = f"""
SELECT {", ".join(f"m.{f}" for f in _MEMBERSHIP_FIELDS)}, {", ".join(f"k.{f}" for f in _CAMPAIGN_FIELDS)},
       (SELECT a.id FROM {_A} a WHERE a.campaign_id = m.campaign_id AND a.reviewer_id = m.user_id
        AND a.status = 'leased' AND a.lease_expires_at > %s ORDER BY a.leased_at DESC LIMIT 1)
FROM {_M} m JOIN {_K} k ON k.id = m.campaign_id
WHERE m.campaign_id = %s AND m.user_id = """


def _lock_membership(*, campaign_id: int, reviewer, now) -> CampaignReviewer | None:
    """The reviewer's membership row, locked, with its campaign and their current lease's id.

    One statement instead of three (campaign access, lock, "do they hold a lease already").
    `current_id` is the newest unexpired lease they hold, or None. The instances carry only the
    columns "next" needs; any other field is loaded on access (Django's deferred fields).
    """
    user_sql, user_param = reviewer_match(reviewer)  # an id, or an API token matched right here
    sql = _LOCK_SQL + user_sql + (" FOR UPDATE OF m" if is_postgres() else "")
    params = [adapt_datetime(now), campaign_id, user_param]
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    if isinstance(reviewer, TokenReviewer):
        reviewer.user_id = row[_MEMBERSHIP_FIELDS.index("user_id")]
    n = len(_MEMBERSHIP_FIELDS)
    values = list(row[:n])
    values[3] = bool(values[3])  # excluded: SQLite returns 0/1 to a raw cursor
    membership = CampaignReviewer.from_db(DEFAULT_DB_ALIAS, _MEMBERSHIP_FIELDS, values)
    membership.campaign = Campaign.from_db(DEFAULT_DB_ALIAS, _CAMPAIGN_FIELDS, list(row[n : n + len(_CAMPAIGN_FIELDS)]))
    membership.current_id = row[-1]
    return membership


# PostgreSQL, the usual "next" in one statement and one round trip (no BEGIN/COMMIT): the
# reviewer's membership locked, and the checks that make the request ordinary (an included
# member of an open campaign, holding no live lease, no repeat check due), then the pick, the
# claim, the lease, the counters and the item, as the general path does them. Anything else
# (a lease to hand back, a repeat due, nothing left but the last prompt, no access) writes
# nothing and returns no row, and the general path answers. One difference: this pick passes
# over comparisons whose lease expired on this reviewer, so the general path offers those
# again (the same row and token) only once nothing else is left for them.
# The pick's uncorrelated `EXISTS (SELECT 1 FROM m)` is a one-time filter: no membership, no scan.
_NEXT_FAST_SQL = f"""
WITH m AS (
  SELECT m.id, m.user_id, m.last_prompt_id, k.votes_per_comparison AS k
  FROM {_M} m JOIN {_K} k ON k.id = m.campaign_id
  WHERE m.campaign_id = %s AND NOT m.excluded AND k.status = 'open'
    AND (%s::float8 <= 0 OR m.repeats_served >= floor(m.normal_served * %s::float8))
    AND NOT EXISTS (SELECT 1 FROM {_A} a WHERE a.campaign_id = m.campaign_id AND a.reviewer_id = m.user_id
                    AND a.status = 'leased' AND a.lease_expires_at > %s)
    AND m.user_id = {{user}}
  FOR UPDATE OF m),
pick AS (
  SELECT c.id, c.prompt_id,
         CASE WHEN c.a_left_count * 2 < c.active_assignments THEN true
              WHEN c.a_left_count * 2 > c.active_assignments THEN false ELSE %s::bool END AS a_on_left
  FROM {_C} c
  WHERE EXISTS (SELECT 1 FROM m) AND c.campaign_id = %s AND NOT c.excluded
    AND c.active_assignments < (SELECT k FROM m) AND c.prompt_id <> COALESCE((SELECT last_prompt_id FROM m), -1)
    AND NOT EXISTS (SELECT 1 FROM {_A} h WHERE h.comparison_id = c.id AND h.reviewer_id = (SELECT user_id FROM m)
                    AND h.kind = 'normal' LIMIT 1 OFFSET 0)
  ORDER BY c.active_assignments, c.order_key
  LIMIT 1
  FOR UPDATE OF c SKIP LOCKED),
claim AS (
  UPDATE {_C} c SET active_assignments = c.active_assignments + 1,
                    a_left_count = c.a_left_count + CASE WHEN pick.a_on_left THEN 1 ELSE 0 END
  FROM pick WHERE c.id = pick.id RETURNING c.id),
lease AS (
  INSERT INTO {_A} ({", ".join(_LEASE_FIELDS)})
  SELECT %s, %s, claim.id, m.user_id, 'normal', pick.a_on_left, 'leased', %s, %s, ''
  FROM claim JOIN pick ON pick.id = claim.id CROSS JOIN m
  RETURNING id, token, a_on_left, campaign_id, reviewer_id, comparison_id),
served AS (
  UPDATE {_M} x SET normal_served = x.normal_served + 1, last_prompt_id = pick.prompt_id
  FROM m, pick WHERE x.id = m.id AND EXISTS (SELECT 1 FROM claim))
{item_select("lease", lead="a.id, a.comparison_id, ")}"""
assert _LEASE_FIELDS == [
    *("token", "campaign_id", "comparison_id", "reviewer_id", "kind"),
    *("a_on_left", "status", "leased_at", "lease_expires_at", "flag_reason"),
], "_NEXT_FAST_SQL's INSERT lists the values in this order"


def _next_fast(*, campaign_id: int, reviewer, now) -> Assignment | None:
    """The one-statement "next" on PostgreSQL, or None when the request is not an ordinary one."""
    user_sql, user_param = reviewer_match(reviewer)
    share = float(settings.REVIEW_REPEAT_SHARE)
    token, expires = new_assignment_token(), now + lease_duration()
    coin = secrets.randbelow(2) == 0  # A's side when the comparison's sides are even
    params = [campaign_id, share, share, now, user_param, coin, campaign_id, token, campaign_id, now, expires]
    with hot_cursor() as cursor:
        cursor.execute(_NEXT_FAST_SQL.replace("{user}", user_sql), params)
        row = cursor.fetchone()
    if row is None:
        return None
    # The lead columns (a.id, a.comparison_id), then item_select's (a.token, a.a_on_left, ...).
    pk, comparison_id, _token, a_on_left, _campaign, reviewer_id = row[:6]
    if isinstance(reviewer, TokenReviewer):
        reviewer.user_id = reviewer_id
    values = [token, campaign_id, comparison_id, reviewer_id, "normal", a_on_left, "leased", now, expires, ""]
    assignment = Assignment.from_db(DEFAULT_DB_ALIAS, ["id", *_LEASE_FIELDS], [pk, *values])
    assignment.item_row = row[2:]  # item_select's columns, read by the same statement
    return assignment


def _next_locked(*, membership: CampaignReviewer, reviewer, now) -> Assignment | None:
    """The body of "next", inside the transaction that holds the membership lock."""
    campaign = membership.campaign
    if membership.current_id is not None:
        return Assignment.objects.get(pk=membership.current_id)
    if _repeat_due(membership):
        repeat = _claim_repeat(campaign=campaign, reviewer=reviewer, membership=membership, now=now)
        if repeat is not None:
            return repeat
    return _claim_normal(campaign=campaign, reviewer=reviewer, membership=membership, now=now)


def assignment_next_for_reviewer(*, campaign: Campaign, reviewer) -> Assignment | None:
    """The reviewer's next item in this campaign, or None when nothing is left for them.

    An unexpired lease they already hold is returned again (a reload shows the same item).
    The caller checks access (`access_campaign_for_reviewer`); this still refuses a reviewer
    who is not (or no longer) a member.
    """
    if campaign.status != Campaign.Status.OPEN:
        return None
    _expire_if_due(campaign.pk)
    now = timezone.now()
    if is_postgres() and (fast := _next_fast(campaign_id=campaign.pk, reviewer=reviewer, now=now)):
        return fast
    with transaction.atomic():
        membership = _lock_membership(campaign_id=campaign.pk, reviewer=reviewer, now=now)
        if membership is None or membership.excluded:
            raise NotFound("no such campaign")
        return _next_locked(membership=membership, reviewer=membership.user_id, now=now)


def access_next_assignment(*, campaign_id, reviewer) -> Assignment | None:
    """`assignment_next_for_reviewer` with the reviewer's access check folded in (the API's path).

    NotFound (404) unless the campaign is open and the user is an included reviewer of it,
    exactly like `access_campaign_for_reviewer`; the campaign is read with the membership lock
    instead of by a query of its own.
    """
    try:
        campaign_id = int(campaign_id)
    except (TypeError, ValueError):
        raise NotFound("no such campaign") from None
    _expire_if_due(campaign_id)
    now = timezone.now()
    if is_postgres() and (fast := _next_fast(campaign_id=campaign_id, reviewer=reviewer, now=now)):
        return fast
    with transaction.atomic():
        membership = _lock_membership(campaign_id=campaign_id, reviewer=reviewer, now=now)
        if membership is None or membership.excluded or membership.campaign.status != Campaign.Status.OPEN:
            raise NotFound("no such campaign")
        return _next_locked(membership=membership, reviewer=membership.user_id, now=now)


# --- Skip and flag ----------------------------------------------------------------------------


def _lock_own(*, token: str, reviewer) -> Assignment:
    try:
        return (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("campaign")
            .get(token=str(token), reviewer=reviewer)
        )
    except Assignment.DoesNotExist:
        raise NotFound("no such item") from None


def _give_up(*, token: str, reviewer, status: str, reason: str = "") -> Assignment:
    with transaction.atomic():
        assignment = _lock_own(token=token, reviewer=reviewer)
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


def assignment_skip(*, token: str, reviewer) -> Assignment:
    """Give the item back at once; this reviewer is not offered it again."""
    return _give_up(token=token, reviewer=reviewer, status=Assignment.Status.SKIPPED)


def assignment_flag(*, token: str, reviewer, reason: str) -> Assignment:
    """Report a broken or harmful item: it goes back to the pool and the lead sees the reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("say what is wrong with this item", field="reason")
    if len(reason) > FLAG_REASON_MAX:
        raise ValidationFailed(f"the reason is longer than {FLAG_REASON_MAX} characters", field="reason")
    return _give_up(token=token, reviewer=reviewer, status=Assignment.Status.FLAGGED, reason=reason)
