"""Criteria reads for the report: per-criterion counts grouped in SQL, from the counted votes.

Which votes count is the report's own rule (`report.counted_votes`: counted, not an excluded
reviewer's, not on an excluded comparison); a criterion's tables use those of them that
answered it. Counts come back one row per (criterion, comparison), so the per-criterion pair
tables reuse the overall table's code and prompt bootstrap unchanged (arena/reports/criteria.py).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from django.db.models import Count, F, OuterRef, Q, Subquery

from ..models import Campaign, Criterion, VoteCriterion
from .report import OUTCOMES, ComparisonCounts, counted_votes


def _is(outcome: str, path: str = "resolved") -> Q:
    return Q(**{path: outcome})


def criterion_counts(
    *, campaign: Campaign, excluded: list[int]
) -> tuple[list[Criterion], dict[int, ComparisonCounts], dict[int, dict]]:
    """(criteria in order, criterion id -> its per-comparison counts, criterion id -> agreement
    with the overall choice: {answered, agreed, opposite}).

    `agreed` counts answers that resolve to the vote's own choice; `opposite` the decisive
    answers for the side the vote's choice went against (A on the criterion, B overall, or the
    reverse).
    """
    criteria = list(Criterion.objects.filter(campaign=campaign).order_by("position", "id"))
    if not criteria:
        return [], {}, {}
    votes = counted_votes(campaign=campaign, excluded=excluded).values("pk")
    overall = "vote__resolved"
    rows = (
        VoteCriterion.objects.filter(vote_id__in=votes)
        .values(
            "criterion_id",
            comparison_id=F("vote__comparison_id"),
            prompt_id=F("vote__comparison__prompt_id"),
            category=F("vote__comparison__prompt__category"),
            contestant_a_id=F("vote__comparison__contestant_a_id"),
            contestant_b_id=F("vote__comparison__contestant_b_id"),
        )
        .annotate(
            **{outcome: Count("pk", filter=_is(outcome)) for outcome in OUTCOMES},
            agreed=Count("pk", filter=Q(resolved=F(overall))),
            opposite=Count("pk", filter=(_is("a") & _is("b", overall)) | (_is("b") & _is("a", overall))),
        )
        .order_by("criterion_id", "comparison_id")
    )
    grouped: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[row["criterion_id"]].append(row)
    counts, agreement = {}, {}
    for criterion in criteria:
        mine = grouped.get(criterion.pk, [])
        n = len(mine)

        def column(name: str, rows=mine) -> np.ndarray:
            return np.array([r[name] for r in rows], dtype=np.int64)

        table = np.array([[r[o] for o in OUTCOMES] for r in mine], dtype=np.int64).reshape(n, 4)
        zeros = np.zeros(n, dtype=np.int64)
        counts[criterion.pk] = ComparisonCounts(
            comparison_id=column("comparison_id"),
            prompt_id=column("prompt_id"),
            contestant_a_id=column("contestant_a_id"),
            contestant_b_id=column("contestant_b_id"),
            category=[r["category"] or "" for r in mine],
            counts=table,
            # Position, speed and length are properties of the vote, reported once overall.
            left_wins=zeros,
            right_wins=zeros,
            too_fast=zeros,
            a_longer=zeros,
        )
        agreement[criterion.pk] = {
            "answered": int(table.sum()),
            "agreed": int(column("agreed").sum()),
            "opposite": int(column("opposite").sum()),
        }
    return criteria, counts, agreement


def criterion_consistency(*, campaign: Campaign) -> dict[int, dict[int, tuple[int, int]]]:
    """Self-consistency per criterion and reviewer: criterion id -> reviewer id ->
    (repeat answers that resolve as the first answer did, repeat answers with a first answer).

    A repeat check (a vote not counted) re-shows a comparison the reviewer judged, sides
    swapped; each of its criteria answers is set against the same reviewer's answer to the
    same criterion on the same comparison in their counted vote, as the overall choice is in
    `report._consistency`. Repeats are a small share of the votes, so they are read one by one.
    """
    first = VoteCriterion.objects.filter(
        criterion_id=OuterRef("criterion_id"),
        vote__reviewer_id=OuterRef("vote__reviewer_id"),
        vote__comparison_id=OuterRef("vote__comparison_id"),
        vote__counted=True,
    ).values("resolved")[:1]
    repeats = (
        VoteCriterion.objects.filter(vote__campaign=campaign, vote__counted=False)
        .annotate(first=Subquery(first))
        .exclude(first=None)
        .values_list("criterion_id", "vote__reviewer_id", "resolved", "first")
    )
    result: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for criterion_id, reviewer_id, resolved, first_answer in repeats:
        cell = result[criterion_id][reviewer_id]
        cell[0] += resolved == first_answer
        cell[1] += 1
    return {c: {r: (same, n) for r, (same, n) in by.items()} for c, by in result.items()}
