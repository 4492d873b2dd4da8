"""Conversations and images over the whole loop: real HTTP, a real Celery worker, the loopback API.

A lead uploads a three-turn conversation (with a system turn) and a prompt with a PNG through
the API; the worker generates; the simulated API records what it received, and each model must
have received the campaign's system prompt and the whole conversation, and the PNG's exact
bytes as a `data:` URL. A reviewer then gets the conversation through the review API and reads
the image at its opaque URL over HTTP; an outsider and an anonymous client get 404.
"""

import base64
import hashlib

import httpx
import pytest
from django.test import Client

from arena.models import Response
from tests.factories import THREE_TURNS, media_prompts, png_bytes
from tests.test_end_to_end import campaign_created, generate_and_wait, token_client

SYSTEM = "You are the support desk of a parcel service."


def session_client(base_url: str, user) -> httpx.Client:
    """An HTTP client holding a real session cookie of `user` (logged in through Django)."""
    django_client = Client()
    django_client.force_login(user)
    return httpx.Client(base_url=base_url, cookies={"sessionid": django_client.cookies["sessionid"].value}, timeout=30)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_models_receive_the_whole_conversation_and_the_exact_image_bytes(
    live_server, sim, start_worker, make_lead, make_user
):
    make_lead("lena")
    rita, otto = make_user("rita"), make_user("otto")
    start_worker(env_overrides={"LLM_REQUEST_TIMEOUT": "5", "LLM_BACKOFF_BASE": "0.05"})
    base = live_server.url
    lead = token_client(base, "lena", "lead-pass-123")
    png = png_bytes(64, 40, seed=31)
    models = ["vision-model-a", "vision-model-b"]

    created = campaign_created(
        lead,
        {
            "name": "Parcel photos and chats",
            "system_prompt": SYSTEM,
            "votes_per_comparison": 1,
            "contestants": [
                {"label": "First", "model": models[0], "base_url": sim.base_url},
                {"label": "Second", "model": models[1], "base_url": sim.base_url},
            ],
        },
    )
    campaign_id = created["id"]
    imported = lead.post(f"/api/campaigns/{campaign_id}/prompts/", json=media_prompts(png))
    assert imported.status_code == 201, imported.text
    generate_and_wait(lead, campaign_id)
    assert lead.get(f"/api/campaigns/{campaign_id}/").json()["progress"]["responses_done"] == 4

    # What the simulated API received, request by request.
    received = sim.received()
    assert sorted(r["model"] for r in received) == sorted(models * 2)
    for model in models:
        mine = [r for r in received if r["model"] == model]
        chat = next(r for r in mine if not r["images"])
        assert chat["messages"] == [{"role": "system", "content": SYSTEM}, *THREE_TURNS]
        photo = next(r for r in mine if r["images"])
        assert photo["messages"][0] == {"role": "system", "content": SYSTEM}
        assert photo["messages"][1]["content"][0] == {
            "type": "text",
            "text": "The box arrived like this. Can I get a refund?",
        }
        assert photo["messages"][1]["content"][1]["image_url"]["url"] == (
            "data:image/png;base64," + base64.b64encode(png).decode()
        )
        (image,) = photo["images"]
        assert image["data"] == png and image["media_type"] == "image/png"
        assert image["sha256"] == hashlib.sha256(png).hexdigest()
    # The stored request names the bytes by digest instead of copying them into every row.
    for request in Response.objects.filter(campaign_id=campaign_id).values_list("request", flat=True):
        assert len(str(request)) < 2000

    assert lead.post(f"/api/campaigns/{campaign_id}/open/").status_code == 200
    assert lead.post(f"/api/campaigns/{campaign_id}/reviewers/", json={"usernames": ["rita"]}).status_code == 200
    reviewer = token_client(base, "rita", "rita-pass-123")
    items = []
    while (item := reviewer.get("/api/review/next/", params={"campaign": campaign_id})).status_code == 200:
        items.append(item.json())
        vote = reviewer.post(f"/api/review/{item.json()['assignment']}/vote/", json={"choice": "tie"})
        assert vote.status_code == 201
    assert len(items) == 2
    chat_item = next(i for i in items if i["prompt"] == "Yes, nobody has it. What now?")
    assert [(t["role"], t["text"]) for t in chat_item["conversation"]] == [
        (m["role"], m["content"]) for m in THREE_TURNS
    ]
    photo_item = next(i for i in items if i["prompt"] == "The box arrived like this. Can I get a refund?")
    (url,) = photo_item["conversation"][0]["images"]

    shown = session_client(base, rita).get(url)
    assert shown.status_code == 200 and shown.content == png
    assert shown.headers["content-type"] == "image/png" and "content-disposition" not in shown.headers
    assert session_client(base, otto).get(url).status_code == 404
    assert httpx.get(base + url).status_code == 404
