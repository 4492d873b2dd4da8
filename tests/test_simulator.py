"""Tests of the simulator package, driven by the real ``openai`` client over real HTTP (no mocks).

Exceptions the openai client (3.x) raises per simulator fault, as these tests pin down:

* injected 429 / ``rpm_limit``  -> ``openai.RateLimitError`` (Retry-After honoured on retry)
* injected 500                  -> ``openai.InternalServerError``
* hang past the client timeout  -> ``openai.APITimeoutError`` (an ``APIConnectionError``)
* malformed 200 body            -> ``json.JSONDecodeError`` (a ``ValueError``), NOT an
                                   ``openai.OpenAIError`` and not retried: callers must catch it
* missing / wrong key           -> ``openai.AuthenticationError``
* invalid body                  -> ``openai.BadRequestError``
* unknown model (strict_models) -> ``openai.NotFoundError``
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from simulator import (
    SimulatorConfig,
    SimulatorServer,
    count_tokens,
    generate_reply,
    prompt_hash,
    stats_key,
)
from simulator.__main__ import build_arg_parser, config_from_args
from simulator.__main__ import main as simulator_main

REPO_ROOT = Path(__file__).resolve().parents[1]
MESSAGES = [
    {"role": "system", "content": "You are a helpful support agent."},
    {"role": "user", "content": "I was charged twice for my subscription this month. Can I get a refund?"},
]


@pytest.fixture
def sim():
    """A server of its own per test, not conftest's shared one: these tests leave hung handlers
    asleep and count requests in flight, which must not reach the next test."""
    with SimulatorServer(SimulatorConfig()) as server:
        yield server


def make_client(sim: SimulatorServer, *, timeout: float = 5.0, max_retries: int = 0, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.base_url, api_key="test", max_retries=max_retries, timeout=timeout, **kw)


def ask(client: openai.OpenAI, model: str = "gpt-4o", messages=MESSAGES, **kw):
    return client.chat.completions.create(model=model, messages=messages, **kw)


# --------------------------------------------------------------------------- happy path


def test_base_url_binds_a_free_loopback_port(sim):
    assert sim.base_url.startswith("http://127.0.0.1:")
    assert sim.base_url.endswith("/v1")
    assert sim.port > 0
    assert sim.url + "/v1" == sim.base_url


def test_completion_round_trip(sim):
    client = make_client(sim)
    resp = ask(client, seed=7, temperature=0.2)
    assert resp.object == "chat.completion"
    assert resp.id.startswith("chatcmpl-")
    assert resp.model == "gpt-4o"
    assert isinstance(resp.created, int)
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    text = choice.message.content
    assert len(text.split()) > 40
    assert "\n\n" in text  # several paragraphs
    assert resp.usage.completion_tokens == count_tokens(text)
    expected_prompt = count_tokens(" ".join(m["content"] for m in MESSAGES))
    assert resp.usage.prompt_tokens == expected_prompt
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    # the same answer generate_reply gives in-process
    assert text == generate_reply("gpt-4o", MESSAGES, 7, 0.2)


def test_answers_are_deterministic_and_vary_by_model_seed_and_temperature(sim):
    client = make_client(sim)
    a1 = ask(client, "gpt-4o", seed=1, temperature=0.7).choices[0].message.content
    a2 = ask(client, "gpt-4o", seed=1, temperature=0.7).choices[0].message.content
    b = ask(client, "deepseek-v4-flash", seed=1, temperature=0.7).choices[0].message.content
    assert a1 == a2
    assert a1 != b
    others = {
        ask(client, "gpt-4o", seed=2, temperature=0.7).choices[0].message.content,
        ask(client, "gpt-4o", seed=1, temperature=0.0).choices[0].message.content,
        ask(client, "gpt-4o", seed=3, temperature=1.0).choices[0].message.content,
    }
    assert others - {a1}, "seed/temperature should be able to change the answer"


def test_quality_makes_one_demo_model_better():
    prompts = [
        "I was charged twice this month.",
        "How do I reset my password? I'm locked out.",
        "Where is my order? Tracking hasn't updated in a week.",
        "The API returns 401 from my python script.",
        "Can I downgrade my plan to the starter tier?",
        "The blender arrived broken, what now?",
        "How do I change my profile picture?",
    ]

    def mean_len(model):
        return sum(count_tokens(generate_reply(model, [{"role": "user", "content": p}])) for p in prompts) / 7

    assert mean_len("gpt-4o") > mean_len("deepseek-v4-flash") > mean_len("Qwen/Qwen3-8B")
    assert mean_len("deepseek-v4-flash") > mean_len("Qwen/Qwen3-32B")  # the demo's pair
    # a configured quality overrides the default
    low = generate_reply("gpt-4o", MESSAGES, quality=0.1)
    high = generate_reply("gpt-4o", MESSAGES, quality=0.95)
    assert count_tokens(high) > count_tokens(low)


def test_answers_include_markdown_lists_and_sometimes_code_or_tables():
    texts = [
        generate_reply(model, [{"role": "user", "content": q}])
        for model in ("gpt-4o", "deepseek-v4-flash", "Qwen/Qwen3-32B")
        for q in (
            "My python integration gets a 401 error from the API endpoint.",
            "What is the difference between the plans? Should I upgrade?",
            "Where is my package? The tracking shows delivered.",
        )
    ]
    assert all(("\n1. " in t) or ("\n- " in t) or ("\n* " in t) for t in texts)
    assert any("```python" in t for t in texts)
    assert any("|---|" in t for t in texts)


def test_answers_are_assembled_from_the_canned_texts_of_replies_json():
    texts = json.loads((REPO_ROOT / "simulator" / "replies.json").read_text(encoding="utf-8"))
    billing = texts["categories"]["billing"]
    answer = generate_reply("gpt-4o", [{"role": "user", "content": "Why was my card charged twice? I want a refund."}])
    assert billing["topic"] in answer
    assert billing["tip"] in answer  # a high-quality model adds its category's tip
    steps_given = [step for step in billing["steps"] if step in answer]
    assert len(steps_given) >= 3


def test_models_are_owned_by_the_vendor_their_name_points_at(sim):
    sim.configure(models=["claude-3-opus", "Qwen/Qwen3-8B", "o3-mini", "somebody/else"])
    owners = {m.id: m.owned_by for m in make_client(sim).models.list()}
    assert owners == {
        "claude-3-opus": "Anthropic",
        "Qwen/Qwen3-8B": "Alibaba Cloud",
        "o3-mini": "OpenAI",
        "somebody/else": "an AI research lab",
    }


def test_served_model_override(sim):
    sim.configure(served_model_overrides={"gpt-4o": "gpt-4o-mini-2024-07-18"})
    client = make_client(sim)
    assert ask(client, "gpt-4o").model == "gpt-4o-mini-2024-07-18"
    assert ask(client, "deepseek-v4-flash").model == "deepseek-v4-flash"
    assert sim.stats()["requests_by_model"] == {"gpt-4o": 1, "deepseek-v4-flash": 1}


def test_max_tokens_truncates_with_finish_reason_length(sim):
    client = make_client(sim)
    full = ask(client, seed=3).choices[0].message.content
    resp = ask(client, seed=3, max_tokens=20)
    choice = resp.choices[0]
    assert choice.finish_reason == "length"
    assert 0 < resp.usage.completion_tokens <= 20
    assert full.startswith(choice.message.content)
    assert len(choice.message.content) < len(full)
    # max_completion_tokens is honoured too; a generous limit changes nothing
    resp = ask(client, seed=3, max_completion_tokens=10)
    assert resp.choices[0].finish_reason == "length" and resp.usage.completion_tokens <= 10
    resp = ask(client, seed=3, max_tokens=4000)
    assert resp.choices[0].finish_reason == "stop" and resp.choices[0].message.content == full


def test_n_choices(sim):
    resp = ask(make_client(sim), n=3)
    assert [c.index for c in resp.choices] == [0, 1, 2]
    assert resp.usage.completion_tokens == sum(count_tokens(c.message.content) for c in resp.choices)


def test_streaming_matches_the_plain_answer(sim):
    client = make_client(sim)
    full = ask(client, seed=5).choices[0].message.content
    stream = ask(client, seed=5, stream=True, stream_options={"include_usage": True})
    parts, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            parts.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(parts) == full
    assert finish == "stop"
    assert usage.completion_tokens == count_tokens(full)


def test_models_endpoint_and_path_without_v1_prefix(sim):
    client = make_client(sim)
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o" in ids and "deepseek-v4-flash" in ids
    sim.configure(models=["model-a", "model-b"])
    assert [m.id for m in client.models.list()] == ["model-a", "model-b"]

    r = httpx.post(sim.url + "/chat/completions", json={"model": "m", "messages": MESSAGES}, timeout=5)
    assert r.status_code == 200
    assert r.json()["object"] == "chat.completion"
    assert httpx.get(sim.url + "/models", timeout=5).json()["object"] == "list"


def test_strict_models_unknown_model_is_404(sim):
    sim.configure(strict_models=True, models=["gpt-4o"])
    client = make_client(sim)
    assert ask(client, "gpt-4o").model == "gpt-4o"
    with pytest.raises(openai.NotFoundError) as exc:
        ask(client, "no-such-model")
    assert exc.value.code == "model_not_found"


# --------------------------------------------------------------------------- validation and auth


def test_invalid_bodies_are_400_with_openai_error_shape(sim):
    client = make_client(sim)
    with pytest.raises(openai.BadRequestError):
        ask(client, messages=[{"role": "wizard", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        ask(client, messages=[])
    url = sim.base_url + "/chat/completions"
    for body in ({"messages": MESSAGES}, {"model": "gpt-4o"}, {"model": "gpt-4o", "messages": [{"role": "user"}]}):
        r = httpx.post(url, json=body, timeout=5)
        assert r.status_code == 400
        assert r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"}, timeout=5)
    assert r.status_code == 400
    assert sim.stats()["requests_by_status"] == {"400": 6}


def test_require_key(sim):
    sim.configure(require_key=True)
    url = sim.base_url + "/chat/completions"
    r = httpx.post(url, json={"model": "gpt-4o", "messages": MESSAGES}, timeout=5)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"
    assert ask(make_client(sim)).choices[0].message.content  # any bearer key is accepted

    sim.configure(api_key="sk-right")
    with pytest.raises(openai.AuthenticationError):
        ask(make_client(sim))
    client = openai.OpenAI(base_url=sim.base_url, api_key="sk-right", max_retries=0, timeout=5)
    assert ask(client).model == "gpt-4o"


# --------------------------------------------------------------------------- faults


def test_429_raises_rate_limit_error_with_retry_after(sim):
    sim.configure(rate_429_rate=1.0, retry_after=7)
    with pytest.raises(openai.RateLimitError) as exc:
        ask(make_client(sim))
    assert exc.value.status_code == 429
    assert exc.value.response.headers["retry-after"] == "7"
    assert exc.value.body["type"] == "rate_limit_exceeded"

    r = httpx.post(sim.base_url + "/chat/completions", json={"model": "gpt-4o", "messages": MESSAGES}, timeout=5)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "7"
    assert r.headers["retry-after-ms"] == "7000"
    error = r.json()["error"]
    assert error["type"] == "rate_limit_exceeded"
    assert "Rate limit" in error["message"]
    assert sim.stats()["faults"] == {"rate_429": 2}


def test_500_raises_internal_server_error(sim):
    sim.configure(error_500_rate=1.0)
    with pytest.raises(openai.InternalServerError) as exc:
        ask(make_client(sim))
    assert exc.value.status_code == 500
    assert sim.stats()["requests_by_status"] == {"500": 1}


def test_hang_raises_timeout_without_blocking_other_requests(sim):
    sim.configure(hang_rate=1.0, hang_seconds=5, max_failures_per_key=1)
    client = make_client(sim, timeout=0.3)
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        ask(client)
    assert time.monotonic() - start < 2
    # the hung handler is still asleep on the server; the same key now succeeds at once
    assert sim.stats()["in_flight"] == 1
    start = time.monotonic()
    assert ask(make_client(sim)).choices[0].finish_reason == "stop"
    assert time.monotonic() - start < 1
    assert sim.stats()["faults"] == {"hang": 1}


def test_stop_does_not_wait_for_hung_requests():
    server = SimulatorServer(SimulatorConfig(hang_rate=1.0, hang_seconds=30)).start()
    with pytest.raises(openai.APITimeoutError):
        ask(make_client(server, timeout=0.3))
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 3


def test_malformed_body_raises_json_decode_error_not_openai_error(sim):
    sim.configure(malformed_rate=1.0)
    with pytest.raises(json.JSONDecodeError) as exc:
        ask(make_client(sim, max_retries=2))
    assert not isinstance(exc.value, openai.OpenAIError)
    assert isinstance(exc.value, ValueError)
    stats = sim.stats()
    assert stats["requests_total"] == 1  # not retried by the client
    assert stats["requests_by_status"] == {"200": 1}
    assert stats["faults"] == {"malformed": 1}
    assert stats["completions_by_key"] == {}

    r = httpx.post(sim.base_url + "/chat/completions", json={"model": "gpt-4o", "messages": MESSAGES}, timeout=5)
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


def test_malformed_stream_breaks_off_half_way_with_json_decode_error(sim):
    client = make_client(sim)
    full = ask(client, seed=4).choices[0].message.content
    sim.configure(malformed_rate=1.0)
    parts = []
    with pytest.raises(json.JSONDecodeError):
        for chunk in ask(client, seed=4, stream=True):
            parts.extend(choice.delta.content or "" for choice in chunk.choices)
    received = "".join(parts)
    assert received and full.startswith(received) and len(received) < len(full)
    stats = sim.stats()
    assert stats["faults"] == {"malformed": 1}
    assert stats["completions_total"] == 1  # the plain answer only: the broken stream is not counted


def test_max_failures_per_key_makes_faults_deterministic(sim):
    sim.configure(error_500_rate=1.0, max_failures_per_key=2)
    client = make_client(sim)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            ask(client)
    assert ask(client).choices[0].finish_reason == "stop"
    assert ask(client).choices[0].finish_reason == "stop"
    # another prompt is another key with its own budget
    other = [{"role": "user", "content": "Where is my order?"}]
    with pytest.raises(openai.InternalServerError):
        ask(client, messages=other)
    stats = sim.stats()
    assert stats["faults_by_key"] == {stats_key("gpt-4o", MESSAGES): 2, stats_key("gpt-4o", other): 1}
    assert stats["completions_by_key"] == {stats_key("gpt-4o", MESSAGES): 2}
    assert sim.completions_for("gpt-4o", MESSAGES) == 2


def test_client_retries_429_honouring_retry_after_until_the_key_succeeds(sim):
    sim.configure(rate_429_rate=1.0, retry_after=0.05, max_failures_per_key=2)
    start = time.monotonic()
    resp = ask(make_client(sim, max_retries=3))
    assert resp.choices[0].finish_reason == "stop"
    assert time.monotonic() - start < 1.5  # retry-after-ms=50 was used, not the default backoff
    stats = sim.stats()
    assert stats["requests_total"] == 3
    assert stats["requests_by_status"] == {"429": 2, "200": 1}
    assert stats["completions_by_key"] == {stats_key("gpt-4o", MESSAGES): 1}
    assert len(stats["request_times"]) == 3


def test_client_retries_a_hang_after_its_timeout(sim):
    sim.configure(hang_rate=1.0, hang_seconds=10, max_failures_per_key=1)
    resp = ask(make_client(sim, timeout=0.3, max_retries=1))
    assert resp.choices[0].finish_reason == "stop"
    stats = sim.stats()
    assert stats["requests_total"] == 2
    assert stats["faults"] == {"hang": 1}
    assert stats["completions_total"] == 1


def test_fault_rates_follow_the_seeded_rng(sim):
    sim.configure(error_500_rate=0.3, rate_429_rate=0.2, seed=42)
    client = make_client(sim)

    def run():
        outcomes = []
        for i in range(40):
            try:
                ask(client, messages=[{"role": "user", "content": f"question {i}"}])
                outcomes.append("ok")
            except openai.InternalServerError:
                outcomes.append("500")
            except openai.RateLimitError:
                outcomes.append("429")
        return outcomes

    first = run()
    sim.reset()  # reseeds the fault RNG
    assert run() == first
    assert {"ok", "500", "429"} <= set(first)


def test_rpm_limit_rejects_requests_beyond_the_window(sim):
    sim.configure(rpm_limit=3, rpm_window=0.5)
    client = make_client(sim)
    for _ in range(3):
        ask(client)
    with pytest.raises(openai.RateLimitError) as exc:
        ask(client)
    assert exc.value.code == "rpm_limit_exceeded"
    assert float(exc.value.response.headers["retry-after-ms"]) <= 500
    time.sleep(0.6)
    ask(client)
    stats = sim.stats()
    assert stats["requests_by_status"] == {"200": 4, "429": 1}
    assert stats["faults"] == {"rpm_limit": 1}


def test_self_identification(sim):
    sim.configure(self_identify_models=["gpt-4o"])
    client = make_client(sim)
    leaked = ask(client, "gpt-4o").choices[0].message.content
    assert "OpenAI" in leaked
    clean = ask(client, "deepseek-v4-flash").choices[0].message.content
    assert "DeepSeek" not in clean and "OpenAI" not in clean

    sim.configure(self_identify_models=[], self_identify_rate=1.0)
    assert "DeepSeek" in ask(client, "deepseek-v4-flash").choices[0].message.content
    assert "Alibaba" in ask(client, "Qwen/Qwen3-8B").choices[0].message.content
    assert sim.stats()["self_identified"] == 3


# --------------------------------------------------------------------------- concurrency


def test_32_concurrent_requests_run_in_parallel(sim):
    sim.configure(latency=0.25)
    client = make_client(sim)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = [
            pool.submit(ask, client, "gpt-4o", [{"role": "user", "content": f"order {i} is late"}]) for i in range(32)
        ]
        results = [f.result() for f in futures]
    elapsed = time.monotonic() - start
    assert all(r.choices[0].finish_reason == "stop" for r in results)
    assert elapsed < 3, f"32 x 0.25 s took {elapsed:.2f}s"
    stats = sim.stats()
    assert stats["requests_total"] == 32
    assert stats["max_in_flight"] >= 16
    assert stats["completions_total"] == 32


def test_64_concurrent_slow_requests(sim):
    sim.configure(latency=1.0)
    body = {"model": "gpt-4o", "messages": MESSAGES}
    start = time.monotonic()
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=100)) as http:
        with ThreadPoolExecutor(max_workers=64) as pool:
            codes = list(
                pool.map(lambda _: http.post(sim.base_url + "/chat/completions", json=body).status_code, range(64))
            )
    assert codes == [200] * 64
    assert time.monotonic() - start < 5
    assert sim.stats()["max_in_flight"] >= 48


def test_latency_and_jitter(sim):
    sim.configure(latency=0.2, latency_jitter=0.05)
    client = make_client(sim)
    start = time.monotonic()
    ask(client)
    assert 0.14 <= time.monotonic() - start < 1.0


# --------------------------------------------------------------------------- stats and control plane


def test_stats_counters_and_reset(sim):
    client = make_client(sim)
    before = time.time()
    ask(client, "gpt-4o")
    ask(client, "gpt-4o")
    ask(client, "deepseek-v4-flash")
    client.models.list()
    sim.configure(error_500_rate=1.0)
    with pytest.raises(openai.InternalServerError):
        ask(client, "deepseek-v4-flash")
    after = time.time()

    stats = sim.stats()
    assert stats["requests_total"] == 5
    assert stats["requests_by_model"] == {"gpt-4o": 2, "deepseek-v4-flash": 2}
    assert stats["requests_by_status"] == {"200": 4, "500": 1}
    assert stats["requests_by_path"] == {"/chat/completions": 4, "/models": 1}
    assert len(stats["request_times"]) == 5
    assert all(before <= t <= after for t in stats["request_times"])
    assert stats["request_times"] == sorted(stats["request_times"])
    assert stats["completions_by_key"] == {
        f"gpt-4o|{prompt_hash(MESSAGES)}": 2,
        f"deepseek-v4-flash|{prompt_hash(MESSAGES)}": 1,
    }
    assert stats["completions_total"] == 3
    assert stats["faults"] == {"error_500": 1}
    assert stats["prompt_tokens"] > 0 and stats["completion_tokens"] > 0
    assert stats["in_flight"] == 0

    # the HTTP control endpoint reports the same counters (control calls are not counted)
    over_http = httpx.get(sim.url + "/_control/stats", timeout=5).json()
    assert over_http == sim.stats()

    sim.reset()
    stats = sim.stats()
    assert stats["requests_total"] == 0
    assert stats["request_times"] == [] and stats["completions_by_key"] == {} and stats["faults"] == {}


def test_control_endpoints_over_http(sim):
    client = make_client(sim)
    r = httpx.post(sim.url + "/_control/config", json={"error_500_rate": 1.0, "max_failures_per_key": 1}, timeout=5)
    assert r.status_code == 200
    assert r.json()["error_500_rate"] == 1.0 and r.json()["latency"] == 0.0
    assert sim.config.max_failures_per_key == 1
    assert httpx.get(sim.url + "/_control/config", timeout=5).json()["error_500_rate"] == 1.0
    with pytest.raises(openai.InternalServerError):
        ask(client)
    ask(client)

    for bad in ({"no_such_field": 1}, {"error_500_rate": 3}, {"latency": "slow"}, {"hang_rate": 0.6}):
        r = httpx.post(sim.url + "/_control/config", json=bad, timeout=5)
        assert r.status_code == 400, bad
        assert "error" in r.json()
    assert sim.config.error_500_rate == 1.0  # a rejected update changes nothing

    assert httpx.post(sim.url + "/_control/reset", timeout=5).status_code == 200
    assert sim.stats()["requests_total"] == 0
    assert httpx.get(sim.url + "/_control/health", timeout=5).json() == {"status": "ok"}


def test_config_validation():
    with pytest.raises(ValueError):
        SimulatorConfig(error_500_rate=1.5)
    with pytest.raises(ValueError):
        SimulatorConfig(error_500_rate=0.6, rate_429_rate=0.6)
    with pytest.raises(ValueError):
        SimulatorConfig().updated(bogus=1)
    cfg = SimulatorConfig().updated(latency="0.5", rpm_limit=10)
    assert cfg.latency == 0.5 and cfg.rpm_limit == 10
    with SimulatorServer(latency=0.01, seed=3) as server:  # field overrides as keyword arguments
        assert server.config.latency == 0.01 and server.config.seed == 3


def test_restartable_and_quiet(capfd):
    server = SimulatorServer()
    server.start()
    ask(make_client(server))
    server.stop()
    server.stop()  # idempotent
    server.start()
    ask(make_client(server))
    server.stop()
    assert capfd.readouterr().err == ""


# --------------------------------------------------------------------------- CLI


def test_cli_runs_standalone_and_prints_the_base_url():
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    cmd = [sys.executable, "-m", "simulator", "--port", "0", "--latency", "0.01"]
    cmd += ["--served-model-override", "a=b", "--require-key"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("http://127.0.0.1:") and line.endswith("/v1"), proc.stderr.read()
        client = openai.OpenAI(base_url=line, api_key="x", max_retries=0, timeout=5)
        assert client.chat.completions.create(model="a", messages=MESSAGES).model == "b"
        assert httpx.get(line + "/models", timeout=5).status_code == 401
    finally:
        proc.terminate()  # SIGTERM stops it cleanly
        assert proc.wait(timeout=5) == 0
    assert proc.stderr.read() == ""


def test_every_config_field_can_be_set_from_the_command_line():
    argv = ["--model", "a", "--model", "b", "--strict-models", "--model-quality", "a=0.9"]
    argv += ["--latency", "0.2", "--latency-jitter", "0.1", "--error-500-rate", "0.1", "--rate-429-rate", "0.2"]
    argv += ["--retry-after", "3", "--hang-rate", "0.05", "--hang-seconds", "9", "--malformed-rate", "0.01"]
    argv += ["--served-model-override", "a=b", "--served-model-override", "c=d", "--self-identify-rate", "0.5"]
    argv += ["--self-identify-model", "a", "--max-failures-per-key", "2", "--seed", "7", "--rpm-limit", "60"]
    argv += ["--rpm-window", "30", "--require-key", "--api-key", "sk-local", "--verbose"]
    argv += ["--model-timing", "a=latency=0.1-0.2,tokens=9", "--stream-refused-model", "b"]
    argv += ["--judge-model", "j", "--judge-rule", "marker", "--judge-marker", "[x]", "--judge-first-rate", "0.2"]
    argv += ["--judge-no-verdict-rate", "0.1", "--judge-silent-marker", "[quiet]"]
    config = config_from_args(build_arg_parser().parse_args(argv))
    assert config.models == ["a", "b"] and config.strict_models
    assert config.model_quality == {"a": 0.9}
    assert config.served_model_overrides == {"a": "b", "c": "d"}
    assert (config.latency, config.hang_seconds, config.rpm_limit, config.api_key) == (0.2, 9.0, 60, "sk-local")
    default = SimulatorConfig()
    unchanged = [f.name for f in dataclasses.fields(config) if getattr(config, f.name) == getattr(default, f.name)]
    assert unchanged == []
    assert config_from_args(build_arg_parser().parse_args([])) == default  # no flag, no change


def test_a_bad_flag_value_is_refused_naming_the_setting(capsys):
    with pytest.raises(SystemExit) as exc:
        simulator_main(["--port", "0", "--error-500-rate", "0.7", "--hang-rate", "0.6"])
    assert exc.value.code == 2
    assert "the fault rates add up to" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        simulator_main(["--port", "0", "--served-model-override", "no-equals-sign"])
    assert "--served-model-override: expected REQUESTED=SERVED" in capsys.readouterr().err


def test_the_product_app_never_imports_the_simulator():
    """Every module of arena imports without pulling in the simulator package (it is not shipped with arena)."""
    script = (
        "import importlib, pkgutil, sys, django; django.setup(); import arena; "
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(arena.__path__, 'arena.')]; "
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'simulator'))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "DJANGO_SETTINGS_MODULE": "evalsite.settings"}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert not (REPO_ROOT / "arena" / "simulator.py").exists()


def test_module_does_not_import_django():
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", "import sys, simulator; print('django' in sys.modules)"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.stdout.strip() == "False", out.stderr


def test_cli_help_lists_the_flags():
    out = subprocess.run(
        [sys.executable, "-m", "simulator", "--help"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    for flag in ("--host", "--port", "--latency", "--error-500-rate", "--rate-429-rate", "--hang-rate", "--rpm-limit"):
        assert flag in out.stdout


def test_threads_are_not_leaked_after_stop():
    before = threading.active_count()
    with SimulatorServer(latency=0.01) as server:
        client = make_client(server)
        for _ in range(5):
            ask(client)
        client.close()
    time.sleep(0.3)
    assert threading.active_count() <= before + 1
