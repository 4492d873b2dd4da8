"""The OpenAI chat-completions protocol as the simulator speaks it.

Request validation (what the real API answers 400 to) and the objects it answers with: a
``chat.completion``, its ``chat.completion.chunk`` stream events and a ``model``. Plain data in,
plain data out; ``server.py`` does the HTTP.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from simulator.config import SimulatorConfig, model_quality
from simulator.hashing import prompt_hash, stable_int
from simulator.judging import is_judge_request, judge_reply
from simulator.replies import count_tokens, generate_reply, message_text, model_vendor, truncate_to_tokens

__all__ = ["chat_request_problem", "completion_object", "model_object", "stream_events"]

_VALID_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def chat_request_problem(req: Any) -> tuple[str, str | None] | None:
    """(message, param) of the first thing the real API would refuse in this body, or None."""
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
        if value is not None and (not _is_int(value) or value < 1):
            return f"Invalid '{name}': expected an integer >= 1.", name
    n = req.get("n")
    if n is not None and (not _is_int(n) or not 1 <= n <= 16):
        return "Invalid 'n': expected an integer between 1 and 16.", "n"
    temperature = req.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2
    ):
        return "Invalid 'temperature': expected a number between 0 and 2.", "temperature"
    seed = req.get("seed")
    if seed is not None and not _is_int(seed):
        return "Invalid 'seed': expected an integer.", "seed"
    return None


def completion_object(config: SimulatorConfig, req: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The ``chat.completion`` answering a valid request, and whether it names its vendor."""
    model: str = req["model"]
    messages: list[dict[str, Any]] = req["messages"]
    seed = req.get("seed")
    temperature = req.get("temperature")
    max_tokens = req.get("max_completion_tokens", req.get("max_tokens"))
    quality = model_quality(model, config.model_quality)
    leak_roll = (stable_int("leak", model, prompt_hash(messages), seed, temperature) % 10_000) / 10_000
    self_identified = model in config.self_identify_models or leak_roll < config.self_identify_rate
    choices = []
    completion_tokens = 0
    for index in range(int(req.get("n") or 1)):
        if is_judge_request(config, model):
            text = judge_reply(config, req)
        else:
            text = generate_reply(
                model, messages, seed, temperature, quality=quality, self_identify=self_identified, choice_index=index
            )
        finish = "stop"
        if max_tokens is not None and count_tokens(text) > max_tokens:
            text = truncate_to_tokens(text, max_tokens)
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
    prompt_tokens = count_tokens(" ".join(message_text(m.get("content")) for m in messages))
    served = config.served_model_overrides.get(model, model)
    completion = {
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
        "system_fingerprint": f"fp_sim{stable_int('fp', served) % 16**8:08x}",
    }
    return completion, self_identified


def stream_events(completion: dict[str, Any], *, include_usage: bool) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` events of a streamed answer: a role, a word each, a finish."""
    base = {k: completion[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    events: list[dict[str, Any]] = []
    for choice in completion["choices"]:
        idx = choice["index"]
        events.append({**base, "choices": [{"index": idx, "delta": {"role": "assistant", "content": ""}}]})
        for piece in re.findall(r"\S+\s*", choice["message"]["content"]):
            events.append({**base, "choices": [{"index": idx, "delta": {"content": piece}}]})
        events.append({**base, "choices": [{"index": idx, "delta": {}, "finish_reason": choice["finish_reason"]}]})
    if include_usage:
        events.append({**base, "choices": [], "usage": completion["usage"]})
    return events


def model_object(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 1700000000, "owned_by": model_vendor(model)}
