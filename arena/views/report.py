"""The lead's report page: the summary, tables, server-drawn SVG charts and export links.

Leads only; anyone else gets a 404 (the campaign's existence is not revealed). Numbers come
from the cached report (arena/reports/build.py); this view only formats them.
"""

from __future__ import annotations

from dataclasses import asdict

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe

from ..reports import svg
from ..reports.build import CampaignReport, LeaderboardRow, PairRow, Slice, campaign_report, p_text
from ..reports.decisions import decision_rows
from ..reports.models import MODELS_HEADER, campaign_models, csv_cells, summary_with_costs
from ..reports.quality import ShareRow
from ..reports.svg_models import quality_cost_chart
from ..selectors.campaigns import access_campaign_for_lead
from ..stats import ELO_SCALE
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
        "p_holm": "" if row.p_holm is None else p_text(row.p_holm),
        "p_bh": "" if row.p_bh is None else p_text(row.p_bh),
        "verdict": (
            "no votes"
            if not row.votes
            else "significant (Holm)"
            if row.significant
            else f"not significant (Holm); ~{row.votes_needed} votes for 80% power at {_pct(row.power_share, 0)}"
            if row.votes_needed
            else "not significant (Holm)"
        ),
    }


def _rating_text(value: float | None) -> str:
    return "open" if value is None else f"{value:.0f}"


def _board_display(rows: list[LeaderboardRow]) -> list[dict]:
    """Ratings as the page shows them: "not estimable" (and why) instead of a prior's number."""
    return [
        {
            "row": r,
            "rating": "not estimable" if r.rating is None else f"{r.rating:.0f}",
            "interval": "" if r.rating is None else f"{_rating_text(r.ci_low)} – {_rating_text(r.ci_high)}",
            "note": r.note,
        }
        for r in rows
    ]


def _charted(rows: list[LeaderboardRow]) -> list[LeaderboardRow]:
    """The rows the interval chart can draw: a rating with both bounds."""
    return [r for r in rows if r.rating is not None and r.ci_low is not None and r.ci_high is not None]


def _style_display(report: CampaignReport) -> dict:
    """The style-controlled leaderboard beside the plain one, its coefficients and pairs."""
    section = report.style
    raw = {r.contestant_id: r for r in report.overall.leaderboard}
    rows = []
    for shown in _board_display(section.leaderboard):
        plain = raw.get(shown["row"].contestant_id)
        rows.append({**shown, "raw": _board_display([plain])[0] if plain else None})

    def signed(value: float | None) -> str:
        return "" if value is None else f"{value:+.0f}"

    return {
        "rows": rows,
        "coefficients": [
            {
                "row": c,
                "points": signed(c.rating_points),
                "interval": ""
                if c.ci_low is None
                else f"{signed(ELO_SCALE * c.ci_low)} to {signed(ELO_SCALE * c.ci_high)}",
            }
            for c in section.coefficients
        ],
        "pairs": [
            {
                "row": p,
                "preference": "not estimable" if p.preference is None else _pct(p.preference),
                "interval": f"{_pct(p.ci_low)} – {_pct(p.ci_high)}" if p.ci_low is not None else "",
                "raw": _pct(p.raw_score),
            }
            for p in section.pairs
        ],
        "chart": mark_safe(svg.leaderboard_chart(_charted(section.leaderboard))),  # noqa: S308
        "method": section.method,
        "comparisons": section.comparisons,
    }


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
        "leaderboard_chart": mark_safe(svg.leaderboard_chart(_charted(section.leaderboard))) if charts else "",  # noqa: S308
        "heatmap": mark_safe(  # noqa: S308
            svg.heatmap(section.labels, section.observed, title="Observed win matrix")
        )
        if charts and many
        else "",
        "many": many,
    }


def _criterion_display(c) -> dict:
    """A criterion's tables (arena/reports/criteria.py) as the page shows them."""
    a = c.agreement
    agreement = f"{_pct(a.share)} of {a.answered} (95% CI {_pct(a.ci_low)} – {_pct(a.ci_high)})" if a.answered else ""
    return {
        "key": c.key,
        "question": c.question,
        "required": c.required,
        "votes": c.votes,
        "pairs": [_pair_display(r) for r in c.pairs],
        "leaderboard": _board_display(c.leaderboard),
        "many": bool(c.leaderboard),
        "agreement": agreement,
        "opposite": a.opposite,
        "consistency": f"{c.repeats_consistent} / {c.repeats}" if c.repeats else "",
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


def _models_display(rows) -> list[dict]:
    """Each model's cells exactly as models.csv writes them (keyed by its header), plus the
    counts the CSV leaves out."""
    return [{"row": r, "cells": dict(zip(MODELS_HEADER, csv_cells(r), strict=True))} for r in rows]


@login_required
def report_page(request, campaign_id):
    campaign = campaign_for_page(access_campaign_for_lead, user=request.user, campaign_id=campaign_id)
    report: CampaignReport = campaign_report(campaign=campaign)
    api = f"/api/campaigns/{campaign.pk}/"
    models = campaign_models(campaign=campaign, report=report)
    context = {
        "campaign": campaign,
        "report": report,
        "summary": summary_with_costs(report, models),
        "models": _models_display(models),
        "models_chart": mark_safe(quality_cost_chart(models)),  # noqa: S308 - every text is escaped
        "overall": _slice_display(report.overall, charts=True),
        "style": _style_display(report),
        "categories": [_slice_display(s, charts=False) for s in report.categories],
        "reviewers": _reviewer_display(report.reviewers),
        "criteria": [_criterion_display(c) for c in report.criteria],
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
            ("Style-controlled leaderboard (CSV)", api + "leaderboard_style.csv"),
            ("Cost and speed per model (CSV)", api + "models.csv"),
            *([("Criteria (CSV)", api + "criteria.csv")] if report.criteria else []),
            ("Raw votes (CSV)", api + "votes.csv"),
            ("Raw votes (JSONL)", api + "votes.jsonl"),
            ("Preference pairs for DPO (JSONL)", api + "preferences.jsonl"),
            ("Decisions (CSV)", api + "decisions.csv"),
            ("Full report (JSON)", api + "report/"),
        ],
        "admin_url": reverse("admin:arena_campaign_change", args=[campaign.pk]),
        "decisions": [
            {
                **asdict(d),
                "sequence": f"{_pct(d.cs_low)} – {_pct(d.cs_high)}" if d.cs_low is not None else "",
                "wilson": f"{_pct(d.ci_low)} – {_pct(d.ci_high)}" if d.ci_low is not None else "",
            }
            for d in decision_rows(campaign=campaign, report=report)
        ],
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
