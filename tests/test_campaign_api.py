"""The lead's API: who may do what, validation, token auth, status moves and the schema."""

import pytest
from rest_framework.test import APIClient

from arena.models import Campaign
from tests.factories import api_client, make_campaign

CONTESTANTS = [{"label": "Left Model", "model": "m-one"}, {"label": "Right Model", "model": "m-two"}]


@pytest.mark.django_db
def test_token_endpoint_returns_a_token_that_authenticates(lead):
    anonymous = APIClient()
    response = anonymous.post("/api/auth/token/", {"username": "lead", "password": "lead-pass-123"}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anonymous.get("/api/campaigns/").status_code == 200


@pytest.mark.django_db
def test_token_endpoint_rejects_a_wrong_password(lead):
    response = APIClient().post("/api/auth/token/", {"username": "lead", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert "token" not in response.json()


@pytest.mark.django_db
def test_lead_creates_a_campaign_with_contestants(lead):
    response = api_client(lead).post(
        "/api/campaigns/", {"name": "Bake-off", "contestants": CONTESTANTS, "votes_per_comparison": 5}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft"
    assert body["votes_per_comparison"] == 5
    assert [c["label"] for c in body["contestants"]] == ["Left Model", "Right Model"]
    assert body["progress"] == {
        "prompts": 0,
        "responses_done": 0,
        "responses_failed": 0,
        "responses_total": 0,
        "comparisons": 0,
        "votes": 0,
        "votes_target": 0,
        "judgements_done": 0,
        "judgements_total": 0,
    }


@pytest.mark.django_db
def test_reviewer_and_anonymous_cannot_create_campaigns(reviewer):
    for client in (api_client(reviewer), api_client()):
        response = client.post("/api/campaigns/", {"name": "X", "contestants": CONTESTANTS}, format="json")
        assert response.status_code in (401, 403)
    assert Campaign.objects.count() == 0


@pytest.mark.django_db
def test_reviewer_cannot_read_a_campaign_or_its_progress(reviewer):
    campaign = make_campaign()
    assert api_client(reviewer).get(f"/api/campaigns/{campaign.pk}/").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "X", "contestants": CONTESTANTS[:1]}, "contestants"),
        ({"name": "X", "contestants": [CONTESTANTS[0], CONTESTANTS[0]]}, "contestants"),
        ({"name": "X", "contestants": CONTESTANTS, "pairing": "round_robin"}, "pairing"),
        ({"name": "X", "contestants": CONTESTANTS, "votes_per_comparison": 0}, "votes_per_comparison"),
        (
            {"name": "X", "contestants": [{"label": "A", "model": "m", "api_key_env": "sk-live-123"}, CONTESTANTS[1]]},
            "contestants",
        ),
    ],
)
def test_invalid_campaign_is_rejected_and_names_the_field(lead, payload, field):
    response = api_client(lead).post("/api/campaigns/", payload, format="json")
    assert response.status_code == 400
    assert field in response.content.decode()
    assert Campaign.objects.count() == 0


@pytest.mark.django_db
def test_reviewers_are_added_by_username_and_unknown_names_are_reported(lead, make_user):
    make_user("ann")
    make_user("ben")
    campaign = make_campaign()
    client = api_client(lead)
    bad = client.post(f"/api/campaigns/{campaign.pk}/reviewers/", {"usernames": ["ann", "ghost"]}, format="json")
    assert bad.status_code == 404
    assert "ghost" in bad.json()["detail"]
    assert campaign.reviewers.count() == 0
    good = client.post(f"/api/campaigns/{campaign.pk}/reviewers/", {"usernames": ["ann", "ben"]}, format="json")
    assert good.status_code == 200
    assert good.json()["reviewers"] == ["ann", "ben"]


@pytest.mark.django_db
def test_opening_a_draft_campaign_is_a_conflict(lead):
    campaign = make_campaign(prompts=2)
    response = api_client(lead).post(f"/api/campaigns/{campaign.pk}/open/")
    assert response.status_code == 409
    assert "draft" in response.json()["detail"]
    campaign.refresh_from_db()
    assert campaign.status == "draft"


@pytest.mark.django_db
def test_closing_an_open_campaign(lead):
    campaign = make_campaign(status="open")
    response = api_client(lead).post(f"/api/campaigns/{campaign.pk}/close/")
    assert response.status_code == 200
    assert response.json()["status"] == "closed"


@pytest.mark.django_db
def test_openapi_schema_is_served(lead):
    response = api_client(lead).get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/campaigns/" in response.content


@pytest.mark.django_db
def test_opening_is_refused_when_the_campaign_name_names_a_model(lead):
    from tests.factories import generate_done

    campaign = make_campaign(name="Is Right Model better?", labels=("Left Model", "Right Model"), prompts=2)
    generate_done(campaign)
    response = api_client(lead).post(f"/api/campaigns/{campaign.pk}/open/")
    assert response.status_code == 409
    assert "'Right Model'" in response.json()["detail"]
    assert response.json()["field"] == "name"
    campaign.refresh_from_db()
    assert campaign.status == "ready"
    assert campaign.comparisons.count() == 0


@pytest.mark.django_db
def test_opening_is_refused_when_the_guidelines_name_a_model_id(lead):
    from tests.factories import generate_done

    campaign = make_campaign(models=["vendor-x-1", "vendor-y-2"], prompts=1, guidelines="Compare with VENDOR-X-1.")
    generate_done(campaign)
    response = api_client(lead).post(f"/api/campaigns/{campaign.pk}/open/")
    assert response.status_code == 409
    assert response.json()["field"] == "guidelines"


@pytest.mark.django_db
def test_a_label_inside_another_word_does_not_block_opening(lead):
    from tests.factories import generate_done

    campaign = make_campaign(name="Support", labels=("Flash", "Pro"), prompts=1, guidelines="Solve the problem.")
    generate_done(campaign)
    assert api_client(lead).post(f"/api/campaigns/{campaign.pk}/open/").status_code == 200


# --- Endpoint and key allow-lists (arena/endpoints.py) -------------------------------------------


@pytest.mark.django_db
def test_a_campaign_that_names_the_django_secret_as_its_key_is_refused(lead, sim):
    contestants = [
        {"label": "A", "model": "m-a", "base_url": sim.base_url, "api_key_env": "SECRET_KEY"},
        CONTESTANTS[1],
    ]
    response = api_client(lead).post("/api/campaigns/", {"name": "X", "contestants": contestants}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "contestants[0].api_key_env"
    assert "LLM_ALLOWED_KEY_ENVS" in body["detail"] and "not set" not in body["detail"]
    assert Campaign.objects.count() == 0


@pytest.mark.django_db
def test_a_campaign_with_an_allowed_key_but_a_host_off_the_list_is_refused(lead, settings):
    settings.LLM_ALLOWED_KEY_ENVS = ["TEAM_KEY"]
    for base_url in ("https://collector.example/v1", "http://169.254.169.254/latest", "http://localhost:8001/v1"):
        contestants = [CONTESTANTS[0], {"label": "B", "model": "m-b", "base_url": base_url, "api_key_env": "TEAM_KEY"}]
        response = api_client(lead).post("/api/campaigns/", {"name": "X", "contestants": contestants}, format="json")
        assert response.status_code == 400, base_url
        assert response.json()["field"] == "contestants[1].base_url"
    assert Campaign.objects.count() == 0


@pytest.mark.django_db
def test_a_listed_host_and_key_are_accepted(lead, sim, settings):
    settings.LLM_ALLOWED_KEY_ENVS = ["TEAM_KEY"]
    contestants = [{**c, "base_url": sim.base_url, "api_key_env": "TEAM_KEY"} for c in CONTESTANTS]
    response = api_client(lead).post("/api/campaigns/", {"name": "X", "contestants": contestants}, format="json")
    assert response.status_code == 201, response.content
    assert [c["base_url"] for c in response.json()["contestants"]] == [sim.base_url, sim.base_url]


@pytest.mark.django_db
def test_a_campaign_whose_name_names_a_contestant_is_refused_at_creation(lead):
    payload = {"name": "Is Right Model any good?", "contestants": CONTESTANTS}
    response = api_client(lead).post("/api/campaigns/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "name"
    assert Campaign.objects.count() == 0
