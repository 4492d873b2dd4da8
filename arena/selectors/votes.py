"""Vote rows: the one read behind the vote exports (votes.csv, votes.jsonl, preferences.jsonl).

`campaign_votes` is the query all of them start from (every vote, or just those the report
counts). `vote_rows` yields one list per vote, its values in the order of `VOTE_COLUMNS`, every
value already in the form a user reads it: contestant labels instead of ids, the side each
model was shown on, the winner's label, the reviewer's pseudonym, ISO 8601 times and the three
flags that decide whether the report counts the vote (`counted`, `reviewer_excluded`,
`comparison_excluded`). Renderers only choose and format columns, by position
(`VOTE_COLUMNS.index(name)`, looked up once, not per row). Adding a column to a vote is one
entry in `_COLUMNS` (an ORM path, or an ORM expression when the value is derived) plus one name
in each renderer's column list. The preference pairs need a comparison's counts, not its
votes: `comparison_outcome_counts` groups the same query in the database, and
`comparison_details` reads what a pair shows.

A row is a plain list rather than a dict or an object because the exports are read a million
rows at a time: building a dict per vote (three times over, as this module once did) cost more
than the database read. For the same reason the two times and the chat messages are read as
text (see `_COLUMNS`), and every derived value the database can compute is an ORM expression.

Reviewers appear under a pseudonym: a keyed hash (HMAC-SHA256 with the site's SECRET_KEY) of
the campaign and user ids. It is stable within a campaign, so per-reviewer analysis works,
but it cannot be reversed to a username or linked across campaigns without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, Exists, F, OuterRef, Q, QuerySet, Subquery, TextField, When
from django.db.models.functions import Cast

from ..models import Campaign, CampaignReviewer, Comparison, Criterion, Vote, VoteCriterion
from .report import counted_votes

# Rows are read from the database this many at a time (a server-side cursor on PostgreSQL, a
# stepped cursor on SQLite), so memory stays flat whatever the campaign's size.
CHUNK_SIZE = 2000

_LABEL_A, _LABEL_B = F("comparison__contestant_a__label"), F("comparison__contestant_b__label")

# Row key -> what it is read from (an ORM path or expression), in the order the values come
# back. The times and the chat messages are cast to text: Django reads a datetime or a JSON
# value through Python code once per value (on SQLite a parse and a time zone attach per
# timestamp, on PostgreSQL a regular expression, because Django's time zone loader replaces
# psycopg's C one), which cost more than the rest of the row; `vote_rows` turns the text into
# the same values with C-level parsers. Sides and winner are ORM expressions, so the database
# computes them in the one pass it makes anyway.
_COLUMNS = {
    "vote_id": "pk",
    "comparison_id": "comparison_id",
    "prompt_id": "comparison__prompt__external_id",
    "category": "comparison__prompt__category",
    "prompt": "comparison__prompt__text",
    "messages": Cast("comparison__prompt__messages", TextField()),
    "model_a": "comparison__contestant_a__label",
    "model_b": "comparison__contestant_b__label",
    "left_model": Case(When(a_on_left=True, then=_LABEL_A), default=_LABEL_B),
    "right_model": Case(When(a_on_left=True, then=_LABEL_B), default=_LABEL_A),
    "choice": "choice",
    "resolved": "resolved",
    "winner": Case(
        When(resolved=Vote.Resolved.A, then=_LABEL_A),
        When(resolved=Vote.Resolved.B, then=_LABEL_B),
        default=F("resolved"),
    ),
    # The reviewer's id, replaced by their pseudonym in `vote_rows`.
    "reviewer": "reviewer_id",
    "counted": "counted",
    # An annotation of `vote_rows` (it depends on the campaign).
    "reviewer_excluded": "reviewer_excluded",
    "comparison_excluded": "comparison__excluded",
    "too_fast": "too_fast",
    "seconds_on_task": "seconds_on_task",
    "assigned_at": Cast("assignment__leased_at", TextField()),
    "voted_at": Cast("created_at", TextField()),
    "comment": "comment",
}

# The columns of a row of `vote_rows`, in order: the campaign's name, then `_COLUMNS`.
VOTE_COLUMNS = ("campaign", *_COLUMNS)
_REVIEWER = VOTE_COLUMNS.index("reviewer")
_MESSAGES = VOTE_COLUMNS.index("messages")
_TIMES = (VOTE_COLUMNS.index("assigned_at"), VOTE_COLUMNS.index("voted_at"))


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


def vote_criteria_keys(*, campaign_id: int) -> list[tuple[int, str]]:
    """(id, key) of the campaign's criteria, in order: the values `vote_rows` appends to a row."""
    return list(Criterion.objects.filter(campaign_id=campaign_id).order_by("position", "id").values_list("id", "key"))


def vote_rows(*, campaign_id: int) -> Iterator[list]:
    """Every vote of the campaign as a list of values in `VOTE_COLUMNS` order (see the module
    docstring), oldest vote first. A chat prompt's `messages` are the parsed JSON (None for
    a text prompt); times are ISO 8601 with their offset, as `datetime.isoformat` writes them.
    After those come the vote's criteria answers, resolved to the pair (a, b, tie, both_bad;
    None when not answered), one per criterion in `vote_criteria_keys` order: each a lookup
    of the (vote, criterion) unique index in the same query, none for a campaign without.
    """
    campaign_name = Campaign.objects.values_list("name", flat=True).get(pk=campaign_id)
    excluded_reviewer = CampaignReviewer.objects.filter(
        campaign_id=campaign_id, user_id=OuterRef("reviewer_id"), excluded=True
    )
    answers = {
        f"criterion_{pk}": Subquery(
            VoteCriterion.objects.filter(vote_id=OuterRef("pk"), criterion_id=pk).values("resolved")[:1]
        )
        for pk, _key in vote_criteria_keys(campaign_id=campaign_id)
    }
    rows = (
        campaign_votes(campaign_id=campaign_id)
        .annotate(reviewer_excluded=Exists(excluded_reviewer), **answers)
        .order_by("pk")
        .values_list(*_COLUMNS.values(), *answers)
        .iterator(chunk_size=CHUNK_SIZE)
    )
    pseudonyms = _Pseudonyms(campaign_id)
    # A time's text is the stored value on SQLite (naive, in the connection's time zone, as
    # Django writes it) and carries its offset on PostgreSQL; `fromisoformat` reads both. A
    # naive UTC time gets its offset as text: attaching the zone to the datetime would take
    # longer than parsing and printing it.
    time_zone = connection.timezone
    naive_suffix = "+00:00" if time_zone is UTC else None
    parse_time = datetime.fromisoformat
    parse_json = json.loads
    # One loop with the per-value work written inline: at a million votes a function call
    # per row, let alone per value, is a visible share of the export's time.
    for values in rows:
        row = [campaign_name, *values]
        row[_REVIEWER] = pseudonyms[row[_REVIEWER]]
        if (messages := row[_MESSAGES]) is not None:
            row[_MESSAGES] = parse_json(messages)
        for position in _TIMES:
            if (text := row[position]) is not None:
                moment = parse_time(text)
                if moment.tzinfo:
                    row[position] = moment.isoformat()
                elif naive_suffix:
                    row[position] = moment.isoformat() + naive_suffix
                else:
                    row[position] = moment.replace(tzinfo=time_zone).isoformat()
        yield row


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
