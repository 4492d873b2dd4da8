"""Per-model speed and answer length: how long a model takes, when its first token comes, how
many tokens it reports.

A profile is one config string per model (``model_timing``), e.g.
``"latency=0.6-0.9,ttft=0.1-0.2,tokens=120"``:

* ``latency=LO-HI``: seconds from the request's arrival to the answer's last byte, drawn
  uniformly per request from the fault RNG (replaces ``latency`` and ``latency_jitter``);
* ``ttft=LO-HI``: seconds to the first content token of a streamed answer (drawn the same way,
  kept below the drawn latency); the remaining tokens are spread evenly over the rest;
* ``tokens=N``: the answer is cut or padded to about N tokens and its usage reports exactly N
  completion tokens (``max_tokens`` still caps it, with finish_reason ``length``).

Any part may be left out. ``stream_refused_models`` lists models that answer ``stream: true``
with the 400 a provider without streaming sends.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["ModelTiming", "parse_timing", "stream_refusal"]

_RANGE = re.compile(r"^\s*([0-9.]+)\s*(?:-\s*([0-9.]+))?\s*$")


@dataclass(frozen=True)
class ModelTiming:
    latency: tuple[float, float] | None = None
    ttft: tuple[float, float] | None = None
    tokens: int | None = None


def _range(name: str, text: str) -> tuple[float, float]:
    match = _RANGE.match(text)
    if not match:
        raise ValueError(f"{name} must be SECONDS or LO-HI, got {text!r}")
    low = float(match.group(1))
    high = float(match.group(2)) if match.group(2) is not None else low
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high < low:
        raise ValueError(f"{name} must be a range 0 <= LO <= HI, got {text!r}")
    return low, high


def parse_timing(model: str, spec: str) -> ModelTiming:
    """The profile of one ``model_timing`` entry; ValueError names the model and the part."""
    parts: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        try:
            if not sep or key not in ("latency", "ttft", "tokens") or key in parts:
                raise ValueError(f"expected latency=LO-HI, ttft=LO-HI or tokens=N once each, got {item!r}")
            if key == "tokens":
                if not value.strip().isdigit() or int(value) < 1:
                    raise ValueError(f"tokens must be a whole number >= 1, got {value!r}")
                parts[key] = int(value)
            else:
                parts[key] = _range(key, value)
        except ValueError as exc:
            raise ValueError(f"model_timing[{model!r}]: {exc}") from None
    return ModelTiming(**parts)


def stream_refusal(model: str) -> tuple[str, str]:
    """(message, param) of the 400 a model without streaming answers."""
    return f"Streaming is not supported for the model {model}; send the request with stream=false.", "stream"


def fit_tokens(text: str, tokens: int) -> str:
    """About ``tokens`` tokens of text: the reply's own words, cut or repeated as needed."""
    from simulator.replies import truncate_to_tokens

    words = text.split() or ["answer"]
    target = max(1, math.floor(tokens / 1.3))
    while len(words) < target:
        words = words + words
    return truncate_to_tokens(" ".join(words[:target]), tokens) or words[0]


def apply_tokens(completion: dict[str, Any], tokens: int, max_tokens: int | None) -> None:
    """Make the answer report exactly ``tokens`` completion tokens (per choice; capped by
    ``max_tokens``, which then ends it with ``length``)."""
    total = 0
    for choice in completion["choices"]:
        wanted, finish = tokens, "stop"
        if max_tokens is not None and tokens > max_tokens:
            wanted, finish = max_tokens, "length"
        choice["message"]["content"] = fit_tokens(choice["message"]["content"], wanted)
        choice["finish_reason"] = finish
        total += wanted
    usage = completion["usage"]
    usage["completion_tokens"] = total
    usage["total_tokens"] = usage["prompt_tokens"] + total
