"""Prompt images: stored once by digest, linked to their prompts, and put back into the requests.

The bytes go through Django's storage API under the alias `images` (settings.STORAGES): a
private directory in the var dir by default, an S3-compatible bucket through django-storages.
A file's name is its digest, so the same image uploaded twice, in any campaign, is one file;
writing it again writes the same bytes under the same name.

Import is all or nothing: every image is decoded and checked while the upload is parsed
(arena/conversations.py), before anything is written. Files are written inside the import's
transaction, just before its rows; if that transaction still fails (a concurrent upload took
the same external_id) a file may stay behind with no row: it is content-addressed, so a later
upload of the same bytes reuses it, and nothing reads a file that no row names.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import IntegrityError, transaction

from ..conversations import IMAGE_REF_PREFIX
from ..image_models import PromptImage, StoredImage, new_image_token
from ..images import ImageBytes, image_data_url


def image_storage():
    return storages["images"]


def image_name(sha256: str) -> str:
    """The file's name in the storage: its digest, fanned out by its first two hex digits."""
    return f"{sha256[:2]}/{sha256}"


def images_store(*, images: list[ImageBytes]) -> dict[str, StoredImage]:
    """Store each distinct image once (file and row); returns the rows by digest."""
    wanted = {image.sha256: image for image in images}
    rows = {row.sha256: row for row in StoredImage.objects.filter(sha256__in=wanted)}
    storage = image_storage()
    for sha256, image in wanted.items():
        if sha256 in rows:
            continue
        name = storage.save(image_name(sha256), ContentFile(image.data))
        try:
            with transaction.atomic():  # a savepoint: a concurrent upload may add the same row
                rows[sha256] = StoredImage.objects.create(
                    sha256=sha256, content_type=image.content_type, size=len(image.data), name=name
                )
        except IntegrityError:
            rows[sha256] = StoredImage.objects.get(sha256=sha256)
    return rows


@dataclass
class PromptImages:
    """What prompts_import needs: each row's messages with its image tokens, and the links."""

    messages: list = field(default_factory=list)  # per row: stored messages (or None)
    tokens: list = field(default_factory=list)  # per row: {sha256: token}
    stored: dict = field(default_factory=dict)  # sha256 -> StoredImage


def prompt_images_prepare(*, rows) -> PromptImages:
    """Store the rows' images and give every (prompt, image) its random token."""
    prepared = PromptImages(stored=images_store(images=[image for row in rows for image in row.images]))
    for row in rows:
        tokens = {image.sha256: new_image_token() for image in row.images}
        messages = row.messages
        if tokens:
            messages = copy.deepcopy(messages)
            for message in messages:
                for part in message["content"] if isinstance(message["content"], list) else ():
                    if part.get("type") == "image":
                        part["token"] = tokens[part["sha256"]]
        prepared.messages.append(messages)
        prepared.tokens.append(tokens)
    return prepared


def prompt_images_link(*, campaign_id: int, prompts: list, prepared: PromptImages) -> None:
    """The rows that make each image readable through its token, once the prompts exist."""
    PromptImage.objects.bulk_create(
        [
            PromptImage(token=token, campaign_id=campaign_id, prompt_id=prompt.pk, image=prepared.stored[sha256])
            for prompt, tokens in zip(prompts, prepared.tokens, strict=True)
            for sha256, token in tokens.items()
        ],
        batch_size=1000,
    )


def image_bytes(image: StoredImage) -> bytes:
    """The stored bytes, checked against their digest (a storage that changed them is a bug)."""
    with image_storage().open(image.name, "rb") as handle:
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != image.sha256:
        raise RuntimeError(f"stored image {image.sha256} does not match its digest")
    return data


def _image_parts(body: dict):
    for message in body.get("messages") or ():
        content = message.get("content")
        for part in content if isinstance(content, list) else ():
            url = (part.get("image_url") or {}).get("url", "") if part.get("type") == "image_url" else ""
            if url.startswith(IMAGE_REF_PREFIX):
                yield part, url[len(IMAGE_REF_PREFIX) :]


def request_with_image_bytes(body: dict) -> dict:
    """The body to send: the stored request with each image reference replaced by the `data:`
    URL of exactly the uploaded bytes. A body without images is returned as it is."""
    digests = {sha256 for _, sha256 in _image_parts(body)}
    if not digests:
        return body
    stored = {row.sha256: row for row in StoredImage.objects.filter(sha256__in=digests)}
    urls = {
        sha256: image_data_url(content_type=row.content_type, data=image_bytes(row)) for sha256, row in stored.items()
    }
    sent = copy.deepcopy(body)
    for part, sha256 in _image_parts(sent):
        part["image_url"]["url"] = urls[sha256]
    return sent
