"""What the simulator received: every chat request's model and whole messages list, with the
bytes of every ``data:`` image part decoded, so a test can assert that the exact conversation and
the exact image bytes arrived (``SimulatorServer.received()``, ``GET /_control/received``).

Recorded after the body is validated and before any fault is drawn, so a request that was
answered with an injected error is recorded too (it was received); ``reset()`` clears it.
Bounded: only the last ``LIMIT`` requests are kept.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import threading
from collections import deque
from typing import Any

__all__ = ["Received", "ReceivedRequest"]

LIMIT = 1000


class ReceivedRequest(dict):
    """``{"model", "messages", "images"}``; ``images`` lists ``{"media_type", "data", "sha256"}``
    for each ``data:`` image part in order (``data`` is bytes, or None when not valid base64)."""


def _decoded_images(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    images = []
    for message in messages:
        content = message.get("content")
        for part in content if isinstance(content, list) else ():
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            image_url = part.get("image_url")
            url = image_url.get("url", "") if isinstance(image_url, dict) else str(image_url or "")
            if not url.startswith("data:") or "," not in url:
                images.append({"media_type": None, "data": None, "sha256": None, "url": url})
                continue
            header, encoded = url.split(",", 1)
            try:
                data = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                data = None
            images.append(
                {
                    "media_type": header[len("data:") :].split(";", 1)[0],
                    "data": data,
                    "sha256": hashlib.sha256(data).hexdigest() if data is not None else None,
                }
            )
    return images


class Received:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: deque[ReceivedRequest] = deque(maxlen=LIMIT)

    def record(self, request: dict[str, Any]) -> None:
        messages = copy.deepcopy(request.get("messages") or [])
        entry = ReceivedRequest(model=request.get("model"), messages=messages, images=_decoded_images(messages))
        with self._lock:
            self._requests.append(entry)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()

    def snapshot(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def as_json(self) -> list[dict[str, Any]]:
        """The JSON of ``GET /_control/received``: image bytes as base64 beside their digest."""
        return [
            {
                **entry,
                "images": [
                    {**image, "data": base64.b64encode(image["data"]).decode() if image["data"] is not None else None}
                    for image in entry["images"]
                ],
            }
            for entry in self.snapshot()
        ]
