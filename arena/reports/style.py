"""The report's style-controlled section: Bradley-Terry ratings with answer length and markdown
held fixed (arena/style.py), beside the plain leaderboard.

Built on every counted vote (the overall slice; not per category: each style fit refits the
covariates, and a category rarely has the votes to separate style from model). It holds the
style-controlled leaderboard (the rows of `leaderboard_style.csv`, same columns as
`leaderboard.csv`), the fitted coefficients with their prompt-resampled intervals, and for
every pair the preference for A with style held equal (with two models, the A-vs-B answer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .. import style
from ..models import Campaign
from ..selectors import report as report_selectors
from ..selectors.style import comparison_style_counts
from ..stats import ELO_SCALE
from .ratings import LeaderboardRow, board_rows, fit_slice, slice_comparisons

if TYPE_CHECKING:
    from .build import SliceSetup  # build imports this module

FEATURE_NAMES = {
    "length": "answer length (characters)",
    "headers": "markdown headers",
    "list_items": "list items",
    "bold": "bold spans",
}


@dataclass
class StyleCoefficient:
    feature: str
    label: str
    # Log-odds per standard deviation of the normalised difference (a - b) / (a + b + 1);
    # `rating_points` is the same on the Elo scale (400 / ln 10 times it).
    coefficient: float | None
    ci_low: float | None
    ci_high: float | None
    rating_points: float | None
    sd: float  # the normaliser: sd of (a - b) / (a + b + 1) over the votes
    note: str = ""


@dataclass
class StylePreference:
    contestant_a_id: int
    contestant_b_id: int
    model_a: str
    model_b: str
    # P(reviewers prefer A) with the two answers' style equal, from the style-controlled
    # ratings, and its prompt-resampled 95% interval; None when a side is not estimable.
    preference: float | None
    ci_low: float | None
    ci_high: float | None
    raw_score: float | None  # A's observed score (ties half), for comparison


@dataclass
class StyleSection:
    leaderboard: list[LeaderboardRow] = field(default_factory=list)
    coefficients: list[StyleCoefficient] = field(default_factory=list)
    pairs: list[StylePreference] = field(default_factory=list)
    comparisons: int = 0
    method: str = ""
    summary: str = ""


def _number(x) -> float | None:
    return None if x is None or math.isnan(float(x)) else float(x)


def style_section(
    *, campaign: Campaign, setup: SliceSetup, per_comparison: report_selectors.ComparisonCounts, pairs: list
) -> StyleSection:
    """The style-controlled fit over all of `per_comparison`'s rows; `pairs` are the overall
    slice's pair rows (a StylePreference each)."""
    contestants = setup.contestants
    index = {c.id: i for i, c in enumerate(contestants)}
    comparisons = slice_comparisons(per_comparison, None, index)
    if len(contestants) < 2 or not len(comparisons.rows) or per_comparison.response_a_id is None:
        return StyleSection(summary="")
    a_counts, b_counts = comparison_style_counts(
        campaign=campaign,
        response_a_id=per_comparison.response_a_id[comparisons.rows],
        response_b_id=per_comparison.response_b_id[comparisons.rows],
    )
    votes = comparisons.a_wins + comparisons.b_wins + comparisons.ties
    z, sd = style.style_covariates(a_counts, b_counts, votes)
    fit = fit_slice(len(contestants), comparisons, rounds=setup.rounds, anchor=setup.anchor, covariates=z)
    coefficients = []
    for j, name in enumerate(style.STYLE_FEATURES):
        value = _number(fit.coefficients[j])
        note = ""
        if value is None:
            note = "does not vary" if sd[j] == 0 else "not separable from model identity"
        coefficients.append(
            StyleCoefficient(
                feature=name,
                label=FEATURE_NAMES[name],
                coefficient=value,
                ci_low=_number(fit.coef_low[j]),
                ci_high=_number(fit.coef_high[j]),
                rating_points=None if value is None else ELO_SCALE * value,
                sd=float(sd[j]),
                note=note,
            )
        )
    preferences = []
    for row in pairs:
        i, j = index[row.contestant_a_id], index[row.contestant_b_id]
        pref = low = high = None
        if fit.estimable[i] and fit.estimable[j]:
            pref = float(style.preference(fit.ratings[i], fit.ratings[j]))
            if len(fit.boot):
                boot = style.preference(fit.boot[:, i], fit.boot[:, j])
                low, high = (float(x) for x in np.quantile(boot, [0.025, 0.975]))
        preferences.append(
            StylePreference(
                contestant_a_id=row.contestant_a_id,
                contestant_b_id=row.contestant_b_id,
                model_a=row.model_a,
                model_b=row.model_b,
                preference=pref,
                ci_low=low,
                ci_high=high,
                raw_score=row.a_score,
            )
        )
    section = StyleSection(
        leaderboard=board_rows(contestants, fit, comparisons),
        coefficients=coefficients,
        pairs=preferences,
        comparisons=int(len(comparisons.rows)),
        method=fit.method,
    )
    section.summary = style_sentence(section)
    return section


def style_sentence(section: StyleSection) -> str:
    """One or two sentences for the report's summary."""
    length = next((c for c in section.coefficients if c.feature == "length"), None)
    text = ""
    if length is not None and length.coefficient is not None and length.ci_low is not None:
        clear = length.ci_low > 0 or (length.ci_high is not None and length.ci_high < 0)
        text = (
            f" Style control: one standard deviation of relative answer length is worth "
            f"{length.rating_points:+.0f} rating points (95% CI {ELO_SCALE * length.ci_low:+.0f} to "
            f"{ELO_SCALE * length.ci_high:+.0f}; {'clearly not zero' if clear else 'not clearly different from zero'})."
        )
    rated = [r for r in section.leaderboard if r.rating is not None]
    if len(section.pairs) == 1 and section.pairs[0].preference is not None:
        p = section.pairs[0]
        interval = "" if p.ci_low is None else f" (95% CI {100 * p.ci_low:.0f}–{100 * p.ci_high:.0f}%)"
        text += (
            f" With length and markdown held equal, {p.model_a} would be preferred to {p.model_b} "
            f"{100 * p.preference:.0f}% of the time{interval}."
        )
    elif rated:
        text += f" With length and markdown held fixed, {rated[0].model} rates highest ({rated[0].rating:.0f})."
    return text
