"""Stable hashes that make the simulator deterministic.

An answer depends only on (model, messages, seed, temperature), and a fault budget is kept per
(model, prompt): both are keyed by these hashes, never by Python's per-process ``hash()``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def prompt_hash(messages: list[dict[str, Any]]) -> str:
    """Stable 16-hex-digit hash of a message list (role and content of each message)."""
    canonical = [{"role": m.get("role"), "content": m.get("content")} for m in messages]
    blob = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def stats_key(model: str, messages: list[dict[str, Any]]) -> str:
    """Key of ``stats()["completions_by_key"]`` / ``["faults_by_key"]``: ``"<model>|<hash>"``."""
    return f"{model}|{prompt_hash(messages)}"


def stable_int(*parts: Any) -> int:
    """A 64-bit integer that depends only on ``parts``: the seed of every per-answer choice."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return int.from_bytes(hashlib.sha256(blob.encode("utf-8")).digest()[:8], "big")
