"""Prompt uploads: CSV, JSONL and JSON lists, all or nothing, errors that name the line and field."""

import json

import pytest

from arena.errors import TooLarge, ValidationFailed
from arena.imports import parse_csv, parse_jsonl, parse_upload
from arena.models import Prompt
from tests.factories import api_client, make_campaign


def rejection(parse, data, filename: str) -> ValidationFailed:
    """The error `parse` raises on `data` (the test fails when it raises none)."""
    with pytest.raises(ValidationFailed) as exc:
        parse(data, filename=filename)
    return exc.value


def test_csv_with_bom_quoted_multiline_fields_and_blank_lines_is_parsed():
    data = (
        "\ufefftext,external_id,category\r\n"
        '"Hello, I need help\nwith two lines",a1,billing\r\n'
        "\r\n"
        "Plain question,a2,shipping\r\n"
        '"She said ""hi""",a3,\r\n'
    ).encode()
    rows = parse_upload(data, filename="prompts.csv")
    assert [r.external_id for r in rows] == ["a1", "a2", "a3"]
    assert rows[0].text == "Hello, I need help\nwith two lines"
    assert rows[0].category == "billing"
    assert rows[2].text == 'She said "hi"'
    # Line numbers are the file's own: the header is line 1, the multi-line row starts on 2.
    assert [r.line for r in rows] == [2, 5, 6]


def test_csv_without_text_column_is_rejected_on_line_one():
    error = rejection(parse_csv, "prompt,external_id\nhello,1\n", "p.csv")
    assert error.line == 1
    assert error.field == "text"
    assert "p.csv, line 1" in error.message
    assert "no 'text' column" in error.message


def test_csv_row_with_empty_text_names_its_line_after_a_multiline_row():
    data = 'text,external_id\n"two\nlines",x1\n"",x2\n'
    error = rejection(parse_csv, data, "p.csv")
    assert error.line == 4
    assert error.field == "text"


def test_csv_row_with_too_many_fields_is_rejected():
    error = rejection(parse_csv, "text,category\nhello,billing,extra\n", "p.csv")
    assert error.line == 2
    assert "expected 2 fields, found 3" in error.message


def test_bad_utf8_is_rejected_with_its_line():
    data = "text\nfine\nstill fine\nbroken \xff here\n".encode("latin-1")
    error = rejection(parse_upload, data, "p.csv")
    assert error.line == 4
    assert "not valid UTF-8" in error.message


def test_broken_jsonl_line_is_rejected_with_its_line():
    text = '{"text": "one"}\n\n{"text": "two"\n{"text": "three"}\n'
    error = rejection(parse_jsonl, text, "p.jsonl")
    assert error.line == 3
    assert "p.jsonl, line 3: not valid JSON" in error.message


def test_jsonl_accepts_chat_messages_and_metadata():
    line = {
        "messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}],
        "external_id": 7,
        "metadata": {"tier": "gold"},
    }
    rows = parse_jsonl(json.dumps(line) + "\n", filename="p.jsonl")
    assert rows[0].messages[-1] == {"role": "user", "content": "Hi"}
    assert rows[0].external_id == "7"
    assert rows[0].metadata == {"tier": "gold"}


def test_jsonl_messages_must_end_with_the_user():
    line = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    error = rejection(parse_jsonl, json.dumps(line), "p.jsonl")
    assert error.field == "messages[1].role"


def test_duplicate_external_id_in_one_file_is_rejected():
    error = rejection(parse_csv, "text,external_id\na,x\nb,y\nc,x\n", "p.csv")
    assert error.line == 4
    assert error.field == "external_id"


def test_crlf_split_across_two_reads_is_still_one_line_ending():
    # Uploads are read 64 KiB at a time: put a "\r\n" across the boundary between two reads.
    first = "text,external_id\r\n" + "x" * (64 * 1024 - len("text,external_id\r\n") - len(",a1\r")) + ",a1\r"
    data = (first + "\nsecond question,a2\r\nthird question,a3\r\n").encode()
    assert data[64 * 1024 - 1 : 64 * 1024 + 1] == b"\r\n"
    rows = parse_upload(data, filename="p.csv")
    assert [(r.external_id, r.line) for r in rows] == [("a1", 2), ("a2", 3), ("a3", 4)]


def test_old_mac_line_endings_are_lines_too():
    rows = parse_upload(b"text,external_id\rfirst,a1\rsecond,a2\r", filename="p.csv")
    assert [(r.text, r.line) for r in rows] == [("first", 2), ("second", 3)]


def test_a_unicode_line_separator_inside_a_jsonl_string_does_not_split_the_line():
    text = "Line one\u2028line two"
    data = (json.dumps({"text": text}, ensure_ascii=False) + "\n" + json.dumps({"text": "next"}) + "\n").encode()
    rows = parse_upload(data, filename="p.jsonl")
    assert [(r.text, r.line) for r in rows] == [(text, 1), ("next", 2)]


def test_a_bad_byte_far_into_a_big_file_names_its_own_line():
    lines = [b"text\n", *(f"Question {i}\n".encode() for i in range(20_000)), b"broken \xff\n"]
    error = rejection(parse_upload, b"".join(lines), "p.csv")
    assert error.line == 20_002
    assert "line 20002: the file is not valid UTF-8" in error.message


def test_file_bytes_over_the_size_limit_are_refused_as_too_large(settings):
    settings.IMPORT_MAX_BYTES = 1_000
    with pytest.raises(TooLarge) as exc:
        parse_upload(b"text\n" + b"question\n" * 200, filename="p.csv")
    assert exc.value.status == 413
    assert "1000 bytes (IMPORT_MAX_BYTES)" in exc.value.message


def test_a_json_file_upload_is_read_with_the_depth_limit():
    error = rejection(parse_upload, ("[" * 100 + "]" * 100).encode(), "p.json")
    assert "nested deeper than" in error.message


def test_a_json_file_with_a_syntax_error_names_its_line():
    error = rejection(parse_upload, b'[\n  {"text": "a"},\n  {"text": }\n]\n', "p.json")
    assert error.line == 3
    assert "p.json, line 3: not valid JSON" in error.message


@pytest.fixture
def lead_client(lead):
    return api_client(lead)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filename", "content", "line"),
    [
        ("bad.csv", "text,category\nok,a\n\xff\xfe,b\n".encode("latin-1"), 3),
        ("bad.csv", b"prompt\nhello\n", 1),
        ("bad.jsonl", b'{"text": "a"}\n{"text": "b"}\n{"text": \n', 3),
        ("bad.jsonl", b'{"text": "a"}\n{"txt": "b"}\n', 2),
    ],
)
def test_malformed_upload_is_rejected_and_leaves_the_campaign_unchanged(lead_client, filename, content, line):
    campaign = make_campaign(prompts=2)
    response = lead_client.post(
        f"/api/campaigns/{campaign.pk}/prompts/", {"file": _upload(filename, content)}, format="multipart"
    )
    assert response.status_code == 400, response.content
    assert response.json()["line"] == line
    assert f"line {line}" in response.json()["detail"]
    assert Prompt.objects.filter(campaign=campaign).count() == 2


@pytest.mark.django_db
def test_good_upload_adds_every_row(lead_client):
    campaign = make_campaign()
    content = b"text,external_id,category\nWhere is my parcel?,s1,shipping\nRefund please,b1,billing\n"
    response = lead_client.post(
        f"/api/campaigns/{campaign.pk}/prompts/", {"file": _upload("p.csv", content)}, format="multipart"
    )
    assert response.status_code == 201, response.content
    assert list(campaign.prompts.values_list("external_id", "category")) == [("s1", "shipping"), ("b1", "billing")]


@pytest.mark.django_db
def test_json_list_upload_and_a_repeat_of_an_existing_external_id(lead_client):
    campaign = make_campaign()
    first = lead_client.post(
        f"/api/campaigns/{campaign.pk}/prompts/", [{"text": "Hi", "external_id": "e1"}], format="json"
    )
    assert first.status_code == 201
    again = lead_client.post(
        f"/api/campaigns/{campaign.pk}/prompts/",
        [{"text": "New", "external_id": "e2"}, {"text": "Dup", "external_id": "e1"}],
        format="json",
    )
    assert again.status_code == 400
    assert "already in this campaign" in again.json()["detail"]
    assert campaign.prompts.count() == 1


@pytest.mark.django_db
def test_prompts_cannot_be_added_once_generation_started(lead_client):
    campaign = make_campaign(status="generating")
    response = lead_client.post(f"/api/campaigns/{campaign.pk}/prompts/", [{"text": "Hi"}], format="json")
    assert response.status_code == 409
    assert campaign.prompts.count() == 0


def _upload(name, content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)
