"""Issue 11 over the whole loop: criteria, a conversation and an image in one campaign.

A lead creates a campaign with two criteria through the API and uploads a three-turn
conversation, a prompt with a PNG and plain prompts; a real Celery worker generates against the
loopback API, which must receive the whole conversation and the PNG's exact bytes; two
reviewers vote with criteria through the API (the review page's keyboard flow on such an item is
tests/test_browser_rich_item.py); criteria.csv, downloaded over HTTP, must equal the numbers
worked out here from the votes cast (scipy's binomial test, statsmodels' Wilson interval).
"""

import base64

import pytest

from arena.models import Campaign
from tests.criteria_votes import check_criteria_csv, expected_criteria_rows, random_pick, vote_all_via_api
from tests.factories import THREE_TURNS, api_client, media_prompts, png_bytes
from tests.test_end_to_end import campaign_created, generate_and_wait, token_client

CRITERIA = [
    {"key": "accuracy", "question": "Which answer is more accurate?"},
    {"key": "tone", "question": "Which answer has the kinder tone?", "required": False},
]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_criteria_conversation_and_image_from_upload_to_criteria_csv(
    live_server, sim, start_worker, make_lead, make_user
):
    make_lead("lena")
    reviewers = {name: make_user(name) for name in ("rita", "sam")}
    start_worker(env_overrides={"LLM_REQUEST_TIMEOUT": "5", "LLM_BACKOFF_BASE": "0.05"})
    lead = token_client(live_server.url, "lena", "lead-pass-123")
    png = png_bytes(40, 30, seed=11)
    models = ["vision-a", "vision-b"]
    created = campaign_created(
        lead,
        {
            "name": "Parcel help, rich",
            "votes_per_comparison": 2,
            "criteria": CRITERIA,
            "contestants": [{"label": f"M{i}", "model": m, "base_url": sim.base_url} for i, m in enumerate(models)],
        },
    )
    campaign_id = created["id"]
    prompts = media_prompts(png) + [{"external_id": f"q{i}", "text": f"Question {i}?"} for i in range(4)]
    assert lead.post(f"/api/campaigns/{campaign_id}/prompts/", json=prompts).status_code == 201
    generate_and_wait(lead, campaign_id)

    received = sim.received()
    assert sorted(r["model"] for r in received) == sorted(models * 6)
    for model in models:
        mine = [r for r in received if r["model"] == model]
        assert any(r["messages"] == THREE_TURNS for r in mine)  # the whole conversation
        (photo,) = [r for r in mine if r["images"]]
        assert photo["images"][0]["data"] == png  # the exact bytes
        assert photo["messages"][0]["content"][1]["image_url"]["url"].endswith(base64.b64encode(png).decode())

    assert lead.post(f"/api/campaigns/{campaign_id}/open/").status_code == 200
    added = lead.post(f"/api/campaigns/{campaign_id}/reviewers/", json={"usernames": list(reviewers)})
    assert added.status_code == 200
    campaign = Campaign.objects.get(pk=campaign_id)
    clients = {name: api_client(user) for name, user in reviewers.items()}
    first = clients["rita"].get(f"/api/review/next/?campaign={campaign_id}").json()
    assert first["criteria"] == [
        {"key": "accuracy", "question": "Which answer is more accurate?", "required": True},
        {"key": "tone", "question": "Which answer has the kinder tone?", "required": False},
    ]
    cast = vote_all_via_api(campaign, clients, random_pick(7))
    assert len(cast) == 6 * 2  # every comparison, k = 2

    downloaded = lead.get(f"/api/campaigns/{campaign_id}/criteria.csv")
    assert downloaded.status_code == 200
    expected = expected_criteria_rows(
        "Parcel help, rich", cast, counted_reviewers=set(reviewers), keys=["accuracy", "tone"], pairs=[("M0", "M1")]
    )
    rows = check_criteria_csv(downloaded.text, expected)
    assert int(rows[0]["votes"]) == 12  # accuracy is required: every vote answered it
