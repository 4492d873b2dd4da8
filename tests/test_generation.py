"""Generation's life cycle: starting (once), retrying what failed, sweeping what a dead worker left.

The tasks run eagerly in the test process (the drain's threads included) where a test needs
them to; elsewhere they are queued and never taken, so the rows stay as the service left them.
"""

import pytest
from django.test import override_settings

from arena.errors import Conflict, ValidationFailed
from arena.models import Campaign, Response
from arena.selectors.generation import generation_failures, generation_progress
from arena.services.generation import generation_retry_failed, generation_start, generation_sweep_stuck
from tests.conftest import FAST_LLM
from tests.factories import make_campaign


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_LLM, LLM_MAX_ATTEMPTS=2)
def test_failed_responses_show_their_error_and_retry_failed_brings_them_to_done(sim, eager):
    sim.configure(error_500_rate=1.0)
    campaign = make_campaign(prompts=3, base_url=sim.base_url)

    generation_start(campaign=campaign)

    assert campaign.status == "ready"
    failed = Response.objects.filter(campaign=campaign, status="failed")
    assert failed.count() == 6
    assert all(r.attempts == 2 and "500 server error" in r.last_error for r in failed)
    shown = generation_failures(campaign=campaign)
    assert len(shown) == 6 and "500 server error" in shown[0]["last_error"]
    assert generation_progress(campaign=campaign)["failed"] == 6

    sim.configure(error_500_rate=0.0)
    assert generation_retry_failed(campaign=campaign) == 6

    assert campaign.status == "ready"
    rows = Response.objects.filter(campaign=campaign)
    assert {r.status for r in rows} == {"done"}
    assert all(r.attempts == 3 for r in rows)  # two failed attempts, then one that succeeded
    assert generation_retry_failed(campaign=campaign) == 0


@pytest.mark.django_db(transaction=True)
def test_generating_twice_creates_one_row_per_prompt_and_contestant(sim):
    campaign = make_campaign(prompts=5, base_url=sim.base_url)

    generation_start(campaign=campaign)
    generation_start(campaign=campaign)

    assert campaign.status == "generating"
    assert Response.objects.filter(campaign=campaign).count() == 10
    assert Response.objects.filter(campaign=campaign, status="pending").count() == 10


@pytest.mark.django_db(transaction=True)
def test_generation_cannot_start_without_prompts_or_once_review_is_open(sim):
    empty = make_campaign(prompts=0, base_url=sim.base_url)
    with pytest.raises(ValidationFailed):
        generation_start(campaign=empty)
    opened = make_campaign(prompts=2, base_url=sim.base_url, status=Campaign.Status.OPEN)
    with pytest.raises(Conflict):
        generation_start(campaign=opened)
    assert not Response.objects.filter(campaign=opened).exists()


@pytest.mark.django_db(transaction=True)
@override_settings(GENERATION_STUCK_AFTER_SECONDS=60)
def test_sweep_resets_rows_whose_worker_stopped_answering(sim):
    from datetime import timedelta

    from django.utils import timezone

    campaign = make_campaign(prompts=2, base_url=sim.base_url)
    generation_start(campaign=campaign)
    rows = list(Response.objects.filter(campaign=campaign).order_by("id"))
    old, recent = rows[0], rows[1]
    Response.objects.filter(pk=old.pk).update(
        status="running", claim_token="dead", claimed_at=timezone.now() - timedelta(seconds=61)
    )
    Response.objects.filter(pk=recent.pk).update(status="running", claim_token="alive", claimed_at=timezone.now())

    assert generation_sweep_stuck() == 1

    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.status, old.claim_token) == ("pending", "")
    assert (recent.status, recent.claim_token) == ("running", "alive")
