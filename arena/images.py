"""Images in prompts: what an uploaded `data:` URL must be, told apart by its bytes (pure, no Django).

A lead's prompt may carry images as OpenAI `image_url` content parts. Only `data:` URLs are
accepted: the service never fetches a URL, so an `http(s)://` image would have to be fetched by
each model's provider instead, out of the lead's control and differently for each model. The
type is read from the first bytes (the file's magic number), never from the declared media type
or a file name, and only PNG, JPEG, WebP and GIF are accepted: formats every vision model takes
and every browser shows, and none of them a script (SVG, which can hold one, is refused).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

MAX_IMAGE_BYTES = 5 * 1024 * 1024  # 5 MB per image
MAX_IMAGES_PER_PROMPT = 8
IMAGE_DETAILS = {"auto", "low", "high"}

# Magic numbers: PNG (RFC 2083, 12.11), JPEG (SOI marker then a marker byte), GIF87a/89a, and
# WebP (a RIFF container whose form type is WEBP).
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_DATA_URL = re.compile(r"data:([^,;]*)((?:;[^,;]*)*),", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


class ImageProblem(ValueError):
    """Why an image part cannot be accepted, in words a lead can act on."""


@dataclass(frozen=True)
class ImageBytes:
    content_type: str  # sniffed from the bytes
    data: bytes
    sha256: str


def image_type_sniff(data: bytes) -> str | None:
    """The media type of `data` by its magic number, or None if it is none of the four."""
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_from_data_url(url: str) -> ImageBytes:
    """Decode and check an image part's URL: a base64 `data:image/...` URL of at most 5 MB whose
    bytes are PNG, JPEG, WebP or GIF. Raises ImageProblem saying what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise ImageProblem("image_url.url must be a data: URL")
    scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
    if scheme != "data":
        shown = f"a {scheme}: URL" if scheme and len(scheme) < 20 else "not a data: URL"
        raise ImageProblem(
            f"image_url.url is {shown}; only data: URLs are accepted (the service never fetches a URL): "
            "embed the image as data:image/png;base64,..."
        )
    header = _DATA_URL.match(url)
    if header is None:
        raise ImageProblem("image_url.url is not a well-formed data: URL (data:<type>;base64,<data>)")
    declared = header.group(1).strip().lower()
    params = [p.strip().lower() for p in header.group(2).split(";") if p.strip()]
    if not declared.startswith("image/"):
        raise ImageProblem(f"image_url.url declares {declared or 'no type'!r}, not an image type")
    if "base64" not in params:
        raise ImageProblem("image_url.url must be base64-encoded (data:<type>;base64,<data>)")
    encoded = url[header.end() :]
    # Checked on the encoded length first, so a huge string is refused before it is decoded.
    if len(encoded) * 3 // 4 > MAX_IMAGE_BYTES + 3:
        raise ImageProblem(f"the image is larger than {MAX_IMAGE_BYTES} bytes (5 MB)")
    try:
        data = base64.b64decode(_WHITESPACE.sub("", encoded), validate=True)
    except (binascii.Error, ValueError):
        raise ImageProblem("image_url.url holds invalid base64 data") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageProblem(f"the image is {len(data)} bytes, larger than {MAX_IMAGE_BYTES} bytes (5 MB)")
    content_type = image_type_sniff(data)
    if content_type is None:
        raise ImageProblem(
            f"the data is not a PNG, JPEG, WebP or GIF image (its first bytes are {data[:8].hex(' ') or 'empty'})"
        )
    return ImageBytes(content_type=content_type, data=data, sha256=hashlib.sha256(data).hexdigest())


def image_data_url(*, content_type: str, data: bytes) -> str:
    """The `data:` URL a model receives: the exact stored bytes, base64, with their sniffed type."""
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
