"""Who may read reports: leads only. Reviewers and outsiders get 403 or 404, anonymous users
are asked to log in, and nothing of the report leaks in the refusal."""

import pytest

from tests.factories import add_reviewers, cast_vote, make_campaign, open_campaign

pytestmark = pytest.mark.django_db

API_PATHS = [
    "report/",
    "report.csv",
    "leaderboard.csv",
    "leaderboard_style.csv",
    "votes.csv",
    "votes.jsonl",
    "preferences.jsonl",
]


@pytest.fixture
def campaign(reviewer):
    campaign = make_campaign(name="Secret", labels=("Hidden-Model-X", "Hidden-Model-Y"), prompts=2)
    comparisons = open_campaign(campaign)
    add_reviewers(campaign, reviewer.username)
    cast_vote(comparisons[0], reviewer, "a")
    return campaign


@pytest.mark.parametrize("suffix", API_PATHS)
def test_lead_can_read_every_report_url(client, lead, campaign, suffix):
    client.force_login(lead)
    response = client.get(f"/api/campaigns/{campaign.pk}/{suffix}")
    assert response.status_code == 200
    content = response.content if not response.streaming else b"".join(response.streaming_content)
    assert content


@pytest.mark.parametrize("suffix", API_PATHS)
@pytest.mark.parametrize("who", ["reviewer", "outsider"])
def test_reviewer_and_outsider_are_refused_on_every_api_url(client, request, campaign, suffix, who):
    client.force_login(request.getfixturevalue(who))
    response = client.get(f"/api/campaigns/{campaign.pk}/{suffix}")
    assert response.status_code in (403, 404)
    content = response.content if not response.streaming else b"".join(response.streaming_content)
    assert b"Hidden-Model" not in content


@pytest.mark.parametrize("suffix", API_PATHS)
def test_anonymous_is_refused_on_every_api_url(client, campaign, suffix):
    response = client.get(f"/api/campaigns/{campaign.pk}/{suffix}")
    assert response.status_code in (401, 403)
    assert b"Hidden-Model" not in response.content


@pytest.mark.parametrize("suffix", API_PATHS)
def test_token_authenticated_lead_can_download(client, lead, campaign, suffix):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=lead)
    response = client.get(f"/api/campaigns/{campaign.pk}/{suffix}", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200


def test_lead_gets_404_for_a_campaign_that_does_not_exist(client, lead):
    client.force_login(lead)
    for suffix in API_PATHS:
        assert client.get(f"/api/campaigns/999999/{suffix}").status_code == 404
    assert client.get("/campaigns/999999/report/").status_code == 404


def test_report_page_is_for_leads_only(client, lead, reviewer, outsider, campaign):
    url = f"/campaigns/{campaign.pk}/report/"
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    for user in (reviewer, outsider):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 404
        assert b"Hidden-Model" not in response.content
    client.force_login(lead)
    response = client.get(url)
    assert response.status_code == 200
    assert b"Hidden-Model-X" in response.content


def test_staff_without_campaign_permissions_is_not_a_lead(client, django_user_model, campaign):
    staff = django_user_model.objects.create_user(username="steve", password="steve-pass-123", is_staff=True)
    client.force_login(staff)
    assert client.get(f"/api/campaigns/{campaign.pk}/report.csv").status_code in (403, 404)
    assert client.get(f"/campaigns/{campaign.pk}/report/").status_code == 404
