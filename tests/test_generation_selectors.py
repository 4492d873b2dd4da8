"""Generation reads: the estimate before launch, progress and failures while it runs, and what
the lead sees of them on the API and the campaign page."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test import override_settings

from arena.models import Contestant, Response
from arena.selectors.generation import generation_actual_cost, generation_estimate, generation_progress
from arena.services.generation import generation_start
from tests.conftest import FAST_LLM
from tests.factories import generate_done, make_campaign


@pytest.mark.django_db
def test_estimate_is_prompts_times_expected_tokens_times_price():
    campaign = make_campaign(prompts=10, expected_output_tokens=400)
    Contestant.objects.filter(campaign=campaign, position=0).update(price_per_mtok_out=Decimal("0.25"))
    Contestant.objects.filter(campaign=campaign, position=1).update(price_per_mtok_out=Decimal("2.50"))

    estimate = generation_estimate(campaign=campaign)

    # By hand: 10 prompts x 400 tokens = 4,000 tokens per model;
    # 4,000 x $0.25 / 1M = $0.001 and 4,000 x $2.50 / 1M = $0.01; together $0.011.
    assert [(c["output_tokens"], c["usd"]) for c in estimate["contestants"]] == [
        (4000, Decimal("0.001")),
        (4000, Decimal("0.01")),
    ]
    assert estimate["total_usd"] == Decimal("0.011")
    assert estimate["calls"] == 20


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_LLM, LLM_MAX_ATTEMPTS=1)
def test_lead_reads_estimate_and_progress_and_retries_failed_through_the_api(client, lead, reviewer, sim, eager):
    sim.configure(error_500_rate=1.0)
    campaign = make_campaign(prompts=2, base_url=sim.base_url, expected_output_tokens=500)
    client.force_login(lead)

    estimate = client.get(f"/api/campaigns/{campaign.pk}/estimate/").json()
    # 2 prompts x 500 tokens x $1.00 per million = $0.001 per model.
    assert estimate["total_usd"] == "0.002000" and estimate["contestants"][0]["usd"] == "0.001000"

    generation_start(campaign=campaign)
    progress = client.get(f"/api/campaigns/{campaign.pk}/generation/").json()
    assert (progress["status"], progress["failed"], progress["done"]) == ("ready", 4, 0)
    assert "500 server error" in progress["failures"][0]["last_error"]

    sim.configure(error_500_rate=0.0)
    retried = client.post(f"/api/campaigns/{campaign.pk}/retry-failed/")
    assert retried.status_code == 202 and retried.json()["retried"] == 4
    progress = client.get(f"/api/campaigns/{campaign.pk}/generation/").json()
    assert (progress["status"], progress["done"], progress["failures"]) == ("ready", 4, [])
    assert [c["done"] for c in progress["contestants"]] == [2, 2]

    client.force_login(reviewer)
    for path in ("estimate/", "generation/"):
        assert client.get(f"/api/campaigns/{campaign.pk}/{path}").status_code in (403, 404)
    assert client.post(f"/api/campaigns/{campaign.pk}/retry-failed/").status_code in (403, 404)


@pytest.mark.django_db
def test_campaign_page_shows_progress_and_errors_to_the_lead_only(client, lead, reviewer, settings):
    campaign = make_campaign(prompts=2, base_url=settings.SIMULATED_API_BASE_URL, name="Bake-off")
    generation_start(campaign=campaign)
    Response.objects.filter(campaign=campaign).update(status="failed", attempts=6, last_error="503 server error: busy")

    client.force_login(lead)
    page = client.get(f"/campaigns/{campaign.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Responses are simulated" in html
    assert "503 server error: busy" in html and "generating" in html
    assert f"/api/campaigns/{campaign.pk}/generation/" in html  # it refreshes itself from there

    client.force_login(reviewer)
    assert client.get(f"/campaigns/{campaign.pk}/").status_code == 404


@pytest.mark.django_db
def test_summed_costs_are_shown_at_the_stored_precision():
    campaign = make_campaign(prompts=3)
    generate_done(campaign)
    Response.objects.filter(campaign=campaign).update(cost_usd=Decimal("0.003068"))
    assert generation_actual_cost(campaign=campaign) == Decimal("0.018408")
    assert str(generation_actual_cost(campaign=campaign)) == "0.018408"
    assert str(generation_progress(campaign=campaign)["cost_usd"]) == "0.018408"
    raw = Response.objects.filter(campaign=campaign).aggregate(s=Sum("cost_usd"))["s"]
    if connection.vendor == "sqlite":
        assert str(raw) != "0.018408"  # what the page showed before: SQLite sums as floats
