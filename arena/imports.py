"""Parse prompt uploads (CSV, JSONL, or a JSON list) into plain rows, all or nothing.

A bad row rejects the whole upload with the file's own line number (the header is line 1)
and the field at fault, so a lead can fix the file and upload it again.
"""

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from django.conf import settings
from django.core.files.base import File

from .conversations import MAX_TEXT_CHARS, ROLES, messages_check
from .errors import TooLarge, ValidationFailed
from .images import ImageBytes
from .untrusted_json import string_problem, untrusted_json_loads

__all__ = ["MAX_TEXT_CHARS", "ROLES", "PromptRow", "parse_csv", "parse_json_list", "parse_jsonl", "parse_upload"]


@dataclass(frozen=True)
class PromptRow:
    text: str
    messages: list | None
    external_id: str
    category: str
    metadata: dict = field(default_factory=dict)
    line: int | None = None
    # The decoded images of `messages`, in order (stored by prompts_import, once per digest).
    images: tuple[ImageBytes, ...] = ()


def upload_lines(source: bytes | BinaryIO, *, filename: str = "upload") -> Iterator[str]:
    """The lines of an uploaded file as text, read a chunk at a time: memory holds one line.

    UTF-8 with or without a BOM; a bad byte is reported with its line (lines end at \\n, \\r\\n
    or \\r, as Python's own universal newlines). A byte source is the whole file already in
    memory: it is held to the same size limit as an upload.
    """
    if isinstance(source, bytes | bytearray):
        if len(source) > settings.IMPORT_MAX_BYTES:
            raise TooLarge(f"{filename}: the file is larger than {settings.IMPORT_MAX_BYTES} bytes (IMPORT_MAX_BYTES)")
        source = io.BytesIO(source)
    offset = 0
    for number, raw in enumerate(source if isinstance(source, File) else File(source), start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
            offset = len(codecs.BOM_UTF8)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationFailed(
                f"{filename}, line {number}: the file is not valid UTF-8 "
                f"(byte 0x{raw[exc.start]:02x} at offset {offset + exc.start})",
                line=number,
            ) from None
        offset += len(raw)
        yield line


def _check_count(count: int, *, source: str) -> None:
    """Called as rows arrive, so parsing stops at the first prompt over the limit."""
    limit = settings.IMPORT_MAX_PROMPTS
    if count > limit:
        raise ValidationFailed(
            f"{source}: more than {limit} prompts in one upload (the limit is IMPORT_MAX_PROMPTS); split the file",
            field="file",
        )


def row_from_object(obj, *, where: str, line: int | None) -> PromptRow:
    """Validate one JSON object of the list or of a JSONL line."""
    if not isinstance(obj, dict):
        raise ValidationFailed(f"{where}: expected an object with 'text' or 'messages'", line=line)
    unknown = set(obj) - {"text", "messages", "external_id", "category", "metadata"}
    if unknown:
        raise ValidationFailed(f"{where}: unknown field(s) {sorted(unknown)}", field=sorted(unknown)[0], line=line)
    text = obj.get("text")
    messages = obj.get("messages")
    if text is not None and messages is not None:
        raise ValidationFailed(f"{where}: give 'text' or 'messages', not both", field="text", line=line)
    images: list[ImageBytes] = []
    if messages is not None:
        messages, images = messages_check(messages, where=where, line=line)
        text = ""
    else:
        if not isinstance(text, str) or not text.strip():
            raise ValidationFailed(f"{where}: 'text' is missing or empty", field="text", line=line)
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationFailed(f"{where}: 'text' is longer than {MAX_TEXT_CHARS} characters", field="text", line=line)
    external_id = obj.get("external_id", "")
    if external_id is None:
        external_id = ""
    if not isinstance(external_id, str | int):
        raise ValidationFailed(f"{where}: 'external_id' must be a string", field="external_id", line=line)
    category = obj.get("category", "") or ""
    if not isinstance(category, str):
        raise ValidationFailed(f"{where}: 'category' must be a string", field="category", line=line)
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ValidationFailed(f"{where}: 'metadata' must be an object", field="metadata", line=line)
    return PromptRow(
        text=text,
        messages=messages,
        external_id=str(external_id).strip()[:200],
        category=category.strip()[:100],
        metadata=metadata,
        line=line,
        images=tuple(images),
    )


def parse_json_list(items, *, source: str = "request body") -> list[PromptRow]:
    if not isinstance(items, list):
        raise ValidationFailed(f"{source}: expected a JSON list of prompts")
    _check_count(len(items), source=source)
    rows = [row_from_object(obj, where=f"{source}, item {i}", line=None) for i, obj in enumerate(items)]
    return _check_rows(rows, source=source)


def _text_lines(source: str | Iterable[str]) -> Iterable[str]:
    # newline="" keeps each line's own ending, which the csv module needs for quoted newlines.
    return io.StringIO(source, newline="") if isinstance(source, str) else source


def parse_jsonl(lines: str | Iterable[str], *, filename: str) -> list[PromptRow]:
    rows = []
    for number, raw in enumerate(_text_lines(lines), start=1):
        if not raw.strip():
            continue
        where = f"{filename}, line {number}"
        obj = untrusted_json_loads(raw, where=where, line=number)
        rows.append(row_from_object(obj, where=where, line=number))
        _check_count(len(rows), source=filename)
    return _check_rows(rows, source=filename)


def parse_csv(lines: str | Iterable[str], *, filename: str) -> list[PromptRow]:
    reader = csv.reader(_text_lines(lines))
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationFailed(f"{filename}: the file is empty", line=1) from None
    except csv.Error as exc:
        raise ValidationFailed(f"{filename}, line 1: {exc}", line=1) from None
    columns = [h.strip().lower() for h in header]
    if "text" not in columns:
        raise ValidationFailed(
            f"{filename}, line 1: the header has no 'text' column (found: {', '.join(columns) or 'nothing'})",
            field="text",
            line=1,
        )
    allowed = {"text", "external_id", "category"}
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        raise ValidationFailed(
            f"{filename}, line 1: unknown column(s) {unknown}; allowed are text, external_id, category",
            field=unknown[0],
            line=1,
        )
    if len(set(columns)) != len(columns):
        raise ValidationFailed(f"{filename}, line 1: a column appears twice", line=1)
    rows = []
    while True:
        start_line = reader.line_num + 1  # a quoted field may span lines: report where the row starts
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ValidationFailed(f"{filename}, line {start_line}: {exc}", line=start_line) from None
        if not record or all(not cell.strip() for cell in record):
            continue  # blank line
        where = f"{filename}, line {start_line}"
        if len(record) != len(columns):
            raise ValidationFailed(f"{where}: expected {len(columns)} fields, found {len(record)}", line=start_line)
        values = dict(zip(columns, record, strict=True))
        for column, cell in values.items():
            # JSON input is checked as it is decoded (arena/untrusted_json.py); CSV cells here.
            problem = string_problem(cell)
            if problem:
                raise ValidationFailed(f"{where}: column {column!r} {problem}", field=column, line=start_line)
        rows.append(row_from_object(values, where=where, line=start_line))
        _check_count(len(rows), source=filename)
    return _check_rows(rows, source=filename)


def _check_rows(rows: list[PromptRow], *, source: str) -> list[PromptRow]:
    if not rows:
        raise ValidationFailed(f"{source}: no prompts found")
    seen: dict[str, int | None] = {}
    for i, row in enumerate(rows):
        if not row.external_id:
            continue
        if row.external_id in seen:
            where = f"line {row.line}" if row.line is not None else f"item {i}"
            raise ValidationFailed(
                f"{source}, {where}: external_id {row.external_id!r} appears twice", field="external_id", line=row.line
            )
        seen[row.external_id] = row.line
    return rows


def parse_upload(source: bytes | BinaryIO, *, filename: str) -> list[PromptRow]:
    """Pick the parser by file name: .csv, .jsonl/.ndjson (both read line by line, stopping at
    the first fault or at IMPORT_MAX_PROMPTS), or .json (a list, read whole: at most
    IMPORT_MAX_BYTES, which the upload handler enforces while the file arrives)."""
    lower = filename.lower()
    if lower.endswith(".csv"):
        return parse_csv(upload_lines(source, filename=filename), filename=filename)
    if lower.endswith((".jsonl", ".ndjson")):
        return parse_jsonl(upload_lines(source, filename=filename), filename=filename)
    if lower.endswith(".json"):
        text = "".join(upload_lines(source, filename=filename))
        return parse_json_list(untrusted_json_loads(text, where=filename), source=filename)
    raise ValidationFailed(f"{filename}: unknown file type; upload a .csv, .jsonl or .json file", field="file")
