"""The endpoint and key allow-lists (arena/endpoints.py): what a campaign may call, with which key.

The rule itself is tested here on plain URLs; the API's answers are in test_campaign_api.py and
admin's in test_demo_and_admin.py. The last test is the attack from issue 15 through a real
worker: contestant rows written straight into the database, around the API, must still never
make the worker send a key to an endpoint the operator did not list.
"""

import pytest

from arena import endpoints
from arena.models import Contestant, Response
from arena.services.generation import generation_start
from tests.conftest import wait_until
from tests.factories import make_campaign


@pytest.fixture
def lists(settings):
    """An operator's lists: one vendor host on any port, one exact internal address."""
    settings.GLOBAL_API_BASE_URL = "https://global-apis.com/v1"
    settings.LLM_ALLOWED_HOSTS = ["api.vendor.example", "10.1.2.3:8443"]
    settings.LLM_ALLOWED_KEY_ENVS = ["VENDOR_KEY"]
    return settings


def refusal(check, *args, **kwargs) -> endpoints.EndpointRefused:
    with pytest.raises(endpoints.EndpointRefused) as caught:
        check(*args, **kwargs)
    return caught.value


def test_the_global_endpoint_and_listed_hosts_are_allowed(lists):
    for url in (
        "",  # empty: the global endpoint
        "https://global-apis.com/v1",
        "https://GLOBAL-APIS.com:443/other/path",
        "https://api.vendor.example/v1",
        "http://api.vendor.example:8080/v1",
        "https://10.1.2.3:8443/v1",
    ):
        endpoints.check_endpoint(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://global-apis.com/v1",  # the global host, but another scheme (so another port)
        "https://global-apis.com:8443/v1",
        "https://evil.example/v1",
        "https://10.1.2.3:9000/v1",  # a listed address on a port that is not listed
        "https://api.vendor.example.evil.example/v1",
        "https://api.vendor.example@evil.example/v1",
    ],
)
def test_an_endpoint_off_the_lists_is_refused(lists, url):
    assert refusal(endpoints.check_endpoint, url, field="contestants[0].base_url").field == "contestants[0].base_url"


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
        ("http://127.0.0.1:6379/", "loopback"),
        ("http://[::1]:8000/", "loopback"),
        ("http://[::ffff:127.0.0.1]:8000/", "loopback"),
        ("http://192.168.0.10/v1", "private"),
        ("http://0.0.0.0:8000/v1", "unspecified"),
        ("http://224.0.0.1/v1", "multicast"),
    ],
)
def test_internal_addresses_are_refused_and_named(lists, url, what):
    assert what in refusal(endpoints.check_endpoint, url).message


@pytest.mark.parametrize("url", ["ftp://api.vendor.example/v1", "file:///etc/passwd", "api.vendor.example/v1"])
def test_only_http_and_https_are_allowed(lists, url):
    refusal(endpoints.check_endpoint, url)


def test_an_internal_address_is_allowed_only_as_listed(lists):
    lists.LLM_ALLOWED_HOSTS = ["127.0.0.1:8001"]
    endpoints.check_resolved("http://127.0.0.1:8001/v1")
    refusal(endpoints.check_endpoint, "http://127.0.0.1:8002/v1")


def test_a_listed_name_that_resolves_to_loopback_is_refused_at_call_time(lists):
    # `localhost` resolves to 127.0.0.1 without any network, like localtest.me or an /etc/hosts
    # entry would. Listing the name does not vouch for where it leads.
    lists.LLM_ALLOWED_HOSTS = ["localhost:8001", "127.0.0.1:8001"]
    endpoints.check_endpoint("http://localhost:8001/v1")
    refused = refusal(endpoints.check_resolved, "http://localhost:8001/v1")
    assert "resolves to a loopback address" in refused.message


def test_a_name_that_does_not_resolve_is_refused_at_call_time(lists):
    lists.LLM_ALLOWED_HOSTS = ["no-such-host.invalid"]
    assert isinstance(
        refusal(endpoints.check_resolved, "https://no-such-host.invalid/v1"), endpoints.EndpointUnresolved
    )


def test_key_variables_are_the_global_one_or_listed(lists):
    for name in ("", "GLOBAL_API_KEY", "VENDOR_KEY"):
        endpoints.check_key_env(name)
    for name in ("SECRET_KEY", "DATABASE_URL", "POSTGRES_PASSWORD", "vendor_key"):
        assert refusal(endpoints.check_key_env, name).field == "api_key_env"


def test_a_refused_key_variable_reads_the_same_whether_it_is_set_or_not(lists, monkeypatch):
    monkeypatch.setenv("SOME_SET_VARIABLE", "value")
    monkeypatch.delenv("SOME_UNSET_VARIABLE", raising=False)
    set_message = refusal(endpoints.check_key_env, "SOME_SET_VARIABLE").message
    unset_message = refusal(endpoints.check_key_env, "SOME_UNSET_VARIABLE").message
    assert set_message.replace("SOME_SET_VARIABLE", "X") == unset_message.replace("SOME_UNSET_VARIABLE", "X")
    assert "not set" not in set_message and "exist" not in set_message


def test_a_malformed_allow_list_entry_stops_with_its_text(lists):
    from django.core.exceptions import ImproperlyConfigured

    lists.LLM_ALLOWED_HOSTS = ["https://api.vendor.example/v1"]
    with pytest.raises(ImproperlyConfigured, match="api.vendor.example"):
        endpoints.check_endpoint("https://api.vendor.example/v1")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_sends_no_key_to_an_endpoint_or_from_a_variable_off_the_lists(sim, start_worker):
    """Rows written around the API: only the listed endpoint with the global key is ever called."""
    campaign = make_campaign(prompts=3, labels=("Listed", "Loopback name", "Secret key"), base_url=sim.base_url)
    listed, by_name, secret = campaign.contestants.order_by("position")
    # A name on the worker's list that resolves to the simulator's loopback address.
    Contestant.objects.filter(pk=by_name.pk).update(base_url=f"http://localhost:{sim.port}/v1")
    # The listed endpoint, with the worker's Django secret as the key.
    Contestant.objects.filter(pk=secret.pk).update(api_key_env="SECRET_KEY")
    start_worker(
        env_overrides={
            "LLM_ALLOWED_HOSTS": f"127.0.0.1:{sim.port},localhost:{sim.port}",
            "GLOBAL_API_KEY": "sk-global-listed",
            "SECRET_KEY": "django-secret-that-must-stay-home-"
            + "x7Kq2Lm9Pz4Rt8Wv3Yb6Nc1Hd5Jf0Gs",  # strong enough to start
        }
    )

    generation_start(campaign=campaign)
    wait_until(
        lambda: (
            not Response.objects.filter(campaign=campaign, status__in=["pending", "running"]).exists()
            and Response.objects.filter(campaign=campaign).count() == 9
        ),
        timeout=60,
        message="every response to be done or failed",
    )

    stats = sim.stats()
    # The simulator heard only from the listed contestant: nothing else reached it, with any key.
    assert stats["requests_by_model"] == {listed.model: 3}
    assert stats["requests_total"] == 3
    rows = {c.label: list(Response.objects.filter(contestant=c)) for c in campaign.contestants.all()}
    assert {r.status for r in rows["Listed"]} == {"done"}
    for label, reason in (("Loopback name", "resolves to a loopback address"), ("Secret key", "'SECRET_KEY'")):
        assert {r.status for r in rows[label]} == {"failed"}
        assert all(reason in r.last_error and "refused before sending" in r.last_error for r in rows[label])
        assert all(r.attempts == 0 for r in rows[label])  # refused before an attempt was counted
    assert not any("django-secret" in (r.last_error or "") for rs in rows.values() for r in rs)
