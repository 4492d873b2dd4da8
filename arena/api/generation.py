"""Lead-only generation endpoints: cost estimate, progress, and retrying failed responses."""

from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..selectors.campaigns import access_campaign_for_lead
from ..selectors.generation import generation_estimate, generation_payload, jsonable
from ..services import generation as generation_services
from .permissions import IsLead
from .schema import LEAD_CAMPAIGN_STATUS, operation

# Money goes out as decimal strings ("0.011000"), never as floats (`selectors.generation.jsonable`).


class _Money(serializers.DecimalField):
    def __init__(self, **kwargs):
        super().__init__(max_digits=20, decimal_places=6, coerce_to_string=True, **kwargs)


# The parts the rows share, as bases. Described in comments: a docstring would become each
# subclass's description in the schema.


# Which contestant a row is about.
class GenerationContestantSerializer(serializers.Serializer):
    contestant_id = serializers.IntegerField()
    label = serializers.CharField()
    model = serializers.CharField()


class GenerationEstimateContestantSerializer(GenerationContestantSerializer):
    calls = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    price_per_mtok_out = _Money()
    usd = _Money()


class GenerationEstimateSerializer(serializers.Serializer):
    prompts = serializers.IntegerField()
    contestants = GenerationEstimateContestantSerializer(many=True)
    calls = serializers.IntegerField()
    expected_output_tokens = serializers.IntegerField()
    total_usd = _Money()
    budget_usd = _Money(allow_null=True)


# Responses by status, calls made and their cost: per contestant, and for the campaign in all.
class GenerationCountsSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    pending = serializers.IntegerField()
    running = serializers.IntegerField()
    attempts = serializers.IntegerField()
    total = serializers.IntegerField()
    cost_usd = _Money()


class GenerationContestantProgressSerializer(GenerationContestantSerializer, GenerationCountsSerializer):
    model_mismatch = serializers.IntegerField()
    self_identifies = serializers.IntegerField()


# Which response a row is about (`selectors.generation._named_for_lead`).
class GenerationResponseSerializer(serializers.Serializer):
    response_id = serializers.IntegerField()
    prompt = serializers.CharField(help_text="The prompt's external_id, else `#position`.")
    contestant = serializers.CharField(help_text="The contestant's label.")


class GenerationFailureSerializer(GenerationResponseSerializer):
    attempts = serializers.IntegerField()
    last_error = serializers.CharField()


class GenerationFlaggedSerializer(GenerationResponseSerializer):
    asked_model = serializers.CharField()
    served_model = serializers.CharField()
    model_mismatch = serializers.BooleanField()
    self_identifies = serializers.BooleanField()
    excerpt = serializers.CharField()


class GenerationProgressSerializer(GenerationCountsSerializer):
    status = serializers.CharField()
    paused_reason = serializers.CharField()
    is_simulated = serializers.BooleanField()
    contestants = GenerationContestantProgressSerializer(many=True)
    calls_per_second = serializers.FloatField()
    eta_seconds = serializers.FloatField(allow_null=True)
    budget_usd = _Money(allow_null=True)
    failures = GenerationFailureSerializer(many=True)
    flagged = GenerationFlaggedSerializer(many=True)


class GenerationEstimateApi(APIView):
    permission_classes = [IsLead]

    @operation("What generation will cost, before it starts", GenerationEstimateSerializer)
    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        return Response(jsonable(generation_estimate(campaign=campaign)))


class GenerationProgressApi(APIView):
    permission_classes = [IsLead]

    @operation("Generation progress, failures and flagged responses", GenerationProgressSerializer)
    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        return Response(generation_payload(campaign=campaign))


class GenerationRetryFailedApi(APIView):
    permission_classes = [IsLead]

    class OutputSerializer(serializers.Serializer):
        retried = serializers.IntegerField(help_text="Failed responses queued again.")
        status = serializers.CharField(help_text="The campaign's status.")

    @operation("Queue the failed responses again", {202: OutputSerializer}, request=None, errors=LEAD_CAMPAIGN_STATUS)
    def post(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        retried = generation_services.generation_retry_failed(campaign=campaign)
        return Response({"retried": retried, "status": campaign.status}, status=status.HTTP_202_ACCEPTED)
