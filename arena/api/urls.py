from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from . import campaigns, decisions, generation, invites, judging, reports, review
from .errors import API_NOT_FOUND, api_not_found


def _endpoints(prefix: str, routes: list) -> list:
    """One URL pattern per (route under `prefix`, APIView class, URL name), in the given order."""
    return [path(prefix + route, view.as_view(), name=name) for route, view, name in routes]


urlpatterns = [
    # Review's next + vote first: they are the hot path, and Django tries patterns in order.
    *_endpoints(
        "review/",
        [
            ("next/", review.ReviewNextApi, "api-review-next"),
            ("<str:token>/vote/", review.ReviewVoteApi, "api-review-vote"),
            ("<str:token>/skip/", review.ReviewSkipApi, "api-review-skip"),
            ("<str:token>/flag/", review.ReviewFlagApi, "api-review-flag"),
        ],
    ),
    *_endpoints(
        "",
        [
            ("schema/", SpectacularAPIView, "api-schema"),
            ("auth/token/", campaigns.TokenObtainApi, "api-token"),
            ("campaigns/", campaigns.CampaignListCreateApi, "api-campaigns"),
        ],
    ),
    # A lead's operations on one campaign.
    *_endpoints(
        "campaigns/<int:campaign_id>/",
        [
            # arena/api/campaigns.py
            ("", campaigns.CampaignDetailApi, "api-campaign"),
            ("prompts/", campaigns.PromptImportApi, "api-prompts"),
            ("reviewers/", campaigns.ReviewersAddApi, "api-reviewers"),
            ("generate/", campaigns.CampaignGenerateApi, "api-generate"),
            ("open/", campaigns.CampaignOpenApi, "api-open"),
            ("close/", campaigns.CampaignCloseApi, "api-close"),
            # arena/api/generation.py
            ("retry-failed/", generation.GenerationRetryFailedApi, "api-retry-failed"),
            ("estimate/", generation.GenerationEstimateApi, "api-estimate"),
            ("generation/", generation.GenerationProgressApi, "api-generation"),
            # arena/api/reports.py
            ("report/", reports.ReportApi, "api-report"),
            ("report.csv", reports.ReportCsvApi, "api-report-csv"),
            ("leaderboard.csv", reports.LeaderboardCsvApi, "api-leaderboard-csv"),
            ("leaderboard_style.csv", reports.LeaderboardStyleCsvApi, "api-leaderboard-style-csv"),
            ("models.csv", reports.ModelsCsvApi, "api-models-csv"),
            ("criteria.csv", reports.CriteriaCsvApi, "api-criteria-csv"),
            ("votes.csv", reports.VotesCsvApi, "api-votes-csv"),
            ("votes.jsonl", reports.VotesJsonlApi, "api-votes-jsonl"),
            ("preferences.jsonl", reports.PreferencesJsonlApi, "api-preferences-jsonl"),
            # Adaptive stopping: arena/api/decisions.py
            ("decisions.csv", decisions.DecisionsCsvApi, "api-decisions-csv"),
            ("stopping/", decisions.CampaignStoppingApi, "api-stopping"),
            # Quality control: arena/api/review.py
            ("reviewers/quality/", review.ReviewerQualityApi, "api-reviewer-quality"),
            ("reviewers/<str:username>/exclude/", review.ReviewerExcludeApi, "api-reviewer-exclude"),
            ("reviewers/<str:username>/include/", review.ReviewerIncludeApi, "api-reviewer-include"),
            ("flags/", review.FlagListApi, "api-flags"),
            ("comparisons/<int:comparison_id>/gold/", review.ComparisonGoldApi, "api-comparison-gold"),
            ("comparisons/<int:comparison_id>/exclude/", review.ComparisonExcludeApi, "api-comparison-exclude"),
            # Invite links: arena/api/invites.py
            ("invites/", invites.InviteListCreateApi, "api-invites"),
            ("invites/<int:invite_id>/revoke/", invites.InviteRevokeApi, "api-invite-revoke"),
            # Judges: arena/api/judging.py
            ("judges/", judging.JudgesApi, "api-judges"),
            ("judge/", judging.JudgeStartApi, "api-judge"),
            ("judging/", judging.JudgingApi, "api-judging"),
            ("calibration/", judging.CalibrationApi, "api-calibration"),
            ("judgements.csv", judging.JudgementsCsvApi, "api-judgements-csv"),
            ("judge_leaderboard.csv", judging.JudgeLeaderboardCsvApi, "api-judge-leaderboard-csv"),
            ("judge_report.csv", judging.JudgeReportCsvApi, "api-judge-report-csv"),
        ],
    ),
    # Last: any other path under /api/ answers a JSON 404, not Django's HTML page.
    re_path(r"^(?P<path>.*)$", api_not_found, name=API_NOT_FOUND),
]
