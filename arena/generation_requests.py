"""What is sent to a model and what it costs: pure functions, no database, no clock, no network.

The frozen settings are plain JSON (stored on the campaign when generation starts), and every
request body is built from them alone, so a response can always be traced back to the exact
settings it was generated with, however the campaign was edited since.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

from .conversations import IMAGE_REF_PREFIX, request_messages

MILLION = Decimal(1_000_000)
COST_QUANTUM = Decimal("0.000001")
IMAGE_TOKENS_RESERVED = 1_500  # about a high-detail 1024 x 1024 image on OpenAI's tile count


def settings_freeze(campaign, contestants, previous: dict | None, *, frozen_at: str) -> dict:
    """The settings every response of the campaign is generated with; never changed once set.

    Contestants added later (in a campaign that is ready) are added to the frozen set; the
    ones already there keep what they were frozen with. `campaign` and `contestants` are read
    for their fields only (model instances or anything with the same attributes).
    """
    frozen = previous or {
        "system_prompt": campaign.system_prompt,
        "temperature": campaign.temperature,
        "max_tokens": campaign.max_tokens,
        "seed": campaign.seed,
        "extra_params": campaign.extra_params or {},
        "frozen_at": frozen_at,
        "contestants": {},
    }
    frozen = {**frozen, "contestants": dict(frozen.get("contestants") or {})}
    for c in contestants:
        frozen["contestants"].setdefault(
            str(c.pk),
            {
                "label": c.label,
                "model": c.model,
                "base_url": c.effective_base_url,
                "api_key_env": c.effective_api_key_env,
                "simulated": c.uses_simulator,
                "extra_params": c.extra_params or {},
                "price_per_mtok_out": str(c.price_per_mtok_out),
                "price_per_mtok_in": str(c.price_per_mtok_in),
            },
        )
    return frozen


def request_build(*, frozen: dict, contestant: dict, prompt_text: str, prompt_messages: list | None) -> dict:
    """The exact chat-completions body: the campaign's system prompt first, then the prompt."""
    messages: list[dict] = []
    if frozen.get("system_prompt"):
        messages.append({"role": "system", "content": frozen["system_prompt"]})
    if prompt_messages:
        # The whole conversation, each image as a reference to its stored bytes: the worker puts
        # the bytes in just before the call (arena/services/images.py, request_with_image_bytes).
        messages.extend(request_messages(prompt_messages))
    else:
        messages.append({"role": "user", "content": prompt_text})
    body: dict = {"model": contestant["model"], "messages": messages}
    for name in ("temperature", "max_tokens", "seed"):
        if frozen.get(name) is not None:
            body[name] = frozen[name]
    # Campaign extras first, the contestant's own override them. `stream` is llm.py's to set
    # (see request_streams); the stored text is the whole answer either way.
    extras = {**(frozen.get("extra_params") or {}), **(contestant.get("extra_params") or {})}
    extras.pop("stream", None)
    body.update({k: v for k, v in extras.items() if k not in ("model", "messages")})
    return body


def request_streams(*, frozen: dict, contestant: dict) -> bool:
    """Whether the engine streams this contestant's calls: yes, unless the campaign's or the
    contestant's extra parameters say `"stream": false` (the contestant's win), for a provider
    known not to stream. The body itself never carries `stream`: llm.py adds it."""
    extras = {**(frozen.get("extra_params") or {}), **(contestant.get("extra_params") or {})}
    return extras.get("stream", True) is not False


def request_tokens_estimate(body: dict) -> int:
    """Tokens to reserve from a tokens-per-minute limit before the call: about four characters a
    token for what is sent, plus the most the answer may take. Settled to the real count after."""
    text = json.dumps(body.get("messages", []), ensure_ascii=False)
    # An image costs a model's own count of tiles, not its bytes; reserve a flat allowance.
    return len(text) // 4 + text.count(IMAGE_REF_PREFIX) * IMAGE_TOKENS_RESERVED + int(body.get("max_tokens") or 1024)


def served_model_matches(asked: str, served: str) -> bool:
    """Same model, allowing a dated snapshot suffix (gpt-4o -> gpt-4o-2024-08-06)."""
    if not served:
        return True  # nothing reported: nothing to compare
    a, s = asked.strip().lower(), served.strip().lower()
    return a == s or bool(re.fullmatch(re.escape(a) + r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})", s))


def _per_million(tokens: int, price_per_mtok) -> Decimal:
    return Decimal(tokens) * Decimal(price_per_mtok or "0") / MILLION


def response_cost(*, input_tokens: int, output_tokens: int, contestant: dict) -> Decimal:
    """The cost of one answer at its frozen contestant's prices (the input price may be absent)."""
    cost = _per_million(output_tokens, contestant["price_per_mtok_out"]) + _per_million(
        input_tokens, contestant.get("price_per_mtok_in")
    )
    return cost.quantize(COST_QUANTUM)


def output_cost_estimate(*, output_tokens: int, price_per_mtok_out) -> Decimal:
    """What `output_tokens` would cost at an output price, before anything is generated."""
    return _per_million(output_tokens, price_per_mtok_out).quantize(COST_QUANTUM)


def usd(value) -> Decimal:
    """A sum of costs at the stored precision: SQLite sums decimals as floats (0.0092049999...)."""
    return Decimal(value or 0).quantize(COST_QUANTUM)
