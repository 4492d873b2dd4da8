"""Generation that survives restarts: dead workers' claims taken back, drains restarted, transient errors outlived.

The two tests marked `worker` are the operator's view: real worker processes, the loopback
model API over HTTP, default settings. The others run the drain eagerly in the test process,
which lets them set the state a dead worker leaves behind and change Django settings.
"""

import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from arena.models import Campaign, Contestant, Response
from arena.services.generation import generation_start, generation_sweep_stuck
from arena.services.generation_engine import generation_drain
from simulator import stats_key
from tests.conftest import FAST_LLM, ROOT, wait_until
from tests.factories import make_campaign


def status_of(campaign) -> str:
    return Campaign.objects.values_list("status", flat=True).get(pk=campaign.pk)


def statuses(campaign) -> dict[str, int]:
    rows = Response.objects.filter(campaign=campaign).values_list("status", flat=True)
    return {status: list(rows).count(status) for status in set(rows)}


def campaign_of_two_models(sim, *, prompts: int, **contestant_fields) -> Campaign:
    campaign = make_campaign(prompts=prompts, base_url=sim.base_url, models=["deepseek-v4-flash", "Qwen/Qwen3-32B"])
    if contestant_fields:
        Contestant.objects.filter(campaign=campaign).update(**contestant_fields)
    return campaign


def completions_of(rows, stats) -> dict[int, int]:
    """How many successful answers the API gave for each row's (model, prompt)."""
    return {
        r.id: stats["completions_by_key"].get(stats_key(r.contestant.model, r.request["body"]["messages"]), 0)
        for r in rows
    }


# --------------------------------------------------------------------------- through workers


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_every_worker_killed_mid_run_and_a_fresh_one_started_finishes_every_response_once(sim, start_worker):
    # Default settings throughout: heartbeats every 5 s, taken back after 30 s. Only the
    # simulated API is slowed down (a third of a second a call) so that the kill lands with
    # calls in flight and rows still pending.
    sim.configure(latency=0.3)
    campaign = campaign_of_two_models(sim, prompts=60, max_concurrency=4)
    first = start_worker()

    generation_start(campaign=campaign)
    wait_until(
        lambda: Response.objects.filter(campaign=campaign, status="done").count() >= 20,
        timeout=60,
        message="some responses done",
    )
    first.kill()
    running_at_kill = Response.objects.filter(campaign=campaign, status="running").count()
    done_before = set(Response.objects.filter(campaign=campaign, status="done").values_list("id", flat=True))
    assert running_at_kill > 0, "the kill should land while calls are in flight"
    assert Response.objects.filter(campaign=campaign, status="pending").exists()

    start_worker()  # a fresh worker, at once: the dead one's heartbeats are still fresh
    wait_until(lambda: status_of(campaign) == "ready", timeout=120, message="generation to finish after the kill")

    rows = list(Response.objects.filter(campaign=campaign).select_related("contestant"))
    assert len(rows) == 120 and {r.status for r in rows} == {"done"}
    stats = sim.stats()
    completions = completions_of(rows, stats)
    # Answers stored before the kill were never asked for again.
    assert all(completions[row_id] == 1 for row_id in done_before)
    # Nothing was paid twice but the calls in flight at the kill, whose answers died with the
    # worker; every other (model, prompt) was asked once.
    assert stats["requests_total"] <= len(rows) + running_at_kill
    assert sum(n - 1 for n in completions.values() if n > 1) <= running_at_kill
    assert all(1 <= n <= 2 for n in completions.values())


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_provider_with_a_third_of_calls_failing_transiently_still_ends_with_every_response_done(sim, start_worker):
    sim.configure(latency=0.01, error_500_rate=0.20, rate_429_rate=0.10, retry_after=0.2, malformed_rate=0.02, seed=3)
    campaign = campaign_of_two_models(sim, prompts=150)
    # Default attempts bound and retry deadline; only the backoff is shortened (from 1 s
    # doubling to 60 s) so that the test takes seconds, not minutes.
    start_worker(env_overrides={"LLM_BACKOFF_BASE": "0.05", "LLM_BACKOFF_MAX": "0.5"})

    generation_start(campaign=campaign)
    wait_until(lambda: status_of(campaign) == "ready", timeout=120, message="generation to finish")

    assert statuses(campaign) == {"done": 300}
    stats = sim.stats()
    faults = stats["faults"]
    assert faults["error_500"] and faults["rate_429"] and faults["malformed"]
    rows = list(Response.objects.filter(campaign=campaign).select_related("contestant"))
    # Every request the API saw was recorded as an attempt, and each answer was paid once.
    assert sum(r.attempts for r in rows) == stats["requests_total"]
    assert set(completions_of(rows, stats).values()) == {1}


# --------------------------------------------------------------------------- in-process


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_LLM)
def test_the_sweep_restarts_a_dead_drain_and_leaves_a_live_one_alone(sim, request):
    campaign = campaign_of_two_models(sim, prompts=3)
    dead, live = campaign.contestants.order_by("position")
    generation_start(campaign=campaign)  # no worker runs here: the queued tasks are never taken
    request.getfixturevalue("eager")  # from now on, what the sweep enqueues runs here
    # The rows and leases as if one contestant's drain had died on a killed worker 31 s ago
    # (older than GENERATION_STUCK_AFTER_SECONDS) and the other's were alive.
    long_ago = timezone.now() - timedelta(seconds=31)
    Contestant.objects.filter(pk=dead.pk).update(drain_token="dead-drain", drain_heartbeat_at=long_ago)
    Contestant.objects.filter(pk=live.pk).update(drain_token="live-drain", drain_heartbeat_at=timezone.now())
    first_prompt = campaign.prompts.order_by("position").first()
    Response.objects.filter(prompt=first_prompt, contestant=dead).update(
        status="running", claim_token="dead-batch", claimed_at=long_ago
    )
    Response.objects.filter(prompt=first_prompt, contestant=live).update(
        status="running", claim_token="live-batch", claimed_at=timezone.now()
    )

    assert generation_sweep_stuck() == 1  # the dead drain's row, not the live one's

    # The dead drain's contestant got a drain at once, which fetched its rows, the one taken
    # back included; the live drain's rows were left to it and never requested here.
    assert set(Response.objects.filter(contestant=dead).values_list("status", flat=True)) == {"done"}
    assert sorted(Response.objects.filter(contestant=live).values_list("status", flat=True)) == [
        "pending",
        "pending",
        "running",
    ]
    assert sim.stats()["requests_by_model"] == {dead.model: 3}
    assert Contestant.objects.values_list("drain_token", flat=True).get(pk=live.pk) == "live-drain"


@pytest.mark.django_db(transaction=True)
@override_settings(
    **{**FAST_LLM, "LLM_REQUEST_TIMEOUT": 10},
    GENERATION_STUCK_AFTER_SECONDS=1,
    GENERATION_HEARTBEAT_SECONDS=0.2,
)
def test_a_call_slower_than_the_takeback_is_not_taken_from_its_live_drain(sim):
    # The first call of each prompt hangs for 2.5 s, then answers: longer than the 1 s after
    # which a silent claim is taken back (the ratio of the defaults, 5 s and 30 s, shortened).
    sim.configure(hang_rate=1.0, hang_seconds=2.5, max_failures_per_key=1)
    campaign = campaign_of_two_models(sim, prompts=2, max_concurrency=2)
    contestant = campaign.contestants.order_by("position").first()
    generation_start(campaign=campaign)  # no worker runs here: the queued tasks are never taken
    outcome = {}

    def drain_like_a_worker():
        try:
            outcome.update(generation_drain(contestant_id=contestant.pk))
        finally:
            connection.close()  # as Celery does after a task

    drain = threading.Thread(target=drain_like_a_worker)
    drain.start()
    wait_until(lambda: sim.stats()["in_flight"] == 2, timeout=10, message="both calls in flight")
    time.sleep(1.5)

    taken_back = generation_sweep_stuck()
    drain.join()

    assert taken_back == 0
    assert outcome["done"] == 2
    rows = Response.objects.filter(contestant=contestant)
    assert {(r.status, r.attempts) for r in rows} == {("done", 1)}
    assert sim.stats()["requests_by_model"] == {contestant.model: 2}  # each asked once


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_LLM, LLM_MAX_ATTEMPTS=2)
def test_429s_wait_their_retry_after_without_using_up_an_attempt(sim, eager):
    # Five 429s for every response, then an answer: more than the two attempts allowed.
    sim.configure(rate_429_rate=1.0, retry_after=0.05, max_failures_per_key=5)
    campaign = campaign_of_two_models(sim, prompts=2)

    generation_start(campaign=campaign)

    rows = Response.objects.filter(campaign=campaign)
    assert {(r.status, r.attempts) for r in rows} == {("done", 6)}
    assert all("429" in r.last_error for r in rows)


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_LLM)
def test_a_response_outlives_ten_transient_failures_in_a_row(sim, eager):
    # Every response's first ten calls fail: 500s, 429s and truncated bodies, then it answers.
    sim.configure(error_500_rate=0.6, rate_429_rate=0.3, retry_after=0.05, malformed_rate=0.1, max_failures_per_key=10)
    campaign = campaign_of_two_models(sim, prompts=3)

    generation_start(campaign=campaign)

    assert status_of(campaign) == "ready"
    rows = Response.objects.filter(campaign=campaign)
    assert {(r.status, r.attempts) for r in rows} == {("done", 11)}


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_LLM, LLM_MAX_ATTEMPTS=200, LLM_RETRY_DEADLINE_SECONDS=1.0)
def test_a_response_failing_past_its_retry_deadline_ends_failed_saying_so(sim, eager):
    sim.configure(error_500_rate=1.0)
    campaign = campaign_of_two_models(sim, prompts=1)

    generation_start(campaign=campaign)

    rows = Response.objects.filter(campaign=campaign)
    assert {r.status for r in rows} == {"failed"}
    for r in rows:
        assert "retry deadline" in r.last_error and "500 server error" in r.last_error
        assert 1 < r.attempts < 200


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GENERATION_HEARTBEAT_SECONDS": "20"}, "GENERATION_HEARTBEAT_SECONDS (20) must be at most a third"),
        ({"LLM_RETRY_DEADLINE_SECONDS": "3600"}, "CELERY_TASK_SOFT_TIME_LIMIT (1800) must be above"),
    ],
)
def test_settings_that_would_take_back_live_work_or_cut_a_drain_short_are_refused_by_name(tmp_path, env, named):
    # A heartbeat too slow for the takeback would hand a live drain's rows to a second one (and
    # pay for them twice); a retry deadline past the task's time limit would kill the drain
    # in the middle of its calls.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'evalsite.settings'; django.setup()",
        ],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "EVALSITE_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and named in result.stderr
