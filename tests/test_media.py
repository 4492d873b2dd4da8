"""Conversations and images in prompts: import checks, storage once by digest, what a model is
sent, and who may read an image's URL (that campaign's reviewers and leads; 404 for anyone else).
"""

import base64
import hashlib
import json

import pytest
from django.test import Client

from arena.conversations import IMAGE_REF_PREFIX, conversation_for_reviewer, request_messages
from arena.errors import ValidationFailed
from arena.generation_requests import request_build
from arena.image_models import PromptImage, StoredImage
from arena.images import MAX_IMAGE_BYTES, ImageProblem, image_from_data_url, image_type_sniff
from arena.imports import parse_json_list
from arena.models import CampaignReviewer, Prompt
from arena.review_items import review_item_build
from arena.services.assignment import assignment_next_for_reviewer
from arena.services.images import image_name, image_storage, request_with_image_bytes
from tests.factories import (
    THREE_TURNS,
    add_reviewers,
    api_client,
    data_url,
    import_media_prompts,
    make_campaign,
    open_campaign,
    png_bytes,
)

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(64))
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + bytes(20)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(24)


def image_message(*urls, text="What is wrong with this parcel?"):
    content = [{"type": "text", "text": text}]
    content += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return {"messages": [{"role": "user", "content": content}]}


def multipart(client, campaign, lines):
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = ("\n".join(json.dumps(line) for line in lines) + "\n").encode()
    return client.post(
        f"/api/campaigns/{campaign.id}/prompts/",
        {"file": SimpleUploadedFile("prompts.jsonl", body)},
        format="multipart",
    )


# --- The bytes decide the type ----------------------------------------------------------------


def test_each_accepted_format_is_told_by_its_first_bytes():
    assert image_type_sniff(png_bytes()) == "image/png"
    assert image_type_sniff(JPEG) == "image/jpeg"
    assert image_type_sniff(GIF) == "image/gif"
    assert image_type_sniff(WEBP) == "image/webp"
    assert image_type_sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None
    assert image_type_sniff(b"RIFF\x24\x00\x00\x00WAVEfmt ") is None  # a RIFF that is not WebP


def test_the_sniffed_type_wins_over_the_declared_one():
    image = image_from_data_url(data_url(JPEG, "image/png"))
    assert image.content_type == "image/jpeg" and image.data == JPEG
    assert image.sha256 == hashlib.sha256(JPEG).hexdigest()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://example.com/parcel.png", "https: URL; only data: URLs"),
        ("http://127.0.0.1/x.png", "http: URL; only data: URLs"),
        ("data:text/plain;base64," + base64.b64encode(b"hello").decode(), "not an image type"),
        ("data:image/png;base64," + base64.b64encode(b"hello, not a picture").decode(), "not a PNG, JPEG, WebP or GIF"),
        ("data:image/svg+xml;base64," + base64.b64encode(b"<svg/>").decode(), "not a PNG, JPEG, WebP or GIF"),
        ("data:image/png,rawbytes", "base64-encoded"),
        ("data:image/png;base64,@@@not base64@@@", "invalid base64"),
        ("data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES)).decode(), "5 MB"),
    ],
)
def test_a_bad_image_url_is_refused_saying_why(url, words):
    with pytest.raises(ImageProblem) as exc:
        image_from_data_url(url)
    assert words in str(exc.value)


def test_an_image_of_exactly_5_mb_is_accepted_and_one_byte_more_is_not():
    at_limit = b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES - 8)
    assert len(image_from_data_url(data_url(at_limit)).data) == MAX_IMAGE_BYTES
    with pytest.raises(ImageProblem, match="larger than 5242880 bytes"):
        image_from_data_url(data_url(at_limit + b"\x00"))


# --- Import: every bad input is a 400 naming line and part, and nothing is stored --------------


BAD_LINES = {
    "non-image data URL": (
        image_message(data_url(b"just some text, no image at all")),
        "messages[0].content[1]",
        "not a PNG, JPEG, WebP or GIF",
    ),
    "image over 5 MB": (
        image_message(data_url(b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES))),
        "messages[0].content[1]",
        "larger than 5242880 bytes",
    ),
    "http image URL": (
        image_message("http://images.example.com/parcel.png"),
        "messages[0].content[1]",
        "only data: URLs are accepted",
    ),
    "conversation ending with an assistant turn": (
        {"messages": [*THREE_TURNS, {"role": "assistant", "content": "Let me check."}]},
        "messages[4].role",
        "must end with a user turn",
    ),
    "nine images": (
        image_message(*[data_url(png_bytes(seed=i)) for i in range(9)]),
        "messages[0].content[9]",
        "is image 9 of this prompt; at most 8",
    ),
    "unknown part type": (
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
        "messages[0].content[0]",
        "'text' or 'image_url'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_a_bad_line_is_a_400_naming_line_and_part_and_nothing_is_stored(lead, case):
    line, field, words = BAD_LINES[case]
    campaign = make_campaign()
    good_png = png_bytes(16, 16, seed=200 + sorted(BAD_LINES).index(case))  # line 1 is fine and has an image
    images_before = StoredImage.objects.count()
    lines = [image_message(data_url(good_png), text="A fine first line"), {"text": "A second fine line"}, line]
    response = multipart(api_client(lead), campaign, lines)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["line"] == 3 and body["field"] == field
    assert "prompts.jsonl, line 3" in body["detail"] and field in body["detail"] and words in body["detail"]
    assert not Prompt.objects.filter(campaign=campaign).exists()
    assert StoredImage.objects.count() == images_before and not PromptImage.objects.exists()
    assert not image_storage().exists(image_name(hashlib.sha256(good_png).hexdigest()))


def test_a_json_list_names_the_item_and_part_of_a_bad_image(lead):
    campaign = make_campaign()
    response = api_client(lead).post(
        f"/api/campaigns/{campaign.id}/prompts/",
        [{"text": "fine"}, image_message("https://cdn.example.com/a.png")],
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["field"] == "messages[0].content[1]"
    assert "item 1" in response.json()["detail"] and "never fetches a URL" in response.json()["detail"]
    assert not campaign.prompts.exists()


# --- Import that succeeds: stored once, by digest --------------------------------------------


def test_the_same_image_in_two_prompts_and_two_campaigns_is_stored_once_with_separate_urls(lead):
    png = png_bytes(20, 12, seed=77)
    sha = hashlib.sha256(png).hexdigest()
    first, second = make_campaign(), make_campaign()
    lines = [image_message(data_url(png), text="one"), image_message(data_url(png), data_url(png), text="two")]
    for campaign in (first, second):
        assert multipart(api_client(lead), campaign, lines).status_code == 201
    assert StoredImage.objects.filter(sha256=sha).count() == 1
    stored = StoredImage.objects.get(sha256=sha)
    assert (stored.content_type, stored.size, stored.name) == ("image/png", len(png), image_name(sha))
    with image_storage().open(stored.name, "rb") as handle:
        assert handle.read() == png
    links = PromptImage.objects.filter(image=stored)
    assert links.count() == 4  # one per (prompt, image): the prompt showing it twice has one
    assert len({link.token for link in links}) == 4
    # The JSON column names the bytes by digest; the base64 is not copied into it.
    prompt = first.prompts.get(position=2)
    assert base64.b64encode(png).decode()[:40] not in json.dumps(prompt.messages)
    parts = prompt.messages[0]["content"]
    assert [p["type"] for p in parts] == ["text", "image", "image"] and parts[1]["sha256"] == sha
    assert parts[1]["token"] == parts[2]["token"] == links.get(prompt=prompt).token


def test_a_model_is_sent_the_whole_conversation_and_the_exact_bytes_as_a_data_url(lead):
    png = png_bytes(10, 10, seed=5)
    campaign = make_campaign()
    chat, photo = import_media_prompts(campaign, png)
    frozen = {"system_prompt": "Be brief.", "temperature": 0.1, "contestants": {}}
    contestant = {"model": "m-1", "extra_params": {}}
    body = request_build(frozen=frozen, contestant=contestant, prompt_text="", prompt_messages=chat.messages)
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, *THREE_TURNS]
    body = request_build(frozen=frozen, contestant=contestant, prompt_text="", prompt_messages=photo.messages)
    stored_part = body["messages"][1]["content"][1]
    assert stored_part == {
        "type": "image_url",
        "image_url": {"url": IMAGE_REF_PREFIX + hashlib.sha256(png).hexdigest()},
    }
    sent = request_with_image_bytes(body)
    assert sent["messages"][1]["content"] == [
        {"type": "text", "text": "The box arrived like this. Can I get a refund?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}},
    ]
    assert body["messages"][1]["content"][1] == stored_part  # the stored request keeps the reference
    assert request_with_image_bytes({"messages": THREE_TURNS}) == {"messages": THREE_TURNS}


def test_the_detail_setting_of_an_image_part_is_kept_for_the_model():
    (row,) = parse_json_list(
        [
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": data_url(GIF), "detail": "low"}}],
                    }
                ]
            }
        ]
    )
    assert row.messages[0]["content"][0]["detail"] == "low"
    sent = request_messages(row.messages)
    assert sent[0]["content"][0]["image_url"]["detail"] == "low"
    with pytest.raises(ValidationFailed, match="detail must be one of"):
        parse_json_list(
            [
                {
                    "messages": [
                        {
                            "role": "user",
                            "content": [{"type": "image_url", "image_url": {"url": data_url(GIF), "detail": "max"}}],
                        }
                    ]
                }
            ]
        )


# --- What a reviewer is given ------------------------------------------------------------------


def test_the_review_item_gives_the_conversation_and_the_last_user_turn_as_prompt(reviewer, no_repeats):
    png = png_bytes(seed=9)
    campaign = make_campaign(k=1)
    chat, photo = import_media_prompts(campaign, png)
    open_campaign(campaign)
    add_reviewers(campaign, reviewer.username)
    items = {}
    while (assignment := assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=reviewer.pk)) is not None:
        item = review_item_build(assignment_id=assignment.pk).as_api()
        items[item["prompt"]] = item
        assignment.status = "voted"
        assignment.save(update_fields=["status"])
    chat_item = items["Yes, nobody has it. What now?"]
    assert chat_item["conversation"] == [
        {"role": "system", "text": "You answer for the Parcelpoint help desk.", "images": []},
        {"role": "user", "text": "My parcel 4471 says delivered but it is not here.", "images": []},
        {"role": "assistant", "text": "Sorry to hear that. Did you check with your neighbours?", "images": []},
        {"role": "user", "text": "Yes, nobody has it. What now?", "images": []},
    ]
    photo_item = items["The box arrived like this. Can I get a refund?"]
    token = PromptImage.objects.get(prompt=photo).token
    assert photo_item["conversation"] == [
        {"role": "user", "text": "The box arrived like this. Can I get a refund?", "images": [f"/media/i/{token}/"]}
    ]
    assert conversation_for_reviewer(photo.messages) == photo_item["conversation"]


def test_a_text_prompt_has_no_conversation(reviewer):
    campaign = make_campaign(prompts=1, k=1)
    open_campaign(campaign)
    add_reviewers(campaign, reviewer.username)
    assignment = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=reviewer.pk)
    assert review_item_build(assignment_id=assignment.pk).as_api()["conversation"] is None


# --- Who may read an image URL -----------------------------------------------------------------


@pytest.fixture
def image_campaign(reviewer):
    png = png_bytes(30, 20, seed=123)
    campaign = make_campaign(name="Damaged parcels")
    import_media_prompts(campaign, png)
    open_campaign(campaign)
    add_reviewers(campaign, reviewer.username)
    link = PromptImage.objects.get(campaign=campaign)
    return campaign, f"/media/i/{link.token}/", png


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_campaigns_reviewer_and_a_lead_read_the_exact_bytes_with_headers_that_name_nothing(
    image_campaign, reviewer, lead
):
    campaign, url, png = image_campaign
    for user in (reviewer, lead):
        response = logged_in(user).get(url)
        assert response.status_code == 200
        assert response.content == png
        assert response["Content-Type"] == "image/png"
        assert response["Cache-Control"] == "private, max-age=3600"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "Content-Disposition" not in response
        headers = json.dumps(dict(response.items())).lower()
        for secret in (hashlib.sha256(png).hexdigest()[:16], campaign.name.lower(), "model"):
            assert secret not in headers
    assert logged_in(reviewer).head(url).status_code == 200
    assert logged_in(reviewer).post(url).status_code == 405


def test_an_outsider_an_anonymous_user_and_other_reviewers_get_404(image_campaign, outsider, make_user):
    campaign, url, _ = image_campaign
    other_campaign = make_campaign()
    (elsewhere,) = add_reviewers(other_campaign, "elsa")
    excluded = make_user("exa")
    CampaignReviewer.objects.create(campaign=campaign, user=excluded, excluded=True)
    for client in (Client(), logged_in(outsider), logged_in(elsewhere), logged_in(excluded)):
        response = client.get(url)
        assert response.status_code == 404, client
        assert "Content-Disposition" not in response and b"\x89PNG" not in response.content
    assert logged_in(outsider).get("/media/i/no-such-token/").status_code == 404


# --- Where the bytes are stored ----------------------------------------------------------------


def test_images_go_to_an_owner_only_directory_under_the_var_dir_by_default(tmp_path):
    from tests.test_settings_env import _settings_in_subprocess

    env = {"PATH": "/usr/bin:/bin", "EVALSITE_VAR_DIR": str(tmp_path)}
    out = _settings_in_subprocess(env, "settings.STORAGES['images']['BACKEND'], settings.STORAGES['images']['OPTIONS']")
    assert out.startswith("django.core.files.storage.FileSystemStorage {'location': '" + str(tmp_path / "images"))
    assert (tmp_path / "images").stat().st_mode & 0o777 == 0o700


def test_an_s3_compatible_bucket_is_configured_from_the_environment(tmp_path):
    import subprocess
    import sys

    from tests.test_settings_env import ROOT, _settings_in_subprocess

    env = {
        "PATH": "/usr/bin:/bin",
        "EVALSITE_VAR_DIR": str(tmp_path),
        "IMAGE_STORAGE": "s3",
        "IMAGE_S3_BUCKET": "evals-images",
        "IMAGE_S3_ENDPOINT_URL": "https://minio.internal:9000",
    }
    out = _settings_in_subprocess(env, "settings.STORAGES['images']")
    assert "'BACKEND': 'storages.backends.s3.S3Storage'" in out
    for option in (
        "'bucket_name': 'evals-images'",
        "'endpoint_url': 'https://minio.internal:9000'",
        "'default_acl': 'private'",
    ):
        assert option in out
    code = "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'evalsite.settings'; import django; django.setup()"
    for bad in ({"IMAGE_STORAGE": "s3"}, {"IMAGE_STORAGE": "ftp"}):
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**env, "IMAGE_S3_BUCKET": "", **bad},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0 and "IMAGE_STORAGE" in result.stderr


def test_the_simulator_tells_over_http_what_it_received_with_the_image_bytes(sim):
    import httpx

    png = png_bytes(6, 6, seed=44)
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Look"}, {"type": "image_url", "image_url": {"url": data_url(png)}}],
        }
    ]
    answer = httpx.post(
        f"{sim.base_url}/chat/completions",
        json={"model": "m", "messages": messages},
        headers={"Authorization": "Bearer k"},
    )
    assert answer.status_code == 200
    (entry,) = httpx.get(f"{sim.url}/_control/received").json()
    assert entry["model"] == "m" and entry["messages"] == messages
    assert entry["images"] == [
        {"media_type": "image/png", "data": base64.b64encode(png).decode(), "sha256": hashlib.sha256(png).hexdigest()}
    ]
    sim.reset()
    assert sim.received() == []


def test_an_image_reserves_a_flat_token_allowance_from_the_rate_limit_not_its_bytes():
    from arena.generation_requests import IMAGE_TOKENS_RESERVED, request_tokens_estimate

    text_only = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}
    with_image = request_build(
        frozen={"max_tokens": 10, "contestants": {}},
        contestant={"model": "m"},
        prompt_text="",
        prompt_messages=[{"role": "user", "content": [{"type": "image", "sha256": "ab" * 32, "token": "t"}]}],
    )
    assert request_tokens_estimate(with_image) - request_tokens_estimate(text_only) >= IMAGE_TOKENS_RESERVED
    assert request_tokens_estimate(with_image) < IMAGE_TOKENS_RESERVED + 100
