from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from . import campaigns, decisions, generation, invites, judging, reports, review
from .errors import API_NOT_FOUND, api_not_found

urlpatterns = [
    # Review's next + vote first: they are the hot path, and Django tries patterns in order.
    path("review/next/", review.ReviewNextApi.as_view(), name="api-review-next"),
    path("review/<str:token>/vote/", review.ReviewVoteApi.as_view(), name="api-review-vote"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("auth/token/", campaigns.TokenObtainApi.as_view(), name="api-token"),
    path("campaigns/", campaigns.CampaignListCreateApi.as_view(), name="api-campaigns"),
    path("campaigns/<int:campaign_id>/", campaigns.CampaignDetailApi.as_view(), name="api-campaign"),
    path("campaigns/<int:campaign_id>/prompts/", campaigns.PromptImportApi.as_view(), name="api-prompts"),
    path("campaigns/<int:campaign_id>/reviewers/", campaigns.ReviewersAddApi.as_view(), name="api-reviewers"),
    path("campaigns/<int:campaign_id>/generate/", campaigns.CampaignGenerateApi.as_view(), name="api-generate"),
    path("campaigns/<int:campaign_id>/open/", campaigns.CampaignOpenApi.as_view(), name="api-open"),
    path("campaigns/<int:campaign_id>/close/", campaigns.CampaignCloseApi.as_view(), name="api-close"),
    # Generation (leads): arena/api/generation.py
    path(
        "campaigns/<int:campaign_id>/retry-failed/",
        generation.GenerationRetryFailedApi.as_view(),
        name="api-retry-failed",
    ),
    path("campaigns/<int:campaign_id>/estimate/", generation.GenerationEstimateApi.as_view(), name="api-estimate"),
    path("campaigns/<int:campaign_id>/generation/", generation.GenerationProgressApi.as_view(), name="api-generation"),
    path("campaigns/<int:campaign_id>/report/", reports.ReportApi.as_view(), name="api-report"),
    path("campaigns/<int:campaign_id>/report.csv", reports.ReportCsvApi.as_view(), name="api-report-csv"),
    path(
        "campaigns/<int:campaign_id>/leaderboard.csv", reports.LeaderboardCsvApi.as_view(), name="api-leaderboard-csv"
    ),
    path(
        "campaigns/<int:campaign_id>/leaderboard_style.csv",
        reports.LeaderboardStyleCsvApi.as_view(),
        name="api-leaderboard-style-csv",
    ),
    path("campaigns/<int:campaign_id>/models.csv", reports.ModelsCsvApi.as_view(), name="api-models-csv"),
    path("campaigns/<int:campaign_id>/criteria.csv", reports.CriteriaCsvApi.as_view(), name="api-criteria-csv"),
    path("campaigns/<int:campaign_id>/votes.csv", reports.VotesCsvApi.as_view(), name="api-votes-csv"),
    path("campaigns/<int:campaign_id>/votes.jsonl", reports.VotesJsonlApi.as_view(), name="api-votes-jsonl"),
    path(
        "campaigns/<int:campaign_id>/preferences.jsonl",
        reports.PreferencesJsonlApi.as_view(),
        name="api-preferences-jsonl",
    ),
    # Adaptive stopping (leads): arena/api/decisions.py
    path("campaigns/<int:campaign_id>/decisions.csv", decisions.DecisionsCsvApi.as_view(), name="api-decisions-csv"),
    path("campaigns/<int:campaign_id>/stopping/", decisions.CampaignStoppingApi.as_view(), name="api-stopping"),
    # Review (reviewers) and quality control (leads): arena/api/review.py
    path("review/<str:token>/skip/", review.ReviewSkipApi.as_view(), name="api-review-skip"),
    path("review/<str:token>/flag/", review.ReviewFlagApi.as_view(), name="api-review-flag"),
    path(
        "campaigns/<int:campaign_id>/reviewers/quality/",
        review.ReviewerQualityApi.as_view(),
        name="api-reviewer-quality",
    ),
    path(
        "campaigns/<int:campaign_id>/reviewers/<str:username>/exclude/",
        review.ReviewerExcludeApi.as_view(),
        name="api-reviewer-exclude",
    ),
    path(
        "campaigns/<int:campaign_id>/reviewers/<str:username>/include/",
        review.ReviewerIncludeApi.as_view(),
        name="api-reviewer-include",
    ),
    path("campaigns/<int:campaign_id>/flags/", review.FlagListApi.as_view(), name="api-flags"),
    path("campaigns/<int:campaign_id>/invites/", invites.InviteListCreateApi.as_view(), name="api-invites"),
    path(
        "campaigns/<int:campaign_id>/invites/<int:invite_id>/revoke/",
        invites.InviteRevokeApi.as_view(),
        name="api-invite-revoke",
    ),
    path(
        "campaigns/<int:campaign_id>/comparisons/<int:comparison_id>/gold/",
        review.ComparisonGoldApi.as_view(),
        name="api-comparison-gold",
    ),
    path(
        "campaigns/<int:campaign_id>/comparisons/<int:comparison_id>/exclude/",
        review.ComparisonExcludeApi.as_view(),
        name="api-comparison-exclude",
    ),
    # Judges (leads): arena/api/judging.py
    path("campaigns/<int:campaign_id>/judges/", judging.JudgesApi.as_view(), name="api-judges"),
    path("campaigns/<int:campaign_id>/judge/", judging.JudgeStartApi.as_view(), name="api-judge"),
    path("campaigns/<int:campaign_id>/judging/", judging.JudgingApi.as_view(), name="api-judging"),
    path("campaigns/<int:campaign_id>/calibration/", judging.CalibrationApi.as_view(), name="api-calibration"),
    path("campaigns/<int:campaign_id>/judgements.csv", judging.JudgementsCsvApi.as_view(), name="api-judgements-csv"),
    path(
        "campaigns/<int:campaign_id>/judge_leaderboard.csv",
        judging.JudgeLeaderboardCsvApi.as_view(),
        name="api-judge-leaderboard-csv",
    ),
    path(
        "campaigns/<int:campaign_id>/judge_report.csv", judging.JudgeReportCsvApi.as_view(), name="api-judge-report-csv"
    ),
    # Last: any other path under /api/ answers a JSON 404, not Django's HTML page.
    re_path(r"^(?P<path>.*)$", api_not_found, name=API_NOT_FOUND),
]
