"""The lead's campaign page: status, generation progress per contestant, cost, failures, flags.

It renders the current state, then refreshes itself by polling the lead-only JSON endpoint
`/api/campaigns/<id>/generation/` every few seconds.
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from ..selectors.campaigns import access_campaign_for_lead
from ..selectors.generation import generation_estimate, generation_payload
from .access import campaign_for_page


@login_required
def campaign_page(request, campaign_id):
    campaign = campaign_for_page(access_campaign_for_lead, user=request.user, campaign_id=campaign_id)
    return render(
        request,
        "arena/campaign.html",
        {
            "campaign": campaign,
            "generation": generation_payload(campaign=campaign),
            "estimate": generation_estimate(campaign=campaign),
        },
    )
