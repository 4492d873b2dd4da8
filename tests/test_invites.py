"""Invite links: a use limit, an expiry, revocation, Django's password rules, one membership per user."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from arena.errors import ValidationFailed
from arena.models import CampaignReviewer, Invite
from arena.services.invites import invite_accept, invite_create
from tests.conftest import run_in_parallel
from tests.factories import api_client, make_campaign, make_open_campaign

GOOD_PASSWORD = "a-long-pass-42"


@pytest.fixture
def campaign(db):
    return make_open_campaign(prompts=2, k=2)


def make_invite(lead, campaign, **data) -> tuple[str, dict]:
    """The invite page's path and the invite as the API describes it."""
    r = api_client(lead).post(f"/api/campaigns/{campaign.id}/invites/", data, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    return body["url"].replace("http://testserver", ""), body


def sign_up(client, url, username, password=GOOD_PASSWORD):
    return client.post(url, {"username": username, "password1": password, "password2": password})


def members(campaign) -> list[str]:
    return sorted(CampaignReviewer.objects.filter(campaign=campaign).values_list("user__username", flat=True))


@pytest.mark.django_db
def test_new_user_signs_up_through_an_invite_and_lands_on_the_review_page(campaign, lead, client):
    url, _ = make_invite(lead, campaign)
    assert client.get(url).status_code == 200
    r = sign_up(client, url, "newbie")
    assert r.status_code == 302 and r["Location"] == f"/review/{campaign.id}/"
    assert members(campaign) == ["newbie"]
    assert client.get(f"/api/review/next/?campaign={campaign.id}").status_code == 200


@pytest.mark.django_db
def test_logged_in_user_joins_through_an_invite(campaign, lead, outsider, client):
    url, _ = make_invite(lead, campaign)
    client.force_login(outsider)
    assert "Join as a reviewer" in client.get(url).content.decode()
    client.post(url)
    assert members(campaign) == [outsider.username]


@pytest.mark.django_db
def test_a_one_use_invite_admits_one_person_and_refuses_the_next(campaign, lead, client):
    url, body = make_invite(lead, campaign)
    assert body["max_uses"] == 1 and body["uses"] == 0
    assert sign_up(client, url, "first").status_code == 302
    client.logout()
    r = sign_up(client, url, "second")
    assert r.status_code == 400
    assert "used as many times as it allows" in r.content.decode()
    assert members(campaign) == ["first"]
    assert not get_user_model().objects.filter(username="second").exists()


@pytest.mark.django_db
def test_a_shared_invite_admits_up_to_its_limit(campaign, lead):
    url, _ = make_invite(lead, campaign, max_uses=2)
    from django.test import Client

    assert [sign_up(Client(), url, name).status_code for name in ("ann", "ben", "cyd")] == [302, 302, 400]
    assert members(campaign) == ["ann", "ben"]
    assert Invite.objects.get().uses == 2


@pytest.mark.django_db
def test_opening_the_link_twice_makes_one_membership_and_uses_one_use(campaign, lead, outsider, client):
    url, body = make_invite(lead, campaign, max_uses=3)
    client.force_login(outsider)
    client.post(url)
    client.post(url)
    assert CampaignReviewer.objects.filter(campaign=campaign, user=outsider).count() == 1
    assert Invite.objects.get(pk=body["id"]).uses == 1


@pytest.mark.django_db
def test_a_revoked_invite_admits_nobody(campaign, lead, outsider, client):
    url, body = make_invite(lead, campaign, max_uses=10)
    r = api_client(lead).post(f"/api/campaigns/{campaign.id}/invites/{body['id']}/revoke/")
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert sign_up(client, url, "late").status_code == 400
    client.force_login(outsider)
    r = client.post(url)
    assert r.status_code == 400 and "revoked" in r.content.decode()
    assert members(campaign) == []


@pytest.mark.django_db
def test_a_tampered_or_expired_invite_is_refused(campaign, lead, client):
    url, body = make_invite(lead, campaign, days=1)
    assert client.get(url[:-3] + "xx/").status_code == 400
    Invite.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    r = sign_up(client, url, "late")
    assert r.status_code == 400 and "expired" in r.content.decode()
    assert not get_user_model().objects.filter(username="late").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["password", "12345678", "short1"])
def test_sign_up_refuses_a_password_django_refuses_and_keeps_the_use(campaign, lead, client, password):
    url, body = make_invite(lead, campaign)
    r = sign_up(client, url, "weak", password=password)
    assert r.status_code == 200  # the form again, with the reason
    assert "This password is" in r.content.decode()
    assert not get_user_model().objects.filter(username="weak").exists()
    assert Invite.objects.get(pk=body["id"]).uses == 0


@pytest.mark.django_db
def test_the_link_key_is_not_stored_and_the_list_does_not_show_it(campaign, lead):
    url, body = make_invite(lead, campaign)
    key = url.rstrip("/").rsplit("/", 1)[1]
    invite = Invite.objects.get(pk=body["id"])
    assert key not in str({f.name: getattr(invite, f.attname) for f in Invite._meta.fields})
    listed = api_client(lead).get(f"/api/campaigns/{campaign.id}/invites/")
    assert listed.status_code == 200
    assert [i["id"] for i in listed.json()] == [body["id"]] and key not in listed.content.decode()


@pytest.mark.django_db
def test_only_leads_make_list_and_revoke_invites(campaign, lead, reviewer):
    _, body = make_invite(lead, campaign)
    rita = api_client(reviewer)
    assert rita.post(f"/api/campaigns/{campaign.id}/invites/").status_code == 403
    assert rita.get(f"/api/campaigns/{campaign.id}/invites/").status_code == 403
    assert rita.post(f"/api/campaigns/{campaign.id}/invites/{body['id']}/revoke/").status_code == 403
    assert Invite.objects.get().revoked_at is None


@pytest.mark.django_db
@pytest.mark.parametrize(("data", "field"), [({"max_uses": 0}, "max_uses"), ({"days": 91}, "days")])
def test_an_invite_outside_its_limits_is_refused(campaign, lead, data, field):
    r = api_client(lead).post(f"/api/campaigns/{campaign.id}/invites/", data, format="json")
    assert r.status_code == 400 and field in r.content.decode()
    assert not Invite.objects.exists()


@pytest.mark.django_db
def test_admin_revokes_an_invite(campaign, lead, client):
    url, body = make_invite(lead, campaign)
    client.force_login(lead)
    client.post("/admin/arena/invite/", {"action": "action_revoke", "_selected_action": [body["id"]]})
    assert Invite.objects.get().revoked_at is not None
    client.logout()
    assert client.get(url).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_parallel_sign_ups_never_pass_the_use_limit():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises every writer, so parallel clients prove nothing there")
    campaign = make_campaign(prompts=1)
    invite, key = invite_create(campaign=campaign, max_uses=3)
    users = [get_user_model().objects.create_user(username=f"par{i}") for i in range(12)]
    joined, refused = [], []

    def join(user, _seed):
        try:
            invite_accept(key=key, user_id=user.pk)
            joined.append(user.pk)
        except ValidationFailed:
            refused.append(user.pk)

    errors = run_in_parallel(join, users)
    assert not errors, errors
    assert (len(joined), len(refused)) == (3, 9)
    assert sorted(CampaignReviewer.objects.filter(campaign=campaign).values_list("user_id", flat=True)) == sorted(
        joined
    )
    invite.refresh_from_db()
    assert invite.uses == 3
