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
import itertools
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import Count, F, Max, Q, QuerySet

from .. import stats
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


@dataclass(frozen=True)
class ComparisonCounts:
    """Per-comparison counts (one comparison = one prompt of one pair), as parallel arrays.

    `counts[:, k]` is the number of votes with outcome OUTCOMES[k]; `left_wins`, `right_wins`
    and `too_fast` count the same comparison's votes by shown side and speed; `a_longer` is
    +1 when response A's text is longer than B's, -1 when shorter, 0 when equal. These rows
    are the input of the pair and category tables, the prompt bootstrap (a comparison's votes
    are one cluster), the agreement statistics and both biases.
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
    # The two responses of each comparison (their texts give the style covariates).
    response_a_id: np.ndarray | None = None
    response_b_id: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.comparison_id)


@dataclass(frozen=True)
class ReportData:
    """Everything of the report that is counted from votes, from one pass over them."""

    per_comparison: ComparisonCounts
    reviewers: list[dict]
    median_seconds: float | None


# Rows are read this many at a time, so the Python tuples of a million votes never all
# exist at once (the numpy arrays they fill are 48 bytes a vote).
FETCH_ROWS = 100_000


def _fetch_array(sql: str, params: list, width: int) -> np.ndarray:
    """Run a query whose columns are all numbers (or booleans) into an (n, width) float array."""
    chunks = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_ROWS):
            flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64, count=width * len(rows))
            chunks.append(flat.reshape(-1, width))
    return np.concatenate(chunks) if chunks else np.zeros((0, width))


_OUTCOME_CODE = "CASE {col} WHEN 'a' THEN 0 WHEN 'b' THEN 1 WHEN 'tie' THEN 2 WHEN 'both_bad' THEN 3 ELSE -1 END"


def report_data(*, campaign: Campaign, excluded: list[int] | None = None) -> ReportData:
    """Per-comparison counts, the reviewer table and the median time, from one read of the
    campaign's counted votes (six numbers each) and one of its comparisons.

    Why one scan rather than GROUP BYs: a reviewer's agreement with the others' majority
    needs each vote next to its comparison's counts, so some per-vote pass is unavoidable;
    once the votes are in numpy arrays, every other number is a bincount or a sort, and the
    scan (about 0.8 s per million votes on SQLite or PostgreSQL) costs less than the single
    per-reviewer GROUP BY did on SQLite (1.3 s).
    """
    if excluded is None:
        excluded = excluded_reviewer_ids(campaign=campaign)
    c_table, v_table = Comparison._meta.db_table, Vote._meta.db_table
    comparisons = _fetch_array(
        f"SELECT id, prompt_id, contestant_a_id, contestant_b_id, response_a_id, response_b_id, "
        f"{_OUTCOME_CODE.format(col='gold')} FROM {c_table} WHERE campaign_id = %s AND excluded = %s ORDER BY id",
        [campaign.pk, False],
        7,
    ).astype(np.int64)
    # Four numbers a vote: outcome, shown side and speed travel packed in one integer (each
    # extra column costs about 0.1 s a million rows in the database driver).
    votes = _fetch_array(
        f"SELECT reviewer_id, comparison_id, "
        f"{_OUTCOME_CODE.format(col='resolved')} * 4 + (CASE WHEN a_on_left THEN 2 ELSE 0 END)"
        f" + (CASE WHEN too_fast THEN 1 ELSE 0 END), COALESCE(seconds_on_task, -1), counted "
        f"FROM {v_table} WHERE campaign_id = %s",
        [campaign.pk],
        5,
    )
    # Repeat checks (not counted) only feed self-consistency: each is compared with the
    # same reviewer's counted vote on the same comparison.
    repeats = votes[votes[:, 4] == 0]
    votes = votes[votes[:, 4] > 0]
    consistency = _consistency(
        votes[:, 0].astype(np.int64), votes[:, 1].astype(np.int64), votes[:, 2].astype(np.int64) // 4, repeats
    )
    # Votes on excluded comparisons are dropped here (their comparison is not in the list).
    comparison_ids = comparisons[:, 0]
    position = np.searchsorted(comparison_ids, votes[:, 1].astype(np.int64))
    position = np.minimum(position, max(len(comparison_ids) - 1, 0))
    keep = (
        (comparison_ids[position] == votes[:, 1]) & (votes[:, 2] >= 0)
        if len(comparison_ids)
        else np.zeros(len(votes), dtype=bool)
    )
    votes, position = votes[keep], position[keep]
    reviewer = votes[:, 0].astype(np.int64)
    packed = votes[:, 2].astype(np.int64)
    outcome = packed // 4
    a_on_left = (packed & 2) > 0
    too_fast = (packed & 1) > 0
    seconds = votes[:, 3]
    included = ~np.isin(reviewer, np.asarray(excluded, dtype=np.int64))

    n = len(comparison_ids)

    def per_comparison(mask: np.ndarray) -> np.ndarray:
        return np.bincount(position[mask], minlength=n)

    counts = np.zeros((n, 4), dtype=np.int64)
    for k in range(4):
        counts[:, k] = per_comparison(included & (outcome == k))
    left = ((outcome == 0) & a_on_left) | ((outcome == 1) & ~a_on_left)
    right = ((outcome == 0) & ~a_on_left) | ((outcome == 1) & a_on_left)
    voted = counts.sum(axis=1) > 0
    per = ComparisonCounts(
        comparison_id=comparison_ids[voted],
        prompt_id=comparisons[voted, 1],
        contestant_a_id=comparisons[voted, 2],
        contestant_b_id=comparisons[voted, 3],
        category=_categories(campaign, comparisons[voted, 1]),
        counts=counts[voted],
        left_wins=per_comparison(included & left)[voted],
        right_wins=per_comparison(included & right)[voted],
        too_fast=per_comparison(included & too_fast)[voted],
        a_longer=_a_longer(campaign, comparisons[voted, 4], comparisons[voted, 5]),
        response_a_id=comparisons[voted, 4],
        response_b_id=comparisons[voted, 5],
    )

    timed = seconds >= 0
    overall_median = stats.median_or_none(seconds[included & timed])
    # A reviewer's agreement with the others' majority: the comparison's counts (included
    # reviewers only) minus the reviewer's own vote when it is one of them.
    others = counts[position] - np.eye(4, dtype=np.int64)[outcome] * included[:, None]
    judged, agreed = stats.agrees_with_unique_majority(others, outcome)
    gold = comparisons[position, 6]
    members = list(
        CampaignReviewer.objects.filter(campaign=campaign)
        .order_by("user__username")
        .values_list("user_id", "user__username", "excluded")
    )
    member_ids = np.array([m[0] for m in members], dtype=np.int64)
    # Reviewers are indexed by their place in `members`; votes of anyone else are ignored.
    order = np.argsort(member_ids)
    slot = np.searchsorted(member_ids[order], reviewer)
    slot = np.minimum(slot, max(len(member_ids) - 1, 0))
    known = member_ids[order][slot] == reviewer if len(member_ids) else np.zeros(len(reviewer), dtype=bool)
    index = np.where(known, order[slot] if len(member_ids) else 0, -1)
    m = len(members)

    def per_reviewer(mask: np.ndarray) -> np.ndarray:
        return np.bincount(index[mask & known], minlength=m)

    everyone = np.ones(len(index), dtype=bool)
    columns = {
        "votes": per_reviewer(everyone),
        "a_wins": per_reviewer(outcome == 0),
        "b_wins": per_reviewer(outcome == 1),
        "ties": per_reviewer(outcome == 2),
        "both_bad": per_reviewer(outcome == 3),
        "too_fast": per_reviewer(too_fast),
        "gold_votes": per_reviewer(gold >= 0),
        "gold_correct": per_reviewer((gold >= 0) & (gold == outcome)),
        "majority_judged": per_reviewer(judged),
        "majority_agreed": per_reviewer(agreed),
    }
    medians = stats.group_medians(index[known & timed], seconds[known & timed], groups_count=m)
    given_up = _given_up(campaign)
    rows = []
    for i, (user_id, username, is_excluded) in enumerate(members):
        same, repeats = consistency.get(user_id, (0, 0))
        rows.append(
            {
                "reviewer_id": user_id,
                "username": username,
                "excluded": is_excluded,
                **{name: int(values[i]) for name, values in columns.items()},
                "repeat_votes": repeats,
                "repeat_consistent": same,
                "median_seconds": medians[i],
                "skips": given_up.get((user_id, Assignment.Status.SKIPPED), 0),
                "flags": given_up.get((user_id, Assignment.Status.FLAGGED), 0),
            }
        )
    return ReportData(per_comparison=per, reviewers=rows, median_seconds=overall_median)


def _categories(campaign: Campaign, prompt_ids: np.ndarray) -> list[str]:
    prompts = list(campaign.prompts.order_by("id").values_list("id", "category"))
    if not prompts or not len(prompt_ids):
        return []
    ids = np.array([p[0] for p in prompts], dtype=np.int64)
    names = np.array([p[1] or "" for p in prompts], dtype=object)
    return names[np.searchsorted(ids, prompt_ids)].tolist()


def _a_longer(campaign: Campaign, response_a: np.ndarray, response_b: np.ndarray) -> np.ndarray:
    """Sign of len(A's text) - len(B's text); lengths read once per response, not per vote."""
    if not len(response_a):
        return np.zeros(0, dtype=np.int64)
    rows = _fetch_array(
        f"SELECT id, COALESCE(LENGTH(text), 0) FROM {Response._meta.db_table} WHERE campaign_id = %s ORDER BY id",
        [campaign.pk],
        2,
    ).astype(np.int64)
    ids, lengths = rows[:, 0], rows[:, 1]

    def length_of(response_ids: np.ndarray) -> np.ndarray:
        at = np.minimum(np.searchsorted(ids, response_ids), max(len(ids) - 1, 0))
        return np.where(ids[at] == response_ids, lengths[at], 0) if len(ids) else np.zeros(len(response_ids))

    return np.sign(length_of(response_a) - length_of(response_b)).astype(np.int64)


def _consistency(
    reviewer: np.ndarray, comparison: np.ndarray, outcome: np.ndarray, repeats: np.ndarray
) -> dict[int, tuple[int, int]]:
    """Self-consistency per reviewer: (repeat votes consistent with the first vote, repeat
    votes). A repeat vote (not counted) re-shows a comparison the reviewer already judged,
    sides swapped; it is consistent when it resolves to the same outcome. A repeat whose
    first vote is not among the counted votes read (e.g. on an excluded comparison) is skipped.
    """
    if not len(repeats) or not len(reviewer):
        return {}
    # One counted vote per (comparison, reviewer): a normal assignment is unique on that pair.
    span = int(max(reviewer.max(), repeats[:, 0].max())) + 1
    keys = comparison * span + reviewer
    order = np.argsort(keys)
    keys, first_outcome = keys[order], outcome[order]
    repeat_reviewer = repeats[:, 0].astype(np.int64)
    repeat_keys = repeats[:, 1].astype(np.int64) * span + repeat_reviewer
    at = np.minimum(np.searchsorted(keys, repeat_keys), len(keys) - 1)
    found = keys[at] == repeat_keys
    same = found & (first_outcome[at] == repeats[:, 2].astype(np.int64) // 4)
    result = {}
    for user_id in np.unique(repeat_reviewer[found]):
        mine = repeat_reviewer == user_id
        result[int(user_id)] = (int((same & mine).sum()), int((found & mine).sum()))
    return result


def _given_up(campaign: Campaign) -> dict[tuple[int, str], int]:
    return {
        (row["reviewer_id"], row["status"]): row["n"]
        for row in Assignment.objects.filter(
            campaign=campaign, status__in=[Assignment.Status.SKIPPED, Assignment.Status.FLAGGED]
        )
        .values("reviewer_id", "status")
        .annotate(n=Count("pk"))
        .order_by()
    }


def report_fingerprint(*, campaign: Campaign) -> str:
    """A short digest that changes whenever the report's inputs change: any vote added or
    removed (count, last id, last time), the excluded reviewers, the excluded comparisons,
    the contestants' labels, the criteria and the campaign's status (a vote's criteria answers
    are written with it). Votes are never edited in place (a
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
        list(campaign.criteria.order_by("position", "id").values_list("id", "key", "question", "required")),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
