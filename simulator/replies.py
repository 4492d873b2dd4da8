"""Deterministic customer-support answers, built from the canned texts in ``replies.json``.

An answer depends only on (model, messages, seed, temperature, choice index) and the model's
quality: a higher quality names the topic, explains more, tailors the steps to the question and
adds examples and a tip; a lower one is generic and short. That spread is what lets a demo
campaign show one model winning.
"""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path
from typing import Any

from simulator.config import model_quality
from simulator.hashing import prompt_hash, stable_int

__all__ = ["count_tokens", "generate_reply", "message_text", "model_vendor", "truncate_to_tokens"]


def _load_texts() -> dict[str, Any]:
    texts = json.loads((Path(__file__).with_name("replies.json")).read_text(encoding="utf-8"))
    texts["stopwords"] = frozenset(" ".join(texts["stopwords"]).split())
    for category in texts["categories"].values():
        category["keywords"] = frozenset(category["keywords"].split())
        for block in ("table", "code"):
            if block in category:
                category[block] = "\n".join(category[block])
    return texts


_TEXTS = _load_texts()
_CATEGORIES: dict[str, dict[str, Any]] = _TEXTS["categories"]
_CATEGORY_ORDER = list(_CATEGORIES)
_STYLES: list[dict[str, str]] = _TEXTS["styles"]
_PHRASES: dict[str, str] = _TEXTS["phrases"]
_TOKENS_PER_WORD = 1.3


def message_text(content: Any) -> str:
    """The text of a message's ``content``: a string, or the text parts of a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))


def count_tokens(text: str) -> int:
    """Approximate token count: ceil(1.3 * number of whitespace-separated words)."""
    return math.ceil(len(text.split()) * _TOKENS_PER_WORD)


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The longest run of leading words whose ``count_tokens`` stays within ``max_tokens``."""
    pieces = re.findall(r"\S+\s*", text)
    keep = 0
    while keep < len(pieces) and math.ceil((keep + 1) * _TOKENS_PER_WORD) <= max_tokens:
        keep += 1
    return "".join(pieces[:keep]).rstrip()


def _vendor_entry(model: str) -> dict[str, Any] | None:
    lowered = model.lower()
    return next((v for v in _TEXTS["vendors"] if any(needle in lowered for needle in v["match"])), None)


def model_vendor(model: str) -> str:
    """The company a model id points at ("gpt-4o": OpenAI), as the model would name it."""
    entry = _vendor_entry(model)
    return entry["vendor"] if entry else _TEXTS["unknown_vendor"]


def _self_intro(model: str, variant: int) -> str:
    entry = _vendor_entry(model)
    vendor = entry["vendor"] if entry else _TEXTS["unknown_vendor"]
    name = (entry or {}).get("assistant") or model.split("/")[-1]
    intros = _TEXTS["self_intros"]
    return intros[variant % len(intros)].format(vendor=vendor, name=name)


def _categorise(text: str) -> str:
    words = re.findall(r"[a-z0-9']+", text.lower())
    scores = {name: sum(word in category["keywords"] for word in words) for name, category in _CATEGORIES.items()}
    best = max(scores, key=lambda name: (scores[name], -_CATEGORY_ORDER.index(name)))
    return best if scores[best] > 0 else "general"


def _keywords(text: str, limit: int = 3) -> list[str]:
    seen: list[str] = []
    for word in re.findall(r"[A-Za-z][A-Za-z0-9'\-]{3,}", text):
        low = word.lower()
        if low in _TEXTS["stopwords"] or low in seen:
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
    user_texts = [message_text(m.get("content")) for m in messages if m.get("role") == "user"]
    question = user_texts[-1] if user_texts else message_text(messages[-1].get("content") if messages else "")
    rng = random.Random(stable_int("reply", model, prompt_hash(messages), seed, temperature, choice_index))
    style = _STYLES[stable_int("style", model) % len(_STYLES)]
    cat = _CATEGORIES[_categorise(question)]
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
        sentences.append(rng.choice(_TEXTS["fillers"]))
    if keywords and quality >= 0.6:
        sentences.append(_PHRASES["tailored"].format(keywords=", ".join(keywords[:2])))
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
        paragraphs.append(_PHRASES["code_intro"] + "\n\n" + cat["code"])
    elif cat.get("table") and extra_roll < 0.1 + 0.7 * quality:
        paragraphs.append(_PHRASES["table_intro"] + "\n\n" + cat["table"])
    if quality >= 0.75:
        paragraphs.append(cat["tip"])

    if quality >= 0.45 or rng.random() < 0.5:
        paragraphs.append(style["close"].format(followup=cat["followup"]))
    if style["signoff"] and quality >= 0.5:
        paragraphs.append(style["signoff"])
    return "\n\n".join(paragraphs)
