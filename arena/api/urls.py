from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from . import campaigns

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
]
