"""Print a campaign's report to the terminal and write its exports to files.

manage.py report <campaign id> [--csv path] [--leaderboard path] [--leaderboard-style path]
                               [--criteria-csv path] [--votes-csv path] [--votes-jsonl path]
                               [--preferences path] [--json path]
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from arena.models import Campaign
from arena.reports import csv as report_csv
from arena.reports import exports
from arena.reports.build import BOOTSTRAP_ROUNDS, CampaignReport, campaign_report, p_text, report_as_dict
from arena.reports.criteria import criteria_csv


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join(f"{h:<{w}}" for h, w in zip(header, widths, strict=True))
    body = ["  ".join(f"{str(c):<{w}}" for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def render_text(report: CampaignReport) -> str:
    out = [f"Report: {report.campaign} (campaign {report.campaign_id}, {report.status})"]
    if report.is_simulated:
        out.append("NOTE: simulated responses (local simulated endpoint, not real models).")
    out += ["", report.summary, ""]
    sections = [report.overall, *report.categories]
    for section in sections:
        out.append(f"== {section.name}: {section.votes} votes ==")
        rows = [
            [
                r.model_a,
                r.model_b,
                r.votes,
                r.a_wins,
                r.b_wins,
                r.ties,
                r.both_bad,
                _pct(r.a_win_rate),
                _pct(r.b_win_rate),
                _pct(r.tie_rate),
                _pct(r.a_score),
                f"{_pct(r.score_ci_low)}–{_pct(r.score_ci_high)}",
                f"{_pct(r.ci_low)}–{_pct(r.ci_high)}",
                p_text(r.p_value) if r.p_value is not None else "–",
                "" if r.significant or not r.votes_needed else f"~{r.votes_needed}",
            ]
            for r in section.pairs
        ]
        header = ["A", "B", "n", "A", "B", "tie", "bad", "A%", "B%", "tie%", "score", "score CI", "Wilson CI", "p"]
        out.append(_table([*header, "n for 80%"], rows))
        if len(section.labels) > 2:
            out.append("")
            out.append(
                _table(
                    ["rank", "model", "rating", "95% CI", "votes", "W", "L", "T"],
                    [_board_cells(b) for b in section.leaderboard],
                )
            )
        if section is report.overall and report.style.leaderboard:
            out.append("")
            out.append("Style-controlled (answer length and markdown held fixed):")
            out.append(
                _table(
                    ["rank", "model", "rating", "95% CI", "votes", "W", "L", "T"],
                    [_board_cells(b) for b in report.style.leaderboard],
                )
            )
        out.append("")
    for c in report.criteria:
        out.append(
            f"== criterion {c.key}: {c.question} — {c.votes} votes; agrees with the overall choice "
            f"{_pct(c.agreement.share)} of {c.agreement.answered} =="
        )
        header = ["A", "B", "n", "A", "B", "tie", "bad", "A%", "B%", "tie%", "score", "Wilson CI", "p"]
        rows = [
            [
                *(r.model_a, r.model_b, r.votes, r.a_wins, r.b_wins, r.ties, r.both_bad),
                *(_pct(r.a_win_rate), _pct(r.b_win_rate), _pct(r.tie_rate), _pct(r.a_score)),
                f"{_pct(r.ci_low)}–{_pct(r.ci_high)}",
                p_text(r.p_value) if r.p_value is not None else "–",
            ]
            for r in c.pairs
        ]
        out += [_table(header, rows), ""]
    a = report.agreement
    out.append(
        f"Agreement on {a.comparisons} comparisons with 2+ votes: Krippendorff's alpha "
        f"{'–' if a.krippendorff_alpha is None else f'{a.krippendorff_alpha:.3f}'}, Fleiss' kappa "
        f"{'–' if a.fleiss_kappa is None else f'{a.fleiss_kappa:.3f}'}, raw agreement {_pct(a.percent_agreement)}"
    )
    out.append(
        f"Position bias: {_pct(report.position_bias.share)} of decisive votes went left "
        f"({report.position_bias.wins} left, {report.position_bias.losses} right; "
        f"{p_text(report.position_bias.p_value)})"
    )
    out.append(
        f"Length bias: {_pct(report.length_bias.share)} of decisive votes went to the longer response "
        f"({report.length_bias.wins} longer, {report.length_bias.losses} shorter; {p_text(report.length_bias.p_value)})"
    )
    median = "–" if report.median_seconds is None else f"{report.median_seconds:.1f} s"
    out.append(f"Median time per vote: {median}; too fast: {report.too_fast_votes}")
    if report.reviewers:
        out.append("")
        out.append(
            _table(
                ["reviewer", "votes", "agrees w/ majority", "self-consistency", "gold", "too fast", "median s"],
                [
                    [
                        r["username"] + (" (excluded)" if r["excluded"] else ""),
                        r["votes"],
                        f"{r['majority_agreed']}/{r['majority_judged']}",
                        f"{r['repeat_consistent']}/{r['repeat_votes']}",
                        f"{r['gold_correct']}/{r['gold_votes']}",
                        r["too_fast"],
                        "–" if r["median_seconds"] is None else f"{r['median_seconds']:.1f}",
                    ]
                    for r in report.reviewers
                ],
            )
        )
    return "\n".join(out)


def _board_cells(b) -> list:
    """A leaderboard row for the terminal; "not estimable" instead of a prior-driven number."""
    if b.rating is None:
        return [
            "–",
            b.model,
            "not estimable",
            b.note.removeprefix("not estimable: "),
            b.votes,
            b.wins,
            b.losses,
            b.ties,
        ]
    low = "open" if b.ci_low is None else f"{b.ci_low:.0f}"
    high = "open" if b.ci_high is None else f"{b.ci_high:.0f}"
    return [b.rank, b.model, f"{b.rating:.0f}", f"{low}–{high}", b.votes, b.wins, b.losses, b.ties]


class Command(BaseCommand):
    help = "Print a campaign's report and optionally write its CSV/JSONL exports to files."

    def add_arguments(self, parser):
        parser.add_argument("campaign_id", type=int)
        parser.add_argument("--csv", help="write the win-rate CSV (contract header) here")
        parser.add_argument("--leaderboard", help="write the leaderboard CSV here")
        parser.add_argument("--leaderboard-style", help="write the style-controlled leaderboard CSV here")
        parser.add_argument("--criteria-csv", help="write the per-criterion win-rate CSV (contract header) here")
        parser.add_argument("--votes-csv", help="write the raw votes CSV here")
        parser.add_argument("--votes-jsonl", help="write the raw votes JSONL here")
        parser.add_argument("--preferences", help="write the DPO preference pairs JSONL here")
        parser.add_argument("--json", help="write the full report as JSON here")
        parser.add_argument("--rounds", type=int, default=BOOTSTRAP_ROUNDS, help="bootstrap rounds")
        parser.add_argument("--quiet", action="store_true", help="do not print the report")

    def handle(self, *args, **options):
        try:
            campaign = Campaign.objects.get(pk=options["campaign_id"])
        except Campaign.DoesNotExist:
            raise CommandError(f"no campaign with id {options['campaign_id']}") from None
        report = campaign_report(campaign=campaign, rounds=options["rounds"])
        if not options["quiet"]:
            self.stdout.write(render_text(report))
        outputs = [
            ("csv", lambda: report_csv.winrate_csv(report)),
            ("leaderboard", lambda: report_csv.leaderboard_csv(report)),
            ("leaderboard_style", lambda: report_csv.leaderboard_style_csv(report)),
            ("criteria_csv", lambda: criteria_csv(report)),
            ("votes_csv", lambda: exports.votes_csv(campaign_id=campaign.pk)),
            ("votes_jsonl", lambda: exports.votes_jsonl(campaign_id=campaign.pk)),
            ("preferences", lambda: exports.preferences_jsonl(campaign_id=campaign.pk)),
            ("json", lambda: iter([json.dumps(report_as_dict(report), indent=2, ensure_ascii=False)])),
        ]
        for option, chunks in outputs:
            path = options.get(option)
            if not path:
                continue
            # newline="" keeps the CSV's own \r\n line ends as they are.
            with Path(path).open("w", encoding="utf-8", newline="") as handle:
                for chunk in chunks():
                    handle.write(chunk)
            self.stderr.write(f"wrote {path}")
