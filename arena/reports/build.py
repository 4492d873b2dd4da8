"""Assemble a campaign's full report: counts from selectors/report.py, numbers from stats.py.

`campaign_report()` is what pages, the API and the command call: it returns the cached
report while no vote (nor an excluded reviewer, comparison or label) has changed since it was
built; the cache key is a digest of exactly those inputs (`report_fingerprint`), so a new
vote makes a new key and the next read rebuilds. Old keys simply expire.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field

import numpy as np
from django.core.cache import cache
from django.utils import timezone

from .. import sequential, stats
from ..models import Campaign, Contestant
from ..selectors import report as report_selectors
from ..services.pairing import baseline_of, contestant_pairs
from .quality import Agreement, ShareRow, agreement_of, length_bias_of, position_bias_of
from .ratings import LeaderboardRow, SliceComparisons, board_rows, fit_slice, not_estimable_sentence, slice_comparisons
from .style import StyleSection, style_section

__all__ = ["CampaignReport", "LeaderboardRow", "PairRow", "Slice", "SliceSetup", "campaign_report", "report_build"]

# Bump when the report's shape or numbers change, so cached reports of older code are ignored.
# 2: prompt-resampled leaderboard, "not estimable", style control, criteria;
# 3: criterion and judge tables' votes-needed at the campaign's power_share.
REPORT_VERSION = 3
BOOTSTRAP_ROUNDS = 1000
CACHE_SECONDS = 7 * 24 * 3600
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class PairRow(stats.PairStats):
    """One pair's numbers (stats.PairStats: the win-rate CSV contract) with who the pair is."""

    contestant_a_id: int
    contestant_b_id: int
    model_a: str
    model_b: str
    # The prompt bootstrap interval of a_score (votes on one prompt are one cluster).
    score_ci_low: float | None = None
    score_ci_high: float | None = None
    prompts: int = 0
    # Holm-adjusted p over the slice's pairs decides `significant` (family-wise error); BH is
    # the lenient option (false discovery rate), shown beside it.
    significant: bool = False
    # Votes for 80% power of the exact sign test against the campaign's smallest difference that
    # matters (`power_share`, fixed before the votes: not the observed share), at the pair's tie
    # rate (all votes decisive when it has none). See arena/sequential.py.
    votes_needed: int | None = None
    power_share: float = 0.55
    p_holm: float | None = None
    p_bh: float | None = None


@dataclass
class Slice:
    """The tables of one set of votes: overall, or one prompt category."""

    name: str
    votes: int
    pairs: list[PairRow]
    leaderboard: list[LeaderboardRow]
    # labels in campaign order; matrix[i][j] = i's score against j (ties half), None if no votes
    labels: list[str]
    observed: list[list[float | None]]
    predicted: list[list[float | None]]


@dataclass(frozen=True)
class SliceSetup:
    """What every table of one campaign is computed with, whatever its rows (all votes, a
    category, a criterion, a judge): the contestants in campaign order, the pairing (the pairs
    shown), the bootstrap rounds, the contestant the ratings are anchored on, if any, and the
    campaign's smallest share that matters (`power_share`, for the votes-needed figure)."""

    contestants: list[Contestant]
    pairing: str
    rounds: int
    anchor: int | None
    power_share: float = 0.55

    @classmethod
    def of(cls, campaign: Campaign, *, rounds: int) -> SliceSetup:
        contestants = report_selectors.contestants_of(campaign=campaign)
        return cls(
            contestants, campaign.pairing, rounds, _anchor_index(campaign, contestants), float(campaign.power_share)
        )


@dataclass
class CampaignReport:
    campaign_id: int
    campaign: str
    status: str
    pairing: str
    is_simulated: bool
    votes: int
    overall: Slice
    categories: list[Slice]
    reviewers: list[dict]
    agreement: Agreement
    position_bias: ShareRow  # wins = decisive votes for the left side
    length_bias: ShareRow  # wins = decisive votes for the longer response
    same_length_votes: int
    median_seconds: float | None
    too_fast_votes: int
    summary: str
    generated_at: str
    bootstrap_rounds: int
    excluded_reviewers: int = 0
    fingerprint: str = ""
    extra: dict = field(default_factory=dict)
    style: StyleSection = field(default_factory=StyleSection)  # the style-controlled leaderboard
    # One reports.criteria.CriterionReport per campaign criterion, in order.
    criteria: list = field(default_factory=list)


# ---------------------------------------------------------------------------------------------


def campaign_report(*, campaign: Campaign, rounds: int = BOOTSTRAP_ROUNDS, use_cache: bool = True) -> CampaignReport:
    """The report, from the cache while its inputs are unchanged."""
    fingerprint = report_selectors.report_fingerprint(campaign=campaign)
    key = f"arena:report:v{REPORT_VERSION}:{campaign.pk}:{rounds}:{fingerprint}"
    if use_cache:
        cached = cache.get(key)
        if isinstance(cached, CampaignReport):
            return cached
    report = report_build(campaign=campaign, rounds=rounds)
    report.fingerprint = fingerprint
    if use_cache:
        cache.set(key, report, CACHE_SECONDS)
    return report


def report_build(*, campaign: Campaign, rounds: int = BOOTSTRAP_ROUNDS) -> CampaignReport:
    """Recompute every number from the votes (no cache)."""
    setup = SliceSetup.of(campaign, rounds=rounds)
    excluded = report_selectors.excluded_reviewer_ids(campaign=campaign)
    # One read of the votes feeds every vote count below; pair, category and bias counts are
    # sums over its per-comparison rows (numpy), not further scans of the votes table.
    data = report_selectors.report_data(campaign=campaign, excluded=excluded)
    per_comparison = data.per_comparison
    groups = pair_groups(per_comparison)

    def slice_of(name: str, mask: np.ndarray | None) -> Slice:
        """The tables of the comparisons in `mask` (all of them when None)."""
        return _slice(setup, name, per_comparison, mask=mask, groups=groups)

    overall = slice_of("All prompts", None)
    categories = []
    category_array = np.array(per_comparison.category, dtype=object)
    names = sorted(set(per_comparison.category))
    if len(names) > 1:
        categories = [slice_of(name or "(no category)", category_array == name) for name in names]
    length_bias, same_length_votes = length_bias_of(per_comparison)
    report = CampaignReport(
        campaign_id=campaign.pk,
        campaign=campaign.name,
        status=campaign.status,
        pairing=campaign.pairing,
        is_simulated=campaign.is_simulated,
        votes=int(per_comparison.counts.sum()),
        overall=overall,
        categories=categories,
        reviewers=data.reviewers,
        agreement=agreement_of(per_comparison.counts, k=campaign.votes_per_comparison),
        position_bias=position_bias_of(per_comparison),
        length_bias=length_bias,
        same_length_votes=same_length_votes,
        median_seconds=data.median_seconds,
        too_fast_votes=int(per_comparison.too_fast.sum()),
        summary="",
        generated_at=timezone.now().isoformat(),
        bootstrap_rounds=rounds,
        excluded_reviewers=len(excluded),
    )
    report.style = style_section(campaign=campaign, setup=setup, per_comparison=per_comparison, pairs=overall.pairs)
    # Imported here: the criteria module builds its tables with this module's `_slice`.
    from .criteria import criteria_reports

    report.criteria = criteria_reports(campaign=campaign, excluded=excluded, reviewers=data.reviewers, setup=setup)
    report.summary = summary_text(report)
    return report


def pair_groups(per_comparison: report_selectors.ComparisonCounts) -> dict[tuple[int, int], np.ndarray]:
    """The row indices of each pair's comparisons, found with one sort of a 1-D key."""
    a_ids, b_ids = per_comparison.contestant_a_id, per_comparison.contestant_b_id
    if len(a_ids) == 0:
        return {}
    span = int(max(a_ids.max(), b_ids.max())) + 1
    keys = a_ids.astype(np.int64) * span + b_ids
    order = np.argsort(keys, kind="stable")
    unique, starts = np.unique(keys[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    return {
        (int(key // span), int(key % span)): order[start:end]
        for key, start, end in zip(unique, starts, ends, strict=True)
    }


def pair_count_rows(
    per_comparison: report_selectors.ComparisonCounts,
    mask: np.ndarray | None,
    groups: dict[tuple[int, int], np.ndarray] | None = None,
) -> list[dict]:
    """Per-pair outcome counts summed from the per-comparison rows (optionally a subset)."""
    if groups is None:
        groups = pair_groups(per_comparison)
    rows = []
    for (a, b), index in groups.items():
        if mask is not None:
            index = index[mask[index]]
        if len(index) == 0:
            continue
        sums = per_comparison.counts[index].sum(axis=0)
        rows.append(
            {
                "contestant_a_id": a,
                "contestant_b_id": b,
                "a_wins": int(sums[0]),
                "b_wins": int(sums[1]),
                "ties": int(sums[2]),
                "both_bad": int(sums[3]),
            }
        )
    return rows


def _anchor_index(campaign: Campaign, contestants: list[Contestant]) -> int | None:
    """vs_baseline campaigns put the baseline at 1000; otherwise the mean rating is 1000."""
    if campaign.pairing == Campaign.Pairing.VS_BASELINE and len(contestants) >= 2:
        baseline = baseline_of(contestants)
        return next(i for i, c in enumerate(contestants) if c.id == baseline.id)
    return None


def _slice(
    setup: SliceSetup,
    name: str,
    per_comparison: report_selectors.ComparisonCounts,
    *,
    mask: np.ndarray | None = None,
    groups: dict[tuple[int, int], np.ndarray] | None = None,
) -> Slice:
    """The tables of the per-comparison rows in `mask` (all of them when None): the pair rows,
    the leaderboard and the win matrices. The report, each criterion and each judge get theirs
    here. `groups` is `pair_groups(per_comparison)`, passed by a caller that slices the same
    rows several times (the report's categories)."""
    contestants, pairing, rounds, anchor = setup.contestants, setup.pairing, setup.rounds, setup.anchor
    if groups is None:
        groups = pair_groups(per_comparison)
    counts_rows = pair_count_rows(per_comparison, mask, groups)
    index = {c.id: i for i, c in enumerate(contestants)}
    labels = [c.label for c in contestants]
    counted = {(r["contestant_a_id"], r["contestant_b_id"]): r for r in counts_rows}
    # The pairs to show: the schedule's pairs (empty ones too, with empty cells), plus any pair
    # that has votes but is no longer scheduled (e.g. the pairing was changed), in campaign order.
    pairs = []
    if len(contestants) >= 2:
        pairs = [(a.id, b.id) for a, b in contestant_pairs(contestants=contestants, pairing=pairing)]
    pairs += sorted(
        (key for key in counted if key not in set(pairs) and key[0] in index and key[1] in index),
        key=lambda k: (index[k[0]], index[k[1]]),
    )

    rows: list[PairRow] = []
    outcomes = []
    for a_id, b_id in pairs:
        r = counted.get((a_id, b_id), {"a_wins": 0, "b_wins": 0, "ties": 0, "both_bad": 0})
        ps = stats.pair_stats(a_wins=r["a_wins"], b_wins=r["b_wins"], ties=r["ties"], both_bad=r["both_bad"])
        selected = groups.get((a_id, b_id), np.zeros(0, dtype=np.int64))
        if mask is not None:
            selected = selected[mask[selected]]
        per_prompt = per_comparison.counts[selected]
        low, high = stats.prompt_bootstrap_score_interval(per_prompt, rounds=rounds) if ps.votes else (None, None)
        row = PairRow(
            contestant_a_id=a_id,
            contestant_b_id=b_id,
            model_a=labels[index[a_id]],
            model_b=labels[index[b_id]],
            **dataclasses.asdict(ps),
            score_ci_low=low,
            score_ci_high=high,
            prompts=int(len(per_prompt)),
            votes_needed=_votes_for_power(setup.power_share, decisive=ps.a_wins + ps.b_wins, votes=ps.votes),
            power_share=setup.power_share,
        )
        rows.append(row)
        outcomes.append((index[a_id], index[b_id], ps.a_wins, ps.b_wins, ps.ties + ps.both_bad))

    holm = sequential.holm_adjust([r.p_value for r in rows])
    bh = sequential.bh_adjust([r.p_value for r in rows])
    rows = [
        dataclasses.replace(r, p_holm=h, p_bh=b, significant=h is not None and h < SIGNIFICANCE)
        for r, h, b in zip(rows, holm, bh, strict=True)
    ]
    comparisons = slice_comparisons(per_comparison, mask, index)
    leaderboard, ratings = _leaderboard(contestants, outcomes, rounds=rounds, anchor=anchor, comparisons=comparisons)
    n = len(contestants)
    observed: list[list[float | None]] = [[None] * n for _ in range(n)]
    for i, j, wi, wj, t in outcomes:
        total = wi + wj + t
        if total:
            observed[i][j] = (wi + 0.5 * t) / total
            observed[j][i] = (wj + 0.5 * t) / total
    predicted = _plain(stats.predicted_win_matrix(ratings)) if n else []
    return Slice(
        name=name,
        votes=sum(r.votes for r in rows),
        pairs=rows,
        leaderboard=leaderboard,
        labels=labels,
        observed=observed,
        predicted=predicted,
    )


@functools.lru_cache(maxsize=64)
def decisive_votes_for_power(share: float) -> int | None:
    return sequential.decisive_votes_for_power(share, alpha=SIGNIFICANCE, power=0.80)


def _votes_for_power(share: float, *, decisive: int, votes: int) -> int | None:
    needed = decisive_votes_for_power(share)
    if needed is None:
        return None
    return math.ceil(needed * votes / decisive - 1e-9) if decisive else needed


def _leaderboard(contestants, outcomes, *, rounds: int, anchor: int | None, comparisons=None):
    """Bradley-Terry rows and the ratings (NaN where not estimable), with intervals that
    resample prompts (arena/style.py `cluster_bt`); `comparisons` are the slice's
    per-comparison rows (without them, each pair's votes count as one prompt)."""
    n = len(contestants)
    if n == 0:
        return [], []
    if comparisons is None:
        comparisons = _one_prompt_per_pair(outcomes)
    fit = fit_slice(n, comparisons, rounds=rounds, anchor=anchor)
    return board_rows(contestants, fit, comparisons), [float(x) for x in fit.ratings]


def _one_prompt_per_pair(outcomes):
    rows = np.asarray(outcomes, dtype=np.int64).reshape(-1, 5)
    return SliceComparisons(np.arange(len(rows)), np.arange(len(rows)), *rows.T)


def _plain(matrix: np.ndarray) -> list[list[float | None]]:
    return [[None if math.isnan(x) else float(x) for x in row] for row in np.asarray(matrix, dtype=float)]


# ---------------------------------------------------------------------------------------------
# Words


def percent(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def p_text(p: float | None) -> str:
    if p is None:
        return "no decisive votes"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}"


def pair_sentence(row: PairRow) -> str:
    if not row.votes:
        return f"{row.model_a} vs {row.model_b}: no votes yet."
    text = (
        f"Reviewers preferred {row.model_a} in {percent(row.a_win_rate)} of votes and {row.model_b} "
        f"in {percent(row.b_win_rate)}; {percent(row.tie_rate)} were ties or both bad "
        f"({row.votes} votes on {row.prompts} prompts)."
    )
    if row.decisive_share is None:
        return text + " No vote picked a side, so there is no winner."
    leader, trailer = (row.model_a, row.model_b) if row.a_wins >= row.b_wins else (row.model_b, row.model_a)
    adjusted = f", Holm-adjusted {p_text(row.p_holm)}" if row.p_holm is not None and row.p_holm != row.p_value else ""
    if row.a_wins == row.b_wins:
        text += f" Neither leads ({p_text(row.p_value)}{adjusted})."
    elif row.significant:
        text += f" {leader}'s lead over {trailer} is significant ({p_text(row.p_value)}{adjusted})."
    else:
        text += f" {leader}'s lead over {trailer} is not significant ({p_text(row.p_value)}{adjusted})."
    if not row.significant and row.votes_needed:
        text += (
            f" Detecting a true share of {percent(row.power_share)} with 80% power takes about"
            f" {row.votes_needed} votes (exact sign test)."
        )
    text += (
        f" 95% CI for {row.model_a}'s share of decisive votes: {percent(row.ci_low)}–{percent(row.ci_high)}"
        f" (point {percent(row.decisive_share)})."
    )
    return text


def summary_text(report: CampaignReport) -> str:
    """The one plain-language paragraph at the top of the report."""
    if not report.votes:
        return "No counted votes yet: the report fills in as reviewers vote."
    pairs = [r for r in report.overall.pairs if r.votes]
    if len(report.overall.labels) <= 2 and pairs:
        return pair_sentence(pairs[0]) + report.style.summary
    board = report.overall.leaderboard
    rated = [r for r in board if r.rating is not None]
    leaders = [r.model for r in rated if r.rank == 1]
    significant = sum(r.significant for r in report.overall.pairs)
    text = f"{report.votes} votes over {len(report.overall.pairs)} model pairs."
    if rated:
        top = rated[0]
        text += (
            f" {top.model} has the highest rating ({top.rating:.0f}, 95% CI {_bound(top.ci_low)}–{_bound(top.ci_high)})"
        )
        if len(leaders) > 1:
            others = ", ".join(m for m in leaders if m != top.model)
            text += f", but its interval overlaps with {others}, so they share rank 1."
        else:
            text += ", and its interval is clear of every other model's."
    else:
        text += " No model has an estimable rating yet."
    text += not_estimable_sentence(board)
    lenient = sum(r.p_bh is not None and r.p_bh < SIGNIFICANCE for r in report.overall.pairs)
    text += (
        f" {significant} of {len(report.overall.pairs)} pairs show a significant preference (sign test,"
        f" Holm-adjusted p < 0.05 over the pairs; {lenient} under Benjamini-Hochberg's lenient false discovery rate)."
    )
    return text + report.style.summary


def _bound(value: float | None) -> str:
    return "open" if value is None else f"{value:.0f}"


# ---------------------------------------------------------------------------------------------
# Plain data for JSON


def report_as_dict(report: CampaignReport) -> dict:
    return _clean(dataclasses.asdict(report))


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, np.integer):
        return int(value)
    return value
