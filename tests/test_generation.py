"""The generation engine, end to end against the loopback model API.

Tests marked `worker` go through a real `celery -A evalsite worker` process; the others run
the same tasks eagerly in the test process (the drain's threads included), which is faster and
lets them change Django settings.
"""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test import override_settings

from arena.models import Campaign, Contestant, Prompt, Response
from arena.services.generation import (
    generation_drain,
    generation_estimate,
    generation_failures,
    generation_progress,
    generation_retry_failed,
    generation_start,
    generation_sweep_stuck,
)
from simulator import stats_key
from tests.conftest import wait_until
from tests.factories import make_campaign

# Short timeouts and backoff for worker processes, so a flaky API converges in seconds.
FAST_WORKER = {
    "LLM_REQUEST_TIMEOUT": "0.5",
    "LLM_BACKOFF_BASE": "0.05",
    "LLM_BACKOFF_MAX": "0.2",
    "LLM_MAX_ATTEMPTS": "8",
}
FAST = {"LLM_REQUEST_TIMEOUT": 0.5, "LLM_BACKOFF_BASE": 0.01, "LLM_BACKOFF_MAX": 0.05}


@pytest.fixture
def eager():
    """Run enqueued tasks in the test process, synchronously, as they are sent."""
    from evalsite.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def status_of(campaign) -> str:
    return Campaign.objects.values_list("status", flat=True).get(pk=campaign.pk)


def messages_sent(response: Response) -> list[dict]:
    return response.request["body"]["messages"]


# --------------------------------------------------------------------------- through a worker


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_flaky_api_still_ends_with_every_response_done_and_paid_once(sim, start_worker):
    sim.configure(
        latency=0.01,
        error_500_rate=0.20,
        rate_429_rate=0.10,
        retry_after=1,
        hang_rate=0.05,
        hang_seconds=3,
        malformed_rate=0.02,
        max_failures_per_key=3,
        seed=11,
    )
    campaign = make_campaign(prompts=25, base_url=sim.base_url, models=["deepseek-v4-flash", "Qwen/Qwen3-32B"])
    start_worker(env_overrides=FAST_WORKER)

    generation_start(campaign=campaign)
    wait_until(lambda: status_of(campaign) == "ready", timeout=90, message="generation to finish")

    rows = list(Response.objects.filter(campaign=campaign).select_related("contestant"))
    assert len(rows) == 50
    assert {(r.prompt_id, r.contestant_id) for r in rows} == {
        (p.id, c.id) for p in campaign.prompts.all() for c in campaign.contestants.all()
    }
    assert {r.status for r in rows} == {"done"}
    stats = sim.stats()
    assert stats["faults"]["error_500"] and stats["faults"]["rate_429"] and stats["faults"]["hang"]
    # Every HTTP request the API saw is an attempt the engine recorded, and none was hidden.
    assert sum(r.attempts for r in rows) == stats["requests_total"]
    retried = [r for r in rows if r.attempts > 1]
    assert retried and all(r.last_error for r in retried)
    # Each (model, prompt) was answered successfully exactly once: nothing paid twice.
    for r in rows:
        key = stats_key(r.contestant.model, messages_sent(r))
        assert stats["completions_by_key"][key] == 1
        assert r.attempts == 1 + stats["faults_by_key"].get(key, 0)
    # Cost counted once, from the tokens of the stored answers (price $1.00 per million).
    expected = sum(Decimal(r.output_tokens) for r in rows) / Decimal(1_000_000)
    assert generation_progress(campaign=campaign)["cost_usd"] == expected.quantize(Decimal("0.000001"))
    assert stats["completion_tokens"] == sum(r.output_tokens for r in rows)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_generation_leaves_nothing_stuck_or_duplicated(sim, start_worker):
    sim.configure(latency=0.25)
    campaign = make_campaign(prompts=30, base_url=sim.base_url, models=["deepseek-v4-flash", "Qwen/Qwen3-32B"])
    Contestant.objects.filter(campaign=campaign).update(max_concurrency=4)
    stuck_after = 2
    first = start_worker(env_overrides={**FAST_WORKER, "LLM_REQUEST_TIMEOUT": "5"})

    generation_start(campaign=campaign)
    wait_until(
        lambda: Response.objects.filter(campaign=campaign, status="done").count() >= 12,
        timeout=60,
        message="some responses done",
    )
    first.kill()
    done_before = {
        (r.contestant.model, r.prompt_id): r.id
        for r in Response.objects.filter(campaign=campaign, status="done").select_related("contestant")
    }
    in_flight = Response.objects.filter(campaign=campaign, status="running").count()
    assert in_flight > 0, "the kill should land while calls are in flight"
    assert status_of(campaign) == "generating"

    # Once the dead worker's rows are older than the stuck timeout, a new worker takes them.
    time.sleep(stuck_after + 0.5)
    start_worker(
        env_overrides={**FAST_WORKER, "LLM_REQUEST_TIMEOUT": "5", "GENERATION_STUCK_AFTER_SECONDS": stuck_after}
    )
    wait_until(lambda: status_of(campaign) == "ready", timeout=60, message="generation to finish after the kill")

    rows = list(Response.objects.filter(campaign=campaign).select_related("contestant"))
    assert len(rows) == 60 and {r.status for r in rows} == {"done"}
    stats = sim.stats()
    completions = {r.id: stats["completions_by_key"][stats_key(r.contestant.model, messages_sent(r))] for r in rows}
    # Responses stored before the kill were never requested again.
    assert all(completions[row_id] == 1 for row_id in done_before.values())
    # Only a call in flight at the kill can have been paid twice (the answer died with the
    # worker); everything else was fetched exactly once.
    paid_twice = sum(n - 1 for n in completions.values())
    assert 0 <= paid_twice <= in_flight
    assert all(n <= 2 for n in completions.values())


# --------------------------------------------------------------------------- in-process


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST)
def test_served_model_mismatch_and_self_identifying_answers_are_flagged(sim, eager):
    sim.configure(
        served_model_overrides={"deepseek-v4-flash": "deepseek-v3-cheaper"},
        self_identify_models=["Qwen/Qwen3-32B"],
    )
    campaign = make_campaign(prompts=4, base_url=sim.base_url, models=["deepseek-v4-flash", "Qwen/Qwen3-32B"])

    generation_start(campaign=campaign)

    assert status_of(campaign) == "ready"
    flash = Response.objects.filter(campaign=campaign, contestant__model="deepseek-v4-flash")
    qwen = Response.objects.filter(campaign=campaign, contestant__model="Qwen/Qwen3-32B")
    # The answer is kept as served, never re-asked of another model, and flagged.
    assert {(r.status, r.served_model, r.model_mismatch) for r in flash} == {("done", "deepseek-v3-cheaper", True)}
    assert not any(r.self_identifies for r in flash)
    assert all(r.self_identifies and not r.model_mismatch for r in qwen)
    assert all("Alibaba" in r.text or "Qwen" in r.text for r in qwen)
    requested = sim.stats()["requests_by_model"]
    assert set(requested) == {"deepseek-v4-flash", "Qwen/Qwen3-32B"}
    per = {c["model"]: c for c in generation_progress(campaign=campaign)["contestants"]}
    assert per["deepseek-v4-flash"]["model_mismatch"] == 4
    assert per["Qwen/Qwen3-32B"]["self_identifies"] == 4


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST, LLM_MAX_ATTEMPTS=2)
def test_failed_responses_show_their_error_and_retry_failed_brings_them_to_done(sim, eager):
    sim.configure(error_500_rate=1.0)
    campaign = make_campaign(prompts=3, base_url=sim.base_url)

    generation_start(campaign=campaign)

    assert status_of(campaign) == "ready"
    failed = Response.objects.filter(campaign=campaign, status="failed")
    assert failed.count() == 6
    assert all(r.attempts == 2 and "500 server error" in r.last_error for r in failed)
    shown = generation_failures(campaign=campaign)
    assert len(shown) == 6 and "500 server error" in shown[0]["last_error"]
    assert generation_progress(campaign=campaign)["failed"] == 6

    sim.configure(error_500_rate=0.0)
    assert generation_retry_failed(campaign=campaign) == 6

    assert status_of(campaign) == "ready"
    rows = Response.objects.filter(campaign=campaign)
    assert {r.status for r in rows} == {"done"}
    assert all(r.attempts == 3 for r in rows)  # two failed attempts, then one that succeeded
    assert generation_retry_failed(campaign=campaign) == 0


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST)
def test_a_permanent_error_fails_at_once_without_retrying(sim, eager):
    sim.configure(strict_models=True)
    campaign = make_campaign(prompts=2, base_url=sim.base_url, models=["gpt-4o", "no-such-model"])

    generation_start(campaign=campaign)

    bad = Response.objects.filter(campaign=campaign, contestant__model="no-such-model")
    assert {(r.status, r.attempts) for r in bad} == {("failed", 1)}
    assert all(r.last_error.startswith("404") for r in bad)
    assert set(
        Response.objects.filter(campaign=campaign, contestant__model="gpt-4o").values_list("status", flat=True)
    ) == {"done"}


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST)
def test_budget_cap_pauses_generation_with_a_clear_message_and_resumes_when_raised(sim, eager):
    campaign = make_campaign(prompts=20, base_url=sim.base_url, max_tokens=50)
    # About 50 output tokens at $100 per million: $0.005 a response; the cap is hit after ~4.
    Contestant.objects.filter(campaign=campaign).update(price_per_mtok_out=Decimal("100"), max_concurrency=1)
    Campaign.objects.filter(pk=campaign.pk).update(budget_usd=Decimal("0.02"))
    campaign.refresh_from_db()

    generation_start(campaign=campaign)

    campaign.refresh_from_db()
    assert campaign.status == "generating"
    assert "budget cap of $0.0200" in campaign.paused_reason and "Raise" in campaign.paused_reason
    spent = Response.objects.filter(campaign=campaign, status="done").aggregate(s=Sum("cost_usd"))["s"]
    assert spent >= Decimal("0.02")
    # At most one response per contestant was in flight when the cap was reached.
    assert spent < Decimal("0.02") + 2 * Decimal("0.0051")
    assert Response.objects.filter(campaign=campaign, status="pending").exists()
    assert generation_progress(campaign=campaign)["paused_reason"] == campaign.paused_reason

    Campaign.objects.filter(pk=campaign.pk).update(budget_usd=None)
    generation_start(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == "ready" and campaign.paused_reason == ""
    assert set(Response.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"done"}


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST)
def test_settings_are_frozen_and_each_request_is_stored_with_the_system_prompt_first(sim, eager):
    campaign = make_campaign(
        prompts=1, base_url=sim.base_url, system_prompt="Be brief.", temperature=0.3, max_tokens=64, seed=5
    )
    Prompt.objects.create(
        campaign=campaign,
        position=2,
        external_id="chat",
        messages=[
            {"role": "user", "content": "My parcel is late."},
            {"role": "assistant", "content": "Sorry! Which order?"},
            {"role": "user", "content": "Order 1234."},
        ],
    )
    Contestant.objects.filter(campaign=campaign, position=0).update(extra_params={"top_p": 0.9})

    generation_start(campaign=campaign)
    # Later edits to the campaign do not change what was frozen.
    Campaign.objects.filter(pk=campaign.pk).update(system_prompt="Be verbose.", temperature=1.5)

    campaign.refresh_from_db()
    assert campaign.frozen_settings["system_prompt"] == "Be brief."
    assert campaign.frozen_settings["temperature"] == 0.3
    chat = Response.objects.get(campaign=campaign, prompt__external_id="chat", contestant__position=0)
    body = chat.request["body"]
    assert chat.status == "done"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "My parcel is late."},
        {"role": "assistant", "content": "Sorry! Which order?"},
        {"role": "user", "content": "Order 1234."},
    ]
    assert (body["temperature"], body["max_tokens"], body["seed"], body["top_p"]) == (0.3, 64, 5, 0.9)
    assert chat.request["url"] == sim.base_url + "/chat/completions"
    assert "key" not in str(chat.request).lower()
    text = Response.objects.get(campaign=campaign, prompt__external_id="p1", contestant__position=1)
    assert messages_sent(text)[1] == {"role": "user", "content": text.prompt.text}
    assert "top_p" not in text.request["body"]


@pytest.mark.django_db(transaction=True)
def test_generating_twice_creates_one_row_per_prompt_and_contestant(sim):
    campaign = make_campaign(prompts=5, base_url=sim.base_url)

    generation_start(campaign=campaign)
    generation_start(campaign=campaign)

    assert status_of(campaign) == "generating"
    assert Response.objects.filter(campaign=campaign).count() == 10
    assert Response.objects.filter(campaign=campaign, status="pending").count() == 10


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST)
def test_two_drains_of_one_contestant_together_never_exceed_its_concurrency(sim):
    # Two tasks for the same contestant (enqueued twice, or a sweep's re-enqueue while one
    # runs) may run at once in two processes; the API must still see at most max_concurrency.
    sim.configure(latency=0.1)
    campaign = make_campaign(prompts=24, base_url=sim.base_url, models=["deepseek-v4-flash", "Qwen/Qwen3-32B"])
    contestant = campaign.contestants.get(model="deepseek-v4-flash")
    Contestant.objects.filter(pk=contestant.pk).update(max_concurrency=3)
    generation_start(campaign=campaign)  # no worker runs here: the queued tasks are never taken

    def drain_like_a_worker():
        try:
            generation_drain(contestant_id=contestant.pk)
        finally:
            connection.close()  # as Celery does after a task

    drains = [threading.Thread(target=drain_like_a_worker) for _ in range(2)]
    for drain in drains:
        drain.start()
    for drain in drains:
        drain.join()

    rows = Response.objects.filter(contestant=contestant)
    assert [r.status for r in rows] == ["done"] * 24
    assert all(r.attempts == 1 for r in rows)
    stats = sim.stats()
    assert stats["requests_by_model"] == {"deepseek-v4-flash": 24}
    assert stats["max_in_flight"] <= 3


@pytest.mark.django_db(transaction=True)
def test_generation_cannot_start_without_prompts_or_once_review_is_open(sim):
    from arena.errors import Conflict, ValidationFailed

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


# --------------------------------------------------------------------------- API and page


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST, LLM_MAX_ATTEMPTS=1)
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
    from arena.services.generation import generation_actual_cost, generation_progress
    from tests.factories import generate_done

    campaign = make_campaign(prompts=3)
    generate_done(campaign)
    Response.objects.filter(campaign=campaign).update(cost_usd=Decimal("0.003068"))
    assert generation_actual_cost(campaign=campaign) == Decimal("0.018408")
    assert str(generation_actual_cost(campaign=campaign)) == "0.018408"
    assert str(generation_progress(campaign=campaign)["cost_usd"]) == "0.018408"
    raw = Response.objects.filter(campaign=campaign).aggregate(s=Sum("cost_usd"))["s"]
    if connection.vendor == "sqlite":
        assert str(raw) != "0.018408"  # what the page showed before: SQLite sums as floats
