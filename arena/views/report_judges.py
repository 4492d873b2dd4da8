"""The judges' section of the report page: per judge, the calibration against the reviewers
(arena/reports/judging.py) and the judge's own pair table and leaderboard, apart from the
reviewers' tables. Only formatting here."""

from __future__ import annotations

from ..models import Campaign
from ..reports.judging import calibration_payload, judge_slice
from ..selectors.judging import calibration_inputs


def _pct(value, digits: int = 0) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _interval(pair) -> str:
    low, high = pair
    return "" if low is None else f"{_pct(low)} – {_pct(high)}"


def hybrid_summary(*, campaign: Campaign) -> dict:
    comparisons = campaign.comparisons.filter(excluded=False)
    return {
        "share": f"{100 * campaign.hybrid_share:.0f}%",
        "held": comparisons.filter(judge_held=True).count(),
        "total": comparisons.count(),
    }


def judges_section(*, campaign: Campaign, slice_display) -> list[dict]:
    """One block per judge; `slice_display` is the page's own table formatter."""
    if not campaign.judges.exists():
        return []
    payload = calibration_payload(campaign=campaign, full=True)
    inputs = calibration_inputs(campaign=campaign)
    sections = []
    for (judge_id, label), c in zip(inputs.judges, payload["judges"], strict=True):
        sections.append(
            {
                "label": label,
                "verdict": c["verdict"],
                "rows": [
                    ("Comparisons judged in both orders", str(c["comparisons"])),
                    ("Consistency when the answers are swapped", _pct(c["consistency"])),
                    (
                        "Agreement with reviewers (ties included)",
                        f"{_pct(c['agreement'])} {_interval(c['agreement_ci'])}",
                    ),
                    (
                        "Agreement with reviewers, decisive only",
                        f"{_pct(c['agreement_decisive'])} {_interval(c['agreement_decisive_ci'])}",
                    ),
                    (
                        "Reviewers' agreement with each other (same comparisons)",
                        f"{_pct(c['human_agreement'])} {_interval(c['human_agreement_ci'])}",
                    ),
                    ("Reviewers' agreement, decisive only", _pct(c["human_agreement_decisive"])),
                    (
                        "Cohen's kappa against the reviewers' majority",
                        "–" if c["kappa"] is None else f"{c['kappa']:.3f} (on {c['kappa_comparisons']} comparisons)",
                    ),
                    (
                        "Position bias: decisive verdicts for the answer shown first",
                        f"{_pct(c['position_bias']['share'])} ({c['position_bias']['first_wins']} first, "
                        f"{c['position_bias']['second_wins']} second)",
                    ),
                    (
                        "Length bias: decisive verdicts for the longer answer",
                        f"{_pct(c['length_bias']['share'])} ({c['length_bias']['longer_wins']} longer, "
                        f"{c['length_bias']['shorter_wins']} shorter)",
                    ),
                    (
                        "Kendall's tau, judge's leaderboard vs reviewers'",
                        "–" if c["kendall_tau"] is None else f"{c['kendall_tau']:.2f}",
                    ),
                ],
                "categories": [
                    {"name": cat["category"], "verdict": cat["verdict"], "consistency": _pct(cat["consistency"])}
                    for cat in c["categories"]
                ],
                "slice": slice_display(judge_slice(campaign=campaign, judge_id=judge_id, inputs=inputs), charts=False),
            }
        )
    return sections
