from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from ..models import Campaign
from ..selectors.campaigns import campaign_progress, is_lead
from ..selectors.reviewers import reviewer_campaigns_with_progress


@login_required
def home(request):
    """The reviewer's campaigns, or the lead's dashboard."""
    if is_lead(request.user):
        campaigns = list(Campaign.objects.prefetch_related("contestants")[:100])
        rows = [{"campaign": c, "progress": campaign_progress(campaign=c)} for c in campaigns]
        return render(request, "arena/dashboard.html", {"rows": rows})
    # Reviewer: an allow-list of fields (id, name, their own progress), nothing about contestants.
    items = reviewer_campaigns_with_progress(user=request.user)
    return render(request, "arena/reviewer_home.html", {"campaigns": items})
