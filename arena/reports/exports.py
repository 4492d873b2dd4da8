"""Raw votes (CSV and JSONL) and preference pairs (JSONL for DPO/RLHF), streamed.

Each export reads the database in batches (a server-side cursor on PostgreSQL, a stepped
cursor on SQLite) and yields text a batch at a time, so memory stays flat whatever the
campaign's size. The raw votes are read with a plain DB-API cursor, not the ORM.

Reviewers appear under a pseudonym: a keyed hash (HMAC-SHA256 with the site's SECRET_KEY)
of the campaign and user ids. It is stable within a campaign, so per-reviewer analysis works,
but it cannot be reversed to a username or linked across campaigns without the key.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import Iterator

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Q

from ..models import Assignment, Campaign, CampaignReviewer, Comparison, Contestant, Prompt, Vote
from .csv import ROWS_PER_CHUNK

CHUNK_SIZE = 2000

VOTES_HEADER = [
    "campaign",
    "vote_id",
    "comparison_id",
    "prompt_id",
    "category",
    "prompt",
    "model_a",
    "model_b",
    "left_model",
    "right_model",
    "choice",
    "resolved",
    "winner",
    "reviewer",
    "counted",
    "reviewer_excluded",
    "too_fast",
    "seconds_on_task",
    "assigned_at",
    "voted_at",
    "comment",
]


def reviewer_pseudonym(*, campaign_id: int, user_id: int) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"reviewer:{campaign_id}:{user_id}".encode(), hashlib.sha256)
    return "r-" + digest.hexdigest()[:16]


def _prompt_text(text: str, messages) -> str:
    if messages:
        return json.dumps(messages, ensure_ascii=False)
    return text


def _vote_sql() -> str:
    v, c = Vote._meta.db_table, Comparison._meta.db_table
    p, a = Prompt._meta.db_table, Assignment._meta.db_table
    return f"""
        SELECT v.assignment_id, v.comparison_id, p.external_id, p.category, p.text, p.messages,
               c.contestant_a_id, c.contestant_b_id, v.choice, v.resolved, v.a_on_left, v.reviewer_id,
               v.counted, v.too_fast, v.seconds_on_task, {_as_text("a.leased_at")}, {_as_text("v.created_at")},
               v.comment
        FROM {v} v
        JOIN {c} c ON c.id = v.comparison_id
        JOIN {p} p ON p.id = c.prompt_id
        JOIN {a} a ON a.id = v.assignment_id
        WHERE v.campaign_id = %s
        ORDER BY v.assignment_id
    """


def _as_text(column: str) -> str:
    # On SQLite a timestamp column would go through the driver's datetime converter (a regex
    # parse per value, a third of the export's time); an expression comes back as the stored
    # text instead.
    return f"CAST({column} AS TEXT)" if connection.vendor == "sqlite" else column


def _timestamp_formatter():
    """Turn a raw timestamp value into the ISO 8601 text Django's datetime would print.

    SQLite gives the stored text (UTC, 'YYYY-MM-DD HH:MM:SS[.ffffff]', see `_as_text`),
    PostgreSQL an aware datetime in the connection's time zone (UTC); both end up as
    'YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00'.
    """
    if connection.vendor == "sqlite":
        return lambda value: None if value is None else f"{value[:10]}T{value[11:]}+00:00"
    return lambda value: None if value is None else value.isoformat()


def _raw_vote_rows(*, campaign: Campaign) -> Iterator[list[tuple]]:
    """Batches of raw vote rows (see `_vote_sql`), read through a plain DB-API cursor.

    On PostgreSQL `chunked_cursor()` is a server-side (named) cursor, on SQLite a cursor that
    steps through the result: either way only one batch of rows exists in Python at a time.
    Skipping the ORM's model and converter machinery halves the export's time per row.
    """
    with connection.chunked_cursor() as cursor:
        cursor.execute(_vote_sql(), [campaign.pk])
        while rows := cursor.fetchmany(CHUNK_SIZE):
            yield rows


def _messages(raw):
    """The prompt's chat messages from the raw JSON column (text on both databases)."""
    if raw is None:
        return None
    return json.loads(raw) if isinstance(raw, str) else raw


class _Pseudonyms(dict):
    """Reviewer id -> pseudonym, computed once per reviewer. A dict subclass so that the hot
    loops look up with a plain `pseudonyms[reviewer_id]` (no Python call per row when cached)."""

    def __init__(self, campaign_id: int):
        super().__init__()
        self.campaign_id = campaign_id

    def __missing__(self, reviewer_id: int) -> str:
        value = self[reviewer_id] = reviewer_pseudonym(campaign_id=self.campaign_id, user_id=reviewer_id)
        return value


def _vote_row_context(*, campaign: Campaign):
    """What turns a raw vote row into exported values: contestant labels, excluded reviewers,
    the reviewers' pseudonyms, and the timestamp formatter of this database."""
    labels = dict(campaign.contestants.values_list("id", "label"))
    excluded = set(CampaignReviewer.objects.filter(campaign=campaign, excluded=True).values_list("user_id", flat=True))
    return labels, excluded, _Pseudonyms(campaign.pk), _timestamp_formatter()


def vote_records(*, campaign: Campaign) -> Iterator[dict]:
    """Every vote of the campaign (counted or not, excluded reviewers flagged), oldest first."""
    labels, excluded, pseudonyms, stamp = _vote_row_context(campaign=campaign)
    for rows in _raw_vote_rows(campaign=campaign):
        for (
            vote_id,
            comparison_id,
            external_id,
            category,
            text,
            messages,
            a_id,
            b_id,
            choice,
            resolved,
            a_on_left,
            reviewer_id,
            counted,
            too_fast,
            seconds,
            assigned_at,
            voted_at,
            comment,
        ) in rows:
            model_a, model_b = labels.get(a_id, ""), labels.get(b_id, "")
            yield {
                "campaign": campaign.name,
                "vote_id": vote_id,
                "comparison_id": comparison_id,
                "prompt_id": external_id,
                "category": category,
                "prompt": text,
                "messages": _messages(messages),
                "model_a": model_a,
                "model_b": model_b,
                "left_model": model_a if a_on_left else model_b,
                "right_model": model_b if a_on_left else model_a,
                "choice": choice,
                "resolved": resolved,
                "winner": model_a if resolved == "a" else model_b if resolved == "b" else resolved,
                "reviewer": pseudonyms[reviewer_id],
                "counted": bool(counted),
                "reviewer_excluded": reviewer_id in excluded,
                "too_fast": bool(too_fast),
                "seconds_on_task": seconds,
                "assigned_at": stamp(assigned_at),
                "voted_at": stamp(voted_at),
                "comment": comment,
            }


def votes_csv(*, campaign: Campaign) -> Iterator[str]:
    """The raw votes as CSV (VOTES_HEADER), streamed a batch of rows at a time.

    On PostgreSQL the server writes each CSV line (`_votes_csv_postgresql`): handing 21
    values a row to Python costs more than everything else in the export. Elsewhere Python
    writes them (`_votes_csv_python`). Both give the same bytes; the tests compare them.
    """
    if connection.vendor == "postgresql":
        return _votes_csv_postgresql(campaign=campaign)
    return _votes_csv_python(campaign=campaign)


def _csv_field_sql(expression: str) -> str:
    """A text expression as csv.writer (QUOTE_MINIMAL) writes it: quoted, with quotes
    doubled, when it holds a comma, a quote, CR or LF; NULL as an empty field."""
    value = f"COALESCE(({expression})::text, '')"
    return f"""CASE WHEN {value} ~ '[",\\r\\n]' THEN '"' || replace({value}, '"', '""') || '"' ELSE {value} END"""


def _iso_sql(column: str) -> str:
    """A timestamptz as Python's datetime.isoformat() prints it in UTC (no fraction when the
    microseconds are zero; '.000000' can only be the fraction)."""
    return f"replace(to_char(({column} AT TIME ZONE 'UTC'), 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || '+00:00'"


def votes_csv_postgresql_sql(*, campaign: Campaign) -> tuple[str, list]:
    """The query that writes the raw votes' CSV lines on PostgreSQL, and its parameters.

    Text that needs CSV quoting is quoted once where it lives: per prompt and per contestant
    (materialised CTEs), then per comparison; a vote's line only glues those pieces to its
    own ids, flags and times.
    """
    v, c = Vote._meta.db_table, Comparison._meta.db_table
    p, a, t = Prompt._meta.db_table, Assignment._meta.db_table, Contestant._meta.db_table
    excluded = set(CampaignReviewer.objects.filter(campaign=campaign, excluded=True).values_list("user_id", flat=True))
    voters = sorted(Vote.objects.filter(campaign=campaign).values_list("reviewer_id", flat=True).distinct().order_by())
    names = [reviewer_pseudonym(campaign_id=campaign.pk, user_id=u) for u in voters]
    flags = ["true" if u in excluded else "false" for u in voters]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([campaign.name])
    name = buffer.getvalue()[:-2]
    # A chat prompt (messages that are not empty) is written as its JSON; jsonb's text form
    # has the separators and escapes of json.dumps(..., ensure_ascii=False).
    prompt = (
        "CASE WHEN p.messages IS NULL OR p.messages IN ('null', '[]', '{}', '\"\"', 'false', '0') "
        f"THEN {_csv_field_sql('p.text')} ELSE {_csv_field_sql('p.messages')} END"
    )
    sql = f"""
        WITH pf AS MATERIALIZED (
            SELECT p.id,
                   {_csv_field_sql("p.external_id")} || ',' || {_csv_field_sql("p.category")} || ',' || {prompt} AS f
            FROM {p} p WHERE p.campaign_id = %s
        ),
        lf AS MATERIALIZED (
            SELECT t.id, {_csv_field_sql("t.label")} AS f FROM {t} t WHERE t.campaign_id = %s
        ),
        cf AS MATERIALIZED (
            SELECT c.id, pf.f AS prompt, la.f AS a, lb.f AS b
            FROM {c} c
            JOIN pf ON pf.id = c.prompt_id
            JOIN lf la ON la.id = c.contestant_a_id
            JOIN lf lb ON lb.id = c.contestant_b_id
            WHERE c.campaign_id = %s
        ),
        rf AS MATERIALIZED (
            SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS r(id, pseudonym, excluded)
        )
        SELECT %s || ',' || v.assignment_id || ',' || v.comparison_id || ',' || cf.prompt
            || ',' || cf.a || ',' || cf.b
            || ',' || CASE WHEN v.a_on_left THEN cf.a || ',' || cf.b ELSE cf.b || ',' || cf.a END
            || ',' || {_csv_field_sql("v.choice")} || ',' || {_csv_field_sql("v.resolved")}
            || ',' || CASE v.resolved WHEN 'a' THEN cf.a WHEN 'b' THEN cf.b ELSE {_csv_field_sql("v.resolved")} END
            || ',' || rf.pseudonym
            || ',' || CASE WHEN v.counted THEN 'true' ELSE 'false' END
            || ',' || rf.excluded
            || ',' || CASE WHEN v.too_fast THEN 'true' ELSE 'false' END
            || ',' || COALESCE(round(v.seconds_on_task::numeric, 3)::text, '')
            || ',' || {_iso_sql("a.leased_at")}
            || ',' || {_iso_sql("v.created_at")}
            || ',' || CASE WHEN v.comment = '' THEN '' ELSE {_csv_field_sql("v.comment")} END
            || E'\\r\\n'
        FROM {v} v
        JOIN cf ON cf.id = v.comparison_id
        JOIN {a} a ON a.id = v.assignment_id
        JOIN rf ON rf.id = v.reviewer_id
        WHERE v.campaign_id = %s
        ORDER BY v.assignment_id
    """
    params = [campaign.pk, campaign.pk, campaign.pk, voters, names, flags, name, campaign.pk]
    return sql, params


def _votes_csv_postgresql(*, campaign: Campaign) -> Iterator[str]:
    sql, params = votes_csv_postgresql_sql(campaign=campaign)
    header = io.StringIO()
    csv.writer(header, lineterminator="\r\n").writerow(VOTES_HEADER)
    yield header.getvalue()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK_SIZE):
            yield "".join([row[0] for row in rows])


def _votes_csv_python(*, campaign: Campaign) -> Iterator[str]:
    """The raw votes as CSV written by Python, one chunk of text per batch of rows.

    Rows are built as tuples straight from the cursor's batches and written with one
    `writerows` call per batch: at a million votes the per-row cost is what counts.
    """
    labels, excluded, pseudonyms, stamp = _vote_row_context(campaign=campaign)
    name = campaign.name
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(VOTES_HEADER)
    for rows in _raw_vote_rows(campaign=campaign):
        out = []
        for (
            vote_id,
            comparison_id,
            external_id,
            category,
            text,
            messages,
            a_id,
            b_id,
            choice,
            resolved,
            a_on_left,
            reviewer_id,
            counted,
            too_fast,
            seconds,
            assigned_at,
            voted_at,
            comment,
        ) in rows:
            model_a, model_b = labels.get(a_id, ""), labels.get(b_id, "")
            if messages is not None:
                text = _prompt_text(text, _messages(messages))
            out.append(
                (
                    name,
                    vote_id,
                    comparison_id,
                    external_id,
                    category,
                    text,
                    model_a,
                    model_b,
                    model_a if a_on_left else model_b,
                    model_b if a_on_left else model_a,
                    choice,
                    resolved,
                    model_a if resolved == "a" else model_b if resolved == "b" else resolved,
                    pseudonyms[reviewer_id],
                    "true" if counted else "false",
                    "true" if reviewer_id in excluded else "false",
                    "true" if too_fast else "false",
                    "" if seconds is None else f"{seconds:.3f}",
                    stamp(assigned_at) or "",
                    stamp(voted_at) or "",
                    comment,
                )
            )
        writer.writerows(out)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _jsonl(records) -> Iterator[str]:
    lines: list[str] = []
    for record in records:
        lines.append(json.dumps(record, ensure_ascii=False))
        if len(lines) >= ROWS_PER_CHUNK:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


def votes_jsonl(*, campaign: Campaign) -> Iterator[str]:
    return _jsonl(vote_records(campaign=campaign))


def preference_records(*, campaign: Campaign) -> Iterator[dict]:
    """One record per comparison whose counted votes agree on a winner.

    Kept: at least one decisive vote, no decisive vote for the other side, and the winner
    holds a strict majority of all the comparison's counted votes (so [A, A, tie] is kept with
    agreement 2/3, [A, tie, tie] and [A, B, A] are not). Ties and both-bad never make a pair.
    Excluded reviewers and repeat votes are left out, as in the report.
    """
    labels = dict(campaign.contestants.values_list("id", "label"))
    excluded = list(CampaignReviewer.objects.filter(campaign=campaign, excluded=True).values_list("user_id", flat=True))
    counted = Q(votes__counted=True)
    if excluded:
        counted &= ~Q(votes__reviewer_id__in=excluded)
    rows = (
        Comparison.objects.filter(campaign=campaign, excluded=False)
        .annotate(
            n=Count("votes", filter=counted),
            na=Count("votes", filter=counted & Q(votes__resolved="a")),
            nb=Count("votes", filter=counted & Q(votes__resolved="b")),
        )
        .annotate(na2=F("na") * 2, nb2=F("nb") * 2)
        .filter(Q(na__gt=0, nb=0, na2__gt=F("n")) | Q(nb__gt=0, na=0, nb2__gt=F("n")))
        .order_by("pk")
        .values_list(
            "pk",
            "prompt__external_id",
            "prompt__category",
            "prompt__text",
            "prompt__messages",
            "contestant_a_id",
            "contestant_b_id",
            "response_a__text",
            "response_b__text",
            "n",
            "na",
            "nb",
        )
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for pk, external_id, category, text, messages, a_id, b_id, text_a, text_b, n, na, nb in rows:
        a_won = na > 0
        yield {
            # Conversational prompts keep their messages (the format TRL's DPO trainer reads).
            "prompt": messages if messages else text,
            "chosen": text_a if a_won else text_b,
            "rejected": text_b if a_won else text_a,
            "chosen_model": labels.get(a_id if a_won else b_id, ""),
            "rejected_model": labels.get(b_id if a_won else a_id, ""),
            "votes": n,
            "chosen_votes": na if a_won else nb,
            "agreement": round((na if a_won else nb) / n, 6),
            "campaign": campaign.name,
            "comparison_id": pk,
            "prompt_id": external_id,
            "category": category,
        }


def preferences_jsonl(*, campaign: Campaign) -> Iterator[str]:
    return _jsonl(preference_records(campaign=campaign))
