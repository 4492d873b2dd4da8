"""Hostile and careless input: every bad request gets a JSON 4xx saying what and where, never a 5xx.

Issue 15, findings 2, 3, 5, 7 and 10: nested bodies, out-of-range numbers, NUL bytes, oversized
bodies and uploads, unknown API paths. These run on whichever database the suite runs on; the
NUL cases matter most on PostgreSQL, whose text columns cannot store U+0000.
"""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from arena.errors import ValidationFailed
from arena.imports import parse_upload
from arena.models import Campaign, Contestant, Prompt, Vote
from arena.untrusted_json import json_nesting_depth_exceeds
from tests.factories import add_reviewers, api_client, make_campaign, open_campaign

pytestmark = pytest.mark.django_db

CONTESTANTS = [{"label": "Left Model", "model": "m-one"}, {"label": "Right Model", "model": "m-two"}]
THOUSAND_DEEP = "[" * 1000 + "]" * 1000


def deep_object(levels: int) -> str:
    """`{"a": {"a": ... {} ...}}` nested `levels` deep, written as text (json.dumps would recurse)."""
    return '{"a": ' * (levels - 1) + "{}" + "}" * (levels - 1)


def post_raw(client, url, body: str):
    return client.generic("POST", url, body.encode(), content_type="application/json")


def upload_prompts(user, campaign, filename: str, content: bytes):
    """Upload a prompt file to the campaign as the import form does (multipart)."""
    return api_client(user).post(
        f"/api/campaigns/{campaign.pk}/prompts/", {"file": SimpleUploadedFile(filename, content)}, format="multipart"
    )


def assert_json_error(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return response.json()


@pytest.fixture
def draft(lead):
    return make_campaign()


@pytest.fixture
def assignment_token(reviewer):
    campaign = make_campaign(prompts=2, k=1)
    open_campaign(campaign)
    add_reviewers(campaign, reviewer.username)
    response = api_client(reviewer).get(f"/api/review/next/?campaign={campaign.pk}")
    assert response.status_code == 200, response.content
    return response.json()["assignment"]


# --- Nesting depth ------------------------------------------------------------------------------


def test_thousand_deep_body_to_the_token_endpoint_is_a_json_400_without_logging_in(lead):
    body = assert_json_error(post_raw(APIClient(), "/api/auth/token/", THOUSAND_DEEP), 400)
    assert "nested deeper than" in body["detail"]


def test_thousand_deep_body_to_campaigns_and_prompts_is_a_json_400(lead, draft):
    for url in ("/api/campaigns/", f"/api/campaigns/{draft.pk}/prompts/"):
        body = assert_json_error(post_raw(api_client(lead), url, THOUSAND_DEEP), 400)
        assert "nested deeper than" in body["detail"], url
    assert Campaign.objects.count() == 1 and Prompt.objects.count() == 0


def test_thousand_deep_body_to_vote_is_a_json_400_and_no_vote_is_stored(reviewer, assignment_token):
    response = post_raw(api_client(reviewer), f"/api/review/{assignment_token}/vote/", THOUSAND_DEEP)
    assert "nested deeper than" in assert_json_error(response, 400)["detail"]
    assert Vote.objects.count() == 0


def test_deep_metadata_and_deep_extra_params_are_refused(lead, draft):
    prompts = f'[{{"text": "Where is my parcel?", "metadata": {deep_object(1000)}}}]'
    response = post_raw(api_client(lead), f"/api/campaigns/{draft.pk}/prompts/", prompts)
    assert "nested deeper than" in assert_json_error(response, 400)["detail"]
    campaign = f'{{"name": "Deep", "contestants": {json.dumps(CONTESTANTS)}, "extra_params": {deep_object(1000)}}}'
    response = post_raw(api_client(lead), "/api/campaigns/", campaign)
    assert "nested deeper than" in assert_json_error(response, 400)["detail"]
    assert Prompt.objects.count() == 0 and Campaign.objects.count() == 1


def test_metadata_nested_a_few_levels_is_still_accepted(lead, draft):
    prompts = f'[{{"text": "Where is my parcel?", "metadata": {deep_object(10)}}}]'
    response = post_raw(api_client(lead), f"/api/campaigns/{draft.pk}/prompts/", prompts)
    assert response.status_code == 201, response.content
    assert draft.prompts.get().metadata["a"]["a"] == {"a": {"a": {"a": {"a": {"a": {"a": {"a": {}}}}}}}}


def test_brackets_inside_strings_do_not_count_as_nesting(lead, draft):
    text = "[[[[" * 500 + " is a lot of brackets {{{{" * 100
    response = api_client(lead).post(f"/api/campaigns/{draft.pk}/prompts/", [{"text": text}], format="json")
    assert response.status_code == 201, response.content
    assert draft.prompts.get().text == text


@pytest.mark.parametrize(
    ("text", "too_deep"),
    [
        ('{"a": "\\"[[[[[[[[", "b": 1}', False),  # an escaped quote does not end the string
        ('{"a": "\\\\", "b": [[[[[[[[]]]]]]]]}', True),  # an escaped backslash does not escape the quote
        ("[" * 8 + "]" * 8, True),
        ("[" * 7 + "]" * 7, False),
        ("[[]," * 50 + "[]" + "]" * 50, True),
        ("[" + "[]," * 500 + "[]]", False),  # many siblings are not depth
    ],
)
def test_nesting_is_measured_outside_strings(text, too_deep):
    assert json_nesting_depth_exceeds(text, 7) is too_deep


def test_escapes_that_only_look_like_nul_or_surrogates_are_accepted(lead, draft):
    # An escaped backslash before "u0000", and an emoji written as a valid surrogate pair.
    body = '[{"text": "C:\\\\u0000 and \\ud83d\\ude00"}]'
    response = post_raw(api_client(lead), f"/api/campaigns/{draft.pk}/prompts/", body)
    assert response.status_code == 201, response.content
    assert draft.prompts.get().text == "C:\\u0000 and \U0001f600"


def test_a_thousand_deep_jsonl_line_names_its_line(lead, draft):
    content = f'{{"text": "fine"}}\n{{"text": "deep", "metadata": {deep_object(1000)}}}\n'.encode()
    response = upload_prompts(lead, draft, "p.jsonl", content)
    body = assert_json_error(response, 400)
    assert body["line"] == 2 and "nested deeper than" in body["detail"]
    assert Prompt.objects.count() == 0


# --- Body size ------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_a_json_413(settings, lead):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    big = json.dumps({"username": "lead", "password": "x" * 20_000})
    body = assert_json_error(post_raw(APIClient(), "/api/auth/token/", big), 413)
    assert "10000 bytes" in body["detail"]
    body = assert_json_error(post_raw(api_client(lead), "/api/campaigns/", big), 413)
    assert Campaign.objects.count() == 0


def test_a_form_field_over_the_limit_is_a_json_413(settings, lead, draft):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = api_client(lead).post(
        f"/api/campaigns/{draft.pk}/prompts/", {"prompts": json.dumps([{"text": "x" * 20_000}])}, format="multipart"
    )
    assert_json_error(response, 413)
    assert Prompt.objects.count() == 0


def test_a_body_just_under_the_limit_is_read(settings, lead):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    fits = json.dumps({"username": "lead", "password": "x" * 9_000})
    response = post_raw(APIClient(), "/api/auth/token/", fits)
    assert response.status_code == 400 and response.json()["detail"] == "wrong username or password"


# --- Column ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", 2**64),
        ("seed", -(2**64)),
        ("max_tokens", 10**20),
        ("max_tokens", 2**31),
        ("expected_output_tokens", 2**31),
        ("budget_usd", "1e20"),
        ("temperature", 1e300),
    ],
)
def test_a_campaign_number_out_of_its_column_range_is_a_400_naming_the_field(lead, field, value):
    body = {"name": "Big", "contestants": CONTESTANTS, field: value}
    errors = assert_json_error(api_client(lead).post("/api/campaigns/", body, format="json"), 400)
    assert field in errors
    assert Campaign.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("requests_per_minute", 2**31),
        ("tokens_per_minute", 10**20),
        ("price_per_mtok_out", 10**7),
        ("price_per_mtok_in", "1E+400"),
    ],
)
def test_a_contestant_number_out_of_its_column_range_is_a_400_naming_the_field(lead, field, value):
    contestants = [{**CONTESTANTS[0], field: value}, CONTESTANTS[1]]
    body = {"name": "Big", "contestants": contestants}
    errors = assert_json_error(api_client(lead).post("/api/campaigns/", body, format="json"), 400)
    assert field in json.dumps(errors["contestants"])
    assert Campaign.objects.count() == 0


def test_the_largest_values_the_columns_hold_are_stored(lead):
    contestants = [{**CONTESTANTS[0], "requests_per_minute": 2**31 - 1, "price_per_mtok_out": "999999.9999"}]
    body = {
        "name": "Edges",
        "contestants": [*contestants, CONTESTANTS[1]],
        "seed": 2**63 - 1,
        "max_tokens": 2**31 - 1,
        "expected_output_tokens": 2**31 - 1,
    }
    response = api_client(lead).post("/api/campaigns/", body, format="json")
    assert response.status_code == 201, response.content
    campaign = Campaign.objects.get()
    assert (campaign.seed, campaign.max_tokens) == (2**63 - 1, 2**31 - 1)
    assert Contestant.objects.get(label="Left Model").requests_per_minute == 2**31 - 1


@pytest.mark.parametrize(
    "number",
    ["9" * 5000, "1e400", "-1e400", "NaN", "Infinity"],
    ids=["5000 digits", "1e400", "-1e400", "NaN", "Infinity"],
)
def test_a_number_json_cannot_carry_is_a_400_not_a_crash(lead, number):
    # 1e400 would decode to infinity, which no JSON renderer or jsonb column accepts.
    body = f'{{"name": "Digits", "contestants": {json.dumps(CONTESTANTS)}, "extra_params": {{"x": {number}}}}}'
    assert "not valid JSON" in assert_json_error(post_raw(api_client(lead), "/api/campaigns/", body), 400)["detail"]
    assert Campaign.objects.count() == 0


def test_too_many_form_fields_is_a_json_400(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    fields = {f"field{i}": "x" for i in range(10)}
    response = APIClient().post("/api/auth/token/", fields, format="multipart")
    assert "fields" in assert_json_error(response, 400)["detail"]
    form = "&".join(f"{name}=x" for name in fields)
    response = APIClient().generic(
        "POST", "/api/auth/token/", form.encode(), content_type="application/x-www-form-urlencoded"
    )
    assert_json_error(response, 400)


def test_a_campaign_id_too_big_for_the_column_is_a_json_404(lead):
    assert_json_error(api_client(lead).get("/api/campaigns/99999999999999999999999/"), 404)


# --- NUL bytes ------------------------------------------------------------------------------------


def test_a_nul_byte_in_a_prompt_text_names_the_item_and_field(lead, draft):
    rows = [{"text": "fine"}, {"text": "Where is\u0000 my parcel?"}]
    response = api_client(lead).post(f"/api/campaigns/{draft.pk}/prompts/", rows, format="json")
    body = assert_json_error(response, 400)
    assert body["field"] == "[1].text" and "NUL" in body["detail"]
    assert Prompt.objects.count() == 0


def test_a_nul_byte_in_metadata_names_the_key_path(lead, draft):
    rows = [{"text": "Where is my parcel?", "metadata": {"note": "bad\u0000"}}]
    response = api_client(lead).post(f"/api/campaigns/{draft.pk}/prompts/", rows, format="json")
    assert assert_json_error(response, 400)["field"] == "[0].metadata.note"
    assert Prompt.objects.count() == 0


def test_a_nul_byte_in_a_key_of_extra_params_is_refused(lead):
    body = {"name": "Nul", "contestants": CONTESTANTS, "extra_params": {"top_p\u0000": 1}}
    response = api_client(lead).post("/api/campaigns/", body, format="json")
    assert "extra_params" in assert_json_error(response, 400)["field"]
    assert Campaign.objects.count() == 0


def test_a_nul_byte_in_a_vote_comment_is_refused(reviewer, assignment_token):
    response = api_client(reviewer).post(
        f"/api/review/{assignment_token}/vote/", {"choice": "left", "comment": "ok\u0000"}, format="json"
    )
    assert assert_json_error(response, 400)["field"] == "comment"
    assert Vote.objects.count() == 0


def test_an_unpaired_surrogate_is_refused_like_a_nul_byte(lead, draft):
    body = '[{"text": "Where is my parcel?", "metadata": {"note": "\\ud800"}}]'
    response = post_raw(api_client(lead), f"/api/campaigns/{draft.pk}/prompts/", body)
    assert assert_json_error(response, 400)["field"] == "[0].metadata.note"
    assert Prompt.objects.count() == 0


@pytest.mark.parametrize(
    ("filename", "content", "line", "field"),
    [
        # A NUL byte in a CSV cell is named by its line and column.
        ("p.csv", b"text,external_id\nfine,a1\nalso fine,a2\nbad,a\x003\n", 4, "external_id"),
        # A \u0000 escape in a JSONL line is named by its line and the path to the value.
        (
            "p.jsonl",
            b'{"text": "fine"}\n{"text": "bad", "metadata": {"tags": ["ok", "no\\u0000"]}}\n',
            2,
            "metadata.tags[1]",
        ),
    ],
)
def test_a_nul_in_an_upload_names_the_line_and_field(lead, draft, filename, content, line, field):
    response = upload_prompts(lead, draft, filename, content)
    body = assert_json_error(response, 400)
    assert (body["line"], body["field"]) == (line, field)
    assert f"{filename}, line {line}" in body["detail"]
    assert Prompt.objects.count() == 0


def test_a_nul_byte_in_a_query_parameter_is_a_400_naming_it(reviewer):
    response = api_client(reviewer).get("/api/campaigns/?search=%00")
    assert assert_json_error(response, 400)["field"] == "search"


def test_a_nul_byte_in_an_api_path_is_a_json_4xx(reviewer):
    response = api_client(reviewer).post("/api/review/abc%00def/vote/", {"choice": "left"}, format="json")
    assert_json_error(response, 400)


def test_a_nul_byte_in_a_token_header_is_a_json_400_before_any_lookup(lead):
    response = APIClient().get("/api/campaigns/", HTTP_AUTHORIZATION="Token abc\x00def")
    assert assert_json_error(response, 400)["field"] == "Authorization"


# --- Uploads ---------------------------------------------------------------------------------------


def test_an_upload_over_the_size_limit_is_a_413_and_nothing_is_stored(settings, lead, draft):
    settings.IMPORT_MAX_BYTES = 2_000
    content = b"text\n" + b"".join(f"Question number {i}\n".encode() for i in range(500))
    response = upload_prompts(lead, draft, "p.csv", content)
    body = assert_json_error(response, 413)
    assert "2000 bytes" in body["detail"]
    assert Prompt.objects.count() == 0


def test_a_json_list_over_the_size_limit_is_a_413(settings, lead, draft):
    settings.IMPORT_MAX_BYTES = 2_000
    rows = [{"text": f"Question number {i}"} for i in range(500)]
    response = api_client(lead).post(f"/api/campaigns/{draft.pk}/prompts/", rows, format="json")
    assert_json_error(response, 413)
    assert Prompt.objects.count() == 0


def test_a_json_list_bigger_than_other_bodies_is_accepted_up_to_the_import_limit(settings, lead, draft):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    settings.IMPORT_MAX_BYTES = 100_000
    rows = [{"text": f"Question number {i}"} for i in range(500)]
    response = api_client(lead).post(f"/api/campaigns/{draft.pk}/prompts/", rows, format="json")
    assert response.status_code == 201, response.content
    assert draft.prompts.count() == 500


@pytest.mark.parametrize("filename", ["p.csv", "p.jsonl"])
def test_an_upload_with_more_prompts_than_the_limit_is_a_400_naming_the_limit(settings, lead, draft, filename):
    settings.IMPORT_MAX_PROMPTS = 10
    if filename.endswith(".csv"):
        content = b"text\n" + b"".join(f"Question {i}\n".encode() for i in range(11))
    else:
        content = b"".join(json.dumps({"text": f"Question {i}"}).encode() + b"\n" for i in range(11))
    response = upload_prompts(lead, draft, filename, content)
    body = assert_json_error(response, 400)
    assert "more than 10 prompts" in body["detail"] and "IMPORT_MAX_PROMPTS" in body["detail"]
    assert Prompt.objects.count() == 0


def test_a_json_list_with_more_prompts_than_the_limit_is_a_400(settings, lead, draft):
    settings.IMPORT_MAX_PROMPTS = 10
    rows = [{"text": f"Question {i}"} for i in range(11)]
    response = api_client(lead).post(f"/api/campaigns/{draft.pk}/prompts/", rows, format="json")
    assert "more than 10 prompts" in assert_json_error(response, 400)["detail"]
    assert Prompt.objects.count() == 0


def test_exactly_the_limit_of_prompts_is_accepted(settings, lead, draft):
    settings.IMPORT_MAX_PROMPTS = 10
    content = b"text\n" + b"".join(f"Question {i}\n".encode() for i in range(10))
    response = upload_prompts(lead, draft, "p.csv", content)
    assert response.status_code == 201, response.content
    assert draft.prompts.count() == 10


class CountingFile(io.BytesIO):
    """A file that remembers how many bytes the parser asked for."""

    bytes_read = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readline(self, size=-1):
        line = super().readline(size)
        self.bytes_read += len(line)
        return line


@pytest.mark.parametrize("filename", ["p.csv", "p.jsonl"])
def test_an_upload_is_read_line_by_line_and_parsing_stops_at_the_prompt_limit(settings, filename):
    settings.IMPORT_MAX_PROMPTS = 100
    if filename.endswith(".csv"):
        lines = [b"text\n", *(f"Question number {i}\n".encode() for i in range(100_000))]
    else:
        lines = [json.dumps({"text": f"Question number {i}"}).encode() + b"\n" for i in range(100_000)]
    upload = CountingFile(b"".join(lines))
    with pytest.raises(ValidationFailed) as exc:
        parse_upload(upload, filename=filename)
    assert "more than 100 prompts" in exc.value.message
    assert upload.bytes_read < len(upload.getvalue()) / 10


# --- Unknown paths ---------------------------------------------------------------------------------


def test_an_unknown_api_path_is_a_json_404(reviewer):
    for url in ("/api/nothing-here/", "/api/campaigns/1/nothing/", "/api/"):
        body = assert_json_error(api_client(reviewer).get(url), 404)
        assert "detail" in body, url
    assert_json_error(APIClient().post("/api/nope/", {}, format="json"), 404)


def test_an_api_path_without_its_slash_is_told_where_the_endpoint_is(lead):
    body = assert_json_error(api_client(lead).post("/api/campaigns", {}, format="json"), 404)
    assert "/api/campaigns/" in body["detail"]


def test_a_get_without_its_slash_is_still_redirected_to_the_endpoint(lead):
    response = api_client(lead).get("/api/campaigns?x=1")
    assert response.status_code == 301
    assert response["Location"] == "/api/campaigns/?x=1"


def test_an_unknown_page_outside_the_api_is_still_html(reviewer):
    response = api_client(reviewer).get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
