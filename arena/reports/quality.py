"""The quality tables of a report: how far reviewers agree, and their position and length bias.

They describe the votes rather than the models, so they are built apart from the pair and
leaderboard tables (build.py), from the same per-comparison counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import stats
from ..selectors import report as report_selectors


@dataclass
class Agreement:
    comparisons: int  # comparisons with two or more counted votes
    krippendorff_alpha: float | None
    percent_agreement: float | None
    fleiss_kappa: float | None
    fleiss_comparisons: int  # Fleiss' kappa needs the same number of votes per comparison
    fleiss_raters: int


@dataclass
class ShareRow:
    wins: int
    losses: int
    share: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


def agreement_of(counts: np.ndarray, *, k: int) -> Agreement:
    """Agreement on comparisons with two or more votes, from per-comparison outcome counts."""
    multi = counts[counts.sum(axis=1) >= 2] if len(counts) else counts
    alpha = stats.krippendorff_alpha_nominal_counts(multi)
    percent = stats.percent_agreement_counts(multi)
    # Fleiss' kappa assumes every item has the same number of ratings: use the comparisons
    # with exactly k votes (the campaign's target), else the most common number of votes.
    kappa, fleiss_items, raters = None, 0, 0
    if len(multi):
        per_item = multi.sum(axis=1)
        values, freq = np.unique(per_item, return_counts=True)
        raters = k if k in values and k >= 2 else int(values[np.argmax(freq)])
        table = multi[per_item == raters]
        fleiss_items = int(len(table))
        kappa = stats.fleiss_kappa(table)
    return Agreement(
        comparisons=int(len(multi)),
        krippendorff_alpha=alpha,
        percent_agreement=percent,
        fleiss_kappa=kappa,
        fleiss_comparisons=fleiss_items,
        fleiss_raters=int(raters),
    )


def position_bias_of(per_comparison: report_selectors.ComparisonCounts) -> ShareRow:
    """Decisive votes for the left side against those for the right side."""
    left_wins, right_wins = int(per_comparison.left_wins.sum()), int(per_comparison.right_wins.sum())
    return ShareRow(left_wins, right_wins, *stats.position_bias(left_wins=left_wins, right_wins=right_wins))


def length_bias_of(per_comparison: report_selectors.ComparisonCounts) -> tuple[ShareRow, int]:
    """Decisive votes for the longer response against the shorter, and the decisive votes on
    comparisons whose two responses are the same length (which count for neither)."""
    counts = per_comparison.counts
    a_longer, b_longer = per_comparison.a_longer > 0, per_comparison.a_longer < 0
    longer_wins = int(counts[a_longer, 0].sum() + counts[b_longer, 1].sum())
    shorter_wins = int(counts[b_longer, 0].sum() + counts[a_longer, 1].sum())
    same_length = int(counts[per_comparison.a_longer == 0, :2].sum())
    share = ShareRow(longer_wins, shorter_wins, *stats.length_bias(longer_wins=longer_wins, shorter_wins=shorter_wins))
    return share, same_length
