"""Votes: one per assignment, never lost or doubled, idempotent for the same choice.

The assignment row is locked first (`SELECT ... FOR UPDATE`), so a vote sent twice at once is
handled one after the other: the first creates it (201), the second finds it (200 if the
choice is the same, 409 if not). The vote's primary key is the assignment (one-to-one), and
`Comparison.votes_count` moves by a conditional UPDATE that never passes k.
"""

import math
from datetime import UTC
from decimal import ROUND_HALF_UP, Decimal

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
_MS = Decimal("0.001")


def resolve_choice(*, choice: str, a_on_left: bool) -> str:
    """What was shown (left/right) turned into what it means for the pair (a/b)."""
    if choice == Vote.Choice.LEFT:
        return Vote.Resolved.A if a_on_left else Vote.Resolved.B
    if choice == Vote.Choice.RIGHT:
        return Vote.Resolved.B if a_on_left else Vote.Resolved.A
    return choice  # tie, both_bad


def _client_seconds(value) -> float | None:
    try:
        client = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return client if client is not None and math.isfinite(client) else None


def _round_ms(value: Decimal) -> Decimal:
    return value.quantize(_MS, rounding=ROUND_HALF_UP)


def time_on_task(*, leased_at, now, client_seconds) -> float:
    """Seconds on the item, to the millisecond: the client's own timer when the server's clock
    allows it (see CLIENT_SECONDS_SLACK), else the server's lease-to-vote time.

    Exact decimal arithmetic rounded half up, the same rule PostgreSQL's `round(numeric, 3)`
    applies in the one-statement vote (`_FAST_SQL`), so both paths store the same number.
    """
    delta = now - leased_at
    server = max(Decimal(0), Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / 1_000_000)
    client = _client_seconds(client_seconds)
    if client is not None and 0 <= client <= float(server) + CLIENT_SECONDS_SLACK:
        return float(_round_ms(Decimal(repr(client))))
    return float(_round_ms(server))


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

# PostgreSQL, the usual vote in one statement and one round trip (no BEGIN/COMMIT): the lock,
# the checks that make a vote ordinary (a live lease of this reviewer, campaign open, included
# member) and the three writes. Anything else (a repeated vote, an expired lease, a full
# comparison, any refusal) writes nothing and returns no row, and `vote_submit` then takes the
# general path, which gives every answer. Time on task is `time_on_task`'s rule in SQL.
# Parameters: now; then (client, client, slack, client rounded), from `seconds_params`.
SERVER_SECONDS_SQL = "GREATEST(0, EXTRACT(EPOCH FROM (%s::timestamptz - {leased_at})))"
SECONDS_SQL = (
    "(CASE WHEN %s::float8 >= 0 AND %s::float8 <= {server}::float8 + %s::float8"
    " THEN %s::numeric ELSE round({server}, 3) END)::float8"
)


def seconds_params(client_seconds) -> list:
    client = _client_seconds(client_seconds)
    client_ms = None if client is None else _round_ms(Decimal(repr(client)))
    return [client, client, CLIENT_SECONDS_SLACK, client_ms]


_FAST_SQL = f"""
WITH a AS (
  SELECT a.id, a.kind, a.a_on_left, a.comparison_id, a.campaign_id, a.reviewer_id,
         k.votes_per_comparison AS k, k.min_seconds_per_vote AS min_seconds,
         {SERVER_SECONDS_SQL.format(leased_at="a.leased_at")} AS server_seconds
  FROM {_A} a JOIN {_K} k ON k.id = a.campaign_id
  WHERE a.token = %s AND a.status = 'leased' AND k.status = 'open'
    AND EXISTS (SELECT 1 FROM {_M} m WHERE m.campaign_id = a.campaign_id AND m.user_id = a.reviewer_id
                AND NOT m.excluded)
    AND a.reviewer_id = {{user}}
  FOR UPDATE OF a),
t AS (
  SELECT a.*, {SECONDS_SQL.format(server="a.server_seconds")} AS seconds FROM a),
fill AS (
  UPDATE {_C} c SET votes_count = c.votes_count + 1 FROM t
  WHERE c.id = t.comparison_id AND t.kind = 'normal' AND c.votes_count < t.k RETURNING c.id),
voted AS (
  UPDATE {_A} x SET status = 'voted' FROM t
  WHERE x.id = t.id AND (t.kind <> 'normal' OR EXISTS (SELECT 1 FROM fill)) RETURNING x.id),
vote AS (
  INSERT INTO {_V} ({", ".join(_VOTE_FIELDS)})
  SELECT t.id, t.campaign_id, t.comparison_id, t.reviewer_id, %s, CASE WHEN t.a_on_left THEN %s ELSE %s END,
         t.a_on_left, t.kind = 'normal', %s, t.seconds, t.seconds < t.min_seconds, %s
  FROM t JOIN voted ON voted.id = t.id
  RETURNING {", ".join(_VOTE_FIELDS)})
SELECT * FROM vote"""


def _vote_fast(*, token: str, reviewer, choice: str, comment: str, seconds_on_task, now) -> Vote | None:
    """The one-statement vote on PostgreSQL, or None when the vote is not an ordinary one."""
    user_sql, user_param = reviewer_match(reviewer)
    resolved = [resolve_choice(choice=choice, a_on_left=side) for side in (True, False)]
    params = [now, str(token), user_param, *seconds_params(seconds_on_task), choice, *resolved, comment, now]
    with hot_cursor() as cursor:
        cursor.execute(_FAST_SQL.replace("{user}", user_sql), params)
        row = cursor.fetchone()
    if row is None:
        return None
    if isinstance(reviewer, TokenReviewer):
        reviewer.user_id = row[_VOTE_FIELDS.index("reviewer_id")]
    return Vote.from_db(DEFAULT_DB_ALIAS, _VOTE_FIELDS, list(row))


def _aware(value):
    """A timestamp read by a raw cursor as the ORM would give it (SQLite: naive UTC, or text)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


def vote_submit(
    *, token: str, reviewer, choice: str, comment: str = "", seconds_on_task: float | None = None
) -> tuple[Vote, bool]:
    """Record the reviewer's choice on their assignment. Returns (vote, created).

    On PostgreSQL an ordinary vote is one statement outside any transaction (`_FAST_SQL`);
    otherwise, and on SQLite: the locking read, then the conditional count (counted votes only),
    the status and the insert; a vote repeated or refused stops after the first.
    """
    if choice not in Vote.Choice.values:
        raise ValidationFailed(f"choice must be one of {', '.join(Vote.Choice.values)}", field="choice")
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise ValidationFailed(f"the comment is longer than {COMMENT_MAX} characters", field="comment")
    now = timezone.now()
    if is_postgres():
        vote = _vote_fast(
            token=token, reviewer=reviewer, choice=choice, comment=comment, seconds_on_task=seconds_on_task, now=now
        )
        if vote is not None:
            return vote, True
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
        seconds = time_on_task(leased_at=_aware(leased_at), now=now, client_seconds=seconds_on_task)
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
        if counted:
            cursor.execute(_FILL_SQL, [comparison_id, k])
            if cursor.rowcount != 1:
                raise Conflict("this item already has all its votes")
        cursor.execute(_VOTED_SQL, [assignment_id])
        cursor.execute(_INSERT_SQL, params)
    return Vote.from_db(DEFAULT_DB_ALIAS, _VOTE_FIELDS, [values[f] for f in _VOTE_FIELDS]), True
