from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from . import campaigns, reports

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("auth/token/", campaigns.TokenObtainApi.as_view(), name="api-token"),
    path("campaigns/", campaigns.CampaignListCreateApi.as_view(), name="api-campaigns"),
    path("campaigns/<int:campaign_id>/", campaigns.CampaignDetailApi.as_view(), name="api-campaign"),
    path("campaigns/<int:campaign_id>/prompts/", campaigns.PromptImportApi.as_view(), name="api-prompts"),
    path("campaigns/<int:campaign_id>/reviewers/", campaigns.ReviewersAddApi.as_view(), name="api-reviewers"),
    path("campaigns/<int:campaign_id>/generate/", campaigns.CampaignGenerateApi.as_view(), name="api-generate"),
    path("campaigns/<int:campaign_id>/open/", campaigns.CampaignOpenApi.as_view(), name="api-open"),
    path("campaigns/<int:campaign_id>/close/", campaigns.CampaignCloseApi.as_view(), name="api-close"),
    path("campaigns/<int:campaign_id>/report/", reports.ReportApi.as_view(), name="api-report"),
    path("campaigns/<int:campaign_id>/report.csv", reports.ReportCsvApi.as_view(), name="api-report-csv"),
    path(
        "campaigns/<int:campaign_id>/leaderboard.csv", reports.LeaderboardCsvApi.as_view(), name="api-leaderboard-csv"
    ),
    path("campaigns/<int:campaign_id>/votes.csv", reports.VotesCsvApi.as_view(), name="api-votes-csv"),
    path("campaigns/<int:campaign_id>/votes.jsonl", reports.VotesJsonlApi.as_view(), name="api-votes-jsonl"),
    path(
        "campaigns/<int:campaign_id>/preferences.jsonl",
        reports.PreferencesJsonlApi.as_view(),
        name="api-preferences-jsonl",
    ),
]
