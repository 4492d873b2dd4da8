"""The simulated judge: a model listed in ``judge_models`` answers MT-Bench pairwise judge
prompts (``[The Start of Answer A]`` ... ``[The End of Answer B]``) by a rule, not by reading.

Rules (``judge_rule``):

* ``longer``: the longer answer wins, equal lengths tie;
* ``marker``: the answer containing ``judge_marker`` wins; both or neither: a tie;
* ``always_a``: always ``[[A]]`` (a judge that only follows the position: consistency 0).

On top of the rule, ``judge_first_rate`` of the replies pick the answer shown first whatever the
rule says (a position bias, deterministic per request), ``judge_no_verdict_rate`` of the replies
(drawn at random per call, so a retry may succeed) end with a malformed verdict or none, and a
question containing ``judge_silent_marker`` never gets a verdict.
"""

from __future__ import annotations

import random
import re
import threading
from typing import Any

from simulator.hashing import prompt_hash, stable_int

__all__ = ["is_judge_request", "judge_reply"]

_ANSWER = {
    side: re.compile(rf"\[The Start of Answer {side}\]\n(.*?)\n\[The End of Answer {side}\]", re.DOTALL)
    for side in "AB"
}
_NO_VERDICTS = (
    "Both answers have merits and I cannot decide between them.",
    "Final verdict: [A]",
    "Verdict: [[ A ]",
    "My verdict is [[D]].",
)
_rng = random.Random(20231)
_rng_lock = threading.Lock()


def _user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    return ""


def is_judge_request(config, model: str) -> bool:
    return model in config.judge_models


def _rule_pick(config, first: str, second: str) -> str:
    if config.judge_rule == "always_a":
        return "A"
    if config.judge_rule == "marker":
        a, b = config.judge_marker in first, config.judge_marker in second
        return "C" if a == b else ("A" if a else "B")
    if len(first) == len(second):
        return "C"
    return "A" if len(first) > len(second) else "B"


def judge_reply(config, req: dict[str, Any]) -> str:
    """The judge's reply text to one request (a short explanation, then the verdict or not)."""
    messages = req["messages"]
    text = _user_text(messages)
    found = {side: pattern.search(text) for side, pattern in _ANSWER.items()}
    first = found["A"].group(1) if found["A"] else ""
    second = found["B"].group(1) if found["B"] else ""
    question = text.split("[The Start of Answer A]", 1)[0]
    with _rng_lock:
        silent_now = _rng.random() < config.judge_no_verdict_rate
    if (config.judge_silent_marker and config.judge_silent_marker in question) or silent_now:
        pick = stable_int("judge-silent", prompt_hash(messages)) % len(_NO_VERDICTS)
        return f"Comparing the two answers. {_NO_VERDICTS[pick]}"
    biased = (
        stable_int("judge-first", req["model"], prompt_hash(messages)) % 10_000
    ) / 10_000 < config.judge_first_rate
    letter = "A" if biased else _rule_pick(config, first, second)
    why = {"A": "Answer A is more helpful.", "B": "Answer B is more helpful.", "C": "They are equally good."}[letter]
    return f"Answer A has {len(first)} characters and Answer B {len(second)}. {why} [[{letter}]]"
