"""What a judge is sent, and how its reply is read: pure functions, no database, no network.

The format is MT-Bench's pairwise judge prompt (Zheng et al., "Judging LLM-as-a-judge with
MT-Bench and Chatbot Arena", NeurIPS 2023 Datasets and Benchmarks, Figure 5 / the `pair-v2`
prompt of FastChat's `judge_prompts.jsonl`): a system message asking for an impartial
comparison ending in `[[A]]`, `[[B]]` or `[[C]]` (tie), then one user message holding the
question (or the conversation before the answers), the answer shown first ("Answer A") and the
answer shown second ("Answer B"), in that order.

Blindness: the builder takes texts only, never a contestant, a label or a model id, so nothing
it returns can name the models (tests/test_blindness.py scans what the judge is sent).
"""

from __future__ import annotations

import re

SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI "
    "assistants to the user question displayed below. You should choose the assistant that follows the "
    "user's instructions and answers the user's question better. Your evaluation should consider factors "
    "such as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of their "
    "responses. Begin your evaluation by comparing the two responses and provide a short explanation. "
    "Avoid any position biases and ensure that the order in which the responses were presented does not "
    "influence your decision. Do not allow the length of the responses to influence your evaluation. "
    "Do not favor certain names of the assistants. Be as objective as possible."
)
FINAL = (
    'After providing your explanation, output your final verdict by strictly following this format: "[[A]]" '
    'if Answer A is better, "[[B]]" if Answer B is better, and "[[C]]" for a tie.'
)

_VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")
VERDICT_OF_LETTER = {"A": "first", "B": "second", "C": "tie"}


def _content_text(content) -> str:
    """A message's text: a string, or its text parts (an image part is named, not sent)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            elif isinstance(part, dict) and part.get("type") == "image_url":
                parts.append("[image]")
        return "\n".join(parts)
    return ""


def question_block(*, prompt_text: str, prompt_messages: list | None) -> str:
    """The question, or the conversation turn by turn when the prompt is a list of messages."""
    if not prompt_messages:
        return f"[User Question]\n{prompt_text}"
    turns = [f"{m.get('role', 'user')}: {_content_text(m.get('content'))}" for m in prompt_messages]
    return "[Conversation]\n" + "\n\n".join(turns)


def judge_messages(
    *,
    prompt_text: str,
    prompt_messages: list | None,
    first: str,
    second: str,
    guidelines: str = "",
    criteria: list[dict] | None = None,
    instructions: str = "",
) -> list[dict]:
    """The chat messages of one judgement: `first` is shown as Answer A, `second` as Answer B."""
    system = [SYSTEM]
    if guidelines.strip():
        system.append(f"The reviewers of this evaluation follow these guidelines:\n{guidelines.strip()}")
    questions = [str(c.get("question", "")).strip() for c in criteria or [] if str(c.get("question", "")).strip()]
    if questions:
        system.append("Consider in particular:\n" + "\n".join(f"- {q}" for q in questions))
    if instructions.strip():
        system.append(instructions.strip())
    system.append(FINAL)
    user = (
        f"{question_block(prompt_text=prompt_text, prompt_messages=prompt_messages)}\n\n"
        f"[The Start of Answer A]\n{first}\n[The End of Answer A]\n\n"
        f"[The Start of Answer B]\n{second}\n[The End of Answer B]"
    )
    return [{"role": "system", "content": "\n\n".join(system)}, {"role": "user", "content": user}]


def judge_request(*, judge: dict, messages: list[dict]) -> dict:
    """The chat-completions body for a judge given as plain values (model, temperature, max_tokens)."""
    body: dict = {"model": judge["model"], "messages": messages}
    for name in ("temperature", "max_tokens"):
        if judge.get(name) is not None:
            body[name] = judge[name]
    return body


def verdict_parse(reply: str) -> str | None:
    """`first`, `second` or `tie` from the last `[[A]]`, `[[B]]` or `[[C]]` in the reply; None without one."""
    found = _VERDICT.findall(reply or "")
    return VERDICT_OF_LETTER[found[-1]] if found else None


def winner_side(*, order: str, verdict: str) -> str:
    """The pair's side a verdict in an order picks: `a`, `b` or `tie` (order `ab` shows A first)."""
    if verdict == "tie":
        return "tie"
    first_is_a = order == "ab"
    return "a" if (verdict == "first") == first_is_a else "b"
