"""arena/llm.py's streaming path against the loopback API: first-token time, the fallback to a
plain call where streaming is refused, and the same fault handling as a plain call."""

import pytest

from arena import llm, sse
from arena.generation_requests import request_streams
from tests.factories import llm_host_listed

REQUEST = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Where is my order 123?"}], "seed": 4}
POLICY = llm.RetryPolicy(max_attempts=6, backoff_base=0.01, backoff_max=0.05, timeout=0.5)


@pytest.fixture
def client(sim):
    llm._stream_refused.clear()
    yield llm.client_for(base_url=sim.base_url, api_key="test-key", timeout=POLICY.timeout)
    llm._stream_refused.clear()


def test_a_streamed_answer_equals_the_plain_one_and_times_its_first_token(sim, client):
    sim.configure(model_timing={"gpt-4o": "latency=0.25-0.3,ttft=0.08-0.1,tokens=30"})
    streamed = llm.chat_completion_once(client=client, request=REQUEST, timeout=2, stream=True)
    plain = llm.chat_completion_once(client=client, request=REQUEST, timeout=2)
    assert streamed.streamed and not plain.streamed and plain.ttft_ms is None
    assert (streamed.text, streamed.output_tokens, streamed.input_tokens, streamed.finish_reason) == (
        plain.text,
        plain.output_tokens,
        plain.input_tokens,
        plain.finish_reason,
    )
    assert streamed.output_tokens == 30 and streamed.served_model == "gpt-4o"
    assert 80 <= streamed.ttft_ms < streamed.latency_ms and 250 <= streamed.latency_ms
    assert sim.stats()["requests_total"] == 2


def test_a_provider_refusing_streaming_gets_plain_calls_from_then_on(sim, client):
    sim.configure(stream_refused_models=["gpt-4o"])
    first = llm.chat_completion_once(client=client, request=REQUEST, timeout=2, stream=True)
    second = llm.chat_completion_once(client=client, request=REQUEST, timeout=2, stream=True)
    assert first.text and not first.streamed and first.ttft_ms is None and not second.streamed
    assert llm.streaming_refused(base_url=sim.base_url, model="gpt-4o")
    assert not llm.streaming_refused(base_url=sim.base_url, model="gpt-4o-mini")
    # One refused stream (a 400, not paid), then plain calls only.
    assert sim.stats()["requests_by_status"] == {"400": 1, "200": 2}


def test_other_400s_are_not_mistaken_for_a_refusal(sim, client):
    with pytest.raises(llm.LLMError) as caught:
        llm.chat_completion_once(client=client, request={**REQUEST, "temperature": 7}, timeout=2, stream=True)
    assert caught.value.status == 400 and not caught.value.retryable
    assert not llm.streaming_refused(base_url=sim.base_url, model="gpt-4o")


@pytest.mark.parametrize(
    ("fault", "fragment"),
    [
        ({"error_500_rate": 1.0}, "500 server error"),
        ({"hang_rate": 1.0, "hang_seconds": 2}, "timeout"),
        ({"malformed_rate": 1.0}, "malformed response body"),
        ({"rate_429_rate": 1.0, "retry_after": 2}, "429 rate limited"),
    ],
)
def test_faults_on_the_streaming_path_are_classified_as_on_the_plain_one(sim, client, fault, fragment):
    sim.configure(**fault)
    with pytest.raises(llm.LLMError) as caught:
        llm.chat_completion_once(client=client, request=REQUEST, timeout=POLICY.timeout, stream=True)
    assert caught.value.retryable and fragment in caught.value.message
    if "rate_429_rate" in fault:
        assert caught.value.status == 429 and caught.value.retry_after == 2.0
    assert sim.stats()["requests_total"] == 1


def test_a_stream_slower_than_the_timeout_in_total_is_a_timeout(sim, client):
    # Tokens keep coming (no single gap reaches the timeout), but the whole answer takes longer.
    sim.configure(model_timing={"gpt-4o": "latency=1.2,ttft=0.05,tokens=60"})
    with pytest.raises(llm.LLMError) as caught:
        llm.chat_completion_once(client=client, request=REQUEST, timeout=0.6, stream=True)
    assert caught.value.retryable and "timeout" in caught.value.message


def test_streamed_retries_record_every_attempt_and_end_with_the_answer(sim, client):
    sim.configure(
        error_500_rate=0.3, malformed_rate=0.2, rate_429_rate=0.2, retry_after=0.05, max_failures_per_key=3, seed=8
    )
    attempts, failures = [], []
    for i in range(12):
        request = {**REQUEST, "messages": [{"role": "user", "content": f"question {i}"}]}
        completion = llm.chat_completion_with_retries(
            client=client,
            request=request,
            policy=POLICY,
            before_attempt=lambda n: attempts.append(n) or True,
            after_failure=lambda n, e: failures.append(e.status) or True,
            stream=True,
        )
        assert completion.streamed and completion.text and completion.finish_reason
    stats = sim.stats()
    assert len(attempts) == stats["requests_total"] == 12 + len(failures)
    assert failures.count(429) == stats["faults"].get("rate_429", 0) > 0
    assert stats["faults"].get("malformed", 0) > 0


def test_request_streams_unless_the_extras_say_not_to():
    assert request_streams(frozen={}, contestant={})
    assert not request_streams(frozen={"extra_params": {"stream": False}}, contestant={})
    assert request_streams(frozen={"extra_params": {"stream": False}}, contestant={"extra_params": {"stream": True}})
    assert not request_streams(frozen={}, contestant={"extra_params": {"stream": False}})


def _event(content: str, finish: str | None = None) -> bytes:
    import json

    choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
    return b"data: " + json.dumps({"model": "m", "choices": [choice]}).encode() + b"\r\n\r\n"


def test_stream_events_decode_alike_however_the_reads_cut_them():
    body = b"".join(_event(word) for word in ("Your ", "parcel ", "left ", "today.")) + b"data: [DONE]\n\n"
    whole = list(sse.events([body]))
    assert [c["choices"][0]["delta"]["content"] for c in whole] == ["Your ", "parcel ", "left ", "today."]
    for cut in range(1, len(body)):  # every split into two reads, events and line ends cut anywhere
        assert list(sse.events([body[:cut], body[cut:]])) == whole
    assert list(sse.events(body[i : i + 1] for i in range(len(body)))) == whole


@pytest.fixture
def raw_body_server():
    """A loopback HTTP server answering every POST with 200 and the body set on it (`.body`),
    as a provider whose event stream is broken would; listed on the endpoint allow-list."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - stdlib naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(server.body)))
            self.end_headers()
            self.wfile.write(server.body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.body = b""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with llm_host_listed(f"127.0.0.1:{server.server_port}"):
        yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b'data: {"a": 1}, {"b": 2}\n\n', "not one JSON object"),  # two objects in one event
        (b"data: [1, 2]\n\n", "not a JSON object"),
        (b'data: {"a": \n\n', "not a JSON object"),  # cut off inside the object
        (b'data: {"a": }\n\n', "Expecting value"),  # not JSON: json's own ValueError (malformed)
        (b'data: {"error": {"message": "overloaded"}}\n\n', "error in the stream: overloaded"),
        (_event("half") + b'data: {"choi', "ended inside an event"),
        (_event("no finish reason") + b"data: [DONE]\n\n", "ended without a finish reason"),
    ],
)
def test_a_broken_stream_event_is_a_clear_error(raw_body_server, body, fragment):
    with pytest.raises((llm.LLMError, ValueError)) as raised:
        sse.answer_of(sse.events([body]), deadline=float("inf"))
    assert fragment in str(raised.value)
    # Through a real call, the same body is a retryable failure that says what broke.
    raw_body_server.body = body
    client = llm.client_for(base_url=f"http://127.0.0.1:{raw_body_server.server_port}/v1", api_key="k", timeout=2)
    with pytest.raises(llm.LLMError) as failed:
        llm.chat_completion_once(client=client, request=REQUEST, timeout=2, stream=True)
    assert fragment in failed.value.message
    assert failed.value.retryable
