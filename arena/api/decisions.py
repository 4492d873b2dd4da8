"""Adaptive stopping for leads: the decisions CSV and the switch between fixed and adaptive
(PRODUCT.md, "Contract: adaptive stopping"). Leads only, as every report endpoint."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import Campaign
from ..reports.build import campaign_report
from ..reports.decisions import decision_rows, decisions_as_dicts, decisions_csv
from ..selectors.campaigns import access_campaign_for_lead
from ..services.decisions import campaign_set_stopping
from .permissions import IsLead
from .reports import _ExportApi, export_filename, streaming_download
from .schema import download_operation, operation


class DecisionsCsvApi(_ExportApi):
    @download_operation(
        "Each pair's sequential decision (CSV)", "One row per pair; the header is in the product contract."
    )
    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        report = campaign_report(campaign=campaign)
        return streaming_download(
            decisions_csv(campaign=campaign, report=report),
            content_type="text/csv; charset=utf-8",
            filename=export_filename(campaign, "decisions.csv"),
        )


class CampaignStoppingApi(APIView):
    """Switch between fixed and adaptive stopping, also while review is open."""

    permission_classes = [IsLead]

    class InputSerializer(serializers.Serializer):
        stopping = serializers.ChoiceField(choices=Campaign.Stopping.choices)

    class OutputSerializer(serializers.Serializer):
        stopping = serializers.CharField()
        decisions = serializers.ListField(child=serializers.DictField())

    @operation("Switch the stopping rule (fixed or adaptive)", OutputSerializer, request=InputSerializer)
    def post(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign_set_stopping(campaign_id=campaign.pk, stopping=serializer.validated_data["stopping"])
        campaign.refresh_from_db()
        rows = decision_rows(campaign=campaign, report=campaign_report(campaign=campaign))
        return Response({"stopping": campaign.stopping, "decisions": decisions_as_dicts(rows)})
