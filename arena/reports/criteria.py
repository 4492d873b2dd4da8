"""The per-criterion report: for each criterion, every number of the pair table, a
Bradley-Terry leaderboard (three or more models), how often it agrees with the overall choice,
and the reviewers' self-consistency on it; and `criteria.csv` (contract header).

Same definitions as the overall tables (PRODUCT.md, "Vote semantics"), over the counted votes
that answered the criterion: the pair rows and leaderboard come from `build._slice`, the code
of the overall table, fed with the criterion's per-comparison counts, so the prompt bootstrap,
the sign test and the Wilson interval are the same code too. An optional criterion left
unanswered is not a vote on it (not a tie).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .. import stats
from ..models import Campaign
from ..selectors import criteria as criteria_selectors
from .build import CampaignReport, LeaderboardRow, PairRow, SliceSetup, _slice
from .csv import WINRATE_HEADER, pair_cells, stream_csv

# The contract header: the win-rate CSV's with the criterion's key after the campaign.
CRITERIA_HEADER = [WINRATE_HEADER[0], "criterion", *WINRATE_HEADER[1:]]


@dataclass
class CriterionAgreement:
    """How often the criterion's answer resolves to the vote's overall choice."""

    answered: int
    agreed: int
    opposite: int  # decisive for the side the overall choice went against
    share: float | None  # agreed / answered
    ci_low: float | None  # Wilson 95%
    ci_high: float | None


@dataclass
class CriterionReport:
    key: str
    question: str
    required: bool
    votes: int
    pairs: list[PairRow]
    # Empty with fewer than three models: the pair table says it all.
    leaderboard: list[LeaderboardRow]
    agreement: CriterionAgreement
    repeats: int = 0
    repeats_consistent: int = 0
    self_consistency: float | None = None
    # {username, repeats, repeats_consistent} per reviewer with repeat answers on this criterion.
    reviewers: list[dict] = field(default_factory=list)


def criteria_reports(
    *, campaign: Campaign, excluded: list[int], reviewers: list[dict], setup: SliceSetup
) -> list[CriterionReport]:
    """One CriterionReport per criterion of the campaign, in order ([] when it has none).
    `reviewers` is the overall report's reviewer table (for their usernames); `setup` the
    report's (its contestants, pairing, rounds and anchor)."""
    criteria, counts, agreement = criteria_selectors.criterion_counts(campaign=campaign, excluded=excluded)
    if not criteria:
        return []
    consistency = criteria_selectors.criterion_consistency(campaign=campaign)
    usernames = {r["reviewer_id"]: r["username"] for r in reviewers}
    out = []
    for criterion in criteria:
        section = _slice(setup, criterion.key, counts[criterion.pk])
        agree = agreement[criterion.pk]
        low, high = stats.wilson_interval(agree["agreed"], agree["answered"])
        by_reviewer = consistency.get(criterion.pk, {})
        same = sum(s for s, _ in by_reviewer.values())
        repeats = sum(n for _, n in by_reviewer.values())
        out.append(
            CriterionReport(
                key=criterion.key,
                question=criterion.question,
                required=criterion.required,
                votes=section.votes,
                pairs=section.pairs,
                leaderboard=section.leaderboard if len(setup.contestants) >= 3 else [],
                agreement=CriterionAgreement(
                    answered=agree["answered"],
                    agreed=agree["agreed"],
                    opposite=agree["opposite"],
                    share=agree["agreed"] / agree["answered"] if agree["answered"] else None,
                    ci_low=low,
                    ci_high=high,
                ),
                repeats=repeats,
                repeats_consistent=same,
                self_consistency=same / repeats if repeats else None,
                reviewers=sorted(
                    (
                        {"username": usernames.get(r, ""), "repeats": n, "repeats_consistent": s}
                        for r, (s, n) in by_reviewer.items()
                    ),
                    key=lambda row: row["username"],
                ),
            )
        )
    return out


def criteria_rows(report: CampaignReport) -> Iterator[list]:
    for criterion in report.criteria:
        for row in criterion.pairs:
            yield [report.campaign, criterion.key, *pair_cells(row)]


def criteria_csv(report: CampaignReport) -> Iterator[str]:
    """`criteria.csv`: one row per (criterion, pair), criteria in order, pairs as in report.csv."""
    return stream_csv(CRITERIA_HEADER, criteria_rows(report))
