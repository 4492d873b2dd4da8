"""Lead-only generation endpoints: cost estimate, progress, and retrying failed responses."""

from decimal import Decimal

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..selectors.campaigns import access_campaign_for_lead
from ..services import generation as generation_services
from .permissions import IsLead


def jsonable(value):
    """Money stays exact: Decimals go out as strings ("0.011000"), never as floats."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def generation_payload(campaign) -> dict:
    """Progress, failures with their errors, and flagged responses: what the campaign page polls."""
    return jsonable(
        {
            **generation_services.generation_progress(campaign=campaign),
            "failures": generation_services.generation_failures(campaign=campaign),
            "flagged": generation_services.generation_flagged(campaign=campaign),
        }
    )


class GenerationEstimateApi(APIView):
    permission_classes = [IsLead]

    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        return Response(jsonable(generation_services.generation_estimate(campaign=campaign)))


class GenerationProgressApi(APIView):
    permission_classes = [IsLead]

    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        return Response(generation_payload(campaign))


class GenerationRetryFailedApi(APIView):
    permission_classes = [IsLead]

    def post(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        retried = generation_services.generation_retry_failed(campaign=campaign)
        return Response({"retried": retried, "status": campaign.status}, status=status.HTTP_202_ACCEPTED)
