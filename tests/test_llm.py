"""arena/llm.py against the loopback API: one attempt per call, errors classified, retries ours."""

import random

import pytest

from arena import llm

REQUEST = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Where is my order 123?"}], "max_tokens": 40}
POLICY = llm.RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.05, timeout=0.5)


@pytest.fixture
def client(sim):
    return llm.client_for(base_url=sim.base_url, api_key="test-key", timeout=POLICY.timeout)


def attempt_error(client) -> llm.LLMError:
    with pytest.raises(llm.LLMError) as caught:
        llm.chat_completion_once(client=client, request=REQUEST, timeout=POLICY.timeout)
    return caught.value


def test_a_completion_reports_text_served_model_tokens_and_finish_reason(sim, client):
    completion = llm.chat_completion_once(client=client, request=REQUEST, timeout=POLICY.timeout)
    assert completion.text and completion.served_model == "gpt-4o"
    assert completion.output_tokens > 0 and completion.input_tokens > 0
    assert completion.finish_reason in ("stop", "length")
    assert sim.stats()["requests_total"] == 1


@pytest.mark.parametrize(
    ("fault", "fragment"),
    [
        ({"error_500_rate": 1.0}, "500 server error"),
        ({"hang_rate": 1.0, "hang_seconds": 2}, "timeout"),
        ({"malformed_rate": 1.0}, "malformed response body"),
    ],
)
def test_server_errors_timeouts_and_malformed_bodies_are_retryable(sim, client, fault, fragment):
    sim.configure(**fault)
    error = attempt_error(client)
    assert error.retryable and fragment in error.message
    assert sim.stats()["requests_total"] == 1  # the client itself never retried


def test_a_429_is_retryable_and_carries_its_retry_after(sim, client):
    sim.configure(rate_429_rate=1.0, retry_after=2)
    error = attempt_error(client)
    assert error.retryable and error.status == 429 and error.retry_after == 2.0


def test_bad_key_and_unknown_model_are_permanent(sim, client):
    sim.configure(require_key=True, api_key="the-right-key")
    assert (attempt_error(client).retryable, attempt_error(client).status) == (False, 401)
    sim.configure(require_key=False, strict_models=True)
    with pytest.raises(llm.LLMError) as caught:
        llm.chat_completion_once(client=client, request={**REQUEST, "model": "nope"}, timeout=1)
    assert (caught.value.retryable, caught.value.status) == (False, 404)


def test_retries_honour_retry_after_and_record_every_attempt(sim, client):
    sim.configure(rate_429_rate=1.0, retry_after=1, max_failures_per_key=2)
    slept, attempts, errors = [], [], []

    completion = llm.chat_completion_with_retries(
        client=client,
        request=REQUEST,
        policy=POLICY,
        before_attempt=lambda n: attempts.append(n) or True,
        after_failure=lambda n, e: errors.append((n, e.status)) or True,
        sleep=slept.append,
    )

    assert completion.text
    assert attempts == [1, 2, 3] and errors == [(1, 429), (2, 429)]
    assert len(slept) == 2 and all(1.0 <= s <= 1.2 for s in slept)  # never earlier than Retry-After
    assert sim.stats()["requests_total"] == 3


def test_retries_stop_after_the_last_attempt_with_the_error(sim, client):
    sim.configure(error_500_rate=1.0)
    slept = []
    with pytest.raises(llm.LLMError) as caught:
        llm.chat_completion_with_retries(client=client, request=REQUEST, policy=POLICY, sleep=slept.append)
    assert "500" in caught.value.message
    assert sim.stats()["requests_total"] == POLICY.max_attempts and len(slept) == POLICY.max_attempts - 1


def test_permanent_errors_are_not_retried(sim, client):
    sim.configure(strict_models=True)
    with pytest.raises(llm.LLMError):
        llm.chat_completion_with_retries(
            client=client, request={**REQUEST, "model": "nope"}, policy=POLICY, sleep=lambda s: None
        )
    assert sim.stats()["requests_total"] == 1


def test_backoff_is_exponential_with_full_jitter_and_capped():
    policy = llm.RetryPolicy(max_attempts=10, backoff_base=1.0, backoff_max=8.0, timeout=1)
    error = llm.LLMError("500", retryable=True)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 8.0)]:
        delays = [llm.backoff_delay(attempt=attempt, policy=policy, error=error, rng=rng) for _ in range(300)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling and min(delays) < 0.2 * ceiling  # spread over the whole range


def test_key_comes_from_the_named_env_var_and_only_local_endpoints_go_without(monkeypatch, settings):
    settings.LLM_ALLOWED_HOSTS = ["api.example.com", "127.0.0.1:8001"]
    settings.LLM_ALLOWED_KEY_ENVS = ["TEAM_KEY"]
    monkeypatch.setenv("TEAM_KEY", "sk-team")
    assert llm.api_key_for(api_key_env="TEAM_KEY", base_url="https://api.example.com/v1") == "sk-team"
    monkeypatch.delenv("TEAM_KEY")
    assert llm.api_key_for(api_key_env="TEAM_KEY", base_url="http://127.0.0.1:8001/v1") == llm.LOCAL_PLACEHOLDER_KEY
    with pytest.raises(llm.LLMError) as caught:
        llm.api_key_for(api_key_env="TEAM_KEY", base_url="https://api.example.com/v1")
    assert not caught.value.retryable and "TEAM_KEY" in caught.value.message
