"""The reviewer's page. The page is a shell; items come from the review API (no full reload).

The context is an allow-list: campaign id and name, safe guidelines HTML, the reviewer's
progress and whether the answers are simulated. Nothing about contestants reaches the template.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from ..errors import NotFound
from ..rendering import render_markdown
from ..selectors.campaigns import access_campaign_for_reviewer
from ..selectors.reviewers import reviewer_progress


@login_required
def review_page(request, campaign_id):
    try:
        campaign = access_campaign_for_reviewer(user=request.user, campaign_id=campaign_id)
    except NotFound:
        raise Http404("no such campaign") from None
    context = {
        "campaign": {"id": campaign.id, "name": campaign.name},
        # Says only that answers are simulated, which is true of both sides alike.
        "simulated": campaign.is_simulated,
        "guidelines_html": render_markdown(campaign.guidelines),
        "progress": reviewer_progress(campaign_id=campaign.id, reviewer_id=request.user.pk),
    }
    return render(request, "arena/review.html", context)
