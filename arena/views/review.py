"""The reviewer's page (built out by the review workflow)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse


@login_required
def review_page(request, campaign_id):
    return HttpResponse("review page: not built yet", status=501)
