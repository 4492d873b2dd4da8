"""Each pair's sequential decision as the lead reads it: the report's table, the plain-language
line and `decisions.csv` (PRODUCT.md, "Contract: adaptive stopping").

Counts come from the report (the votes it counts), the decision and the votes it took from the
pair's `PairDecision` row (services/decisions.py, kept vote by vote), and the sequence's
interval is recomputed at the votes counted now, beside the fixed-n Wilson interval. Fixed
campaigns get the same column: what the sequence says at the votes cast, and what adaptive
stopping would have saved.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

from django.db.models import Count

from .. import sequential
from ..models import Campaign, PairDecision
from .build import CampaignReport
from .csv import fmt_rate, stream_csv

DECISIONS_HEADER = ["campaign", "model_a", "model_b", "votes", "decision", "decided_at_votes", "cs_low", "cs_high"]
WORDS = {"a_better": "{a} better", "b_better": "{b} better", "equivalent": "equivalent (within ±{m})"}


@dataclass(frozen=True)
class DecisionRow:
    model_a: str
    model_b: str
    votes: int
    decision: str
    decided_at_votes: int | None
    cs_low: float | None
    cs_high: float | None
    ci_low: float | None  # Wilson, fixed n: not valid when watched vote by vote
    ci_high: float | None
    budget: int  # the pair's comparisons in review times k
    votes_saved: int | None  # budget minus the votes it took (adaptive: not asked; fixed: could have been)
    level: float  # each pair's sequence is at 1 - level (alpha split over the pairs)
    sentence: str


def decision_rows(*, campaign: Campaign, report: CampaignReport) -> list[DecisionRow]:
    stored = {(d.contestant_a_id, d.contestant_b_id): d for d in PairDecision.objects.filter(campaign=campaign)}
    budgets = {
        (r["contestant_a_id"], r["contestant_b_id"]): r["n"] * campaign.votes_per_comparison
        for r in campaign.comparisons.filter(excluded=False)
        .values("contestant_a_id", "contestant_b_id")
        .annotate(n=Count("pk"))
        .order_by()
    }
    pairs = report.overall.pairs
    level = sequential.pair_alpha(campaign.alpha, max(len(stored), len(pairs)))
    adaptive = campaign.stopping == Campaign.Stopping.ADAPTIVE
    rows = []
    for pair in pairs:
        now = sequential.sequential_decision(
            a_wins=pair.a_wins, b_wins=pair.b_wins, alpha=level, margin=campaign.equivalence_margin
        )
        row = stored.get((pair.contestant_a_id, pair.contestant_b_id))
        if row is not None and row.decision != PairDecision.Decision.UNDECIDED:
            decision, at = row.decision, row.decided_at_votes
        elif now.decision != "undecided":  # votes that reached no decision row (e.g. loaded by hand)
            decision, at = now.decision, pair.votes
        else:
            decision, at = "undecided", None
        budget = budgets.get((pair.contestant_a_id, pair.contestant_b_id), 0)
        saved = None
        if at is not None:
            saved = max(0, budget - (pair.votes if adaptive else at))
        rows.append(
            DecisionRow(
                model_a=pair.model_a,
                model_b=pair.model_b,
                votes=pair.votes,
                decision=decision,
                decided_at_votes=at,
                cs_low=now.cs_low,
                cs_high=now.cs_high,
                ci_low=pair.ci_low,
                ci_high=pair.ci_high,
                budget=budget,
                votes_saved=saved,
                level=level,
                sentence=_sentence(
                    pair.model_a, pair.model_b, decision, at, saved, adaptive, campaign.equivalence_margin
                ),
            )
        )
    return rows


def _sentence(a: str, b: str, decision: str, at, saved, adaptive: bool, margin: float) -> str:
    if decision == "undecided":
        return f"{a} vs {b}: undecided so far."
    what = WORDS[decision].format(a=a, b=b, m=f"{margin:g}")
    if adaptive:
        return f"{a} vs {b}: decided after {at} votes: {what}; {saved} reviewer votes saved."
    return f"{a} vs {b}: decided after {at} votes: {what}; adaptive stopping would have saved {saved} votes."


def decisions_as_dicts(rows: list[DecisionRow]) -> list[dict]:
    return [asdict(r) for r in rows]


def decisions_csv(*, campaign: Campaign, report: CampaignReport) -> Iterator[str]:
    rows = (
        [
            report.campaign,
            r.model_a,
            r.model_b,
            r.votes,
            r.decision,
            r.decided_at_votes,
            fmt_rate(r.cs_low),
            fmt_rate(r.cs_high),
        ]
        for r in decision_rows(campaign=campaign, report=report)
    )
    return stream_csv(DECISIONS_HEADER, rows)
