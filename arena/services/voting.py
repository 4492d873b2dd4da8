"""Votes: one per assignment, never lost or doubled, idempotent for the same choice.

The assignment row is locked first (`select_for_update`), so a vote sent twice at once is
handled one after the other: the first creates it (201), the second finds it (200 if the
choice is the same, 409 if not). The vote's primary key is the assignment (one-to-one), and
`Comparison.votes_count` moves by a conditional UPDATE that never passes k.
"""

import math
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..models import Assignment, Campaign, CampaignReviewer, Comparison, Criterion, Vote, VoteCriterion
from ..prepared import PreparedInsert, PreparedUpdate, Q, batched
from ..raw_sql import Names, fetch_one, from_db, row_lock
from .assignment import slot_retake
from .criteria import campaign_criteria, criteria_answers_check
from .decisions import pair_decision_record

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

    Exact decimal arithmetic rounded half up, so a time is stored the same whatever the float
    representation of the microseconds.
    """
    delta = now - leased_at
    server = max(Decimal(0), Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / 1_000_000)
    client = _client_seconds(client_seconds)
    if client is not None and 0 <= client <= float(server) + CLIENT_SECONDS_SLACK:
        return float(_round_ms(Decimal(repr(client))))
    return float(_round_ms(server))


_A, _C, _K = Names(Assignment), Names(Comparison), Names(Campaign)
_M, _Q = Names(CampaignReviewer), Names(Criterion)
# SQL, not the ORM: see arena/raw_sql.py.
_LOCK_SQL = f"""
SELECT a.{_A.id}, a.{_A.status}, a.{_A.kind}, a.{_A.a_on_left}, a.{_A.comparison}, a.{_A.leased_at},
       a.{_A.campaign}, k.{_K.status}, k.{_K.votes_per_comparison}, k.{_K.min_seconds_per_vote},
       EXISTS (SELECT 1 FROM {_M} m WHERE m.{_M.campaign} = a.{_A.campaign} AND m.{_M.user} = a.{_A.reviewer}
               AND NOT m.{_M.excluded}),
       EXISTS (SELECT 1 FROM {_Q} q WHERE q.{_Q.campaign} = a.{_A.campaign}),
       c.{_C.contestant_a}, c.{_C.contestant_b}, k.{_K.stopping}, k.{_K.alpha}, k.{_K.equivalence_margin}
FROM {_A} a JOIN {_K} k ON k.{_K.id} = a.{_A.campaign} JOIN {_C} c ON c.{_C.id} = a.{_A.comparison}
WHERE a.{_A.token} = %s AND a.{_A.reviewer} = %s
"""
_LOCKED_FIELDS = (
    *("id", "status", "kind", "a_on_left", "comparison_id", "leased_at", "campaign_id"),
    *("campaign_status", "k", "min_seconds", "member", "has_criteria"),
    *("contestant_a_id", "contestant_b_id", "stopping", "alpha", "margin"),
)


def _assignment_locked(*, token: str, reviewer_id: int) -> dict | None:
    """The reviewer's assignment with this token, locked, with what the checks need: its
    campaign's status, k and minimum time, whether the voter is an included member and whether
    the campaign has criteria (a campaign without is spared the read of its criteria), and the
    pair and stopping settings the pair's decision needs. One statement; only the assignment
    row is locked."""
    row = fetch_one(_LOCK_SQL + row_lock(of="a"), [token, reviewer_id])
    if row is None:
        return None
    assignment = dict(zip(_LOCKED_FIELDS, row, strict=True))
    assignment["a_on_left"] = bool(assignment["a_on_left"])  # SQLite gives 0/1 to a plain cursor
    assignment["leased_at"] = from_db(Assignment, "leased_at", assignment["leased_at"])
    return assignment


# The writes of a vote, compiled once (arena/prepared.py).
_VOTE_COUNTED = PreparedUpdate(
    Comparison,
    where=lambda s: Q(pk=s.comparison_id, votes_count__lt=s.k),
    values=lambda s: {"votes_count": F("votes_count") + 1},
)
_ASSIGNMENT_VOTED = PreparedUpdate(
    Assignment, where=lambda s: Q(pk=s.assignment_id), values=lambda s: {"status": Assignment.Status.VOTED}
)
_VOTE_INSERT = PreparedInsert(Vote)
_VOTE_CAST = PreparedUpdate(
    CampaignReviewer,
    where=lambda s: Q(campaign_id=s.campaign_id, user_id=s.reviewer_id),
    values=lambda s: {"votes_cast": F("votes_cast") + 1},
)


def vote_submit(
    *,
    token: str,
    reviewer_id: int,
    choice: str,
    comment: str = "",
    seconds_on_task: float | None = None,
    criteria: dict | None = None,
) -> tuple[Vote, bool]:
    """Record the reviewer's choice (and criteria answers) on their assignment. Returns (vote, created).

    `criteria` is {key: left|right|tie|both_bad}, checked against the campaign's criteria
    (services/criteria.py) and resolved to a/b exactly as the choice is; a repeat of the same
    vote must repeat the same answers too (else 409).

    The locking read, then for a counted vote the conditional count, then the status and the
    insert; a vote repeated or refused stops after the first.
    """
    if choice not in Vote.Choice.values:
        raise ValidationFailed(f"choice must be one of {', '.join(Vote.Choice.values)}", field="choice")
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise ValidationFailed(f"the comment is longer than {COMMENT_MAX} characters", field="comment")
    now = timezone.now()
    with transaction.atomic():
        assignment = _assignment_locked(token=token, reviewer_id=reviewer_id)
        if assignment is None:
            raise NotFound("no such item")
        defined = campaign_criteria(campaign_id=assignment["campaign_id"]) if assignment["has_criteria"] else []
        answers = criteria_answers_check(defined=defined, answers=criteria)
        status = assignment["status"]
        if status == Assignment.Status.VOTED:
            existing = Vote.objects.get(assignment_id=assignment["id"])
            stored = dict(VoteCriterion.objects.filter(vote_id=existing.pk).values_list("criterion_id", "choice"))
            if existing.choice == choice and stored == answers:
                return existing, False
            raise Conflict("you already voted differently on this item")
        if status in (Assignment.Status.SKIPPED, Assignment.Status.FLAGGED):
            raise Conflict(f"this item was {status}; it can no longer be voted on")
        if assignment["campaign_status"] != Campaign.Status.OPEN:
            raise Conflict("this campaign is not open for review")
        if not assignment["member"]:
            raise Forbidden("you are not a reviewer of this campaign")
        comparison_id, a_on_left, k = (
            assignment["comparison_id"],
            assignment["a_on_left"],
            assignment["k"],
        )
        counted = assignment["kind"] == Assignment.Kind.NORMAL
        if counted:
            # A lease that expired gave its slot back; a late vote may take it again only if
            # nobody else filled the comparison meanwhile.
            if status == Assignment.Status.EXPIRED and not slot_retake(
                comparison_id=comparison_id, k=k, a_on_left=a_on_left
            ):
                raise Conflict("this item expired and was given to someone else; load the next one")
            # Never past k: the count moves only while it is below k, and the row lock this
            # UPDATE takes orders concurrent votes on one comparison.
            if _VOTE_COUNTED.run(comparison_id=comparison_id, k=k) != 1:
                raise Conflict("this item already has all its votes")
        seconds = time_on_task(leased_at=assignment["leased_at"], now=now, client_seconds=seconds_on_task)
        vote = Vote(
            assignment_id=assignment["id"],
            campaign_id=assignment["campaign_id"],
            comparison_id=comparison_id,
            reviewer_id=reviewer_id,
            choice=choice,
            resolved=resolve_choice(choice=choice, a_on_left=a_on_left),
            a_on_left=a_on_left,
            counted=counted,
            comment=comment,
            seconds_on_task=seconds,
            too_fast=seconds < assignment["min_seconds"],
        )
        # The writes below are sent together, their replies awaited once (arena/prepared.py).
        with batched():
            _ASSIGNMENT_VOTED.send(assignment_id=assignment["id"])
            _VOTE_INSERT.insert(vote)
            if counted:
                # The reviewer's progress. Locked after the comparison: "next" holds this row and
                # only skips locked comparisons, so it never waits for a vote, and the two cannot
                # deadlock.
                _VOTE_CAST.send(campaign_id=assignment["campaign_id"], reviewer_id=reviewer_id)
                pair_decision_record(
                    campaign_id=assignment["campaign_id"],
                    contestant_a_id=assignment["contestant_a_id"],
                    contestant_b_id=assignment["contestant_b_id"],
                    stopping=assignment["stopping"],
                    alpha=assignment["alpha"],
                    margin=assignment["margin"],
                    resolved=vote.resolved,
                )
            if answers:
                VoteCriterion.objects.bulk_create(
                    VoteCriterion(
                        vote=vote, criterion_id=pk, choice=c, resolved=resolve_choice(choice=c, a_on_left=a_on_left)
                    )
                    for pk, c in answers.items()
                )
    return vote, True
