"""Report reads: vote counts from the database, aggregated in SQL.

Every number of the report starts here as a GROUP BY or an aggregate, never as a loop over
votes in Python, so a campaign with a million votes reads a few thousand rows at most (one
per comparison for the prompt bootstrap and the agreement statistics).

Which votes count (PRODUCT.md, "Vote semantics"): only `Vote.counted` votes (repeat checks
measure reviewers, they are not extra evidence), not those of reviewers the lead excluded
(`CampaignReviewer.excluded`), and not those on comparisons the lead excluded from review
(a response that names its model broke the blind, so its votes are not blind evidence).
A = `Comparison.contestant_a` and B = `Comparison.contestant_b`, as stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Length

from ..models import Assignment, Campaign, CampaignReviewer, Comparison, Contestant, Response, Vote

OUTCOMES = ("a", "b", "tie", "both_bad")


def excluded_reviewer_ids(*, campaign: Campaign) -> list[int]:
    return sorted(CampaignReviewer.objects.filter(campaign=campaign, excluded=True).values_list("user_id", flat=True))


def counted_votes(*, campaign: Campaign, excluded: list[int] | None = None) -> QuerySet[Vote]:
    """The votes a report counts (see the module docstring)."""
    if excluded is None:
        excluded = excluded_reviewer_ids(campaign=campaign)
    votes = Vote.objects.filter(campaign=campaign, counted=True, comparison__excluded=False)
    if excluded:
        votes = votes.exclude(reviewer_id__in=excluded)
    return votes


def _outcome_aggregates() -> dict:
    return {
        "a_wins": Count("pk", filter=Q(resolved="a")),
        "b_wins": Count("pk", filter=Q(resolved="b")),
        "ties": Count("pk", filter=Q(resolved="tie")),
        "both_bad": Count("pk", filter=Q(resolved="both_bad")),
    }


def contestants_of(*, campaign: Campaign) -> list[Contestant]:
    return list(campaign.contestants.order_by("position", "id"))


def pair_counts(*, campaign: Campaign, excluded: list[int] | None = None) -> list[dict]:
    """One row per pair that has votes: contestant_a_id, contestant_b_id and the four counts."""
    rows = (
        counted_votes(campaign=campaign, excluded=excluded)
        .values(contestant_a_id=F("comparison__contestant_a_id"), contestant_b_id=F("comparison__contestant_b_id"))
        .annotate(**_outcome_aggregates())
        .order_by()
    )
    return list(rows)


def category_pair_counts(*, campaign: Campaign, excluded: list[int] | None = None) -> list[dict]:
    """Like pair_counts, per prompt category (an empty category is reported as '')."""
    rows = (
        counted_votes(campaign=campaign, excluded=excluded)
        .values(
            category=F("comparison__prompt__category"),
            contestant_a_id=F("comparison__contestant_a_id"),
            contestant_b_id=F("comparison__contestant_b_id"),
        )
        .annotate(**_outcome_aggregates())
        .order_by()
    )
    return list(rows)


@dataclass(frozen=True)
class ComparisonCounts:
    """Per-comparison counts (one comparison = one prompt of one pair), as parallel arrays.

    `counts[:, k]` is the number of votes with outcome OUTCOMES[k]; `left_wins`, `right_wins`
    and `too_fast` count the same comparison's votes by shown side and speed; `a_longer` is
    +1 when response A's text is longer than B's, -1 when shorter, 0 when equal. This one
    GROUP BY is the input of the pair and category tables, the prompt bootstrap (a
    comparison's votes are one cluster), the agreement statistics and both biases.
    """

    comparison_id: np.ndarray
    prompt_id: np.ndarray
    contestant_a_id: np.ndarray
    contestant_b_id: np.ndarray
    category: list[str]
    counts: np.ndarray  # (n, 4) int64
    left_wins: np.ndarray
    right_wins: np.ndarray
    too_fast: np.ndarray
    a_longer: np.ndarray

    def __len__(self) -> int:
        return len(self.comparison_id)


def comparison_counts(*, campaign: Campaign, excluded: list[int] | None = None) -> ComparisonCounts:
    """Counts per comparison (= per prompt and pair), for comparisons with at least one vote."""
    rows = list(
        counted_votes(campaign=campaign, excluded=excluded)
        .values(
            "comparison_id",
            prompt_id=F("comparison__prompt_id"),
            a_id=F("comparison__contestant_a_id"),
            b_id=F("comparison__contestant_b_id"),
            ra_id=F("comparison__response_a_id"),
            rb_id=F("comparison__response_b_id"),
            category=F("comparison__prompt__category"),
        )
        .annotate(
            **_outcome_aggregates(),
            left_wins=Count("pk", filter=Q(choice=Vote.Choice.LEFT)),
            right_wins=Count("pk", filter=Q(choice=Vote.Choice.RIGHT)),
            too_fast=Count("pk", filter=Q(too_fast=True)),
        )
        .order_by()
        .values_list(
            "comparison_id",
            "prompt_id",
            "a_id",
            "b_id",
            "ra_id",
            "rb_id",
            "a_wins",
            "b_wins",
            "ties",
            "both_bad",
            "left_wins",
            "right_wins",
            "too_fast",
            "category",
        )
    )
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return ComparisonCounts(
            empty, empty, empty, empty, [], np.zeros((0, 4), dtype=np.int64), empty, empty, empty, empty
        )
    numbers = np.array([r[:13] for r in rows], dtype=np.int64)
    # Text lengths per response, read once (a few per prompt) rather than once per vote.
    length = dict(
        Response.objects.filter(campaign=campaign)
        .annotate(n=Length("text"))
        .values_list("pk", "n")
        .iterator(chunk_size=10_000)
    )
    len_a = np.array([length.get(int(i), 0) for i in numbers[:, 4]])
    len_b = np.array([length.get(int(i), 0) for i in numbers[:, 5]])
    return ComparisonCounts(
        comparison_id=numbers[:, 0],
        prompt_id=numbers[:, 1],
        contestant_a_id=numbers[:, 2],
        contestant_b_id=numbers[:, 3],
        category=[r[13] or "" for r in rows],
        counts=numbers[:, 6:10],
        left_wins=numbers[:, 10],
        right_wins=numbers[:, 11],
        too_fast=numbers[:, 12],
        a_longer=np.sign(len_a - len_b),
    )


def totals(*, campaign: Campaign, excluded: list[int] | None = None) -> dict:
    """Overall counts, with the shown side of decisive votes for the position bias."""
    return counted_votes(campaign=campaign, excluded=excluded).aggregate(
        votes=Count("pk"),
        left_wins=Count("pk", filter=Q(choice=Vote.Choice.LEFT)),
        right_wins=Count("pk", filter=Q(choice=Vote.Choice.RIGHT)),
        too_fast=Count("pk", filter=Q(too_fast=True)),
        **_outcome_aggregates(),
    )


def length_counts(*, campaign: Campaign, excluded: list[int] | None = None) -> dict:
    """Decisive votes won by the longer and by the shorter response (text length in SQL).

    Equal lengths say nothing about a length preference and are counted apart.
    """
    votes = counted_votes(campaign=campaign, excluded=excluded).annotate(
        len_a=Length("comparison__response_a__text"), len_b=Length("comparison__response_b__text")
    )
    a_longer, b_longer = Q(len_a__gt=F("len_b")), Q(len_b__gt=F("len_a"))
    return votes.aggregate(
        longer_wins=Count("pk", filter=(Q(resolved="a") & a_longer) | (Q(resolved="b") & b_longer)),
        shorter_wins=Count("pk", filter=(Q(resolved="a") & b_longer) | (Q(resolved="b") & a_longer)),
        same_length=Count("pk", filter=Q(resolved__in=["a", "b"], len_a=F("len_b"))),
    )


def _median_sql(partition: str, where: str) -> str:
    """A median that runs on SQLite and PostgreSQL alike: the middle row (or the mean of the
    two middle rows) by ROW_NUMBER() within each partition. Integer division picks them:
    for n rows the middle ranks are (n+1)/2 and (n+2)/2."""
    v = Vote._meta.db_table
    c = Comparison._meta.db_table
    return f"""
        SELECT grp, AVG(s) FROM (
            SELECT {partition} AS grp, v.seconds_on_task AS s,
                   ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY v.seconds_on_task) AS rn,
                   COUNT(*) OVER (PARTITION BY {partition}) AS cnt
            FROM {v} v JOIN {c} cmp ON cmp.id = v.comparison_id
            WHERE {where} AND v.seconds_on_task IS NOT NULL
        ) t
        WHERE rn = (cnt + 1) / 2 OR rn = (cnt + 2) / 2
        GROUP BY grp
    """


def _vote_filter(*, campaign: Campaign, excluded: list[int], drop_excluded: bool = True) -> tuple[str, list]:
    where = "v.campaign_id = %s AND v.counted = %s AND cmp.excluded = %s"
    params: list = [campaign.pk, True, False]
    if excluded and drop_excluded:
        where += f" AND v.reviewer_id NOT IN ({', '.join(['%s'] * len(excluded))})"
        params += list(excluded)
    return where, params


def median_seconds(*, campaign: Campaign, excluded: list[int] | None = None) -> float | None:
    """Median time on task of the counted votes."""
    if excluded is None:
        excluded = excluded_reviewer_ids(campaign=campaign)
    where, params = _vote_filter(campaign=campaign, excluded=excluded)
    with connection.cursor() as cursor:
        cursor.execute(_median_sql("v.campaign_id", where), params)
        row = cursor.fetchone()
    return float(row[1]) if row and row[1] is not None else None


def reviewer_rows(*, campaign: Campaign, excluded: list[int] | None = None) -> list[dict]:
    """One row per campaign member: votes, outcomes, too fast, gold, self-consistency, median
    time, skips and flags, and agreement with the other reviewers' majority.

    The same definitions as `selectors.reviewers.reviewer_quality` (the review workflow's
    table), but every number is a GROUP BY or a window query, so it stays fast at a million
    votes, where that one reads each vote into Python.

    Excluded reviewers are listed too (marked), so a lead can see why they were excluded;
    their own rows use their own votes, but they never count as "the others" of anybody.
    """
    if excluded is None:
        excluded = excluded_reviewer_ids(campaign=campaign)
    members = list(
        CampaignReviewer.objects.filter(campaign=campaign)
        .select_related("user")
        .order_by("user__username")
        .values_list("user_id", "user__username", "excluded")
    )
    base = Vote.objects.filter(campaign=campaign, comparison__excluded=False)
    counted = {
        row["reviewer_id"]: row
        for row in base.filter(counted=True)
        .values("reviewer_id")
        .annotate(
            votes=Count("pk"),
            too_fast=Count("pk", filter=Q(too_fast=True)),
            gold_votes=Count("pk", filter=~Q(comparison__gold="")),
            gold_correct=Count("pk", filter=~Q(comparison__gold="") & Q(comparison__gold=F("resolved"))),
            **_outcome_aggregates(),
        )
        .order_by()
    }
    # Self-consistency: a repeat vote (not counted) re-shows a comparison the reviewer already
    # judged, sides swapped; it is consistent when it resolves to the same outcome.
    first_vote = Vote.objects.filter(
        counted=True, comparison_id=OuterRef("comparison_id"), reviewer_id=OuterRef("reviewer_id")
    ).values("resolved")[:1]
    consistency = {
        row["reviewer_id"]: (row["same"], row["repeats"])
        for row in Vote.objects.filter(campaign=campaign, counted=False)
        .annotate(first=Subquery(first_vote))
        .filter(first__isnull=False)
        .values("reviewer_id")
        .annotate(repeats=Count("pk"), same=Count("pk", filter=Q(resolved=F("first"))))
        .order_by()
    }

    given_up = {
        (row["reviewer_id"], row["status"]): row["n"]
        for row in Assignment.objects.filter(
            campaign=campaign, status__in=[Assignment.Status.SKIPPED, Assignment.Status.FLAGGED]
        )
        .values("reviewer_id", "status")
        .annotate(n=Count("pk"))
        .order_by()
    }
    where, params = _vote_filter(campaign=campaign, excluded=excluded, drop_excluded=False)
    with connection.cursor() as cursor:
        cursor.execute(_median_sql("v.reviewer_id", where), params)
        medians = {rid: float(m) for rid, m in cursor.fetchall() if m is not None}
    agreement = _agreement_with_majority(campaign=campaign, excluded=excluded)

    rows = []
    for user_id, username, is_excluded in members:
        c = counted.get(user_id, {})
        same, repeats = consistency.get(user_id, (0, 0))
        judged, agreed = agreement.get(user_id, (0, 0))
        rows.append(
            {
                "reviewer_id": user_id,
                "username": username,
                "excluded": is_excluded,
                "votes": c.get("votes", 0),
                "a_wins": c.get("a_wins", 0),
                "b_wins": c.get("b_wins", 0),
                "ties": c.get("ties", 0),
                "both_bad": c.get("both_bad", 0),
                "too_fast": c.get("too_fast", 0),
                "gold_votes": c.get("gold_votes", 0),
                "gold_correct": c.get("gold_correct", 0),
                "repeat_votes": repeats,
                "repeat_consistent": same,
                "majority_judged": judged,
                "majority_agreed": agreed,
                "median_seconds": medians.get(user_id),
                "skips": given_up.get((user_id, Assignment.Status.SKIPPED), 0),
                "flags": given_up.get((user_id, Assignment.Status.FLAGGED), 0),
            }
        )
    return rows


def _agreement_with_majority(*, campaign: Campaign, excluded: list[int]) -> dict[int, tuple[int, int]]:
    """Per reviewer: (votes where the *other* reviewers of the comparison have a unique
    majority outcome, votes that agree with it). Computed in one SQL statement: per
    comparison counts of the non-excluded reviewers, minus the reviewer's own vote."""
    v = Vote._meta.db_table
    c = Comparison._meta.db_table
    inner_where, inner_params = _vote_filter(campaign=campaign, excluded=excluded)
    outer_where, outer_params = _vote_filter(campaign=campaign, excluded=excluded, drop_excluded=False)
    # The ids are integers read from the database, so writing them into the SQL is safe.
    own = (
        f"CASE WHEN v.reviewer_id IN ({', '.join(str(int(i)) for i in excluded)}) THEN 0 ELSE 1 END"
        if excluded
        else "1"
    )

    def minus(label: str, column: str) -> str:
        return f"c.{column} - CASE WHEN v.resolved = '{label}' THEN {own} ELSE 0 END"

    def top(x: str, others: list[str]) -> str:
        return " AND ".join(f"{x} > {o}" for o in others)

    cols = ["oa", "ob", "ot", "ox"]
    tops = {col: top(col, [o for o in cols if o != col]) for col in cols}
    judged = " OR ".join(f"({t})" for t in tops.values())
    agreed = " OR ".join(f"(lab = '{label}' AND {tops[col]})" for label, col in zip(OUTCOMES, cols, strict=True))
    sql = f"""
        WITH c AS (
            SELECT v.comparison_id AS cid,
                   SUM(CASE WHEN v.resolved = 'a' THEN 1 ELSE 0 END) AS na,
                   SUM(CASE WHEN v.resolved = 'b' THEN 1 ELSE 0 END) AS nb,
                   SUM(CASE WHEN v.resolved = 'tie' THEN 1 ELSE 0 END) AS nt,
                   SUM(CASE WHEN v.resolved = 'both_bad' THEN 1 ELSE 0 END) AS nx
            FROM {v} v JOIN {c} cmp ON cmp.id = v.comparison_id
            WHERE {inner_where}
            GROUP BY v.comparison_id
        ),
        o AS (
            SELECT v.reviewer_id AS rid, v.resolved AS lab,
                   {minus("a", "na")} AS oa, {minus("b", "nb")} AS ob,
                   {minus("tie", "nt")} AS ot, {minus("both_bad", "nx")} AS ox
            FROM {v} v
            JOIN {c} cmp ON cmp.id = v.comparison_id
            JOIN c ON c.cid = v.comparison_id
            WHERE {outer_where}
        )
        SELECT rid,
               SUM(CASE WHEN {judged} THEN 1 ELSE 0 END),
               SUM(CASE WHEN {agreed} THEN 1 ELSE 0 END)
        FROM o GROUP BY rid
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*inner_params, *outer_params])
        return {rid: (int(j or 0), int(a or 0)) for rid, j, a in cursor.fetchall()}


def report_fingerprint(*, campaign: Campaign) -> str:
    """A short digest that changes whenever the report's inputs change: any vote added or
    removed (count, last id, last time), the excluded reviewers, the excluded comparisons,
    the contestants' labels and the campaign's status. Votes are never edited in place (a
    different choice is refused with 409), so count + last id + last time catch every change.
    """
    votes = Vote.objects.filter(campaign=campaign).aggregate(n=Count("pk"), last=Max("pk"), at=Max("created_at"))
    excluded_comparisons = Comparison.objects.filter(campaign=campaign, excluded=True).aggregate(
        n=Count("pk"), last=Max("pk")
    )
    parts = [
        campaign.pk,
        campaign.created_at.isoformat() if campaign.created_at else "",
        campaign.status,
        campaign.name,
        votes["n"],
        votes["last"],
        votes["at"].isoformat() if votes["at"] else "",
        excluded_reviewer_ids(campaign=campaign),
        excluded_comparisons["n"],
        excluded_comparisons["last"],
        list(campaign.contestants.order_by("position", "id").values_list("id", "label", "is_baseline")),
        list(campaign.prompts.values_list("category").distinct().order_by("category")),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
