"""Reviewer-facing API (next, vote, skip, flag) and the lead's quality-control endpoints.

Reviewer responses are built from `ReviewItem.as_api()` or from literal allow-listed dicts:
nothing here serialises a model row, so nothing model-identifying can slip into the JSON.
"""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_view
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from ..errors import NotFound
from ..models import Comparison, Vote
from ..review_items import review_item_build
from ..selectors.campaigns import access_campaign_for_lead
from ..selectors.reviewers import flagged_items, reviewer_quality
from ..services import assignment as assignment_services
from ..services import quality as quality_services
from ..services.voting import COMMENT_MAX, vote_submit
from .permissions import IsLead
from .schema import REVIEWER_ITEM, SIGNED_IN, operation


def _valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ReviewNextApi(APIView):
    """`GET /api/review/next/?campaign={id}`: 200 with the item, or 204 when nothing is left.

    JSON only. The access check (404 unless an included reviewer of an open campaign) is made
    by the service on the membership row it locks, not by a query of its own.
    """

    renderer_classes = [JSONRenderer]

    class InputSerializer(serializers.Serializer):
        # Bounded to the id column's range: a larger number is a 400 naming the field, not a
        # database overflow (a 500) on either backend.
        campaign = serializers.IntegerField(min_value=1, max_value=2**63 - 1)

    def get(self, request):
        data = _valid(self.InputSerializer, request.query_params)
        assignment = assignment_services.assignment_next_for_reviewer(
            campaign_id=data["campaign"], reviewer_id=request.user.pk
        )
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(review_item_build(assignment_id=assignment.pk).as_api())


class ReviewVoteApi(APIView):
    """`POST /api/review/{assignment}/vote/`: 201 new, 200 the same vote again, 409 a different one."""

    renderer_classes = [JSONRenderer]

    class InputSerializer(serializers.Serializer):
        choice = serializers.ChoiceField(choices=Vote.Choice.values)
        comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=COMMENT_MAX)
        seconds_on_task = serializers.FloatField(required=False, allow_null=True, default=None)
        # Any JSON object: its keys and values are checked against the campaign's criteria by
        # the service, whose 400 names the key.
        criteria = serializers.DictField(required=False, default=dict)

    def post(self, request, token):
        data = _valid(self.InputSerializer, request.data)
        vote, created = vote_submit(
            token=token,
            reviewer_id=request.user.pk,
            choice=data["choice"],
            comment=data["comment"],
            seconds_on_task=data["seconds_on_task"],
            criteria=data["criteria"],
        )
        body = {"assignment": token, "choice": vote.choice, "comment": vote.comment, "created": created}
        body["criteria"] = data["criteria"]
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ReviewSkipApi(APIView):
    def post(self, request, token):
        assignment_services.assignment_skip(token=token, reviewer_id=request.user.pk)
        return Response({"assignment": token, "status": "skipped"})


class ReviewFlagApi(APIView):
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=assignment_services.FLAG_REASON_MAX)

    def post(self, request, token):
        data = _valid(self.InputSerializer, request.data)
        assignment_services.assignment_flag(token=token, reviewer_id=request.user.pk, reason=data["reason"])
        return Response({"assignment": token, "status": "flagged"})


# --- Lead quality control ---------------------------------------------------------------------


def _member(campaign, username):
    user = get_user_model().objects.filter(username=username).first()
    if user is None or not campaign.memberships.filter(user=user).exists():
        raise NotFound(f"{username} is not a reviewer of this campaign")
    return user


class ReviewerExcludeApi(APIView):
    """`POST /api/campaigns/{id}/reviewers/{username}/exclude/` (and `/include/` to undo)."""

    permission_classes = [IsLead]
    excluded = True

    def post(self, request, campaign_id, username):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        user = _member(campaign, username)
        result = quality_services.reviewer_exclude(campaign=campaign, user=user, excluded=self.excluded)
        return Response({"username": username, **result})


class ReviewerIncludeApi(ReviewerExcludeApi):
    excluded = False


class ReviewerQualityApi(APIView):
    """`GET /api/campaigns/{id}/reviewers/quality/`: self-consistency, gold accuracy, too-fast votes."""

    permission_classes = [IsLead]

    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        return Response({"reviewers": reviewer_quality(campaign=campaign)})


class FlagListApi(APIView):
    """`GET /api/campaigns/{id}/flags/`: items reviewers flagged, with their reasons."""

    permission_classes = [IsLead]

    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        return Response({"flags": flagged_items(campaign=campaign)})


def _comparison(campaign, comparison_id) -> Comparison:
    comparison = Comparison.objects.filter(campaign=campaign, pk=comparison_id).first()
    if comparison is None:
        raise NotFound("no such comparison in this campaign")
    return comparison


class _ComparisonSettingApi(APIView):
    """A lead's POST setting one of a comparison's settings: `{setting: value}` in, `service` does it
    (its keyword is the setting's name), `{"comparison": id, setting: value}` out."""

    permission_classes = [IsLead]
    setting = ""
    service = None
    InputSerializer: type[serializers.Serializer]

    def post(self, request, campaign_id, comparison_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        data = _valid(self.InputSerializer, request.data)
        comparison = self.service(comparison=_comparison(campaign, comparison_id), **data)
        return Response({"comparison": comparison.pk, self.setting: getattr(comparison, self.setting)})


class ComparisonGoldApi(_ComparisonSettingApi):
    """`POST /api/campaigns/{id}/comparisons/{comparison_id}/gold/` `{"gold": "a"|"b"|"tie"|"both_bad"|""}`."""

    setting = "gold"
    service = staticmethod(quality_services.comparison_set_gold)

    class InputSerializer(serializers.Serializer):
        gold = serializers.ChoiceField(choices=["", *Comparison.Gold.values], allow_blank=True)


class ComparisonExcludeApi(_ComparisonSettingApi):
    """`POST /api/campaigns/{id}/comparisons/{comparison_id}/exclude/` `{"excluded": true|false}`."""

    setting = "excluded"
    service = staticmethod(quality_services.comparison_set_excluded)

    class InputSerializer(serializers.Serializer):
        excluded = serializers.BooleanField(default=True)


# --- The OpenAPI description of the views above -----------------------------------------------
# Kept in one block, apart from the views, so the views' code and their description can change
# independently; `extend_schema_view` decorates the classes in place.


class ReviewSideSerializer(serializers.Serializer):
    text = serializers.CharField(help_text="The answer, as the model wrote it (markdown).")
    html = serializers.CharField(help_text="The same, rendered to safe HTML.")


class ReviewCampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ReviewCriterionSerializer(serializers.Serializer):
    key = serializers.CharField()
    question = serializers.CharField()
    required = serializers.BooleanField()


class ReviewItemSerializer(serializers.Serializer):
    """`ReviewItem.as_api()`: nothing in it names or hints at a model."""

    assignment = serializers.CharField(help_text="Opaque random id: vote, skip or flag with it.")
    campaign = ReviewCampaignSerializer()
    prompt = serializers.CharField()
    prompt_html = serializers.CharField()
    left = ReviewSideSerializer()
    right = ReviewSideSerializer()
    guidelines = serializers.CharField(help_text="The campaign's guidelines (markdown).")
    progress = serializers.DictField(help_text="The reviewer's own progress in this campaign.")
    criteria = ReviewCriterionSerializer(many=True, help_text="Asked beside the overall choice ([] when none).")


class ReviewVoteOutputSerializer(serializers.Serializer):
    assignment = serializers.CharField()
    choice = serializers.ChoiceField(choices=Vote.Choice.values)
    comment = serializers.CharField(allow_blank=True)
    created = serializers.BooleanField(help_text="False when the same vote was already stored.")
    criteria = serializers.DictField(
        child=serializers.ChoiceField(choices=Vote.Choice.values), help_text="The criteria answers, as shown."
    )


class ReviewGiveUpOutputSerializer(serializers.Serializer):
    assignment = serializers.CharField()
    status = serializers.ChoiceField(choices=["skipped", "flagged"])


class ReviewerExcludeOutputSerializer(serializers.Serializer):
    username = serializers.CharField()
    excluded = serializers.BooleanField()
    leases_ended = serializers.IntegerField(help_text="Open items taken back from the reviewer.")
    votes_freed = serializers.IntegerField(help_text="Their counted votes whose slots went back to the pool.")


class ReviewerQualityRowSerializer(serializers.Serializer):
    username = serializers.CharField()
    excluded = serializers.BooleanField()
    votes = serializers.IntegerField()
    too_fast = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True)
    repeats = serializers.IntegerField()
    repeats_consistent = serializers.IntegerField()
    self_consistency = serializers.FloatField(allow_null=True)
    gold_votes = serializers.IntegerField()
    gold_correct = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    skips = serializers.IntegerField()
    flags = serializers.IntegerField()
    criteria_repeats = serializers.IntegerField(
        help_text="Criteria answers in repeat checks, each with a first answer."
    )
    criteria_repeats_consistent = serializers.IntegerField(help_text="Of which resolve as the first answer did.")


class ReviewerQualityOutputSerializer(serializers.Serializer):
    reviewers = ReviewerQualityRowSerializer(many=True)


class FlagSerializer(serializers.Serializer):
    comparison_id = serializers.IntegerField()
    comparison__prompt__external_id = serializers.CharField(allow_blank=True)
    reviewer__username = serializers.CharField()
    flag_reason = serializers.CharField()
    leased_at = serializers.DateTimeField(allow_null=True)


class FlagListOutputSerializer(serializers.Serializer):
    flags = FlagSerializer(many=True)


class ComparisonGoldOutputSerializer(serializers.Serializer):
    comparison = serializers.IntegerField()
    gold = serializers.CharField(allow_blank=True)


class ComparisonExcludeOutputSerializer(serializers.Serializer):
    comparison = serializers.IntegerField()
    excluded = serializers.BooleanField()


extend_schema_view(
    get=operation(
        "The reviewer's next item in a campaign",
        {
            200: ReviewItemSerializer,
            204: OpenApiResponse(description="Nothing is left for this reviewer in this campaign."),
        },
        errors=(400, *SIGNED_IN, 404),
        parameters=[ReviewNextApi.InputSerializer],
    )
)(ReviewNextApi)
extend_schema_view(
    post=operation(
        "Vote on an item",
        {201: ReviewVoteOutputSerializer, 200: ReviewVoteOutputSerializer},
        errors=REVIEWER_ITEM,
        description="201 a new vote; 200 the same vote again (idempotent); 409 a different one.",
        request=ReviewVoteApi.InputSerializer,
        examples=[OpenApiExample("A vote", request_only=True, value={"choice": "left", "seconds_on_task": 12.5})],
    )
)(ReviewVoteApi)
extend_schema_view(
    post=operation("Skip an item", ReviewGiveUpOutputSerializer, request=None, errors=REVIEWER_ITEM),
)(ReviewSkipApi)
extend_schema_view(
    post=operation(
        "Flag an item as broken or harmful",
        ReviewGiveUpOutputSerializer,
        errors=REVIEWER_ITEM,
        request=ReviewFlagApi.InputSerializer,
        examples=[OpenApiExample("A broken item", request_only=True, value={"reason": "Both answers are empty."})],
    )
)(ReviewFlagApi)
extend_schema_view(
    post=operation("Leave a reviewer's votes out of every figure", ReviewerExcludeOutputSerializer, request=None)
)(ReviewerExcludeApi)
extend_schema_view(
    post=operation("Count a reviewer's votes again", ReviewerExcludeOutputSerializer, request=None),
)(ReviewerIncludeApi)
extend_schema_view(
    get=operation("Each reviewer's self-consistency, gold accuracy and too-fast votes", ReviewerQualityOutputSerializer)
)(ReviewerQualityApi)
extend_schema_view(get=operation("Items reviewers flagged, with their reasons", FlagListOutputSerializer))(FlagListApi)
extend_schema_view(
    post=operation(
        "Set (or clear) a comparison's gold answer",
        ComparisonGoldOutputSerializer,
        request=ComparisonGoldApi.InputSerializer,
    )
)(ComparisonGoldApi)
extend_schema_view(
    post=operation(
        "Leave a comparison out of review and reports (or bring it back)",
        ComparisonExcludeOutputSerializer,
        request=ComparisonExcludeApi.InputSerializer,
    )
)(ComparisonExcludeApi)
