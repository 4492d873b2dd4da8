"""Request-body parsers with limits, used by every API view (DEFAULT_PARSER_CLASSES).

DRF hands its own JSON and form parsers `request.body`, held to DATA_UPLOAD_MAX_MEMORY_SIZE
for every view alike, and its JSON parser recurses once per nesting level. These are not
subclasses of them, so DRF gives them the raw stream: they read at most their own limit (a
JSON list of prompts may be as big as a prompt file), answer 413 beyond it, and decode JSON
through `arena.untrusted_json` (depth measured first, NUL bytes and infinite numbers refused
with the path that holds them).

Multipart uploads go through Django's parser; `UploadSizeLimitHandler` (first in
FILE_UPLOAD_HANDLERS) stops them at IMPORT_MAX_BYTES while they stream in.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler
from django.http import QueryDict
from rest_framework import renderers
from rest_framework.parsers import BaseParser

from ..errors import TooLarge, ValidationFailed
from ..untrusted_json import untrusted_json_loads


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def read_body_within(stream, parser_context, *, limit: int, setting: str) -> bytes:
    """The body, or TooLarge once it is known to pass `limit` bytes: from the declared length
    before anything is read, otherwise after reading one byte more than the limit."""
    request = (parser_context or {}).get("request")
    too_large = TooLarge(f"the request body is larger than {limit} bytes ({setting})")
    if request is not None and _declared_length(request) > limit:
        raise too_large
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise too_large
    return data


def _encoding(parser_context) -> str:
    return (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)


class LimitedJSONParser(BaseParser):
    """JSON up to DATA_UPLOAD_MAX_MEMORY_SIZE bytes and JSON_MAX_DEPTH levels, strings storable."""

    media_type = "application/json"
    renderer_class = renderers.JSONRenderer
    limit_setting = "DATA_UPLOAD_MAX_MEMORY_SIZE"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = getattr(settings, self.limit_setting)
        data = read_body_within(stream, parser_context, limit=limit, setting=self.limit_setting)
        encoding = _encoding(parser_context)
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise ValidationFailed(f"request body: not valid {encoding} text") from None
        return untrusted_json_loads(text, where="request body")


class PromptListJSONParser(LimitedJSONParser):
    """A JSON list of prompts is an upload: it may be as big as a prompt file (IMPORT_MAX_BYTES)."""

    limit_setting = "IMPORT_MAX_BYTES"


class LimitedFormParser(BaseParser):
    """URL-encoded forms up to DATA_UPLOAD_MAX_MEMORY_SIZE bytes."""

    media_type = "application/x-www-form-urlencoded"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        data = read_body_within(stream, parser_context, limit=limit, setting="DATA_UPLOAD_MAX_MEMORY_SIZE")
        return QueryDict(data, encoding=_encoding(parser_context))


class UploadTooLarge(RequestDataTooBig):
    pass


class UploadSizeLimitHandler(FileUploadHandler):
    """Stops a multipart upload whose files pass IMPORT_MAX_BYTES, while it streams in.

    A request whose declared length cannot fit (files at the limit plus form fields at theirs)
    is refused before a byte is read; otherwise the file bytes are counted chunk by chunk and
    the upload is abandoned at the limit, so no more than one chunk (64 KiB) past it ever
    reaches memory or disk. Every file this service accepts is a prompt file (API and admin),
    so the one limit is right for all of them. RequestDataTooBig is Django's own error for a
    body over its limits; the API answers it 413, Django's own pages 400.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0

    def _refuse(self):
        limit = settings.IMPORT_MAX_BYTES
        raise UploadTooLarge(f"the uploaded file is larger than {limit} bytes (IMPORT_MAX_BYTES)")

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.received = 0
        if content_length and content_length > settings.IMPORT_MAX_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            self._refuse()

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.IMPORT_MAX_BYTES:
            self._refuse()
        return raw_data

    def file_complete(self, file_size):
        return None
