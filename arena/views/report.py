"""The lead's report page (built out by the reports work)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse


@login_required
def report_page(request, campaign_id):
    return HttpResponse("report page: not built yet", status=501)
