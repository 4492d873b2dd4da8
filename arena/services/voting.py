"""Votes: one per assignment, never lost or doubled, idempotent for the same choice.

The assignment row is locked first (`SELECT ... FOR UPDATE`), so a vote sent twice at once is
handled one after the other: the first creates it (201), the second finds it (200 if the
choice is the same, 409 if not). The vote's primary key is the assignment (one-to-one), and
`Comparison.votes_count` moves by a conditional UPDATE that never passes k.
"""

import math
from datetime import UTC

from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..db import adapt_datetime, hot_cursor, is_postgres
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..models import Assignment, Campaign, CampaignReviewer, Comparison, Vote
from ..tokens import TokenReviewer, reviewer_match
from .assignment import slot_retake

COMMENT_MAX = 5000
# A client's own timer (which can leave out time the tab was hidden) is trusted only when it is
# no longer than the server's clock allows, plus this much for clock and network jitter.
CLIENT_SECONDS_SLACK = 2.0
FULL = "this item already has all its votes"


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


_A, _K, _M, _C, _V = (m._meta.db_table for m in (Assignment, Campaign, CampaignReviewer, Comparison, Vote))
# Vote is the hot path of review, and the ORM spent more CPU building these statements than the
# database spent running them, so they are written as SQL (names from the models; the same SQL
# runs on PostgreSQL and SQLite). The first locks the assignment and reads, with it, everything
# the checks need: its campaign and whether the voter is an included member.
_LOCK_SQL = f"""
SELECT a.id, a.status, a.kind, a.a_on_left, a.comparison_id, a.leased_at, a.campaign_id, a.reviewer_id,
       k.status, k.votes_per_comparison, k.min_seconds_per_vote,
       EXISTS (SELECT 1 FROM {_M} m WHERE m.campaign_id = a.campaign_id AND m.user_id = a.reviewer_id
               AND NOT m.excluded)
FROM {_A} a JOIN {_K} k ON k.id = a.campaign_id
WHERE a.token = %s AND a.reviewer_id = """
# Never past k: the count moves only while it is below k, and the row lock it takes orders
# concurrent votes on one comparison.
_FILL_SQL = f"UPDATE {_C} SET votes_count = votes_count + 1 WHERE id = %s AND votes_count < %s"
_VOTED_SQL = f"UPDATE {_A} SET status = 'voted' WHERE id = %s"
_VOTE_FIELDS = [
    "assignment_id",
    "campaign_id",
    "comparison_id",
    "reviewer_id",
    "choice",
    "resolved",
    "a_on_left",
    "counted",
    "comment",
    "seconds_on_task",
    "too_fast",
    "created_at",
]
_INSERT_SQL = f"INSERT INTO {_V} ({', '.join(_VOTE_FIELDS)}) VALUES ({', '.join(['%s'] * len(_VOTE_FIELDS))})"
# PostgreSQL: the count, the status and the vote in one statement (one round trip instead of
# three). The status and the vote are written only if the count moved (or the vote is not
# counted); the number of votes inserted (0 or 1) comes back.
_RECORD_SQL = f"""
WITH fill AS (
  UPDATE {_C} SET votes_count = votes_count + 1
  WHERE %s AND id = %s AND votes_count < %s RETURNING id),
voted AS (
  UPDATE {_A} SET status = 'voted' WHERE id = %s AND (NOT %s OR EXISTS (SELECT 1 FROM fill)) RETURNING id),
vote AS (
  INSERT INTO {_V} ({", ".join(_VOTE_FIELDS)}) SELECT {", ".join(["%s"] * len(_VOTE_FIELDS))} FROM voted
  RETURNING assignment_id)
SELECT COUNT(*) FROM vote"""


def _aware(value):
    """A timestamp read by a raw cursor as the ORM would give it (SQLite: naive UTC, or text)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


def vote_submit(
    *, token: str, reviewer, choice: str, comment: str = "", seconds_on_task: float | None = None
) -> tuple[Vote, bool]:
    """Record the reviewer's choice on their assignment. Returns (vote, created).

    Statements: the locking read, then the conditional count (counted votes only), the status
    and the insert (one statement on PostgreSQL, three on SQLite); a vote repeated or refused
    stops after the first.
    """
    if choice not in Vote.Choice.values:
        raise ValidationFailed(f"choice must be one of {', '.join(Vote.Choice.values)}", field="choice")
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise ValidationFailed(f"the comment is longer than {COMMENT_MAX} characters", field="comment")
    now = timezone.now()
    user_sql, user_param = reviewer_match(reviewer)  # an id, or an API token matched right here
    lock = _LOCK_SQL + user_sql + (" FOR UPDATE OF a" if is_postgres() else "")
    with transaction.atomic(), hot_cursor() as cursor:
        cursor.execute(lock, [str(token), user_param])
        row = cursor.fetchone()
        if row is None:
            raise NotFound("no such item")
        (assignment_id, status, kind, a_on_left, comparison_id, leased_at, campaign_id, reviewer_id) = row[:8]
        (campaign_status, k, min_seconds, member) = row[8:]
        if isinstance(reviewer, TokenReviewer):
            reviewer.user_id = reviewer_id
        a_on_left = bool(a_on_left)
        if status == Assignment.Status.VOTED:
            existing = Vote.objects.get(assignment_id=assignment_id)
            if existing.choice == choice:
                return existing, False
            raise Conflict("you already voted differently on this item")
        if status in (Assignment.Status.SKIPPED, Assignment.Status.FLAGGED):
            raise Conflict(f"this item was {status}; it can no longer be voted on")
        if campaign_status != Campaign.Status.OPEN:
            raise Conflict("this campaign is not open for review")
        if not member:
            raise Forbidden("you are not a reviewer of this campaign")
        counted = kind == Assignment.Kind.NORMAL
        if counted:
            # A lease that expired gave its slot back; a late vote may take it again only if
            # nobody else filled the comparison meanwhile.
            if status == Assignment.Status.EXPIRED:
                late = Assignment(id=assignment_id, comparison_id=comparison_id, a_on_left=a_on_left)
                late.campaign = Campaign(id=campaign_id, votes_per_comparison=k)
                if not slot_retake(assignment=late):
                    raise Conflict("this item expired and was given to someone else; load the next one")
        server_seconds = max(0.0, (now - _aware(leased_at)).total_seconds())
        seconds = round(_seconds_on_task(server_seconds=server_seconds, client_seconds=seconds_on_task), 3)
        values = {
            "assignment_id": assignment_id,
            "campaign_id": campaign_id,
            "comparison_id": comparison_id,
            "reviewer_id": reviewer_id,
            "choice": choice,
            "resolved": resolve_choice(choice=choice, a_on_left=a_on_left),
            "a_on_left": a_on_left,
            "counted": counted,
            "comment": comment,
            "seconds_on_task": seconds,
            "too_fast": seconds < min_seconds,
            "created_at": now,
        }
        params = [values[f] for f in _VOTE_FIELDS]
        params[-1] = adapt_datetime(now)
        if is_postgres():
            cursor.execute(_RECORD_SQL, [counted, comparison_id, k, assignment_id, counted, *params])
            if cursor.fetchone()[0] != 1:
                raise Conflict(FULL)
        else:
            if counted:
                cursor.execute(_FILL_SQL, [comparison_id, k])
                if cursor.rowcount != 1:
                    raise Conflict(FULL)
            cursor.execute(_VOTED_SQL, [assignment_id])
            cursor.execute(_INSERT_SQL, params)
    return Vote.from_db(DEFAULT_DB_ALIAS, _VOTE_FIELDS, [values[f] for f in _VOTE_FIELDS]), True
