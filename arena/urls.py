from django.urls import path

from .views import campaign, home, images, invite, report, review

urlpatterns = [
    path("", home.home, name="home"),
    path("review/<int:campaign_id>/", review.review_page, name="review"),
    path("invite/<str:key>/", invite.invite_page, name="invite"),
    path("campaigns/<int:campaign_id>/", campaign.campaign_page, name="campaign-detail"),
    path("campaigns/<int:campaign_id>/report/", report.report_page, name="campaign-report"),
    path("media/i/<str:token>/", images.image_view, name="prompt-image"),
]
