"""The review hot path's shortcuts answer exactly like the general code they bypass."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from arena.models import Vote
from tests.factories import add_reviewers, make_campaign, open_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_repeats(settings):
    settings.REVIEW_REPEAT_SHARE = 0.0


@pytest.fixture
def campaign():
    c = make_campaign(prompts=8, k=2)
    open_campaign(c)
    return c


@pytest.fixture
def rita(campaign, reviewer):
    add_reviewers(campaign, reviewer.username)
    return reviewer


def token_client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def next_token(client, campaign):
    r = client.get(f"/api/review/next/?campaign={campaign.id}")
    assert r.status_code == 200
    return r.json()["assignment"]


def test_a_deleted_token_is_refused_on_the_very_next_request(campaign, rita):
    client = token_client(rita)
    next_token(client, campaign)
    Token.objects.filter(user=rita).delete()
    r = client.get(f"/api/review/next/?campaign={campaign.id}")
    assert r.status_code in (401, 403) and r.json() == {"detail": "Invalid token."}


def test_a_deactivated_users_token_is_refused(campaign, rita):
    client = token_client(rita)
    next_token(client, campaign)
    rita.is_active = False
    rita.save(update_fields=["is_active"])
    r = client.get(f"/api/review/next/?campaign={campaign.id}")
    assert r.status_code in (401, 403) and r.json() == {"detail": "User inactive or deleted."}


def test_a_token_authenticates_the_lead_tools_too(campaign, lead):
    r = token_client(lead).get(f"/api/campaigns/{campaign.id}/reviewers/quality/")
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "stored"),
    [
        ({"choice": "left"}, 201, ("left", "", None)),
        ({"choice": "tie", "comment": "", "seconds_on_task": 1.5}, 201, ("tie", "", 1.5)),
        ({"choice": "right", "comment": "  fine  ", "seconds_on_task": None}, 201, ("right", "fine", None)),
        ({"choice": "LEFT"}, 400, None),
        ({"choice": "left", "seconds_on_task": "soon"}, 400, None),
        ({"choice": "left", "comment": None}, 400, None),
        ({"choice": True}, 400, None),
        ({}, 400, None),
    ],
)
def test_vote_bodies_get_the_serializers_answers(campaign, rita, body, status, stored):
    client = token_client(rita)
    token = next_token(client, campaign)
    r = client.post(f"/api/review/{token}/vote/", body, format="json")
    assert r.status_code == status, r.content
    if stored is None:
        assert not Vote.objects.exists()
        assert set(r.json()) <= {"choice", "comment", "seconds_on_task"}  # DRF's per-field errors
    else:
        vote = Vote.objects.get()
        assert (vote.choice, vote.comment) == stored[:2]
        if stored[2] is not None:
            assert vote.seconds_on_task == stored[2]


def test_next_still_refuses_an_accept_header_without_json(campaign, rita):
    client = token_client(rita)
    assert client.get(f"/api/review/next/?campaign={campaign.id}", HTTP_ACCEPT="text/html").status_code == 406
    assert client.get(f"/api/review/next/?campaign={campaign.id}", HTTP_ACCEPT="application/json").status_code == 200


def test_the_query_log_shows_the_hot_paths_statements_once_they_are_prepared(campaign, rita):
    client = token_client(rita)
    for _ in range(7):  # PostgreSQL prepares a statement after 5 runs on a connection
        with CaptureQueriesContext(connection) as queries:
            token = next_token(client, campaign)
            assert client.post(f"/api/review/{token}/vote/", {"choice": "tie"}, format="json").status_code == 201
    statements = [q["sql"] for q in queries.captured_queries]
    assert statements and all(isinstance(sql, str) and sql for sql in statements)
    assert any("INSERT INTO arena_vote" in sql for sql in statements)  # alone, or in a WITH on PostgreSQL
