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
from arena.selectors.generation import generation_progress
from arena.services.generation import generation_start
from arena.services.generation_engine import generation_drain
from arena.style_features import style_counts
from simulator import stats_key
from tests.conftest import FAST_LLM, wait_for_responses, wait_until
from tests.factories import campaign_of_two_models, make_campaign, status_of

# Short timeouts and backoff for worker processes, so a flaky API converges in seconds.
FAST_WORKER = {
    "LLM_REQUEST_TIMEOUT": "0.5",
    "LLM_BACKOFF_BASE": "0.05",
    "LLM_BACKOFF_MAX": "0.2",
    "LLM_MAX_ATTEMPTS": "8",
}


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
    campaign = campaign_of_two_models(sim, prompts=25)
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
    campaign = campaign_of_two_models(sim, prompts=30, max_concurrency=4)
    stuck_after = 2
    first = start_worker(env_overrides={**FAST_WORKER, "LLM_REQUEST_TIMEOUT": "5"})

    generation_start(campaign=campaign)
    wait_for_responses(campaign, status="done", at_least=12)
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
        env_overrides={
            **FAST_WORKER,
            "LLM_REQUEST_TIMEOUT": "5",
            "GENERATION_STUCK_AFTER_SECONDS": stuck_after,
            "GENERATION_HEARTBEAT_SECONDS": stuck_after / 4,
        }
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


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_task_out_of_time_hands_over_to_a_fresh_one_and_generation_still_finishes(sim, start_worker):
    # One call at a time, a fifth of a second each: 12 rows take a contestant ~2.4 s, and each
    # task may claim for 1 s only, so no single task can finish a contestant alone.
    sim.configure(latency=0.2)
    campaign = campaign_of_two_models(sim, prompts=12, max_concurrency=1)
    start_worker(env_overrides={**FAST_WORKER, "LLM_REQUEST_TIMEOUT": "5", "GENERATION_TASK_SECONDS": "1"})

    generation_start(campaign=campaign)
    wait_until(lambda: status_of(campaign) == "ready", timeout=60, message="generation to finish over several tasks")

    rows = list(Response.objects.filter(campaign=campaign))
    assert len(rows) == 24 and {(r.status, r.attempts) for r in rows} == {("done", 1)}
    # Handing over lost nothing and fetched nothing twice.
    assert sim.stats()["requests_total"] == 24
    assert sim.stats()["max_in_flight"] <= 2


# --------------------------------------------------------------------------- in-process


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_LLM)
def test_served_model_mismatch_and_self_identifying_answers_are_flagged(sim, eager):
    sim.configure(
        served_model_overrides={"deepseek-v4-flash": "deepseek-v3-cheaper"},
        self_identify_models=["Qwen/Qwen3-32B"],
    )
    campaign = campaign_of_two_models(sim, prompts=4)

    generation_start(campaign=campaign)

    assert status_of(campaign) == "ready"
    flash = Response.objects.filter(campaign=campaign, contestant__model="deepseek-v4-flash")
    qwen = Response.objects.filter(campaign=campaign, contestant__model="Qwen/Qwen3-32B")
    # The answer is kept as served, never re-asked of another model, and flagged.
    assert {(r.status, r.served_model, r.model_mismatch) for r in flash} == {("done", "deepseek-v3-cheaper", True)}
    assert not any(r.self_identifies for r in flash)
    assert all(r.self_identifies and not r.model_mismatch for r in qwen)
    assert all("Alibaba" in r.text or "Qwen" in r.text for r in qwen)
    # Each answer's style counts are stored with it, as style control counts them.
    assert all(r.text and r.style == list(style_counts(r.text)) for r in (*flash, *qwen))
    requested = sim.stats()["requests_by_model"]
    assert set(requested) == {"deepseek-v4-flash", "Qwen/Qwen3-32B"}
    per = {c["model"]: c for c in generation_progress(campaign=campaign)["contestants"]}
    assert per["deepseek-v4-flash"]["model_mismatch"] == 4
    assert per["Qwen/Qwen3-32B"]["self_identifies"] == 4


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_LLM)
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
@override_settings(**FAST_LLM)
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
@override_settings(**FAST_LLM)
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
@override_settings(**FAST_LLM)
def test_two_drains_of_one_contestant_together_never_exceed_its_concurrency(sim):
    # Two tasks for the same contestant (enqueued twice, or a sweep's re-enqueue while one
    # runs) may run at once in two processes; the API must still see at most max_concurrency.
    sim.configure(latency=0.1)
    campaign = campaign_of_two_models(sim, prompts=24)
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
