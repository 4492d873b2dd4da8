"""Who may use review's endpoints: DRF's token and session authentication at the edge, and the
answers a bad credential, a bad body or a bad campaign id get (JSON 4xx, nothing written)."""

import pytest
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


# --- Bad credentials ---------------------------------------------------------------------------

INVALID = {"detail": "Invalid token."}


def bad_token_client():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    return client


@pytest.mark.parametrize(
    "path",
    ["/api/review/next/?campaign={id}", "/api/review/next/", "/api/review/next/?campaign=abc"],
)
def test_a_bad_token_on_next_gets_the_token_error_whatever_else_is_wrong(campaign, rita, path):
    r = bad_token_client().get(path.format(id=campaign.id))
    assert r.status_code in (401, 403) and r.json() == INVALID


@pytest.mark.parametrize("body", [{"choice": "left"}, {"choice": "sideways"}, {}])
def test_a_bad_token_on_vote_gets_the_token_error_and_nothing_is_written(campaign, rita, body):
    token = next_token(token_client(rita), campaign)  # a real, leased assignment
    r = bad_token_client().post(f"/api/review/{token}/vote/", body, format="json")
    assert r.status_code in (401, 403) and r.json() == INVALID
    r = bad_token_client().post("/api/review/no-such-item/vote/", body, format="json")
    assert r.status_code in (401, 403) and r.json() == INVALID
    assert not Vote.objects.exists()


def test_a_deactivated_user_cannot_vote_with_their_token(campaign, rita):
    client = token_client(rita)
    token = next_token(client, campaign)
    rita.is_active = False
    rita.save(update_fields=["is_active"])
    r = client.post(f"/api/review/{token}/vote/", {"choice": "left"}, format="json")
    assert r.status_code in (401, 403) and r.json() == {"detail": "User inactive or deleted."}
    assert not Vote.objects.exists()


def test_a_valid_token_of_someone_else_gets_not_found_not_their_item(campaign, rita, outsider):
    token = next_token(token_client(rita), campaign)
    otto = token_client(outsider)
    assert otto.get(f"/api/review/next/?campaign={campaign.id}").status_code == 404  # not a member
    r = otto.post(f"/api/review/{token}/vote/", {"choice": "left"}, format="json")
    assert r.status_code == 404 and r.json()["detail"] == "no such item"
    add_reviewers(campaign, outsider.username)  # a member now, still not their assignment
    r = otto.post(f"/api/review/{token}/vote/", {"choice": "left"}, format="json")
    assert r.status_code == 404
    assert not Vote.objects.exists()


def test_a_bad_accept_header_is_still_answered_first(campaign):
    r = bad_token_client().get(f"/api/review/next/?campaign={campaign.id}", HTTP_ACCEPT="text/html")
    assert r.status_code == 406


def test_without_credentials_next_and_vote_are_refused(campaign):
    assert APIClient().get(f"/api/review/next/?campaign={campaign.id}").status_code in (401, 403)
    assert APIClient().post("/api/review/x/vote/", {"choice": "left"}, format="json").status_code in (401, 403)


# --- A bad campaign id ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "1.5", "-3", "0", "99999999999999999999999", str(2**63)])
def test_next_with_a_campaign_id_that_is_not_a_valid_id_is_a_400_naming_campaign(campaign, rita, value):
    r = token_client(rita).get(f"/api/review/next/?campaign={value}")
    assert r.status_code == 400, r.content
    assert list(r.json()) == ["campaign"]


def test_next_without_a_campaign_id_is_a_400_naming_campaign(rita):
    r = token_client(rita).get("/api/review/next/")
    assert r.status_code == 400 and list(r.json()) == ["campaign"]


def test_next_with_the_largest_id_of_no_campaign_is_a_404(campaign, rita):
    r = token_client(rita).get(f"/api/review/next/?campaign={2**63 - 1}")
    assert r.status_code == 404 and r.json()["detail"] == "no such campaign"
