"""The lead's report page: the summary, tables, server-drawn SVG charts and export links.

Leads only; anyone else gets a 404 (the campaign's existence is not revealed). Numbers come
from the cached report (arena/reports/build.py); this view only formats them.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe

from ..reports import svg
from ..reports.build import CampaignReport, LeaderboardRow, PairRow, Slice, campaign_report, p_text
from ..reports.quality import ShareRow
from ..selectors.campaigns import access_campaign_for_lead
from .access import campaign_for_page
from .report_judges import hybrid_summary, judges_section


def _pct(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{100 * value:.{digits}f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _pair_display(row: PairRow) -> dict:
    return {
        "row": row,
        "a_win_rate": _pct(row.a_win_rate),
        "b_win_rate": _pct(row.b_win_rate),
        "tie_rate": _pct(row.tie_rate),
        "a_score": _pct(row.a_score),
        "score_ci": f"{_pct(row.score_ci_low)} – {_pct(row.score_ci_high)}" if row.score_ci_low is not None else "",
        "decisive_share": _pct(row.decisive_share),
        "wilson": f"{_pct(row.ci_low)} – {_pct(row.ci_high)}" if row.ci_low is not None else "",
        "p_value": "" if row.p_value is None else p_text(row.p_value),
        "verdict": (
            "no votes"
            if not row.votes
            else "significant"
            if row.significant
            else f"not significant; ~{row.votes_needed} votes for 80% power"
            if row.votes_needed
            else "not significant"
        ),
    }


def _board_display(rows: list[LeaderboardRow]) -> list[dict]:
    return [{"row": r, "rating": f"{r.rating:.0f}", "interval": f"{r.ci_low:.0f} – {r.ci_high:.0f}"} for r in rows]


def _matrix_display(labels: list[str], matrix: list[list[float | None]]) -> list[dict]:
    return [
        {"label": label, "cells": ["—" if i == j else _pct(v, 0) or "·" for j, v in enumerate(matrix[i])]}
        for i, label in enumerate(labels)
    ]


def _slice_display(section: Slice, *, charts: bool) -> dict:
    many = len(section.labels) > 2
    return {
        "name": section.name,
        "votes": section.votes,
        "pairs": [_pair_display(r) for r in section.pairs],
        "leaderboard": _board_display(section.leaderboard),
        "labels": section.labels,
        "observed": _matrix_display(section.labels, section.observed),
        "predicted": _matrix_display(section.labels, section.predicted),
        # The SVG builders escape every piece of text they draw.
        "pair_chart": mark_safe(svg.pair_bars(section.pairs)) if charts else "",  # noqa: S308
        "leaderboard_chart": mark_safe(svg.leaderboard_chart(section.leaderboard)) if charts else "",  # noqa: S308
        "heatmap": mark_safe(  # noqa: S308
            svg.heatmap(section.labels, section.observed, title="Observed win matrix")
        )
        if charts and many
        else "",
        "many": many,
    }


def _reviewer_display(rows: list[dict]) -> list[dict]:
    shown = []
    for r in rows:
        shown.append(
            {
                **r,
                "majority": f"{_pct(r['majority_agreed'] / r['majority_judged'], 0)} of {r['majority_judged']}"
                if r["majority_judged"]
                else "",
                "consistency": f"{r['repeat_consistent']} / {r['repeat_votes']}" if r["repeat_votes"] else "",
                "gold": f"{r['gold_correct']} / {r['gold_votes']}" if r["gold_votes"] else "",
                "median": "" if r["median_seconds"] is None else f"{r['median_seconds']:.1f} s",
            }
        )
    return shown


def _share_display(row: ShareRow) -> dict:
    """A bias row (position or length) as the page shows it: share, interval and p-value."""
    return {
        "share": _pct(row.share),
        "interval": f"{_pct(row.ci_low)} – {_pct(row.ci_high)}" if row.ci_low is not None else "",
        "p": p_text(row.p_value) if row.p_value is not None else "",
    }


@login_required
def report_page(request, campaign_id):
    campaign = campaign_for_page(access_campaign_for_lead, user=request.user, campaign_id=campaign_id)
    report: CampaignReport = campaign_report(campaign=campaign)
    api = f"/api/campaigns/{campaign.pk}/"
    context = {
        "campaign": campaign,
        "report": report,
        "overall": _slice_display(report.overall, charts=True),
        "categories": [_slice_display(s, charts=False) for s in report.categories],
        "reviewers": _reviewer_display(report.reviewers),
        "agreement": {
            "alpha": _num(report.agreement.krippendorff_alpha),
            "kappa": _num(report.agreement.fleiss_kappa),
            "percent": _pct(report.agreement.percent_agreement),
        },
        "position": _share_display(report.position_bias),
        "length": _share_display(report.length_bias),
        "median_seconds": "" if report.median_seconds is None else f"{report.median_seconds:.1f} s",
        "exports": [
            ("Win rates (CSV)", api + "report.csv"),
            ("Leaderboard (CSV)", api + "leaderboard.csv"),
            ("Raw votes (CSV)", api + "votes.csv"),
            ("Raw votes (JSONL)", api + "votes.jsonl"),
            ("Preference pairs for DPO (JSONL)", api + "preferences.jsonl"),
            ("Full report (JSON)", api + "report/"),
        ],
        "admin_url": reverse("admin:arena_campaign_change", args=[campaign.pk]),
        "judges": judges_section(campaign=campaign, slice_display=_slice_display),
    }
    if context["judges"]:
        context["hybrid"] = hybrid_summary(campaign=campaign)
        context["exports"] += [
            ("Judgements (CSV)", api + "judgements.csv"),
            ("Judge calibration (JSON)", api + "calibration/?full=1"),
            ("Judge leaderboard (CSV)", api + "judge_leaderboard.csv"),
            ("Judge win rates (CSV)", api + "judge_report.csv"),
        ]
    return render(request, "arena/report.html", context)
