"""Leaderboard rows from a prompt-resampled Bradley-Terry fit (arena/style.py), shared by the
plain leaderboard (build.py) and the style-controlled one (reports/style.py).

A model the fit cannot rate ("not estimable": never won, never lost, too few votes) keeps its
vote counts but has rating, ci_low, ci_high and rank None, and `note` says why; a bound that
the resamples cannot pin (the model never won, or never lost, in more than 2.5% of them) is
None while the rating stands. The CSVs write None as an empty cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import stats, style
from ..selectors import report as report_selectors


@dataclass
class LeaderboardRow:
    contestant_id: int
    model: str
    rating: float | None
    ci_low: float | None
    ci_high: float | None
    rank: int | None
    votes: int
    wins: int
    losses: int
    ties: int  # ties and both-bad
    estimable: bool = True
    note: str = ""  # why the rating (or a bound) is not estimable


@dataclass
class SliceComparisons:
    """The per-comparison inputs of a fit: prompt, model indices (A first) and outcomes."""

    rows: np.ndarray  # indices into the ComparisonCounts arrays
    prompt: np.ndarray
    first: np.ndarray
    second: np.ndarray
    a_wins: np.ndarray
    b_wins: np.ndarray
    ties: np.ndarray  # ties and both-bad


def slice_comparisons(
    per_comparison: report_selectors.ComparisonCounts, mask: np.ndarray | None, index: dict[int, int]
) -> SliceComparisons:
    """The comparisons of a slice (all when mask is None) whose two contestants are in `index`."""
    rows = np.arange(len(per_comparison)) if mask is None else np.flatnonzero(mask)
    a_ids, b_ids = per_comparison.contestant_a_id[rows], per_comparison.contestant_b_id[rows]
    ids = np.array(sorted(index), dtype=np.int64)
    positions = np.array([index[i] for i in ids], dtype=np.int64)
    known = np.isin(a_ids, ids) & np.isin(b_ids, ids)
    rows, a_ids, b_ids = rows[known], a_ids[known], b_ids[known]
    counts = per_comparison.counts[rows]

    def lookup(contestant_ids: np.ndarray) -> np.ndarray:
        return positions[np.searchsorted(ids, contestant_ids)] if len(ids) else contestant_ids.astype(np.int64)

    return SliceComparisons(
        rows=rows,
        prompt=per_comparison.prompt_id[rows],
        first=lookup(a_ids),
        second=lookup(b_ids),
        a_wins=counts[:, 0],
        b_wins=counts[:, 1],
        ties=counts[:, 2] + counts[:, 3],
    )


def fit_slice(
    n_models: int, comparisons: SliceComparisons, *, rounds: int, anchor: int | None, covariates=None
) -> style.RatingFit:
    return style.cluster_bt(
        n_models=n_models,
        prompt=comparisons.prompt,
        first=comparisons.first,
        second=comparisons.second,
        a_wins=comparisons.a_wins,
        b_wins=comparisons.b_wins,
        ties=comparisons.ties,
        covariates=covariates,
        rounds=rounds,
        anchor=anchor,
    )


def _number(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def board_rows(contestants, fit: style.RatingFit, comparisons: SliceComparisons) -> list[LeaderboardRow]:
    """One row per contestant, best first; not-estimable models last, by votes."""
    n = len(contestants)
    wins = np.bincount(comparisons.first, comparisons.a_wins, n) + np.bincount(
        comparisons.second, comparisons.b_wins, n
    )
    losses = np.bincount(comparisons.first, comparisons.b_wins, n) + np.bincount(
        comparisons.second, comparisons.a_wins, n
    )
    ties = np.bincount(comparisons.first, comparisons.ties, n) + np.bincount(comparisons.second, comparisons.ties, n)
    rated = np.flatnonzero(fit.estimable)
    ranks = [None] * n
    if len(rated):
        low = np.nan_to_num(fit.ci_low[rated], nan=-np.inf)
        high = np.nan_to_num(fit.ci_high[rated], nan=np.inf)
        for i, rank in zip(rated, stats.ranks_from_intervals(low, high), strict=True):
            ranks[i] = rank
    rows = []
    for i, c in enumerate(contestants):
        note = "" if fit.estimable[i] else f"not estimable: {fit.reasons[i]}"
        if fit.estimable[i] and (math.isnan(fit.ci_low[i]) or math.isnan(fit.ci_high[i])):
            side = "never won" if math.isnan(fit.ci_low[i]) else "never lost"
            note = f"interval open: it {side} in more than 2.5% of the resamples"
        rows.append(
            LeaderboardRow(
                contestant_id=c.id,
                model=c.label,
                rating=_number(fit.ratings[i]),
                ci_low=_number(fit.ci_low[i]),
                ci_high=_number(fit.ci_high[i]),
                rank=ranks[i],
                votes=int(wins[i] + losses[i] + ties[i]),
                wins=int(wins[i]),
                losses=int(losses[i]),
                ties=int(ties[i]),
                estimable=bool(fit.estimable[i]),
                note=note,
            )
        )
    rows.sort(key=lambda r: (r.rating is None, -(r.rating or 0.0), -r.votes, r.model))
    return rows


def not_estimable_sentence(rows: list[LeaderboardRow]) -> str:
    """ "Not estimable: X (never won), Y (only 3 votes)." or ""."""
    out = [f"{r.model} ({r.note.removeprefix('not estimable: ')})" for r in rows if not r.estimable]
    if not out:
        return ""
    return (
        f" Not estimable, so not rated: {', '.join(out)}; such a rating would be set by the prior, "
        "not by the votes, and these models are left out of the fit."
    )
