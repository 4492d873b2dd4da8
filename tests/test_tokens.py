"""API tokens expire after API_TOKEN_TTL_HOURS and die with a password change (issue 15,
finding 8, the token half): a leaked token is no way in for longer than that."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Autouse, so it runs before the user fixtures hash their passwords (see test_login_security).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def obtain_token(username, password):
    response = APIClient().post("/api/auth/token/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["token"]


def campaigns_with(key):
    """An ordinary API call with the token, as a script would make it."""
    return APIClient().get("/api/campaigns/", HTTP_AUTHORIZATION=f"Token {key}")


def age_token(key, hours):
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(hours=hours))


def test_a_token_works_until_it_expires_then_is_refused_with_401_and_deleted(lead, settings):
    key = obtain_token("lead", "lead-pass-123")
    age_token(key, settings.API_TOKEN_TTL_HOURS - 1)
    assert campaigns_with(key).status_code == 200

    age_token(key, settings.API_TOKEN_TTL_HOURS)
    refused = campaigns_with(key)
    assert refused.status_code == 401
    assert "expired" in refused.json()["detail"]
    assert refused["WWW-Authenticate"] == "Token"
    assert not Token.objects.filter(key=key).exists()


def test_obtaining_a_token_after_expiry_gives_a_new_key_that_works(lead, settings):
    old = obtain_token("lead", "lead-pass-123")
    assert obtain_token("lead", "lead-pass-123") == old  # still valid: the same token again

    age_token(old, settings.API_TOKEN_TTL_HOURS + 1)
    new = obtain_token("lead", "lead-pass-123")
    assert new != old
    assert campaigns_with(new).status_code == 200
    assert campaigns_with(old).status_code == 401


def test_a_password_change_through_the_form_revokes_the_token(lead):
    key = obtain_token("lead", "lead-pass-123")
    browser = Client()
    browser.force_login(lead)
    changed = browser.post(
        "/accounts/password_change/",
        {"old_password": "lead-pass-123", "new_password1": "a-new-pass-456", "new_password2": "a-new-pass-456"},
    )
    assert changed.status_code == 302, changed.content[:500]

    assert campaigns_with(key).status_code == 401
    assert campaigns_with(obtain_token("lead", "a-new-pass-456")).status_code == 200


def test_a_password_set_from_a_script_or_the_command_line_revokes_the_token(lead, monkeypatch):
    key = obtain_token("lead", "lead-pass-123")
    lead.set_password("scripted-pass-789")
    lead.save()
    assert campaigns_with(key).status_code == 401

    key = obtain_token("lead", "scripted-pass-789")
    answers = iter(["typed-pass-000", "typed-pass-000"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    call_command("changepassword", "lead", stdout=io.StringIO())
    assert campaigns_with(key).status_code == 401


def test_saving_a_user_without_changing_the_password_keeps_the_token(lead):
    key = obtain_token("lead", "lead-pass-123")
    lead.refresh_from_db()
    lead.first_name = "Lena"
    lead.save()
    lead.save(update_fields=["last_login"])
    assert campaigns_with(key).status_code == 200
