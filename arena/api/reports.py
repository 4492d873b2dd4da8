"""Report and export endpoints (leads only: anyone else gets 403, or 404 for a campaign
they cannot see).

The CSV and JSONL exports are streamed (StreamingHttpResponse) with an attachment
filename. Content negotiation is switched off for them: the body's type is fixed by the path
(`report.csv`, `votes.jsonl`), so a client sending `Accept: text/csv` (or `?format=csv`)
gets the file rather than a 406, and errors still come back as JSON.
"""

from __future__ import annotations

import re

from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema_view
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import Campaign
from ..reports import csv as report_csv
from ..reports import exports
from ..reports.build import campaign_report, report_as_dict
from ..reports.criteria import criteria_csv
from ..reports.decisions import decision_rows, decisions_as_dicts
from ..reports.models import campaign_models, models_as_dicts, models_csv, summary_with_costs
from ..selectors.campaigns import access_campaign_for_lead
from .permissions import IsLead
from .schema import download_operation, operation


class FirstRendererNegotiation(BaseContentNegotiation):
    """Always answer with the view's first renderer (JSON): the export's own type is set on
    the StreamingHttpResponse, and error bodies stay JSON whatever the Accept header says."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def export_filename(campaign: Campaign, suffix: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", campaign.name).strip("-").lower()[:60] or "campaign"
    return f"campaign-{campaign.pk}-{slug}-{suffix}"


def streaming_download(chunks, *, content_type: str, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class _ExportApi(APIView):
    permission_classes = [IsLead]
    content_negotiation_class = FirstRendererNegotiation


class ReportApi(_ExportApi):
    """The full report as JSON: per-pair tables, leaderboard, matrices, reviewers, agreement,
    biases, category slices."""

    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        report = campaign_report(campaign=campaign)
        # Read fresh beside the cached report: a switch of the stopping rule changes no vote, and
        # cost and speed change while responses arrive, votes or not.
        decisions = decisions_as_dicts(decision_rows(campaign=campaign, report=report))
        models = campaign_models(campaign=campaign, report=report)
        data = report_as_dict(report)
        return Response(
            {
                **data,
                "summary": summary_with_costs(report, models),
                "models": models_as_dicts(models),
                "decisions": decisions,
            }
        )


class _DownloadApi(_ExportApi):
    """A lead's download: `render(campaign)` gives the rows, streamed as `filename`."""

    filename = ""
    content_type = "text/csv; charset=utf-8"

    def render(self, campaign):
        raise NotImplementedError

    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        return streaming_download(
            self.render(campaign), content_type=self.content_type, filename=export_filename(campaign, self.filename)
        )


# A download written from the campaign's report: `write(report)` gives the rows. (A comment, not a
# docstring: the views' operations in the schema take the docstring of `_DownloadApi`.)
class _ReportDownloadApi(_DownloadApi):
    write = None

    def render(self, campaign):
        return self.write(campaign_report(campaign=campaign))


class ReportCsvApi(_ReportDownloadApi):
    filename = "report.csv"
    write = staticmethod(report_csv.winrate_csv)


class LeaderboardCsvApi(_ReportDownloadApi):
    filename = "leaderboard.csv"
    write = staticmethod(report_csv.leaderboard_csv)


class LeaderboardStyleCsvApi(_ReportDownloadApi):
    filename = "leaderboard_style.csv"
    write = staticmethod(report_csv.leaderboard_style_csv)


class CriteriaCsvApi(_ReportDownloadApi):
    filename = "criteria.csv"
    write = staticmethod(criteria_csv)


class ModelsCsvApi(_DownloadApi):
    filename = "models.csv"

    def render(self, campaign):
        return models_csv(campaign_models(campaign=campaign, report=campaign_report(campaign=campaign)))


class VotesCsvApi(_DownloadApi):
    filename = "votes.csv"

    def render(self, campaign):
        return exports.votes_csv(campaign_id=campaign.pk)


class VotesJsonlApi(_DownloadApi):
    filename = "votes.jsonl"
    content_type = "application/x-ndjson; charset=utf-8"

    def render(self, campaign):
        return exports.votes_jsonl(campaign_id=campaign.pk)


class PreferencesJsonlApi(_DownloadApi):
    filename = "preferences.jsonl"
    content_type = "application/x-ndjson; charset=utf-8"

    def render(self, campaign):
        return exports.preferences_jsonl(campaign_id=campaign.pk)


# --- The OpenAPI description of the views above -----------------------------------------------
# Kept in one block, apart from the views, so the views' code and their description can change
# independently; `extend_schema_view` decorates the classes in place.


class ReportSerializer(serializers.Serializer):
    """`arena.reports.build.CampaignReport` as JSON; numbers that are undefined are null."""

    campaign_id = serializers.IntegerField()
    campaign = serializers.CharField()
    status = serializers.CharField()
    pairing = serializers.CharField()
    is_simulated = serializers.BooleanField()
    votes = serializers.IntegerField()
    overall = serializers.DictField(help_text="Pairs, leaderboard and win matrix over every counted vote.")
    categories = serializers.ListField(child=serializers.DictField(), help_text="The same, per prompt category.")
    reviewers = serializers.ListField(child=serializers.DictField())
    agreement = serializers.DictField(help_text="Inter-reviewer agreement.")
    position_bias = serializers.DictField(help_text="Decisive votes for the left side.")
    length_bias = serializers.DictField(help_text="Decisive votes for the longer response.")
    same_length_votes = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True)
    too_fast_votes = serializers.IntegerField()
    summary = serializers.CharField()
    generated_at = serializers.CharField()
    bootstrap_rounds = serializers.IntegerField()
    excluded_reviewers = serializers.IntegerField()
    fingerprint = serializers.CharField()
    extra = serializers.DictField()
    style = serializers.DictField(
        help_text="Style control: leaderboard with length and markdown held fixed, coefficients, pair preferences."
    )
    decisions = serializers.ListField(
        child=serializers.DictField(), help_text="Per pair: the sequential decision (arena/reports/decisions.py)."
    )
    models = serializers.ListField(
        child=serializers.DictField(),
        help_text="Per contestant: responses, failures, tokens, cost (exact decimal strings), latency and "
        "time-to-first-token percentiles, tokens/s, retries, 429s, served-model mismatches, rating.",
    )
    criteria = serializers.ListField(
        child=serializers.DictField(), help_text="Per criterion: pairs, leaderboard, agreement with the overall choice."
    )


_CSV = "text/csv"
_JSONL = "application/x-ndjson"

for _view, _summary, _media_type, _file in [
    (ReportCsvApi, "Win rates per model pair (CSV)", _CSV, "One row per pair; the header is in the product contract."),
    (LeaderboardCsvApi, "Bradley-Terry leaderboard (CSV)", _CSV, "One row per contestant."),
    (LeaderboardStyleCsvApi, "Style-controlled leaderboard (CSV)", _CSV, "The leaderboard header, style held fixed."),
    (ModelsCsvApi, "Cost and speed per model (CSV)", _CSV, "One row per contestant; the header is in the contract."),
    (CriteriaCsvApi, "Win rates per criterion and model pair (CSV)", _CSV, "One row per (criterion, pair)."),
    (VotesCsvApi, "Every vote (CSV)", _CSV, "One row per vote."),
    (VotesJsonlApi, "Every vote (JSON Lines)", _JSONL, "One JSON object per line, per vote."),
    (PreferencesJsonlApi, "Preference pairs for DPO (JSON Lines)", _JSONL, "One JSON object per line."),
]:
    extend_schema_view(get=download_operation(_summary, _file, _media_type))(_view)
extend_schema_view(get=operation("The full report (JSON)", ReportSerializer))(ReportApi)
