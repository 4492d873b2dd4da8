"""The shared rate limiter: Redis when the broker is Redis, else the database."""

import pytest
from django.test import override_settings

from arena.models import Campaign, Contestant, Response
from arena.ratelimit import DatabaseLimiter, endpoint_key, limiter
from arena.services.generation import generation_start
from tests.conftest import wait_until
from tests.factories import make_campaign


def test_endpoint_key_names_no_key_and_separates_endpoints():
    key = endpoint_key(base_url="https://api.example.com/v1/", api_key_env="TEAM_KEY")
    assert key == endpoint_key(base_url="https://api.example.com/v1", api_key_env="TEAM_KEY")
    assert key != endpoint_key(base_url="https://api.example.com/v1", api_key_env="OTHER_KEY")
    assert "TEAM_KEY" not in key and "example" not in key


@pytest.mark.django_db(transaction=True)
@override_settings(RATE_LIMIT_WINDOW_SECONDS=30)
def test_limiter_admits_n_requests_per_window_then_says_how_long_to_wait():
    shared = limiter()
    key = endpoint_key(base_url="http://rpm.test/v1", api_key_env=f"K{id(shared)}")
    admitted = [shared.try_acquire(key=key, rpm=3, tpm=None, tokens=10)[0] for _ in range(3)]
    assert all(admitted)

    permit, wait = shared.try_acquire(key=key, rpm=3, tpm=None, tokens=10)

    assert permit is None
    assert 29 < wait <= 30


@pytest.mark.django_db(transaction=True)
@override_settings(RATE_LIMIT_WINDOW_SECONDS=30)
def test_token_limit_counts_reserved_tokens_and_settles_to_actual_usage():
    shared = limiter()
    key = endpoint_key(base_url="http://tpm.test/v1", api_key_env=f"K{id(shared)}")
    first, _ = shared.try_acquire(key=key, rpm=None, tpm=1000, tokens=800)
    assert first is not None
    assert shared.try_acquire(key=key, rpm=None, tpm=1000, tokens=300)[0] is None

    shared.settle(first, tokens=500)  # the call used fewer tokens than reserved

    assert shared.try_acquire(key=key, rpm=None, tpm=1000, tokens=300)[0] is not None
    assert shared.try_acquire(key=key, rpm=None, tpm=1000, tokens=300)[0] is None


@pytest.mark.django_db(transaction=True)
def test_database_limiter_window_slides():
    window_limiter = DatabaseLimiter(window=0.3)
    key = endpoint_key(base_url="http://slide.test/v1", api_key_env="K")
    assert window_limiter.try_acquire(key=key, rpm=1, tpm=None, tokens=1)[0] is not None
    assert window_limiter.try_acquire(key=key, rpm=1, tpm=None, tokens=1)[0] is None

    permit = window_limiter.acquire(key=key, rpm=1, tpm=None, tokens=1)  # blocks about 0.3 s

    assert permit is not None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_global_request_limit_holds_across_two_worker_processes(sim, start_worker):
    limit, window = 5, 2.0
    sim.configure(latency=0.3)
    campaign = make_campaign(prompts=12, base_url=sim.base_url, models=["gpt-4o", "deepseek-v4-flash"])
    # Both contestants use the same endpoint (same base URL and key env), so they share a limit.
    Contestant.objects.filter(campaign=campaign).update(requests_per_minute=limit, max_concurrency=1)
    env = {"RATE_LIMIT_WINDOW_SECONDS": window, "LLM_REQUEST_TIMEOUT": "5"}
    # Each worker runs one task at a time, so two contestants' calls in flight at the same moment
    # prove that both processes were sending requests.
    start_worker(env_overrides=env, concurrency=1, name="a")
    start_worker(env_overrides=env, concurrency=1, name="b")

    generation_start(campaign=campaign)
    wait_until(
        lambda: Campaign.objects.get(pk=campaign.pk).status == "ready", timeout=90, message="generation to finish"
    )

    assert set(Response.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"done"}
    stats = sim.stats()
    times = sorted(stats["request_times"])
    assert len(times) == 24
    assert stats["max_in_flight"] >= 2
    # No window of `window` seconds holds more than `limit` requests. The limiter admits by its
    # own clock, and a request reaches the API a moment later: on a loaded 2-core CI machine
    # that moment varies by a few hundred ms, which can bring two arrivals closer than their
    # admissions were. Arrivals get 0.6 s of slack. The test still fails without a shared limit:
    # two workers unthrottled send 6 requests of 0.3 s within about 0.9 s.
    slack = 0.6
    for i in range(len(times) - limit):
        assert times[i + limit] - times[i] >= window - slack, f"{limit + 1} requests within {window}s at {i}"
    # And the limit was the bottleneck: without it 24 calls of 0.3 s would take about 3.6 s.
    assert times[-1] - times[0] >= (24 // limit - 1) * window - slack
