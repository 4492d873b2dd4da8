"""Lead-only generation endpoints: cost estimate, progress, and retrying failed responses."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..selectors.campaigns import access_campaign_for_lead
from ..selectors.generation import generation_estimate, generation_payload, jsonable
from ..services import generation as generation_services
from .permissions import IsLead


class GenerationEstimateApi(APIView):
    permission_classes = [IsLead]

    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        return Response(jsonable(generation_estimate(campaign=campaign)))


class GenerationProgressApi(APIView):
    permission_classes = [IsLead]

    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        return Response(generation_payload(campaign=campaign))


class GenerationRetryFailedApi(APIView):
    permission_classes = [IsLead]

    def post(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        retried = generation_services.generation_retry_failed(campaign=campaign)
        return Response({"retried": retried, "status": campaign.status}, status=status.HTTP_202_ACCEPTED)
