"""The review API: next, vote, skip, flag for reviewers; exclusion, gold and quality for leads."""

import pytest
from rest_framework.test import APIClient

from arena.models import Assignment, CampaignReviewer, Comparison, Vote
from tests.factories import add_reviewers, api_client, make_open_campaign

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_repeats", "expiry_on_every_next")]


@pytest.fixture
def campaign():
    return make_open_campaign(prompts=3, k=2, guidelines="Prefer the **polite** answer.")


@pytest.fixture
def rita(campaign, reviewer):
    add_reviewers(campaign, reviewer.username)
    return api_client(reviewer)


def next_item(client, campaign):
    return client.get(f"/api/review/next/?campaign={campaign.id}")


def test_next_returns_the_contract_fields(campaign, rita):
    r = next_item(rita, campaign)
    assert r.status_code == 200
    body = r.json()
    assert {"assignment", "prompt", "left", "right", "guidelines"} <= set(body)
    assert body["left"]["text"] and body["right"]["text"]
    assert body["guidelines"] == "Prefer the **polite** answer."
    assert body["progress"] == {"done": 0, "total": 3}
    assert "where is my order" in body["prompt"]


def test_assignment_id_is_opaque_and_not_a_row_id(campaign, rita):
    token = next_item(rita, campaign).json()["assignment"]
    assignment = Assignment.objects.get(token=token)
    assert len(token) >= 20 and token != str(assignment.pk) and not token.isdigit()


def test_vote_is_201_then_200_then_409(campaign, rita):
    token = next_item(rita, campaign).json()["assignment"]
    url = f"/api/review/{token}/vote/"
    assert rita.post(url, {"choice": "left", "comment": "clearer"}, format="json").status_code == 201
    assert rita.post(url, {"choice": "left"}, format="json").status_code == 200
    conflict = rita.post(url, {"choice": "right"}, format="json")
    assert conflict.status_code == 409
    assert conflict.json()["error"] == "conflict"
    vote = Vote.objects.get()
    assert (vote.choice, vote.comment) == ("left", "clearer")


def test_vote_response_does_not_say_which_pair_side_won(campaign, rita):
    token = next_item(rita, campaign).json()["assignment"]
    body = rita.post(f"/api/review/{token}/vote/", {"choice": "left"}, format="json").json()
    assert "resolved" not in body and "a" not in body.values() and "b" not in body.values()


def test_bad_choice_is_400(campaign, rita):
    token = next_item(rita, campaign).json()["assignment"]
    assert rita.post(f"/api/review/{token}/vote/", {"choice": "a"}, format="json").status_code == 400


def test_next_is_204_when_nothing_is_left(campaign, rita):
    for _ in range(3):
        token = next_item(rita, campaign).json()["assignment"]
        assert rita.post(f"/api/review/{token}/vote/", {"choice": "tie"}, format="json").status_code == 201
    r = next_item(rita, campaign)
    assert r.status_code == 204 and not r.content


def test_progress_counts_the_reviewers_votes(campaign, rita):
    token = next_item(rita, campaign).json()["assignment"]
    rita.post(f"/api/review/{token}/vote/", {"choice": "tie"}, format="json")
    assert next_item(rita, campaign).json()["progress"] == {"done": 1, "total": 3}


def test_skip_and_flag_give_the_item_back(campaign, rita):
    token = next_item(rita, campaign).json()["assignment"]
    assert rita.post(f"/api/review/{token}/skip/").status_code == 200
    token2 = next_item(rita, campaign).json()["assignment"]
    assert token2 != token
    assert rita.post(f"/api/review/{token2}/flag/", {"reason": ""}, format="json").status_code == 400
    assert rita.post(f"/api/review/{token2}/flag/", {"reason": "empty answer"}, format="json").status_code == 200
    assert Assignment.objects.get(token=token2).flag_reason == "empty answer"


def test_outsider_gets_404_for_next_and_for_someone_elses_item(campaign, rita, outsider):
    token = next_item(rita, campaign).json()["assignment"]
    otto = api_client(outsider)
    assert next_item(otto, campaign).status_code == 404
    assert otto.post(f"/api/review/{token}/vote/", {"choice": "left"}, format="json").status_code == 404


def test_anonymous_requests_are_refused(campaign):
    r = APIClient().get(f"/api/review/next/?campaign={campaign.id}")
    assert r.status_code in (401, 403)


def test_next_without_campaign_is_400(rita):
    assert rita.get("/api/review/next/").status_code == 400


def test_lead_excludes_a_reviewer_who_then_gets_404(campaign, rita, reviewer, lead):
    boss = api_client(lead)
    r = boss.post(f"/api/campaigns/{campaign.id}/reviewers/{reviewer.username}/exclude/")
    assert r.status_code == 200 and r.json()["excluded"] is True
    assert CampaignReviewer.objects.get(user=reviewer).excluded
    assert next_item(rita, campaign).status_code == 404
    assert boss.post(f"/api/campaigns/{campaign.id}/reviewers/{reviewer.username}/include/").status_code == 200
    assert next_item(rita, campaign).status_code == 200


def test_reviewer_cannot_use_lead_tools(campaign, rita, reviewer):
    comparison = campaign.comparisons.first()
    assert rita.post(f"/api/campaigns/{campaign.id}/reviewers/{reviewer.username}/exclude/").status_code == 403
    gold = rita.post(f"/api/campaigns/{campaign.id}/comparisons/{comparison.id}/gold/", {"gold": "a"}, format="json")
    assert gold.status_code == 403
    assert rita.get(f"/api/campaigns/{campaign.id}/reviewers/quality/").status_code == 403


def test_lead_marks_gold_and_reads_reviewer_quality(campaign, rita, reviewer, lead):
    boss = api_client(lead)
    for comparison in Comparison.objects.filter(campaign=campaign):
        r = boss.post(f"/api/campaigns/{campaign.id}/comparisons/{comparison.id}/gold/", {"gold": "tie"}, format="json")
        assert r.status_code == 200
    for _ in range(3):
        token = next_item(rita, campaign).json()["assignment"]
        rita.post(f"/api/review/{token}/vote/", {"choice": "tie"}, format="json")
    rows = boss.get(f"/api/campaigns/{campaign.id}/reviewers/quality/").json()["reviewers"]
    assert rows[0]["username"] == reviewer.username
    assert (rows[0]["gold_votes"], rows[0]["gold_accuracy"]) == (3, 1.0)
    bad = boss.post(f"/api/campaigns/{campaign.id}/comparisons/{comparison.id}/gold/", {"gold": "left"}, format="json")
    assert bad.status_code == 400


def test_lead_sees_flags_with_their_reasons(campaign, rita, lead):
    token = next_item(rita, campaign).json()["assignment"]
    rita.post(f"/api/review/{token}/flag/", {"reason": "offensive prompt"}, format="json")
    flags = api_client(lead).get(f"/api/campaigns/{campaign.id}/flags/").json()["flags"]
    assert [f["flag_reason"] for f in flags] == ["offensive prompt"]


def test_review_page_and_home_render_for_a_member(campaign, reviewer, client):
    add_reviewers(campaign, reviewer.username)
    client.force_login(reviewer)
    page = client.get(f"/review/{campaign.id}/")
    assert page.status_code == 200
    html = page.content.decode()
    for text in ("Left is better", "Right is better", "Tie", "Both are bad", "Skip", "Flag", "Guidelines"):
        assert text in html
    assert "<strong>polite</strong>" in html
    home = client.get("/").content.decode()
    assert campaign.name in home and "0 of 3" in home


def test_review_page_is_404_for_an_outsider(campaign, outsider, client):
    client.force_login(outsider)
    assert client.get(f"/review/{campaign.id}/").status_code == 404


def test_session_client_needs_csrf_to_vote(campaign, reviewer):
    from django.test import Client

    add_reviewers(campaign, reviewer.username)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(reviewer)
    token = browser.get(f"/api/review/next/?campaign={campaign.id}").json()["assignment"]
    r = browser.post(f"/api/review/{token}/vote/", {"choice": "left"}, content_type="application/json")
    assert r.status_code == 403
    assert not Vote.objects.exists()
