"""A simulated OpenAI-compatible chat-completions API on loopback (standard library only).

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

Standalone: ``python -m arena.simulator --port 8001 --latency 0.3``.

Endpoints (every path also works without the ``/v1`` prefix):

* ``POST /v1/chat/completions``  chat.completion objects (``stream=true`` gives SSE chunks)
* ``GET  /v1/models``, ``GET /v1/models/{id}``
* ``GET  /_control/config``       current config as JSON
* ``POST /_control/config``       JSON partial config; returns the full config (400 on bad fields)
* ``GET  /_control/stats``        counters, see ``SimulatorServer.stats``
* ``POST /_control/reset``        clears stats, per-key fault counts, the rpm window; reseeds the RNG
* ``GET  /_control/health``       ``{"status": "ok"}``

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

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import random
import re
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "DEFAULT_MODELS",
    "DEFAULT_MODEL_QUALITY",
    "SimulatorConfig",
    "SimulatorServer",
    "count_tokens",
    "generate_reply",
    "main",
    "model_quality",
    "model_vendor",
    "prompt_hash",
    "stats_key",
]

DEFAULT_MODELS: tuple[str, ...] = (
    "deepseek-v4-flash",
    "gpt-4o",
    "gpt-4o-mini",
    "Qwen/Qwen3-8B",
    "Qwen/Qwen3-32B",
    "Qwen/Qwen3-VL-32B",
    "Qwen/Qwen3.5-397B",
)

# Demo defaults: a higher quality gives longer, more specific answers.
DEFAULT_MODEL_QUALITY: dict[str, float] = {
    "gpt-4o": 0.85,
    "Qwen/Qwen3.5-397B": 0.85,
    "deepseek-v4-flash": 0.75,
    "gpt-4o-mini": 0.6,
    "Qwen/Qwen3-32B": 0.55,
    "Qwen/Qwen3-VL-32B": 0.55,
    "Qwen/Qwen3-8B": 0.35,
}

_VALID_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


# --------------------------------------------------------------------------- config


@dataclass
class SimulatorConfig:
    """Behaviour of the simulator; every field can be changed at runtime.

    Rates are probabilities in [0, 1] drawn per chat request from the fault RNG (``seed``).
    """

    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    """Listed by GET /v1/models. Other model ids are accepted unless ``strict_models``."""
    strict_models: bool = False
    """Answer 404 model_not_found for a model not in ``models``."""
    model_quality: dict[str, float] = field(default_factory=dict)
    """Per-model quality in [0, 1] overriding DEFAULT_MODEL_QUALITY / the name-hash default."""
    latency: float = 0.0
    """Seconds before answering (successes, 500s, malformed bodies)."""
    latency_jitter: float = 0.0
    """Uniform +/- jitter in seconds added to ``latency`` (clamped at 0)."""
    error_500_rate: float = 0.0
    rate_429_rate: float = 0.0
    retry_after: float = 1.0
    """Seconds sent in ``Retry-After`` (rounded up) and ``retry-after-ms`` on injected 429s."""
    hang_rate: float = 0.0
    hang_seconds: float = 30.0
    """A hung request sleeps this long (without blocking others), then answers normally."""
    malformed_rate: float = 0.0
    """Answer 200 with a truncated JSON body."""
    served_model_overrides: dict[str, str] = field(default_factory=dict)
    """Requested model id -> model id reported in the response's ``model`` field."""
    self_identify_rate: float = 0.0
    """Share of answers (deterministic per request) that name the model's vendor."""
    self_identify_models: list[str] = field(default_factory=list)
    """Models whose answers always name their vendor ("As an AI model developed by OpenAI")."""
    max_failures_per_key: int | None = None
    """At most this many injected faults per (model, prompt) key; then it always succeeds."""
    seed: int = 0
    """Seed of the fault RNG (reseeded on reset() and whenever ``seed`` is configured)."""
    rpm_limit: int | None = None
    """Return 429 when more than this many requests were admitted in the last ``rpm_window``."""
    rpm_window: float = 60.0
    require_key: bool = False
    """Require ``Authorization: Bearer <key>`` (401 otherwise)."""
    api_key: str | None = None
    """With ``require_key``: the only accepted key (None accepts any non-empty key)."""
    verbose: bool = False
    """Log every request to stderr."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        rates = ("error_500_rate", "rate_429_rate", "hang_rate", "malformed_rate", "self_identify_rate")
        for name in rates:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value!r}")
        fault_sum = self.error_500_rate + self.rate_429_rate + self.hang_rate + self.malformed_rate
        if fault_sum > 1.0 + 1e-9:
            raise ValueError(f"the fault rates add up to {fault_sum}, more than 1")
        for name in ("latency", "latency_jitter", "retry_after", "hang_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.max_failures_per_key is not None and self.max_failures_per_key < 0:
            raise ValueError("max_failures_per_key must be >= 0 or None")
        if self.rpm_limit is not None and self.rpm_limit < 0:
            raise ValueError("rpm_limit must be >= 0 or None")
        if self.rpm_window <= 0:
            raise ValueError("rpm_window must be > 0")
        for name, value in self.model_quality.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"model_quality[{name!r}] must be within [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def updated(self, **fields: Any) -> SimulatorConfig:
        """A validated copy with ``fields`` replaced (values coerced; unknown names raise)."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(unknown)}")
        coerced = {name: _coerce(name, value) for name, value in fields.items()}
        return dataclasses.replace(self, **coerced)


_FLOAT_FIELDS = {
    "latency",
    "latency_jitter",
    "error_500_rate",
    "rate_429_rate",
    "retry_after",
    "hang_rate",
    "hang_seconds",
    "malformed_rate",
    "self_identify_rate",
    "rpm_window",
}
_OPTIONAL_INT_FIELDS = {"max_failures_per_key", "rpm_limit"}
_BOOL_FIELDS = {"strict_models", "require_key", "verbose"}
_STR_LIST_FIELDS = {"models", "self_identify_models"}


def _coerce(name: str, value: Any) -> Any:
    try:
        if name in _FLOAT_FIELDS:
            if isinstance(value, bool):
                raise TypeError
            result = float(value)
            if not math.isfinite(result):
                raise ValueError
            return result
        if name in _OPTIONAL_INT_FIELDS:
            if value is None:
                return None
            if isinstance(value, bool) or int(value) != value:
                raise TypeError
            return int(value)
        if name == "seed":
            if isinstance(value, bool):
                raise TypeError
            return int(value)
        if name in _BOOL_FIELDS:
            if not isinstance(value, bool):
                raise TypeError
            return value
        if name in _STR_LIST_FIELDS:
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise TypeError
            return list(value)
        if name == "served_model_overrides":
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise TypeError
            return dict(value)
        if name == "model_quality":
            if not isinstance(value, dict):
                raise TypeError
            return {str(k): float(v) for k, v in value.items()}
        if name == "api_key":
            if value is not None and not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError):
        raise ValueError(f"invalid value for {name}: {value!r}") from None
    return value


# --------------------------------------------------------------------------- helpers


def _message_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
    return " ".join(parts)


def prompt_hash(messages: list[dict[str, Any]]) -> str:
    """Stable 16-hex-digit hash of a message list (role and content of each message)."""
    canonical = [{"role": m.get("role"), "content": m.get("content")} for m in messages]
    blob = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def stats_key(model: str, messages: list[dict[str, Any]]) -> str:
    """Key of ``stats()["completions_by_key"]`` / ``["faults_by_key"]``: ``"<model>|<hash>"``."""
    return f"{model}|{prompt_hash(messages)}"


def count_tokens(text: str) -> int:
    """Approximate token count: ceil(1.3 * number of whitespace-separated words)."""
    return math.ceil(len(text.split()) * 1.3)


def _truncate_to_tokens(text: str, max_tokens: int) -> str:
    pieces = re.findall(r"\S+\s*", text)
    keep = 0
    while keep < len(pieces) and math.ceil((keep + 1) * 1.3) <= max_tokens:
        keep += 1
    return "".join(pieces[:keep]).rstrip()


def _stable_int(*parts: Any) -> int:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return int.from_bytes(hashlib.sha256(blob.encode("utf-8")).digest()[:8], "big")


def model_vendor(model: str) -> str:
    m = model.lower()
    for needle, vendor in (
        ("deepseek", "DeepSeek"),
        ("qwen", "Alibaba Cloud"),
        ("kimi", "Moonshot AI"),
        ("moonshot", "Moonshot AI"),
        ("glm", "Zhipu AI"),
        ("claude", "Anthropic"),
        ("gemini", "Google"),
        ("llama", "Meta"),
        ("mistral", "Mistral AI"),
        ("gpt", "OpenAI"),
        ("o1", "OpenAI"),
        ("o3", "OpenAI"),
        ("o4", "OpenAI"),
    ):
        if needle in m:
            return vendor
    return "an AI research lab"


def _self_intro(model: str, variant: int) -> str:
    vendor = model_vendor(model)
    m = model.lower()
    if "deepseek" in m:
        name = "DeepSeek"
    elif "qwen" in m:
        name = "Qwen"
    elif "kimi" in m or "moonshot" in m:
        name = "Kimi"
    elif "glm" in m:
        name = "ChatGLM"
    elif "claude" in m:
        name = "Claude"
    elif "gpt" in m or vendor == "OpenAI":
        name = "ChatGPT"
    else:
        name = model.split("/")[-1]
    intros = [
        f"As an AI model developed by {vendor}, I can't see your account directly, but I can walk you through it.",
        f"I am {name}, an AI assistant created by {vendor}. Here is what usually resolves this.",
        f"As {name}, a language model trained by {vendor}, I'll explain the usual fix.",
    ]
    return intros[variant % len(intros)]


def model_quality(model: str, overrides: dict[str, float] | None = None) -> float:
    """Quality in [0, 1]: config override, then DEFAULT_MODEL_QUALITY, then a name hash."""
    if overrides and model in overrides:
        return float(overrides[model])
    if model in DEFAULT_MODEL_QUALITY:
        return DEFAULT_MODEL_QUALITY[model]
    return 0.4 + 0.4 * ((_stable_int("quality", model) % 1000) / 1000.0)


# --------------------------------------------------------------------------- text generation

_STOPWORDS = set(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can cannot could did do does doing don down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just me
    more most my myself no nor not now of off on once only or other our ours out over own same she
    should so some such than that the their them then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you
    your yours yourself hi hello hey please thanks thank help need want get got still also really
    since tried trying try using use used able know like one two way doesn didn isn wasn can't don't
    i'm it's i've hasn""".split()
)

_CATEGORIES: dict[str, dict[str, Any]] = {
    "billing": {
        "keywords": frozenset("refund charge charged billing invoice payment card bill receipt vat tax".split()),
        "topic": "the charge on your account",
        "explain": [
            "Charges usually appear a day or two before the invoice is finalised, "
            "so a pending amount can look like a duplicate.",
            "Refunds go back to the original payment method and typically take 5-10 business days "
            "to show up, depending on your bank.",
            "If the amount does not match your plan, the most common cause is a prorated change "
            "made in the middle of a billing cycle.",
        ],
        "steps": [
            "Open **Settings > Billing > Invoices** and find the invoice that matches the charge date.",
            "Compare the invoice number with the line on your bank statement; "
            "pending authorisations drop off on their own.",
            "Check whether a seat or plan change happened during the cycle, since that creates a prorated line item.",
            "If you were charged twice for the same invoice, click **Request refund** next to the duplicate.",
            "Download the PDF invoice if you need it for your accounting or VAT records.",
            "Make sure the card on file is current so the next renewal does not fail.",
            "Reply with the last four digits of the card and the invoice number so we can trace it.",
        ],
        "followup": "the invoice number and the date of the charge",
        "tip": "Tip: turn on invoice emails under **Settings > Billing** so every charge arrives with its receipt.",
        "table": (
            "| Item | When it appears |\n|---|---|\n"
            "| Pending authorisation | Immediately, drops off in 3-5 days |\n"
            "| Final charge | When the invoice closes |\n"
            "| Refund | 5-10 business days after approval |"
        ),
    },
    "account": {
        "keywords": frozenset(
            "password login log sign account 2fa locked email username authenticator reset access".split()
        ),
        "topic": "signing in to your account",
        "explain": [
            "For security reasons, accounts are locked for 30 minutes after several failed sign-in attempts.",
            "Password reset links expire after one hour and only the most recent link works.",
            "If two-factor authentication is enabled, you will need either your authenticator app "
            "or one of your backup codes.",
        ],
        "steps": [
            "Go to the sign-in page and choose **Forgot password**.",
            "Enter the email address you registered with and check your spam or promotions folder for the reset link.",
            "Use the newest reset link only; older links are invalidated automatically.",
            "If you use two-factor authentication, have your authenticator app or a backup code ready.",
            "Clear your browser cache or try a private window if the page keeps redirecting.",
            "Wait 30 minutes if you see an 'account locked' message, then try again.",
            "Once you are back in, review **Settings > Security** for unfamiliar sessions.",
        ],
        "followup": "the email address on the account and a screenshot of the error",
        "tip": "Tip: save your two-factor backup codes in a password manager so a lost phone never locks you out.",
        "code": None,
    },
    "shipping": {
        "keywords": frozenset(
            "order shipping delivery delivered package tracking shipped arrive courier parcel address".split()
        ),
        "topic": "your order",
        "explain": [
            "Tracking information can take up to 48 hours to update after the label is created.",
            "Orders ship from the nearest warehouse, so multi-item orders sometimes arrive in separate packages.",
            "A 'delivered' status with no package usually means it was left with a neighbour or at a pickup point.",
        ],
        "steps": [
            "Open **My orders** and select the order to see the latest tracking status.",
            "Use the tracking number on the courier's website, which often has more detail than our page.",
            "Check with neighbours and your building's mailroom if the parcel shows as delivered.",
            "Confirm the shipping address on the order; we can still change it before the label is printed.",
            "If there has been no tracking update for 5 business days, we will open a trace with the courier.",
            "For a missing item in a multi-item order, check whether the rest is listed as a separate shipment.",
        ],
        "followup": "your order number and the shipping address",
        "tip": "Tip: you can add delivery instructions or choose a pickup point from the tracking page.",
        "table": (
            "| Status | What it means |\n|---|---|\n"
            "| Label created | Packed, waiting for pickup |\n"
            "| In transit | With the courier |\n"
            "| Delivered | Left at the address or pickup point |"
        ),
    },
    "returns": {
        "keywords": frozenset("return exchange damaged broken defective warranty replace replacement".split()),
        "topic": "returning your item",
        "explain": [
            "Most items can be returned within 30 days of delivery, as long as they are unused "
            "and in the original packaging.",
            "Damaged or defective items are replaced free of charge, including return shipping.",
            "Once we receive the return, the refund or replacement is processed within 3 business days.",
        ],
        "steps": [
            "Go to **My orders**, select the item and choose **Return or replace**.",
            "Pick a reason; for damaged items, attach one or two photos.",
            "Print the prepaid return label, or show the QR code at a drop-off point.",
            "Pack the item securely, ideally in its original box.",
            "Keep the drop-off receipt until the return is confirmed.",
            "Choose a replacement instead of a refund if you would like the same item again.",
        ],
        "followup": "your order number and a photo of the item",
        "tip": "Tip: the return window counts from the delivery date, not the order date.",
        "code": None,
    },
    "technical": {
        "keywords": frozenset(
            "api error code sdk python integration webhook token request timeout bug crash 500 401 json".split()
        ),
        "topic": "the API error you are seeing",
        "explain": [
            "A 401 response almost always means the API key is missing, expired or sent in the wrong header.",
            "Timeouts on large requests are usually fixed by raising the client timeout and retrying with backoff.",
            "Webhook deliveries are retried for up to 24 hours, and each attempt is signed so you can verify it.",
        ],
        "steps": [
            "Check that the key is sent as `Authorization: Bearer <key>` and has not been revoked.",
            "Log the full response body; the `error.message` field says which parameter was rejected.",
            "Retry `429` and `5xx` responses with exponential backoff and respect the `Retry-After` header.",
            "Set an explicit client timeout instead of relying on the default.",
            "Make sure you are calling the correct base URL for your region.",
            "Upgrade to the latest SDK version, which fixes several connection-reuse issues.",
            "Verify webhook signatures with the signing secret from your dashboard.",
        ],
        "followup": "the request id from the response headers and the exact error message",
        "tip": "Tip: keep a separate API key per environment so rotating one never breaks production.",
        "code": (
            "```python\nimport time\n\nimport requests\n\n"
            "def call_with_retry(url, payload, key, attempts=3):\n"
            "    for attempt in range(attempts):\n"
            "        resp = requests.post(url, json=payload, timeout=30,\n"
            '                             headers={"Authorization": f"Bearer {key}"})\n'
            "        if resp.status_code not in (429, 500, 502, 503):\n"
            "            return resp\n"
            '        time.sleep(float(resp.headers.get("Retry-After", 2 ** attempt)))\n'
            "    resp.raise_for_status()\n```"
        ),
    },
    "plans": {
        "keywords": frozenset("plan pricing price upgrade downgrade subscription cancel trial seats renewal".split()),
        "topic": "changing your plan",
        "explain": [
            "Upgrades take effect immediately and are prorated for the rest of the billing cycle.",
            "Downgrades and cancellations take effect at the end of the current cycle, so you keep access until then.",
            "Free trials convert to the plan you selected unless you cancel before the trial ends.",
        ],
        "steps": [
            "Open **Settings > Plan** to see your current plan and renewal date.",
            "Choose **Change plan** and compare the options side by side.",
            "Confirm the change; you will see the prorated amount before paying.",
            "To cancel, choose **Cancel subscription**; your data is kept for 30 days.",
            "If you need more seats only, add them from **Settings > Members** instead of upgrading.",
            "Annual plans can be switched to monthly at the next renewal.",
        ],
        "followup": "the workspace name and the plan you would like",
        "tip": "Tip: switching to annual billing usually saves about two months' worth of fees.",
        "table": (
            "| Plan | Seats | Support |\n|---|---|---|\n"
            "| Starter | up to 3 | Email |\n"
            "| Team | up to 25 | Email and chat |\n"
            "| Business | unlimited | Priority, with an SLA |"
        ),
    },
    "general": {
        "keywords": frozenset("".split()),
        "topic": "your question",
        "explain": [
            "Most questions like this can be resolved from the account settings without waiting for an agent.",
            "Our help centre has step-by-step guides for the most common tasks.",
            "If something looks wrong on our side, we can investigate once we have a few details.",
        ],
        "steps": [
            "Sign in and open **Settings** from the menu in the top-right corner.",
            "Look for the section that matches what you want to change.",
            "Save your changes and refresh the page to confirm they took effect.",
            "Search the help centre for the feature name if the option is not where you expect it.",
            "Make sure your app or browser is up to date.",
            "Contact us through the chat widget if you are still stuck.",
        ],
        "followup": "a short description of what you expected and what happened instead",
        "tip": "Tip: the search box in the help centre also matches error messages word for word.",
        "code": None,
    },
}

_STYLES = [
    {
        "openers": [
            "Thanks for reaching out about {topic}.",
            "Thanks for getting in touch about {topic}.",
        ],
        "generic": "Thanks for your message.",
        "marker": "numbered",
        "heading": "**Here's what to do:**",
        "close": "If this doesn't solve it, reply with {followup} and we'll take a closer look.",
        "signoff": "Best regards,\nThe Support Team",
    },
    {
        "openers": [
            "I'm sorry to hear you're having trouble with {topic}.",
            "Sorry about the hassle with {topic}; let's get it sorted.",
        ],
        "generic": "Sorry for the trouble.",
        "marker": "-",
        "heading": "### Steps",
        "close": "Still not working? Send us {followup} and we'll dig in.",
        "signoff": "",
    },
    {
        "openers": [
            "Happy to help with {topic}!",
            "Great question about {topic}.",
        ],
        "generic": "Happy to help!",
        "marker": "*",
        "heading": "You can try the following:",
        "close": "Let me know how it goes. If needed, share {followup} so we can check further.",
        "signoff": "Cheers!",
    },
    {
        "openers": [
            "Here is how to handle {topic}.",
            "Let's look at {topic} together.",
        ],
        "generic": "Here is some information.",
        "marker": "numbered",
        "heading": "",
        "close": "Should the issue persist, please provide {followup}.",
        "signoff": "",
    },
]


_FILLERS = [
    "This can happen for a number of reasons.",
    "There are a few things you can check.",
    "This is usually easy to fix.",
]


def _categorise(text: str) -> str:
    words = re.findall(r"[a-z0-9']+", text.lower())
    scores = {name: 0 for name in _CATEGORIES}
    for word in words:
        for name, cat in _CATEGORIES.items():
            if word in cat["keywords"]:
                scores[name] += 1
    best = max(scores, key=lambda n: (scores[n], -list(_CATEGORIES).index(n)))
    return best if scores[best] > 0 else "general"


def _keywords(text: str, limit: int = 3) -> list[str]:
    seen: list[str] = []
    for word in re.findall(r"[A-Za-z][A-Za-z0-9'\-]{3,}", text):
        low = word.lower()
        if low in _STOPWORDS or low in seen:
            continue
        seen.append(low)
        if len(seen) >= limit:
            break
    return seen


def generate_reply(
    model: str,
    messages: list[dict[str, Any]],
    seed: int | None = None,
    temperature: float | None = None,
    *,
    quality: float | None = None,
    self_identify: bool = False,
    choice_index: int = 0,
) -> str:
    """A deterministic customer-support style answer for ``messages`` as ``model`` would give it."""
    if quality is None:
        quality = model_quality(model)
    user_texts = [_message_text(m.get("content")) for m in messages if m.get("role") == "user"]
    question = user_texts[-1] if user_texts else _message_text(messages[-1].get("content") if messages else "")
    rng = random.Random(_stable_int("reply", model, prompt_hash(messages), seed, temperature, choice_index))
    style = _STYLES[_stable_int("style", model) % len(_STYLES)]
    category = _categorise(question)
    cat = _CATEGORIES[category]
    keywords = _keywords(question)

    paragraphs: list[str] = []
    # Higher quality: names the topic, explains more, tailors to the question, more steps,
    # examples and a tip. Lower quality: generic opener, vague filler, few steps.
    specific = quality >= 0.5 or rng.random() < quality
    opener = rng.choice(style["openers"]).format(topic=cat["topic"]) if specific else style["generic"]
    if self_identify:
        opener = _self_intro(model, rng.randrange(3)) + " " + opener
    explain = list(cat["explain"])
    rng.shuffle(explain)
    n_explain = (1 if quality >= 0.4 else 0) + (1 if quality >= 0.55 else 0) + (1 if quality >= 0.8 else 0)
    sentences = [opener, *explain[:n_explain]]
    if n_explain == 0:
        sentences.append(rng.choice(_FILLERS))
    if keywords and quality >= 0.6:
        sentences.append(f"I've tailored the steps below to what you described ({', '.join(keywords[:2])}).")
    paragraphs.append(" ".join(sentences))

    n_steps = max(2, min(len(cat["steps"]), 2 + round(quality * 4) + rng.choice((-1, 0, 0, 1))))
    chosen = [cat["steps"][i] for i in sorted(rng.sample(range(len(cat["steps"])), n_steps))]
    if style["marker"] == "numbered":
        lines = [f"{i}. {step}" for i, step in enumerate(chosen, 1)]
    else:
        lines = [f"{style['marker']} {step}" for step in chosen]
    block = "\n".join(lines)
    if style["heading"]:
        block = style["heading"] + "\n\n" + block
    paragraphs.append(block)

    extra_roll = rng.random()
    if cat.get("code") and extra_roll < 0.3 + 0.6 * quality:
        paragraphs.append("For example, a minimal retry wrapper looks like this:\n\n" + cat["code"])
    elif cat.get("table") and extra_roll < 0.1 + 0.7 * quality:
        paragraphs.append("For reference:\n\n" + cat["table"])
    if quality >= 0.75:
        paragraphs.append(cat["tip"])

    if quality >= 0.45 or rng.random() < 0.5:
        paragraphs.append(style["close"].format(followup=cat["followup"]))
    if style["signoff"] and quality >= 0.5:
        paragraphs.append(style["signoff"])
    return "\n\n".join(paragraphs)


# --------------------------------------------------------------------------- state


_Completion = tuple[str, int, int, bool]  # (stats key, prompt tokens, completion tokens, leaked)


class _State:
    """Config, fault RNG and counters shared by all handler threads."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.lock = threading.Lock()
        self.config = config
        self.stopping = threading.Event()
        self._reset_locked()

    def _reset_locked(self) -> None:
        self.rng = random.Random(self.config.seed)
        self.requests_total = 0
        self.requests_by_model: dict[str, int] = {}
        self.requests_by_status: dict[str, int] = {}
        self.requests_by_path: dict[str, int] = {}
        self.request_times: list[float] = []
        self.completions_by_key: dict[str, int] = {}
        self.faults_by_key: dict[str, int] = {}
        self.faults: dict[str, int] = {}
        self.self_identified = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.rpm_admitted: deque[float] = deque()

    def reset(self) -> None:
        with self.lock:
            in_flight = self.in_flight
            self._reset_locked()
            self.in_flight = in_flight
            self.max_in_flight = in_flight

    def configure(self, **fields: Any) -> SimulatorConfig:
        with self.lock:
            new = self.config.updated(**fields)
            if "seed" in fields:
                self.rng = random.Random(new.seed)
            self.config = new
            return new

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests_total": self.requests_total,
                "requests_by_model": dict(self.requests_by_model),
                "requests_by_status": dict(self.requests_by_status),
                "requests_by_path": dict(self.requests_by_path),
                "request_times": list(self.request_times),
                "completions_by_key": dict(self.completions_by_key),
                "completions_total": sum(self.completions_by_key.values()),
                "faults": dict(self.faults),
                "faults_by_key": dict(self.faults_by_key),
                "self_identified": self.self_identified,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
            }

    # --- called by handlers (all take the lock)

    def record_arrival(self, path: str, now: float) -> None:
        with self.lock:
            self.requests_total += 1
            self.request_times.append(now)
            self.requests_by_path[path] = self.requests_by_path.get(path, 0) + 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def record_departure(self) -> None:
        with self.lock:
            self.in_flight = max(0, self.in_flight - 1)

    def record_response(self, status: int, completion: _Completion | None, *, depart: bool) -> None:
        """Account for a response just before it is written (so a client holding it sees it)."""
        with self.lock:
            code = str(status)
            self.requests_by_status[code] = self.requests_by_status.get(code, 0) + 1
            if completion is not None:
                key, prompt_tokens, completion_tokens, leaked = completion
                self.completions_by_key[key] = self.completions_by_key.get(key, 0) + 1
                self.prompt_tokens += prompt_tokens
                self.completion_tokens += completion_tokens
                self.self_identified += 1 if leaked else 0
            if depart:
                self.in_flight = max(0, self.in_flight - 1)

    def undo_completion(self, completion: _Completion) -> None:
        """The client went away before the completion could be written: do not count it."""
        with self.lock:
            key, prompt_tokens, completion_tokens, leaked = completion
            left = self.completions_by_key.get(key, 0) - 1
            if left > 0:
                self.completions_by_key[key] = left
            else:
                self.completions_by_key.pop(key, None)
            self.prompt_tokens -= prompt_tokens
            self.completion_tokens -= completion_tokens
            self.self_identified -= 1 if leaked else 0

    def record_model(self, model: str) -> None:
        with self.lock:
            self.requests_by_model[model] = self.requests_by_model.get(model, 0) + 1

    def check_rpm(self, config: SimulatorConfig, now: float) -> tuple[bool, float, int]:
        """(admitted, seconds until a slot frees, remaining) for the sliding-window limit."""
        with self.lock:
            window = self.rpm_admitted
            cutoff = now - config.rpm_window
            while window and window[0] <= cutoff:
                window.popleft()
            if config.rpm_limit is None:
                return True, 0.0, -1
            if len(window) >= config.rpm_limit:
                wait = (window[0] + config.rpm_window - now) if window else config.rpm_window
                self.faults["rpm_limit"] = self.faults.get("rpm_limit", 0) + 1
                return False, max(wait, 0.0), 0
            window.append(now)
            return True, 0.0, config.rpm_limit - len(window)

    def draw_fault(self, config: SimulatorConfig, key: str) -> str | None:
        """Pick an injected fault for this request (or None), honouring max_failures_per_key."""
        with self.lock:
            roll = self.rng.random()
            limit = config.max_failures_per_key
            if limit is not None and self.faults_by_key.get(key, 0) >= limit:
                return None
            edge = 0.0
            for name, rate in (
                ("rate_429", config.rate_429_rate),
                ("error_500", config.error_500_rate),
                ("hang", config.hang_rate),
                ("malformed", config.malformed_rate),
            ):
                edge += rate
                if rate > 0 and roll < edge:
                    self.faults_by_key[key] = self.faults_by_key.get(key, 0) + 1
                    self.faults[name] = self.faults.get(name, 0) + 1
                    return name
            return None

    def latency(self, config: SimulatorConfig) -> float:
        if config.latency_jitter <= 0:
            return config.latency
        with self.lock:
            jitter = self.rng.uniform(-config.latency_jitter, config.latency_jitter)
        return max(0.0, config.latency + jitter)


# --------------------------------------------------------------------------- HTTP


class _ClientGone(Exception):
    pass


def _error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ArenaSimulator/1.0"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are dropped after this many seconds
    # Headers and body go out in two sends; with Nagle's algorithm and the client's delayed ACK
    # every keep-alive answer would stall ~40 ms, which no real API server does.
    disable_nagle_algorithm = True

    server: _HTTPServer
    _counted = False
    _departed = False

    # --- plumbing

    @property
    def state(self) -> _State:
        return self.server.state

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.state.config.verbose:
            sys.stderr.write(f"[simulator] {self.address_string()} {format % args}\n")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        *,
        record: bool = True,
        completion: _Completion | None = None,
    ) -> None:
        if record:
            self._account(status, completion)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:24]}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except OSError as exc:  # BrokenPipeError, ConnectionResetError, socket timeouts
            self.close_connection = True
            if completion is not None:
                self.state.undo_completion(completion)
            raise _ClientGone from exc

    def _account(self, status: int, completion: _Completion | None = None) -> None:
        depart = self._counted and not self._departed
        self._departed = self._departed or depart
        self.state.record_response(status, completion, depart=depart)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None, **kw: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, body, headers=headers, **kw)

    def _sleep(self, seconds: float) -> bool:
        """Sleep without blocking other requests; False if the server is stopping."""
        if seconds <= 0:
            return not self.state.stopping.is_set()
        return not self.state.stopping.wait(seconds)

    def _route(self) -> tuple[str, str]:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path.startswith("/v1/") or path == "/v1":
            path = path[3:] or "/"
        return path, self.command

    def _dispatch(self) -> None:
        path, method = self._route()
        try:
            if path.startswith("/_control/"):
                self._control(path, method)
                return
            self.state.record_arrival(path, time.time())
            self._counted, self._departed = True, False
            try:
                self._api(path, method)
            except (_ClientGone, OSError):
                raise
            except Exception:  # a simulator bug: answer 500 rather than dropping the connection
                traceback.print_exc()
                self._send_json(500, _error_body("simulator internal error", "server_error"))
            finally:
                if not self._departed:
                    self._departed = True
                    self.state.record_departure()
        except (_ClientGone, OSError):
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    # --- control plane

    def _control(self, path: str, method: str) -> None:
        body = self._read_body() if method in ("POST", "PUT") else b""
        if path == "/_control/health" and method == "GET":
            self._send_json(200, {"status": "ok"}, record=False)
        elif path == "/_control/stats" and method == "GET":
            self._send_json(200, self.state.snapshot(), record=False)
        elif path == "/_control/config" and method == "GET":
            self._send_json(200, self.state.config.to_dict(), record=False)
        elif path == "/_control/config" and method in ("POST", "PUT"):
            try:
                fields = json.loads(body or b"{}")
                if not isinstance(fields, dict):
                    raise ValueError("the body must be a JSON object of config fields")
                config = self.state.configure(**fields)
            except ValueError as exc:
                self._send_json(400, _error_body(str(exc), "invalid_request_error"), record=False)
                return
            self._send_json(200, config.to_dict(), record=False)
        elif path == "/_control/reset" and method == "POST":
            self.state.reset()
            self._send_json(200, {"status": "reset"}, record=False)
        else:
            self._send_json(404, _error_body(f"unknown control endpoint {method} {path}", "not_found"), record=False)

    # --- API

    def _api(self, path: str, method: str) -> None:
        config = self.state.config
        body = self._read_body() if method in ("POST", "PUT") else b""
        if not self._authorised(config):
            return
        if path == "/chat/completions" and method == "POST":
            self._chat(config, body)
        elif path == "/models" and method == "GET":
            self._send_json(200, {"object": "list", "data": [_model_obj(m) for m in config.models]})
        elif path.startswith("/models/") and method == "GET":
            model = path[len("/models/") :]
            if config.models and model not in config.models:
                msg = f"The model `{model}` does not exist or you do not have access to it."
                self._send_json(404, _error_body(msg, "invalid_request_error", "model_not_found", "model"))
            else:
                self._send_json(200, _model_obj(model))
        else:
            msg = f"Invalid URL ({method} {self.path})"
            self._send_json(404, _error_body(msg, "invalid_request_error"))

    def _authorised(self, config: SimulatorConfig) -> bool:
        if not config.require_key:
            return True
        header = self.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() == "bearer" and key and (config.api_key is None or key == config.api_key):
            return True
        if not key:
            msg = (
                "You didn't provide an API key. You need to provide your API key in an Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        else:
            msg = "Incorrect API key provided. You can find your API key in your account settings."
        self._send_json(401, _error_body(msg, "invalid_request_error", "invalid_api_key"))
        return False

    def _bad_request(self, message: str, param: str | None = None) -> None:
        self._send_json(400, _error_body(message, "invalid_request_error", None, param))

    def _chat(self, config: SimulatorConfig, raw: bytes) -> None:
        try:
            req = json.loads(raw or b"")
        except ValueError:
            self._bad_request("We could not parse the JSON body of your request.")
            return
        problem = _validate_chat(req)
        if problem:
            self._bad_request(*problem)
            return
        model: str = req["model"]
        messages: list[dict[str, Any]] = req["messages"]
        self.state.record_model(model)
        if config.strict_models and model not in config.models:
            msg = f"The model `{model}` does not exist or you do not have access to it."
            self._send_json(404, _error_body(msg, "invalid_request_error", "model_not_found", "model"))
            return

        now = time.time()
        admitted, wait, remaining = self.state.check_rpm(config, now)
        rpm_headers: dict[str, str] = {}
        if config.rpm_limit is not None:
            rpm_headers = {
                "x-ratelimit-limit-requests": str(config.rpm_limit),
                "x-ratelimit-remaining-requests": str(max(remaining, 0)),
            }
        if not admitted:
            msg = (
                f"Rate limit reached for {model}: Limit {config.rpm_limit}, Used {config.rpm_limit}, "
                f"Requested 1. Please try again in {wait:.3f}s."
            )
            headers = {**rpm_headers, **_retry_headers(wait)}
            self._send_json(429, _error_body(msg, "rate_limit_exceeded", "rpm_limit_exceeded", "requests"), headers)
            return

        key = f"{model}|{prompt_hash(messages)}"
        fault = self.state.draw_fault(config, key)
        if fault == "rate_429":
            msg = f"Rate limit reached for {model} (simulated). Please try again in {config.retry_after:g}s."
            headers = {**rpm_headers, **_retry_headers(config.retry_after)}
            self._send_json(429, _error_body(msg, "rate_limit_exceeded", "rate_limit_exceeded", "requests"), headers)
            return
        if fault == "hang":
            if not self._sleep(config.hang_seconds):
                self.close_connection = True
                return
        elif not self._sleep(self.state.latency(config)):
            self.close_connection = True
            return
        if fault == "error_500":
            msg = "The server had an error while processing your request. Sorry about that! (simulated)"
            self._send_json(500, _error_body(msg, "server_error"))
            return

        completion = self._build_completion(config, req, model, messages)
        leaked = completion.pop("_leaked")
        usage = completion["usage"]
        counted = None if fault else (key, usage["prompt_tokens"], usage["completion_tokens"], leaked)
        if req.get("stream"):
            self._stream(completion, req, rpm_headers, malformed=fault == "malformed", completion_stats=counted)
        else:
            body = json.dumps(completion, ensure_ascii=False).encode("utf-8")
            if fault == "malformed":
                body = body[: max(1, len(body) // 2)]  # 200 with a truncated JSON document
            self._send(200, body, headers=rpm_headers, completion=counted)

    def _build_completion(
        self, config: SimulatorConfig, req: dict[str, Any], model: str, messages: list[dict[str, Any]]
    ) -> dict[str, Any]:
        seed = req.get("seed")
        temperature = req.get("temperature")
        max_tokens = req.get("max_completion_tokens", req.get("max_tokens"))
        n = int(req.get("n") or 1)
        quality = model_quality(model, config.model_quality)
        leak_roll = (_stable_int("leak", model, prompt_hash(messages), seed, temperature) % 10_000) / 10_000
        leaked = model in config.self_identify_models or leak_roll < config.self_identify_rate
        choices = []
        completion_tokens = 0
        for index in range(n):
            text = generate_reply(
                model, messages, seed, temperature, quality=quality, self_identify=leaked, choice_index=index
            )
            finish = "stop"
            if max_tokens is not None and count_tokens(text) > max_tokens:
                text = _truncate_to_tokens(text, max_tokens)
                finish = "length"
            completion_tokens += count_tokens(text)
            choices.append(
                {
                    "index": index,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            )
        prompt_tokens = count_tokens(" ".join(_message_text(m.get("content")) for m in messages))
        served = config.served_model_overrides.get(model, model)
        return {
            "id": f"chatcmpl-sim{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": served,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": f"fp_sim{_stable_int('fp', served) % 16**8:08x}",
            "_leaked": leaked,
        }

    def _stream(
        self,
        completion: dict[str, Any],
        req: dict[str, Any],
        headers: dict[str, str],
        *,
        malformed: bool,
        completion_stats: _Completion | None,
    ) -> None:
        self._account(200, completion_stats)
        base = {k: completion[k] for k in ("id", "created", "model", "system_fingerprint")}
        base["object"] = "chat.completion.chunk"
        events: list[dict[str, Any]] = []
        for choice in completion["choices"]:
            idx = choice["index"]
            events.append({**base, "choices": [{"index": idx, "delta": {"role": "assistant", "content": ""}}]})
            for piece in re.findall(r"\S+\s*", choice["message"]["content"]):
                events.append({**base, "choices": [{"index": idx, "delta": {"content": piece}}]})
            events.append({**base, "choices": [{"index": idx, "delta": {}, "finish_reason": choice["finish_reason"]}]})
        if (req.get("stream_options") or {}).get("include_usage"):
            events.append({**base, "choices": [], "usage": completion["usage"]})
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if malformed:  # half the events, then a truncated one, then the connection closes
                events = events[: max(1, len(events) // 2)]
            for event in events:
                self.wfile.write(b"data: " + json.dumps(event, ensure_ascii=False).encode("utf-8") + b"\n\n")
            if malformed:
                self.wfile.write(b'data: {"id": "chatcmpl-broken", "choices": [{"ind\n\n')
            else:
                self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except OSError as exc:
            if completion_stats is not None:
                self.state.undo_completion(completion_stats)
            raise _ClientGone from exc


def _retry_headers(seconds: float) -> dict[str, str]:
    return {
        "Retry-After": str(max(0, math.ceil(seconds))),
        "retry-after-ms": str(max(0, round(seconds * 1000))),
    }


def _model_obj(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 1700000000, "owned_by": model_vendor(model)}


def _validate_chat(req: Any) -> tuple[str, str | None] | None:
    if not isinstance(req, dict):
        return "The request body must be a JSON object.", None
    model = req.get("model")
    if not isinstance(model, str) or not model:
        return "you must provide a model parameter", "model"
    messages = req.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array of message objects.", "messages"
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            return f"Invalid type for 'messages[{i}]': expected an object.", f"messages[{i}]"
        role = msg.get("role")
        if role not in _VALID_ROLES:
            return f"Invalid value for 'messages[{i}].role': {role!r}.", f"messages[{i}].role"
        content = msg.get("content")
        if content is None and role == "assistant":
            continue
        if isinstance(content, str):
            continue
        if isinstance(content, list) and all(isinstance(p, dict) and "type" in p for p in content):
            continue
        return f"Invalid type for 'messages[{i}].content': expected a string or an array of parts.", (
            f"messages[{i}].content"
        )
    for name in ("max_tokens", "max_completion_tokens"):
        value = req.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            return f"Invalid '{name}': expected an integer >= 1.", name
    n = req.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 16):
        return "Invalid 'n': expected an integer between 1 and 16.", "n"
    temperature = req.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2
    ):
        return "Invalid 'temperature': expected a number between 0 and 2.", "temperature"
    seed = req.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        return "Invalid 'seed': expected an integer.", "seed"
    return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        self.state = state
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.discard(conn)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, _ClientGone)) or self.state.stopping.is_set():
            return
        super().handle_error(request, client_address)


# --------------------------------------------------------------------------- public server


class SimulatorServer:
    """The simulator on a background thread; a context manager.

    ``SimulatorServer(config=None, host="127.0.0.1", port=0, **fields)``: ``fields`` override
    ``config`` fields. Port 0 binds a free port; ``base_url`` is ``http://host:port/v1``.
    """

    def __init__(
        self, config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0, **fields: Any
    ) -> None:
        config = config if config is not None else SimulatorConfig()
        if fields:
            config = config.updated(**fields)
        self._state = _State(config)
        self.host = host
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle

    def start(self) -> SimulatorServer:
        if self._httpd is not None:
            return self
        self._state.stopping.clear()
        self._httpd = _HTTPServer((self.host, self._requested_port), self._state)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"arena-simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._state.stopping.set()  # wakes sleeping (latency / hang) handlers
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def serve_forever(self) -> None:
        """Start (if needed) and block until KeyboardInterrupt, then stop."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the simulator is not running")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Root URL without the /v1 prefix (control endpoints live under it)."""
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI base URL: ``http://127.0.0.1:<port>/v1``."""
        return f"{self.url}/v1"

    # --- control

    @property
    def config(self) -> SimulatorConfig:
        """The current config (a snapshot; change it with configure())."""
        return self._state.config

    def configure(self, **fields: Any) -> SimulatorConfig:
        """Replace some config fields at runtime (validated); returns the new config."""
        return self._state.configure(**fields)

    def stats(self) -> dict[str, Any]:
        """Counters (the same JSON as GET /_control/stats).

        ``requests_total`` (every non-control request), ``requests_by_model`` (chat requests by
        requested model, counted after body validation), ``requests_by_status`` (str status ->
        count), ``requests_by_path``, ``request_times`` (time.time() of every non-control
        request at arrival), ``completions_by_key`` ("model|prompt_hash" -> completions returned
        successfully, faults excluded; see ``stats_key``), ``completions_total``, ``faults``
        (rate_429 / error_500 / hang / malformed / rpm_limit -> count), ``faults_by_key``,
        ``self_identified``, ``prompt_tokens``, ``completion_tokens``, ``in_flight``,
        ``max_in_flight`` (peak concurrent non-control requests).
        """
        return self._state.snapshot()

    def reset(self) -> None:
        """Clear stats, per-key fault counts and the rpm window; reseed the fault RNG."""
        self._state.reset()

    def completions_for(self, model: str, messages: list[dict[str, Any]]) -> int:
        return self.stats()["completions_by_key"].get(stats_key(model, messages), 0)


# --------------------------------------------------------------------------- CLI


def _parse_override(value: str) -> tuple[str, str]:
    requested, sep, served = value.partition("=")
    if not sep or not requested or not served:
        raise argparse.ArgumentTypeError("expected REQUESTED=SERVED")
    return requested, served


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m arena.simulator",
        description="Simulated OpenAI-compatible chat-completions API (for tests, the demo and benchmarks).",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8001, help="0 picks a free port (default 8001)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    p.add_argument("--latency-jitter", type=float, default=0.0)
    p.add_argument("--error-500-rate", type=float, default=0.0)
    p.add_argument("--rate-429-rate", type=float, default=0.0)
    p.add_argument("--retry-after", type=float, default=1.0)
    p.add_argument("--hang-rate", type=float, default=0.0)
    p.add_argument("--hang-seconds", type=float, default=30.0)
    p.add_argument("--malformed-rate", type=float, default=0.0)
    p.add_argument("--self-identify-rate", type=float, default=0.0)
    p.add_argument("--self-identify-model", action="append", default=[], metavar="MODEL")
    p.add_argument(
        "--served-model-override",
        action="append",
        default=[],
        type=_parse_override,
        metavar="REQUESTED=SERVED",
    )
    p.add_argument("--model", action="append", default=None, metavar="MODEL", help="replaces the default list")
    p.add_argument("--strict-models", action="store_true")
    p.add_argument("--max-failures-per-key", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rpm-limit", type=int, default=None)
    p.add_argument("--rpm-window", type=float, default=60.0)
    p.add_argument("--require-key", action="store_true")
    p.add_argument("--api-key", default=None)
    p.add_argument("--verbose", action="store_true")
    return p


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        models=list(args.model) if args.model else list(DEFAULT_MODELS),
        strict_models=args.strict_models,
        latency=args.latency,
        latency_jitter=args.latency_jitter,
        error_500_rate=args.error_500_rate,
        rate_429_rate=args.rate_429_rate,
        retry_after=args.retry_after,
        hang_rate=args.hang_rate,
        hang_seconds=args.hang_seconds,
        malformed_rate=args.malformed_rate,
        served_model_overrides=dict(args.served_model_override),
        self_identify_rate=args.self_identify_rate,
        self_identify_models=list(args.self_identify_model),
        max_failures_per_key=args.max_failures_per_key,
        seed=args.seed,
        rpm_limit=args.rpm_limit,
        rpm_window=args.rpm_window,
        require_key=args.require_key,
        api_key=args.api_key,
        verbose=args.verbose,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    server = SimulatorServer(config, host=args.host, port=args.port)
    server.start()

    def _interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Stop cleanly on SIGTERM, and on SIGINT even when started in the background (where the
    # shell makes the process ignore SIGINT).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    try:
        print(server.base_url, flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
