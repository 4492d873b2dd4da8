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
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import Campaign
from ..reports import csv as report_csv
from ..reports import exports
from ..reports.build import campaign_report, report_as_dict
from ..selectors.campaigns import access_campaign_for_lead
from .permissions import IsLead


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
        return Response(report_as_dict(campaign_report(campaign=campaign)))


class ReportCsvApi(_ExportApi):
    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        report = campaign_report(campaign=campaign)
        return streaming_download(
            report_csv.winrate_csv(report),
            content_type="text/csv; charset=utf-8",
            filename=export_filename(campaign, "report.csv"),
        )


class LeaderboardCsvApi(_ExportApi):
    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        report = campaign_report(campaign=campaign)
        return streaming_download(
            report_csv.leaderboard_csv(report),
            content_type="text/csv; charset=utf-8",
            filename=export_filename(campaign, "leaderboard.csv"),
        )


class VotesCsvApi(_ExportApi):
    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        return streaming_download(
            exports.votes_csv(campaign_id=campaign.pk),
            content_type="text/csv; charset=utf-8",
            filename=export_filename(campaign, "votes.csv"),
        )


class VotesJsonlApi(_ExportApi):
    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        return streaming_download(
            exports.votes_jsonl(campaign_id=campaign.pk),
            content_type="application/x-ndjson; charset=utf-8",
            filename=export_filename(campaign, "votes.jsonl"),
        )


class PreferencesJsonlApi(_ExportApi):
    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        return streaming_download(
            exports.preferences_jsonl(campaign_id=campaign.pk),
            content_type="application/x-ndjson; charset=utf-8",
            filename=export_filename(campaign, "preferences.jsonl"),
        )
