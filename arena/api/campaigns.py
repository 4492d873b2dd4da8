"""Lead-facing API: campaigns, prompts, reviewers, and the status moves. One view per operation."""

from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from drf_spectacular.utils import OpenApiExample, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ..errors import ValidationFailed
from ..imports import MAX_TEXT_CHARS, ROLES, parse_json_list, parse_upload
from ..models import Campaign, Contestant
from ..selectors.campaigns import access_campaign_for_lead, campaign_progress
from ..services import campaigns as campaign_services
from ..services import generation as generation_services
from ..services.criteria import CriterionSpec
from ..services.generation import GENERATION_FIELDS
from ..untrusted_json import untrusted_json_loads
from .column_fields import column_decimal_field, column_integer_field
from .judging import JudgingProgressSerializer
from .parsers import LimitedFormParser, PromptListJSONParser
from .permissions import IsLead
from .schema import LEAD_CAMPAIGN_STATUS, SIGNED_IN, operation
from .token_auth import token_issue


def _valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class TokenObtainApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(style={"input_type": "password"})

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()

    @operation(
        "Exchange a username and password for an API token", OutputSerializer, request=InputSerializer, errors=(429,)
    )
    def post(self, request):
        data = _valid(self.InputSerializer, request.data)
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None:
            # django-axes flags the request when this username and address are locked out (the
            # limit was reached now or earlier); the password was then not even checked.
            if getattr(request, "axes_locked_out", False):
                seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
                detail = f"too many failed logins for this username from this address; try again in {seconds} s"
                return Response({"error": "locked_out", "detail": detail}, status=429, headers={"Retry-After": seconds})
            return Response({"error": "invalid", "detail": "wrong username or password"}, status=400)
        # A token request is a login: the signal records it (last_login) and lets django-axes
        # clear this username's failures, as a login through the form does.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        return Response({"token": token_issue(user=user).key})


class ContestantSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    label = serializers.CharField(max_length=100)
    model = serializers.CharField(max_length=200)
    # Both are checked against the operator's allow-lists by campaign_check (arena/endpoints.py).
    base_url = serializers.URLField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Empty: GLOBAL_API_BASE_URL. Otherwise a host the operator lists in LLM_ALLOWED_HOSTS.",
    )
    api_key_env = serializers.RegexField(
        r"^[A-Za-z_][A-Za-z0-9_]*$",
        required=False,
        allow_blank=True,
        default="",
        help_text="Empty: GLOBAL_API_KEY. Otherwise a variable name the operator lists in LLM_ALLOWED_KEY_ENVS.",
    )
    price_per_mtok_out = column_decimal_field(Contestant, "price_per_mtok_out", required=False, default=0, min_value=0)
    price_per_mtok_in = column_decimal_field(Contestant, "price_per_mtok_in", required=False, default=0, min_value=0)
    extra_params = serializers.DictField(required=False, default=dict)
    is_baseline = serializers.BooleanField(required=False, default=False)
    max_concurrency = column_integer_field(
        Contestant, "max_concurrency", required=False, default=16, min_value=1, max_value=256
    )
    requests_per_minute = column_integer_field(
        Contestant, "requests_per_minute", required=False, allow_null=True, default=None, min_value=1
    )
    tokens_per_minute = column_integer_field(
        Contestant, "tokens_per_minute", required=False, allow_null=True, default=None, min_value=1
    )


class CriterionSerializer(serializers.Serializer):
    # The key's pattern, uniqueness and the limit of 8 are campaign_check's (one rule for API and admin).
    key = serializers.CharField(max_length=100, help_text="Matches [a-z][a-z0-9_]{0,31}; unique in the campaign.")
    question = serializers.CharField(max_length=300, help_text="Shown to reviewers under the two answers.")
    required = serializers.BooleanField(required=False, default=True)


class CampaignProgressSerializer(JudgingProgressSerializer):
    """`selectors.campaigns.campaign_progress`: its own counts and judging's."""

    prompts = serializers.IntegerField()
    responses_done = serializers.IntegerField()
    responses_failed = serializers.IntegerField()
    responses_total = serializers.IntegerField()
    comparisons = serializers.IntegerField()
    votes = serializers.IntegerField()
    votes_target = serializers.IntegerField()


class CampaignOutputSerializer(serializers.ModelSerializer):
    contestants = ContestantSerializer(many=True, read_only=True)
    criteria = CriterionSerializer(many=True, read_only=True)
    progress = extend_schema_field(CampaignProgressSerializer)(serializers.SerializerMethodField())
    is_simulated = serializers.BooleanField(read_only=True)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "guidelines",
            "status",
            "votes_per_comparison",
            "pairing",
            *GENERATION_FIELDS,
            "min_seconds_per_vote",
            "stopping",
            "alpha",
            "equivalence_margin",
            "power_share",
            "judge_mode",
            "hybrid_share",
            "frozen_settings",
            "created_at",
            "opened_at",
            "closed_at",
            "contestants",
            "criteria",
            "progress",
            "is_simulated",
        ]

    def get_progress(self, campaign) -> dict:
        return campaign_progress(campaign=campaign)


class CampaignListCreateApi(APIView):
    permission_classes = [IsLead]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        guidelines = serializers.CharField(required=False, allow_blank=True, default="")
        votes_per_comparison = column_integer_field(
            Campaign, "votes_per_comparison", required=False, default=3, min_value=1, max_value=50
        )
        pairing = serializers.ChoiceField(choices=Campaign.Pairing.choices, required=False, default="all_pairs")
        system_prompt = serializers.CharField(required=False, allow_blank=True, default="")
        temperature = serializers.FloatField(required=False, allow_null=True, default=0.7, min_value=0, max_value=2)
        max_tokens = column_integer_field(
            Campaign, "max_tokens", required=False, allow_null=True, default=1024, min_value=1
        )
        seed = column_integer_field(Campaign, "seed", required=False, allow_null=True, default=None)
        extra_params = serializers.DictField(required=False, default=dict)
        expected_output_tokens = column_integer_field(
            Campaign, "expected_output_tokens", required=False, default=400, min_value=1
        )
        budget_usd = column_decimal_field(Campaign, "budget_usd", required=False, allow_null=True, default=None)
        min_seconds_per_vote = serializers.FloatField(required=False, default=3.0, min_value=0)
        # Ranges checked by campaign_check (services/campaigns.py), for the API and admin alike.
        stopping = serializers.ChoiceField(choices=Campaign.Stopping.choices, required=False, default="fixed")
        alpha = serializers.FloatField(required=False, default=0.05, help_text="In (0, 1): error over all pairs.")
        equivalence_margin = serializers.FloatField(
            required=False, default=0.05, help_text="In [0, 0.5): equivalent inside 0.5 ± this; 0 turns it off."
        )
        power_share = serializers.FloatField(
            required=False, default=0.55, help_text="In (0.5, 1): the smallest decisive share that matters."
        )
        judge_mode = serializers.ChoiceField(choices=Campaign.JudgeMode.choices, required=False, default="off")
        hybrid_share = serializers.FloatField(required=False, default=0.2, min_value=0, max_value=1)
        contestants = ContestantSerializer(many=True, min_length=2)
        criteria = CriterionSerializer(many=True, required=False, default=list)

    @operation("List campaigns (the 200 newest)", CampaignOutputSerializer(many=True), errors=SIGNED_IN)
    def get(self, request):
        campaigns = Campaign.objects.prefetch_related("contestants", "criteria")[:200]
        return Response(CampaignOutputSerializer(campaigns, many=True).data)

    @operation(
        "Create a campaign with its contestants",
        {201: CampaignOutputSerializer},
        request=InputSerializer,
        errors=SIGNED_IN,
        examples=[
            OpenApiExample(
                "Two contestants on the default endpoint",
                request_only=True,
                value={
                    "name": "Support bake-off",
                    "guidelines": "Pick the answer that solves the customer's problem.",
                    "votes_per_comparison": 3,
                    "contestants": [
                        {"label": "Flash", "model": "deepseek-v4-flash", "price_per_mtok_out": "0.25"},
                        {"label": "Qwen 8B", "model": "Qwen/Qwen3-8B", "price_per_mtok_out": "0.01"},
                    ],
                },
            )
        ],
    )
    def post(self, request):
        data = _valid(self.InputSerializer, request.data)
        specs = [campaign_services.ContestantSpec(**c) for c in data.pop("contestants")]
        criteria = [CriterionSpec(**c) for c in data.pop("criteria")]
        campaign = campaign_services.campaign_create(
            contestants=specs, criteria=criteria, created_by=request.user, **data
        )
        return Response(CampaignOutputSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailApi(APIView):
    permission_classes = [IsLead]

    @operation("A campaign, with its status and progress", CampaignOutputSerializer)
    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        return Response(CampaignOutputSerializer(campaign).data)


def _prompt_list_schema() -> dict:
    """The JSON Schema of a JSON list of prompts, as `arena.imports.row_from_object` reads it.

    Written as a schema, not a serializer: a row holds `text` or `messages`, never both, which
    only `oneOf` can say. The last message must be the user's (not expressible here: 400).
    """
    not_blank = {"type": "string", "minLength": 1, "pattern": r"\S"}
    # A content part as OpenAI writes it; an image only as a data: URL (arena/images.py checks it).
    part = {
        "oneOf": [
            {
                "type": "object",
                "required": ["type", "text"],
                "properties": {"type": {"enum": ["text"]}, "text": not_blank},
            },
            {
                "type": "object",
                "required": ["type", "image_url"],
                "properties": {
                    "type": {"enum": ["image_url"]},
                    "image_url": {
                        "type": "object",
                        "required": ["url"],
                        "properties": {
                            "url": {
                                "type": "string",
                                "pattern": "^data:image/",
                                "description": "PNG, JPEG, WebP or GIF, at most 5 MB",
                            },
                            "detail": {"enum": ["auto", "low", "high"]},
                        },
                    },
                },
            },
        ]
    }
    content = {"oneOf": [not_blank, {"type": "array", "minItems": 1, "items": part}]}
    message = {
        "type": "object",
        "required": ["role", "content"],
        "properties": {"role": {"type": "string", "enum": sorted(ROLES)}, "content": content},
    }
    row = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "text": {
                **not_blank,
                "maxLength": MAX_TEXT_CHARS,
                "description": "The prompt; give `text` or `messages`, not both.",
            },
            "messages": {
                "type": "array",
                "minItems": 1,
                "items": message,
                "description": (
                    "OpenAI chat messages instead of `text` (system, user and assistant turns; the last "
                    "one is the user's); at most 8 images in all."
                ),
            },
            "external_id": {
                "oneOf": [{"type": "string"}, {"type": "integer"}],
                "nullable": True,
                "description": "Unique in the campaign.",
            },
            "category": {"type": "string", "nullable": True},
            "metadata": {"type": "object", "nullable": True},
        },
        "oneOf": [
            {"required": ["text"], "not": {"required": ["messages"]}},
            {"required": ["messages"], "not": {"required": ["text"]}},
        ],
    }
    return {"type": "array", "minItems": 1, "maxItems": settings.IMPORT_MAX_PROMPTS, "items": row}


class PromptFileSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV (columns `text`, `external_id`, `category`; header required), JSONL, or a JSON list."
    )


class PromptImportOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="Prompts this upload added.")
    prompts = serializers.IntegerField(help_text="Prompts the campaign has now.")


class PromptImportApi(APIView):
    """A JSON list of prompts, or a CSV/JSONL/JSON file in the form field `file`. All or nothing."""

    permission_classes = [IsLead]
    # A JSON list of prompts is an upload, held to IMPORT_MAX_BYTES rather than the smaller
    # limit on other bodies; files stream through UploadSizeLimitHandler to the same limit.
    parser_classes = [PromptListJSONParser, MultiPartParser, LimitedFormParser]

    @operation(
        "Add prompts to a draft campaign (all or nothing)",
        {201: PromptImportOutputSerializer},
        errors=LEAD_CAMPAIGN_STATUS,
        description="A bad row rejects the whole upload with 400 and its line number; a campaign past draft: 409.",
        request={
            "application/json": _prompt_list_schema(),
            "multipart/form-data": PromptFileSerializer,
        },
        examples=[
            OpenApiExample(
                "Two prompts",
                request_only=True,
                media_type="application/json",
                value=[
                    {"text": "Where is my order?", "external_id": "q1", "category": "shipping"},
                    {"messages": [{"role": "user", "content": "Can I return a gift?"}], "external_id": "q2"},
                ],
            )
        ],
    )
    def post(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        upload = request.FILES.get("file")
        if upload is not None:
            rows = parse_upload(upload, filename=upload.name or "upload")
        elif isinstance(request.data, list):
            rows = parse_json_list(request.data)
        elif isinstance(request.data, dict) and isinstance(request.data.get("prompts"), list):
            rows = parse_json_list(request.data["prompts"])
        elif isinstance(request.data, dict) and isinstance(request.data.get("prompts"), str):
            rows = parse_json_list(untrusted_json_loads(request.data["prompts"], where="prompts"), source="prompts")
        else:
            raise ValidationFailed("send a JSON list of prompts, or a file in the field 'file'", field="file")
        created = campaign_services.prompts_import(campaign=campaign, rows=rows)
        return Response({"created": created, "prompts": campaign.prompts.count()}, status=status.HTTP_201_CREATED)


class ReviewersAddApi(APIView):
    permission_classes = [IsLead]

    class InputSerializer(serializers.Serializer):
        usernames = serializers.ListField(child=serializers.CharField(), allow_empty=False)

    class OutputSerializer(serializers.Serializer):
        added = serializers.ListField(child=serializers.CharField(), help_text="Usernames new to the campaign.")
        reviewers = serializers.ListField(child=serializers.CharField(), help_text="All its reviewers.")

    @operation("Make existing users reviewers of the campaign", OutputSerializer, request=InputSerializer)
    def post(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        data = _valid(self.InputSerializer, request.data)
        added = campaign_services.reviewers_add(campaign=campaign, usernames=data["usernames"])
        reviewers = sorted(campaign.reviewers.values_list("username", flat=True))
        return Response({"added": added, "reviewers": reviewers}, status=status.HTTP_200_OK)


class CampaignGenerateApi(APIView):
    permission_classes = [IsLead]

    @operation(
        "Start generating every contestant's responses",
        {202: CampaignOutputSerializer},
        request=None,
        errors=LEAD_CAMPAIGN_STATUS,
    )
    def post(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        generation_services.generation_start(campaign=campaign)
        campaign.refresh_from_db()
        return Response(CampaignOutputSerializer(campaign).data, status=status.HTTP_202_ACCEPTED)


class CampaignOpenApi(APIView):
    permission_classes = [IsLead]

    @operation(
        "Open review: build the comparisons and hand them to reviewers",
        CampaignOutputSerializer,
        request=None,
        errors=LEAD_CAMPAIGN_STATUS,
    )
    def post(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        campaign_services.campaign_open(campaign=campaign)
        return Response(CampaignOutputSerializer(campaign).data)


class CampaignCloseApi(APIView):
    permission_classes = [IsLead]

    @operation("Close review", CampaignOutputSerializer, request=None, errors=LEAD_CAMPAIGN_STATUS)
    def post(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        campaign_services.campaign_close(campaign=campaign)
        return Response(CampaignOutputSerializer(campaign).data)
