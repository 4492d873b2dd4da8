"""A simulated OpenAI-compatible chat-completions API on loopback (standard library only).

A test double and demo endpoint, kept outside the product app: nothing in ``arena`` imports it.

It is a real HTTP server, used as:

* the test double of the model API: tests point the real ``openai`` client at
  ``SimulatorServer.base_url`` so the client's parsing, timeouts and retries are exercised;
* the "simulated" endpoint of the local demo when ``GLOBAL_API_KEY`` is not set;
* the backend of benchmarks (e.g. 250 ms latency, dozens of concurrent requests).

Usage::

    with SimulatorServer(SimulatorConfig(latency=0.05)) as sim:
        client = openai.OpenAI(base_url=sim.base_url, api_key="test")
        sim.configure(error_500_rate=0.5, max_failures_per_key=1)
        ...
        sim.stats()["requests_total"]

Standalone: ``python -m simulator --port 8001 --latency 0.3`` (``--help`` lists every setting).

Modules: ``config`` (``SimulatorConfig``, the per-model defaults), ``faults`` (error bodies,
injected 429 / 500 / hang / malformed answers, the rpm window), ``replies`` (answer texts from
``replies.json``), ``timing`` (per-model latency, first-token time and answer length, and
models refusing streaming), ``protocol`` (request validation, completion and chunk objects), ``stats``
(the counters), ``received`` (every request's messages and image bytes, for tests),
``server`` (HTTP, streaming, ``SimulatorServer``), ``__main__`` (the command).

Endpoints (every path also works without the ``/v1`` prefix):

* ``POST /v1/chat/completions``  chat.completion objects (``stream=true`` gives SSE chunks)
* ``GET  /v1/models``, ``GET /v1/models/{id}``
* ``GET  /_control/config``       current config as JSON
* ``POST /_control/config``       JSON partial config; returns the full config (400 on bad fields)
* ``GET  /_control/stats``        counters, see ``SimulatorServer.stats``
* ``POST /_control/reset``        clears stats, per-key fault counts, the rpm window; reseeds the RNG
* ``GET  /_control/health``       ``{"status": "ok"}``
* ``GET  /_control/received``     every chat request received (model, messages, decoded images)

Which exception the real ``openai`` client (3.x, httpx2 transport) raises for each fault
(verified by tests/test_simulator.py, all with ``max_retries=0``):

==========================  ===============================================================
fault                       openai exception
==========================  ===============================================================
``rate_429_rate``           ``openai.RateLimitError`` (status 429; ``Retry-After`` and
                            ``retry-after-ms`` headers, body ``error.type ==
                            "rate_limit_exceeded"``); retried by the client, honouring the
                            headers (a Retry-After above 120 s is NOT retried by the client)
``rpm_limit`` exceeded      ``openai.RateLimitError`` (``error.code == "rpm_limit_exceeded"``)
``error_500_rate``          ``openai.InternalServerError`` (status 500); retried by the client
``hang_rate``               ``openai.APITimeoutError`` once the client timeout elapses
                            (subclass of ``openai.APIConnectionError``); retried by the client
``malformed_rate``          ``json.JSONDecodeError`` -- NOT an ``openai.OpenAIError``! The
                            client parses the 200 body with ``response.json()`` and lets the
                            decoder error through unwrapped, and does not retry it. Callers
                            must catch ``ValueError`` (JSONDecodeError's base) as well.
``require_key`` violated    ``openai.AuthenticationError`` (401, ``code ==
                            "invalid_api_key"``)
invalid request body        ``openai.BadRequestError`` (400)
unknown model (strict)      ``openai.NotFoundError`` (404, ``code == "model_not_found"``)
==========================  ===============================================================

Fault injection order for a chat request: auth (401) -> body validation (400) -> unknown model
(404, only with ``strict_models``) -> ``rpm_limit`` (429) -> one random draw choosing among
429 / 500 / hang / malformed by their rates (cumulative; their sum must be <= 1), skipped when
the (model, prompt) key already had ``max_failures_per_key`` injected faults. ``latency``
applies to successful, 500 and malformed answers (not to 4xx ones); a hang sleeps
``hang_seconds`` instead, then answers normally (that late answer is not counted as a
completion: the client has normally given up by then).

The response text is deterministic given (model, messages, seed, temperature) and never
depends on the fault RNG.
"""

from simulator.config import DEFAULT_MODEL_QUALITY, DEFAULT_MODELS, SimulatorConfig, model_quality
from simulator.hashing import prompt_hash, stats_key
from simulator.replies import count_tokens, generate_reply, model_vendor
from simulator.server import SimulatorServer

__all__ = [
    "DEFAULT_MODELS",
    "DEFAULT_MODEL_QUALITY",
    "SimulatorConfig",
    "SimulatorServer",
    "count_tokens",
    "generate_reply",
    "model_quality",
    "model_vendor",
    "prompt_hash",
    "stats_key",
]
