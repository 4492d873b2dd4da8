"""Vote rows: the one read behind the vote exports (votes.csv, votes.jsonl, preferences.jsonl).

`campaign_votes` is the query all of them start from (every vote, or just those the report
counts). `vote_rows` yields one dict per vote, with every value already in the form a user
reads it: contestant labels instead of ids, the side each model was shown on, the winner's
label, the reviewer's pseudonym, ISO 8601 times and the three flags that decide whether the
report counts the vote (`counted`, `reviewer_excluded`, `comparison_excluded`). Renderers only choose and
format columns; adding a column to a vote is one entry in `_COLUMNS` (and, when the value is
derived, one line in `_vote_row`) plus one name in each renderer's column list. The
preference pairs need a comparison's counts, not its votes: `comparison_outcome_counts`
groups the same query in the database, and `comparison_details` reads what a pair shows.

Reviewers appear under a pseudonym: a keyed hash (HMAC-SHA256 with the site's SECRET_KEY) of
the campaign and user ids. It is stable within a campaign, so per-reviewer analysis works,
but it cannot be reversed to a username or linked across campaigns without the key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from ..models import Campaign, CampaignReviewer, Comparison, Vote
from .report import counted_votes

# Rows are read from the database this many at a time (a server-side cursor on PostgreSQL, a
# stepped cursor on SQLite), so memory stays flat whatever the campaign's size.
CHUNK_SIZE = 2000

# Row key -> the ORM path it is read from, in the order the values come back.
_COLUMNS = {
    "vote_id": "pk",
    "comparison_id": "comparison_id",
    "prompt_id": "comparison__prompt__external_id",
    "category": "comparison__prompt__category",
    "prompt": "comparison__prompt__text",
    "messages": "comparison__prompt__messages",
    "model_a": "comparison__contestant_a__label",
    "model_b": "comparison__contestant_b__label",
    "choice": "choice",
    "resolved": "resolved",
    "a_on_left": "a_on_left",
    "reviewer_id": "reviewer_id",
    "counted": "counted",
    "reviewer_excluded": "reviewer_excluded",
    "comparison_excluded": "comparison__excluded",
    "too_fast": "too_fast",
    "seconds_on_task": "seconds_on_task",
    "assigned_at": "assignment__leased_at",
    "voted_at": "created_at",
    "comment": "comment",
}


def reviewer_pseudonym(*, campaign_id: int, user_id: int) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"reviewer:{campaign_id}:{user_id}".encode(), hashlib.sha256)
    return "r-" + digest.hexdigest()[:16]


class _Pseudonyms(dict):
    """Reviewer id -> pseudonym, computed once per reviewer (an HMAC per row would cost more
    than the rest of the row)."""

    def __init__(self, campaign_id: int):
        super().__init__()
        self.campaign_id = campaign_id

    def __missing__(self, reviewer_id: int) -> str:
        value = self[reviewer_id] = reviewer_pseudonym(campaign_id=self.campaign_id, user_id=reviewer_id)
        return value


def campaign_votes(*, campaign_id: int, report_votes_only: bool = False) -> QuerySet[Vote]:
    """The campaign's votes, or just those the report counts (chosen by the report's own
    `counted_votes`, so that rule lives in one place): the query every export reads."""
    if report_votes_only:
        return counted_votes(campaign=Campaign(pk=campaign_id))
    return Vote.objects.filter(campaign_id=campaign_id)


def vote_rows(*, campaign_id: int) -> Iterator[dict]:
    """Every vote of the campaign as a dict (see the module docstring), oldest vote first."""
    campaign_name = Campaign.objects.values_list("name", flat=True).get(pk=campaign_id)
    excluded_reviewer = CampaignReviewer.objects.filter(
        campaign_id=campaign_id, user_id=OuterRef("reviewer_id"), excluded=True
    )
    rows = (
        campaign_votes(campaign_id=campaign_id)
        .annotate(reviewer_excluded=Exists(excluded_reviewer))
        .order_by("pk")
        .values_list(*_COLUMNS.values())
        .iterator(chunk_size=CHUNK_SIZE)
    )
    pseudonyms = _Pseudonyms(campaign_id)
    keys = tuple(_COLUMNS)
    for values in rows:
        yield _vote_row(dict(zip(keys, values, strict=True)), campaign=campaign_name, pseudonyms=pseudonyms)


def comparison_outcome_counts(*, campaign_id: int) -> Iterator[tuple[int, int, int, int]]:
    """(comparison id, votes, votes for A, votes for B) of every comparison with votes the
    report counts, in comparison order: the same query as `vote_rows`, grouped in the
    database (the preference pairs need only these counts, not every vote's row)."""
    return (
        campaign_votes(campaign_id=campaign_id, report_votes_only=True)
        .values("comparison_id")
        .annotate(
            votes=Count("pk"),
            a_votes=Count("pk", filter=Q(resolved=Vote.Resolved.A)),
            b_votes=Count("pk", filter=Q(resolved=Vote.Resolved.B)),
        )
        .order_by("comparison_id")
        .values_list("comparison_id", "votes", "a_votes", "b_votes")
        .iterator(chunk_size=CHUNK_SIZE)
    )


def _vote_row(row: dict, *, campaign: str, pseudonyms: _Pseudonyms) -> dict:
    """Turn the stored values into what the exports show (labels, sides, pseudonym, ISO times)."""
    a, b = row["model_a"], row["model_b"]
    resolved = row["resolved"]
    a_on_left = row.pop("a_on_left")
    assigned_at, voted_at = row["assigned_at"], row["voted_at"]
    row.update(
        campaign=campaign,
        left_model=a if a_on_left else b,
        right_model=b if a_on_left else a,
        winner=a if resolved == Vote.Resolved.A else b if resolved == Vote.Resolved.B else resolved,
        reviewer=pseudonyms[row.pop("reviewer_id")],
        assigned_at=None if assigned_at is None else assigned_at.isoformat(),
        voted_at=None if voted_at is None else voted_at.isoformat(),
    )
    return row


def comparison_details(*, campaign_id: int, comparison_ids: Iterable[int]) -> dict[int, dict]:
    """Comparison id -> what a preference pair shows of it: the campaign, the prompt (text,
    messages, external id, category), both contestants' labels and both responses' texts."""
    fields = {
        "campaign": "campaign__name",
        "prompt_id": "prompt__external_id",
        "category": "prompt__category",
        "prompt": "prompt__text",
        "messages": "prompt__messages",
        "model_a": "contestant_a__label",
        "model_b": "contestant_b__label",
        "text_a": "response_a__text",
        "text_b": "response_b__text",
    }
    rows = Comparison.objects.filter(campaign_id=campaign_id, pk__in=list(comparison_ids)).values_list(
        "pk", *fields.values()
    )
    return {pk: dict(zip(fields, values, strict=True)) for pk, *values in rows}
