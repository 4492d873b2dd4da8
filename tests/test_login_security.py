"""Guessing passwords is slowed to a stop: after LOGIN_FAILURE_LIMIT failures for one username
from one address, the token endpoint and the login form refuse that pair (429), even with the
right password, until the cool-off has passed without a new attempt (issue 15, finding 6).

Failed attempts are rows of django-axes' tables, so each test starts with none: pytest-django
rolls the database back (or flushes it) after every test, and no lockout outlives its test.
"""

import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

WRONG_TRIES = 20
# Long enough that the refusal during the lockout is checked well inside it on a busy machine,
# short enough to wait out in a test.
COOLOFF = timedelta(seconds=4)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Autouse, so it runs before the user fixtures hash their passwords. Each wrong try checks a
    # password; PBKDF2's deliberate slowness (its defence against offline guessing) is not what
    # these tests are about, and on a busy machine it would cost seconds per test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def short_cooloff(settings):
    settings.AXES_COOLOFF_TIME = COOLOFF


def token_login(username, password, address="127.0.0.1"):
    return APIClient(REMOTE_ADDR=address).post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )


def form_login(username, password, address="127.0.0.1"):
    return Client(REMOTE_ADDR=address).post("/accounts/login/", {"username": username, "password": password})


def statuses(door, username, password, times, **kwargs):
    return [door(username, password, **kwargs).status_code for _ in range(times)]


def test_twenty_wrong_passwords_on_the_token_endpoint_end_in_429_with_a_json_reason(lead, short_cooloff):
    limit = django_settings.AXES_FAILURE_LIMIT
    seen = statuses(token_login, "lead", "guess", WRONG_TRIES)
    # The limit-th failure is the one that locks: it and every later try are refused with 429.
    assert seen == [400] * (limit - 1) + [429] * (WRONG_TRIES - limit + 1)

    refused = token_login("lead", "lead-pass-123")
    assert refused.status_code == 429
    assert refused.json()["error"] == "locked_out"
    assert "too many failed logins" in refused.json()["detail"]
    assert int(refused["Retry-After"]) == int(COOLOFF.total_seconds())
    assert "token" not in refused.json()


def test_the_right_password_works_again_after_the_cooloff(lead, short_cooloff):
    statuses(token_login, "lead", "guess", WRONG_TRIES)
    assert token_login("lead", "lead-pass-123").status_code == 429  # refused, and the wait restarts

    time.sleep(COOLOFF.total_seconds() + 0.5)
    response = token_login("lead", "lead-pass-123")
    assert response.status_code == 200
    assert response.json()["token"]


def test_twenty_wrong_passwords_on_the_login_form_end_in_a_page_that_says_why(reviewer, short_cooloff):
    limit = django_settings.AXES_FAILURE_LIMIT
    seen = statuses(form_login, "rita", "guess", WRONG_TRIES)
    # A wrong password shows the form again (200); the lockout page answers 429.
    assert seen == [200] * (limit - 1) + [429] * (WRONG_TRIES - limit + 1)

    browser = Client()
    refused = browser.post("/accounts/login/", {"username": "rita", "password": "rita-pass-123"})
    assert refused.status_code == 429
    page = refused.content.decode()
    assert "Too many failed logins" in page and "<strong>rita</strong>" in page and "log in again" in page
    assert browser.get("/").status_code == 302  # not logged in: sent to the login form

    time.sleep(COOLOFF.total_seconds() + 0.5)
    assert form_login("rita", "rita-pass-123").status_code == 302  # logged in and sent on


def test_a_lockout_holds_one_username_from_one_address_only(lead, reviewer, short_cooloff):
    statuses(token_login, "lead", "guess", WRONG_TRIES, address="203.0.113.7")
    assert token_login("lead", "lead-pass-123", address="203.0.113.7").status_code == 429
    # The same user from another address, and another user from the same address, log in.
    assert token_login("lead", "lead-pass-123", address="198.51.100.20").status_code == 200
    assert token_login("rita", "rita-pass-123", address="203.0.113.7").status_code == 200


def test_a_successful_token_login_clears_the_earlier_mistakes(lead):
    limit = django_settings.AXES_FAILURE_LIMIT
    assert statuses(token_login, "lead", "typo", limit - 1) == [400] * (limit - 1)
    assert token_login("lead", "lead-pass-123").status_code == 200
    # Counting starts again from zero: as many mistakes again are still not a lockout.
    assert statuses(token_login, "lead", "typo", limit - 1) == [400] * (limit - 1)
    assert token_login("lead", "lead-pass-123").status_code == 200


def test_an_unknown_username_is_locked_out_like_a_real_one(db, short_cooloff):
    """Otherwise the 400/429 difference would tell an attacker which usernames exist."""
    limit = django_settings.AXES_FAILURE_LIMIT
    seen = statuses(token_login, "nobody", "guess", limit + 1)
    assert seen == [400] * (limit - 1) + [429, 429]


def token_login_through_proxy(username, password, forwarded_for):
    """As the TLS proxy passes a request on: from its own address, the client's appended."""
    return APIClient(REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_FOR=forwarded_for).post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )


def test_behind_the_tls_proxy_each_client_is_counted_by_its_own_address(lead, settings, short_cooloff):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(WRONG_TRIES):
        token_login_through_proxy("lead", "guess", forwarded_for="203.0.113.7")
    assert token_login_through_proxy("lead", "lead-pass-123", forwarded_for="203.0.113.7").status_code == 429
    # The lead at another address, behind the same proxy, is not locked out with the attacker...
    assert token_login_through_proxy("lead", "lead-pass-123", forwarded_for="198.51.100.20").status_code == 200
    # ... and the attacker cannot escape the lockout by forging an address in front of its own.
    forged = token_login_through_proxy("lead", "lead-pass-123", forwarded_for="192.0.2.1, 203.0.113.7")
    assert forged.status_code == 429


def test_without_a_trusted_proxy_a_forged_forwarded_for_header_changes_nothing(lead, short_cooloff):
    for n in range(WRONG_TRIES):
        token_login_through_proxy("lead", "guess", forwarded_for=f"192.0.2.{n}")
    assert token_login_through_proxy("lead", "lead-pass-123", forwarded_for="192.0.2.200").status_code == 429
