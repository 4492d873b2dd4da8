"""Judges (leads only): add judges, start judging, the estimate and progress, and the judges'
own exports: judgements.csv, calibration/, judge_report.csv, judge_leaderboard.csv."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..errors import ValidationFailed
from ..models import Judge
from ..reports import judging as judging_reports
from ..selectors.campaigns import access_campaign_for_lead
from ..selectors.generation import jsonable
from ..selectors.judging import judging_estimate, judging_progress_counts
from ..services import judging as judging_services
from .column_fields import column_decimal_field, column_integer_field
from .permissions import IsLead
from .reports import _DownloadApi, _ExportApi
from .schema import LEAD_CAMPAIGN, LEAD_CAMPAIGN_STATUS, download_operation, operation


class JudgeSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    label = serializers.CharField(max_length=100)
    model = serializers.CharField(max_length=200)
    base_url = serializers.URLField(required=False, allow_blank=True, default="")
    api_key_env = serializers.RegexField(r"^[A-Za-z_][A-Za-z0-9_]*$", required=False, allow_blank=True, default="")
    price_per_mtok_out = column_decimal_field(Judge, "price_per_mtok_out", required=False, default=0, min_value=0)
    price_per_mtok_in = column_decimal_field(Judge, "price_per_mtok_in", required=False, default=0, min_value=0)
    instructions = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    max_concurrency = column_integer_field(
        Judge, "max_concurrency", required=False, default=16, min_value=1, max_value=256
    )
    budget_usd = column_decimal_field(Judge, "budget_usd", required=False, allow_null=True, default=None)


def _specs(data) -> tuple[list[judging_services.JudgeSpec], str | None]:
    """One judge object, or a list of them (errors then name `judges[i].field`)."""
    many = isinstance(data, list)
    items = data if many else [data]
    specs = []
    for i, item in enumerate(items):
        serializer = JudgeSerializer(data=item)
        if not serializer.is_valid():
            field, problems = next(iter(serializer.errors.items()))
            where = f"judges[{i}].{field}" if many else field
            raise ValidationFailed(f"{where}: {' '.join(str(p) for p in problems)}", field=where)
        specs.append(judging_services.JudgeSpec(**serializer.validated_data))
    return specs, ("judges" if many else None)


class JudgesApi(APIView):
    permission_classes = [IsLead]

    @operation("The campaign's judges", JudgeSerializer(many=True))
    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        return Response(JudgeSerializer(campaign.judges.order_by("id"), many=True).data)

    @operation("Add a judge (or a list of judges) to the campaign", {201: JudgeSerializer}, request=JudgeSerializer)
    def post(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        if not isinstance(request.data, dict | list) or (isinstance(request.data, list) and not request.data):
            raise ValidationFailed("send a judge object, or a list of them", field="judges")
        specs, prefix = _specs(request.data)
        judges = judging_services.judges_add(campaign_id=campaign.pk, specs=specs, where_prefix=prefix)
        body = JudgeSerializer(judges, many=True).data if prefix else JudgeSerializer(judges[0]).data
        return Response(body, status=status.HTTP_201_CREATED)


class JudgingProgressSerializer(serializers.Serializer):
    judgements_done = serializers.IntegerField(help_text="Judgements with a verdict or an unparsed reply stored.")
    judgements_total = serializers.IntegerField(help_text="2 per comparison per judge.")


class JudgeStartOutputSerializer(JudgingProgressSerializer):
    to_judge = serializers.IntegerField(help_text="Judgements still to be made (pending or running).")


class JudgeEstimateSerializer(serializers.Serializer):
    judge_id = serializers.IntegerField()
    label = serializers.CharField()
    model = serializers.CharField()
    calls = serializers.IntegerField(help_text="Calls still to make: 2 per comparison, less what is judged.")
    usd = serializers.DecimalField(max_digits=14, decimal_places=6, coerce_to_string=True)
    budget_usd = serializers.DecimalField(max_digits=14, decimal_places=4, allow_null=True, coerce_to_string=True)
    spent_usd = serializers.DecimalField(max_digits=14, decimal_places=6, coerce_to_string=True)
    paused_reason = serializers.CharField(allow_blank=True)


class JudgingOutputSerializer(JudgingProgressSerializer):
    comparisons = serializers.IntegerField()
    calls = serializers.IntegerField()
    judges = JudgeEstimateSerializer(many=True)
    total_usd = serializers.DecimalField(max_digits=14, decimal_places=6, coerce_to_string=True)


class CalibrationJudgeSerializer(serializers.Serializer):
    judge = serializers.CharField()
    comparisons = serializers.IntegerField(help_text="Comparisons with both orders parsed.")
    consistency = serializers.FloatField(allow_null=True)
    agreement = serializers.FloatField(allow_null=True)
    agreement_decisive = serializers.FloatField(allow_null=True)
    human_agreement = serializers.FloatField(allow_null=True)
    human_agreement_decisive = serializers.FloatField(allow_null=True)


class CalibrationSerializer(serializers.Serializer):
    judges = serializers.ListField(
        child=serializers.DictField(),
        help_text="Per judge the fields of CalibrationJudge; with `?full=1` also intervals, kappa, biases, "
        "Kendall's tau, the plain verdict and `categories`.",
    )


class JudgeStartApi(APIView):
    permission_classes = [IsLead]

    @operation(
        "Judge every comparison in both orders with every judge (only what is missing)",
        {202: JudgeStartOutputSerializer},
        request=None,
        errors=(400, *LEAD_CAMPAIGN_STATUS),
    )
    def post(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        missing = judging_services.judging_start(campaign_id=campaign.pk)
        return Response(
            {"to_judge": missing, **judging_progress_counts(campaign=campaign)}, status=status.HTTP_202_ACCEPTED
        )


class JudgingApi(APIView):
    permission_classes = [IsLead]

    @operation("Judging's cost estimate, spend and progress", None)
    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        return Response(jsonable({**judging_estimate(campaign=campaign), **judging_progress_counts(campaign=campaign)}))


class CalibrationApi(_ExportApi):
    """The contract's figures per judge; `?full=1` adds intervals, kappa, biases, tau, the verdict and categories."""

    def get(self, request, campaign_id):
        campaign = access_campaign_for_lead(user=request.user, campaign_id=campaign_id)
        full = request.query_params.get("full") in ("1", "true", "yes")
        return Response(judging_reports.calibration_payload(campaign=campaign, full=full))


class JudgementsCsvApi(_DownloadApi):
    """Every judgement with its verdict, one row per (judge, comparison, order)."""

    filename = "judgements.csv"

    def render(self, campaign):
        return judging_reports.judgements_csv(campaign=campaign)


def _judge_id(request, campaign) -> int | None:
    """The judge `?judge=<label>` names (400 for a label no judge has), or None: the first judge."""
    label = request.query_params.get("judge")
    judge = judging_reports.judge_of(campaign=campaign, label=label)
    if label and judge is None:
        raise ValidationFailed(f"no judge labelled {label!r} in this campaign", field="judge")
    return judge.pk if judge else None


class JudgeLeaderboardCsvApi(_DownloadApi):
    """The leaderboard from a judge's verdicts (`?judge=<label>`, default the first judge)."""

    filename = "judge_leaderboard.csv"

    def render(self, campaign):
        return judging_reports.judge_leaderboard_csv(campaign=campaign, judge_id=_judge_id(self.request, campaign))


class JudgeReportCsvApi(_DownloadApi):
    """The per-pair table from a judge's verdicts, with the win-rate CSV's header."""

    filename = "judge_report.csv"

    def render(self, campaign):
        return judging_reports.judge_report_csv(campaign=campaign, judge_id=_judge_id(self.request, campaign))


_JUDGE_PARAM = OpenApiParameter("judge", OpenApiTypes.STR, description="A judge's label (default: the first judge).")
extend_schema_view(
    get=operation(
        "How far each judge agrees with the reviewers",
        CalibrationSerializer,
        errors=(400, *LEAD_CAMPAIGN),
        parameters=[OpenApiParameter("full", OpenApiTypes.STR, description="1: every calibration figure")],
    )
)(CalibrationApi)
for _view, _summary, _params in [
    (JudgementsCsvApi, "Every judgement (CSV): one row per judge, comparison and order", []),
    (JudgeLeaderboardCsvApi, "Bradley-Terry leaderboard from a judge's verdicts (CSV)", [_JUDGE_PARAM]),
    (JudgeReportCsvApi, "Win rates per pair from a judge's verdicts (CSV)", [_JUDGE_PARAM]),
]:
    extend_schema_view(
        get=download_operation(
            _summary, "The header is in the product contract.", errors=(400, *LEAD_CAMPAIGN), parameters=_params
        )
    )(_view)
