"""Reading a streamed chat completion: the server-sent events of the body, and the answer they add up to.

arena/llm.py makes the call (the only place that does) and hands the body's reads here; what
breaks the protocol raises a retryable `LLMError`, as a malformed plain body does. No client,
no network: the functions take bytes and dicts. (llm.py imports this module when it streams,
not at its top, so the two do not import each other.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .llm import LLMError


@dataclass(frozen=True)
class StreamedAnswer:
    text: str
    served_model: str
    usage: dict
    finish_reason: str
    first_token_at: float | None  # time.monotonic() when the first content token was read


def events(reads: Iterable[bytes]) -> Iterator[dict]:
    """The JSON objects of a server-sent event stream's `data:` lines, up to `[DONE]`.

    The events that one read completes are decoded together, as one JSON array (a json.loads
    per event cost 2 ms of CPU per answer of 150 events, half of it the call's own overhead;
    together, each still checked to be one object, 1.3 ms), and yielded as soon as their read
    arrived. A line that is not JSON (a stream cut off mid-event) raises json's ValueError; an
    `error` object in the stream is a failure, as the provider's own error status would be.
    """
    buffer = b""
    reads = iter(reads)
    for data in reads:
        buffer = (buffer + data).replace(b"\r\n", b"\n")
        *complete, buffer = buffer.split(b"\n\n")
        payloads, done = [], False
        for event in complete:
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        done = True
                        break
                    if not (payload.startswith(b"{") and payload.endswith(b"}")):
                        raise LLMError("malformed response body: a stream event is not a JSON object", retryable=True)
                    payloads.append(payload)
            if done:
                break
        chunks = json.loads(b"[" + b",".join(payloads) + b"]") if payloads else []
        if len(chunks) != len(payloads) or not all(isinstance(chunk, dict) for chunk in chunks):
            # Two payloads that are not each one object (`{"a": 1}, {"b": 2}`) can still make an array.
            raise LLMError("malformed response body: a stream event is not one JSON object", retryable=True)
        for chunk in chunks:
            if chunk.get("error"):
                error = chunk["error"]
                message = error.get("message") if isinstance(error, dict) else error
                raise LLMError(f"error in the stream: {str(message)[:500]}", retryable=True)
            yield chunk
        if done:
            for _ in reads:  # read to the end, so that the connection is kept for the next call
                pass
            return
    if buffer.strip():
        raise LLMError("malformed response body: the stream ended inside an event", retryable=True)


def answer_of(chunks: Iterable[dict], *, deadline: float) -> StreamedAnswer:
    """Text, usage, served model and finish reason from the chunks (choice 0), and when its first
    content token came. Past `deadline` (time.monotonic()) the stream is a timeout: the request
    timeout bounds the whole stream, not only the gap between two reads."""
    first_token: float | None = None
    parts: list[str] = []
    finish, served, usage = "", "", None
    for chunk in chunks:
        served = chunk.get("model") or served
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                if first_token is None:
                    first_token = time.monotonic()
                parts.append(piece)
            finish = choice.get("finish_reason") or finish
        if time.monotonic() > deadline:
            raise LLMError("timeout: the stream did not end within the request timeout", retryable=True)
    if not finish:
        raise LLMError("malformed response body: the stream ended without a finish reason", retryable=True)
    return StreamedAnswer(
        text="".join(parts),
        served_model=str(served or ""),
        usage=usage if isinstance(usage, dict) else {},
        finish_reason=str(finish),
        first_token_at=first_token,
    )
