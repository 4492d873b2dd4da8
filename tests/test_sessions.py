"""The browser's login session: Django's session engine as shipped, and its ModelBackend with the
user read compiled once (arena/auth_backends.py).

A real login through the login form, then the review API with the session cookie and the CSRF
header as the page sends them. With Redis configured the session engine is `cached_db`, so a
request reads its session from the cache, not the database; without it, `db`. Expiry and logout
go through the session store, which keeps the cache and the database in step.
"""

from importlib import import_module

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from arena.models import Vote
from tests.factories import add_reviewers, make_open_campaign

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_repeats")]


@pytest.fixture
def campaign():
    return make_open_campaign(prompts=4, k=2)


@pytest.fixture
def browser(campaign):
    """A reviewer logged in through the login form, with a CSRF-enforcing client."""
    (user,) = add_reviewers(campaign, "sena")
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    csrf = page.cookies["csrftoken"].value
    r = client.post("/accounts/login/", {"username": "sena", "password": "sena-pass-123", "csrfmiddlewaretoken": csrf})
    assert r.status_code == 302, r.content[:300]
    client.user = user
    return client


def next_item(client, campaign):
    return client.get(f"/api/review/next/?campaign={campaign.id}", HTTP_ACCEPT="application/json")


def vote(client, token, choice="left"):
    return client.post(
        f"/api/review/{token}/vote/",
        {"choice": choice},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )


def test_a_logged_in_reviewer_takes_and_votes_with_the_session(browser, campaign):
    with CaptureQueriesContext(connection) as queries:
        r = next_item(browser, campaign)
    assert r.status_code == 200, r.content
    read_the_session_row = any("django_session" in q["sql"] for q in queries.captured_queries)
    assert read_the_session_row == (settings.SESSION_ENGINE == "django.contrib.sessions.backends.db")
    r = vote(browser, r.json()["assignment"])
    assert r.status_code == 201, r.content
    assert Vote.objects.get().reviewer == browser.user


def test_a_vote_without_the_csrf_header_is_refused(browser, campaign):
    token = next_item(browser, campaign).json()["assignment"]
    r = browser.post(f"/api/review/{token}/vote/", {"choice": "left"}, content_type="application/json")
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    assert not Vote.objects.exists()


def session_of(client):
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key=client.cookies["sessionid"].value)


def test_an_expired_session_is_no_login(browser, campaign):
    """No login is a 401 with DRF's token challenge (the token class comes first in the settings)."""
    session = session_of(browser)
    session.load()
    session.set_expiry(-1)  # its expiry date passed a second ago
    session.save()
    r = next_item(browser, campaign)
    assert r.status_code == 401 and r.json() == {"detail": "Authentication credentials were not provided."}
    assert r["WWW-Authenticate"] == "Token"


def test_an_unknown_session_key_is_no_login(browser, campaign):
    session_of(browser).delete()
    r = next_item(browser, campaign)
    assert r.status_code == 401 and r.json() == {"detail": "Authentication credentials were not provided."}


def test_a_deactivated_user_is_logged_out(browser, campaign):
    assert next_item(browser, campaign).status_code == 200
    browser.user.is_active = False
    browser.user.save(update_fields=["is_active"])
    r = next_item(browser, campaign)
    assert r.status_code == 401 and r.json() == {"detail": "Authentication credentials were not provided."}
    page = browser.get(f"/review/{campaign.id}/")  # not only the API: no page either
    assert page.status_code == 302 and "/accounts/login/" in page["Location"]


def test_a_password_change_elsewhere_ends_the_session(browser, campaign):
    assert next_item(browser, campaign).status_code == 200
    browser.user.set_password("a-new-password-456")
    browser.user.save()
    r = next_item(browser, campaign)
    assert r.status_code == 401
    # ... and the review page sends them to the login form.
    page = browser.get(f"/review/{campaign.id}/")
    assert page.status_code == 302 and "/accounts/login/" in page["Location"]


def test_a_deleted_user_is_logged_out(browser, campaign):
    assert next_item(browser, campaign).status_code == 200
    browser.user.delete()
    r = next_item(browser, campaign)
    assert r.status_code == 401


def test_the_backend_reads_the_user_as_djangos_model_backend_does(django_user_model):
    from django.contrib.auth.backends import ModelBackend as DjangoModelBackend

    from arena.auth_backends import ModelBackend

    active = django_user_model.objects.create_user(username="ana", password="ana-pass-123", email="a@example.com")
    inactive = django_user_model.objects.create_user(username="ina", password="ina-pass-123", is_active=False)
    ours, django = ModelBackend(), DjangoModelBackend()
    for user_id in (active.pk, str(active.pk), inactive.pk, 10**9):  # the session stores the id as text
        got, expected = ours.get_user(user_id), django.get_user(user_id)
        assert (got is None) == (expected is None), user_id
        if expected is not None:
            assert [getattr(got, f.attname) for f in django_user_model._meta.concrete_fields] == [
                getattr(expected, f.attname) for f in django_user_model._meta.concrete_fields
            ]
            assert got._state.adding is False and got._state.db == expected._state.db
    assert ours.get_user(inactive.pk) is None
