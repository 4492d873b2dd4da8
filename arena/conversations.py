"""A prompt's chat messages in their three shapes (pure, no database).

1. **Stored** (`Prompt.messages`): each message's `content` is a string, or a list of parts
   `{"type": "text", "text"}` and `{"type": "image", "sha256", "content_type", "token"[, "detail"]}`.
   An image part names its bytes by digest (stored once, arena/services/images.py) and carries
   the opaque token of its URL; a 5 MB base64 string is never copied into a JSON column.
2. **Sent** (`request_messages`): OpenAI's chat shape, every image an `image_url` part whose URL
   is a reference to the stored bytes (`IMAGE_REF_PREFIX` + digest). That is what a response's
   stored request keeps; just before the call the worker swaps each reference for the `data:`
   URL of exactly those bytes (arena/services/images.py, `request_with_image_bytes`).
3. **Shown** (`conversation_for_reviewer`): `[{role, text, images: [url]}]`, the review API's
   `conversation`. Nothing in it is more than the lead wrote: roles, text, and image URLs
   that hold only a random token.
"""

from __future__ import annotations

from .errors import ValidationFailed
from .images import IMAGE_DETAILS, MAX_IMAGES_PER_PROMPT, ImageBytes, ImageProblem, image_from_data_url

ROLES = {"system", "user", "assistant"}
MAX_TEXT_CHARS = 200_000
IMAGE_REF_PREFIX = "arena-image:sha256:"
IMAGE_URL = "/media/i/{token}/"


def _content_check(content, *, where: str, field: str, line: int | None) -> tuple[str | list, list[ImageBytes]]:
    """The stored form of one message's content (tokens not yet given) and its decoded images."""
    if isinstance(content, str):
        if not content.strip():
            raise ValidationFailed(f"{where}: {field} must be non-empty text", field=field, line=line)
        if len(content) > MAX_TEXT_CHARS:
            raise ValidationFailed(
                f"{where}: {field} is longer than {MAX_TEXT_CHARS} characters", field=field, line=line
            )
        return content, []
    if not isinstance(content, list) or not content:
        raise ValidationFailed(
            f"{where}: {field} must be text or a non-empty list of content parts", field=field, line=line
        )
    parts: list[dict] = []
    images: list[ImageBytes] = []
    for j, part in enumerate(content):
        at = f"{field}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str) or not text.strip():
                raise ValidationFailed(f"{where}: {at}.text must be non-empty text", field=at, line=line)
            if len(text) > MAX_TEXT_CHARS:
                raise ValidationFailed(
                    f"{where}: {at}.text is longer than {MAX_TEXT_CHARS} characters", field=at, line=line
                )
            parts.append({"type": "text", "text": text})
        elif kind == "image_url":
            image_url = part.get("image_url")
            if isinstance(image_url, str):  # an older shape some exporters write
                image_url = {"url": image_url}
            if not isinstance(image_url, dict):
                raise ValidationFailed(f"{where}: {at}.image_url must be an object with 'url'", field=at, line=line)
            try:
                image = image_from_data_url(image_url.get("url"))
            except ImageProblem as problem:
                raise ValidationFailed(f"{where}: {at}: {problem}", field=at, line=line) from None
            stored = {"type": "image", "sha256": image.sha256, "content_type": image.content_type}
            detail = image_url.get("detail")
            if detail is not None:
                if detail not in IMAGE_DETAILS:
                    raise ValidationFailed(
                        f"{where}: {at}.image_url.detail must be one of {sorted(IMAGE_DETAILS)}", field=at, line=line
                    )
                stored["detail"] = detail
            parts.append(stored)
            images.append(image)
        else:
            raise ValidationFailed(
                f"{where}: {at} must be a part of type 'text' or 'image_url' (found {kind!r})", field=at, line=line
            )
    return parts, images


def messages_check(messages, *, where: str, line: int | None) -> tuple[list, list[ImageBytes]]:
    """Validate a prompt's messages: system, user and assistant turns ending with a user turn,
    at most MAX_IMAGES_PER_PROMPT images in all. Returns the stored messages (image parts without
    their tokens yet) and the decoded images, in order. ValidationFailed names line and part."""
    if not isinstance(messages, list) or not messages:
        raise ValidationFailed(f"{where}: 'messages' must be a non-empty list", field="messages", line=line)
    stored, images = [], []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ValidationFailed(f"{where}: messages[{i}] must be an object", field=f"messages[{i}]", line=line)
        if message.get("role") not in ROLES:
            raise ValidationFailed(
                f"{where}: messages[{i}].role must be one of {sorted(ROLES)}", field=f"messages[{i}].role", line=line
            )
        content, found = _content_check(message.get("content"), where=where, field=f"messages[{i}].content", line=line)
        stored.append({"role": message["role"], "content": content})
        if len(images) + len(found) > MAX_IMAGES_PER_PROMPT:
            # Name the first part past the limit.
            j = [k for k, part in enumerate(content) if part["type"] == "image"][MAX_IMAGES_PER_PROMPT - len(images)]
            at = f"messages[{i}].content[{j}]"
            raise ValidationFailed(
                f"{where}: {at} is image {MAX_IMAGES_PER_PROMPT + 1} of this prompt; "
                f"at most {MAX_IMAGES_PER_PROMPT} are accepted",
                field=at,
                line=line,
            )
        images.extend(found)
    if messages[-1]["role"] != "user":
        raise ValidationFailed(
            f"{where}: messages[{len(messages) - 1}].role is {messages[-1]['role']!r}: the conversation "
            "must end with a user turn (each model writes the next assistant turn)",
            field=f"messages[{len(messages) - 1}].role",
            line=line,
        )
    return stored, images


def content_text(content) -> str:
    """The text of a stored message's content: the string, or its text parts one after another."""
    if isinstance(content, str):
        return content
    return "\n\n".join(p.get("text", "") for p in content or () if isinstance(p, dict) and p.get("type") == "text")


def last_user_text(messages: list) -> str:
    """The text of the last user turn: the review API's `prompt` for a conversation."""
    for message in reversed(messages or ()):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def image_parts(messages: list) -> list[dict]:
    """Every stored image part of the messages, in order."""
    return [
        part
        for message in messages or ()
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") == "image"
    ]


def conversation_for_reviewer(messages: list) -> list[dict]:
    """The turns a reviewer reads above the two answers: role, text and image URLs (opaque tokens)."""
    return [
        {
            "role": message.get("role", "user"),
            "text": content_text(message.get("content")),
            "images": [IMAGE_URL.format(token=part["token"]) for part in image_parts([message])],
        }
        for message in messages or ()
    ]


def request_messages(messages: list) -> list[dict]:
    """The messages as a model is sent them, each image a reference to its stored bytes."""
    sent = []
    for message in messages:
        content = message.get("content", "")
        if isinstance(content, list):
            parts = []
            for part in content:
                if part.get("type") == "image":
                    image_url = {"url": IMAGE_REF_PREFIX + part["sha256"]}
                    if part.get("detail"):
                        image_url["detail"] = part["detail"]
                    parts.append({"type": "image_url", "image_url": image_url})
                else:
                    parts.append({"type": "text", "text": part.get("text", "")})
            content = parts
        sent.append({"role": message.get("role", "user"), "content": content})
    return sent
