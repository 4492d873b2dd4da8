"""The OpenAPI schema at /api/schema/ says what the API does, and schemathesis holds it to that.

schemathesis reads the schema the app generates (the one /api/schema/ serves), generates
requests from it (real bodies from the request schemas and their examples) and sends each one
over HTTP to the live test server twice: with a lead's token and with a reviewer's. Every
answer must be a documented status, of the documented media type, matching the documented
body and headers; no answer may be a 5xx; a method the schema does not list must get 405, and
a request without credentials must be refused. The path ids are those of seeded rows (a draft,
a ready or an open campaign, as the operation needs), so generated bodies reach the real
services rather than a 404.
"""

import json

import pytest
import requests
import schemathesis
from django.core.management import call_command
from django.core.serializers.json import DjangoJSONEncoder as JSONEncoder
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from arena.models import Comparison
from arena.services import assignment as assignment_services
from arena.services import invites as invite_services
from tests.factories import add_reviewers, generate_done, make_campaign, open_campaign

# Not `negative_data_rejection`: DRF strips a string's surrounding whitespace before checking its
# max_length, so "\n" + 1,000 characters is a valid 1,000-character flag reason, which the
# schema's `maxLength: 1000` calls invalid. The limit is documented as DRF applies it.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    unsupported_method,
    ignored_auth,
]


def _token(base_url: str, username: str, password: str) -> str:
    response = requests.post(
        f"{base_url}/api/auth/token/", json={"username": username, "password": password}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()["token"]


@pytest.fixture
def seeded(transactional_db, live_server, lead, reviewer):
    """A draft, a ready and an open campaign (the reviewer holds an item of the open one), and
    the lead's and the reviewer's API tokens."""
    draft = make_campaign(name="Draft bake-off", prompts=3)
    ready = make_campaign(name="Ready bake-off", prompts=3)
    generate_done(ready)
    opened = make_campaign(name="Open bake-off", prompts=4, k=2)
    open_campaign(opened)
    add_reviewers(opened, reviewer.username)
    assignment = assignment_services.assignment_next_for_reviewer(campaign_id=opened.pk, reviewer_id=reviewer.pk)
    invite, _key = invite_services.invite_create(campaign=opened, created_by=lead, days=7, max_uses=3)
    return {
        "base_url": live_server.url,
        "draft": draft,
        "ready": ready,
        "open": opened,
        "assignment": assignment.token,
        "comparison": Comparison.objects.filter(campaign=opened).order_by("id").first().pk,
        "invite": invite.pk,
        "reviewer": reviewer.username,
        "tokens": {
            "lead": _token(live_server.url, lead.username, "lead-pass-123"),
            "reviewer": _token(live_server.url, reviewer.username, f"{reviewer.username}-pass-123"),
        },
    }


def _generated_schema() -> dict:
    """The schema exactly as /api/schema/ serves it (the same generator, without a request)."""
    return SchemaGenerator().get_schema(request=None, public=True)


# Loaded from the app at collection time: schemathesis parametrizes one test per operation.
# (Its lazy `from_fixture` loader does not run on this pytest: it reads a removed private
# attribute, `Node._nodeid`.) The test below checks the served schema is this same document.
schema = schemathesis.openapi.from_dict(
    json.loads(json.dumps(_generated_schema(), cls=JSONEncoder)),
    config=schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}}),
)


def test_the_schema_is_valid_openapi_and_every_view_is_described(tmp_path):
    # drf-spectacular warns for every view it cannot describe ("unable to guess serializer",
    # an operation documented as "200 No response body"); --fail-on-warn makes that an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_the_served_schema_is_the_one_under_test(seeded):
    response = requests.get(
        f"{seeded['base_url']}/api/schema/?format=json",
        headers={"Authorization": f"Token {seeded['tokens']['reviewer']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json() == schema.raw_schema


# The campaign each operation acts on: its own state, so a valid body can succeed.
_DRAFT_OPERATIONS = ("/prompts/", "/generate/", "/estimate/")
_READY_OPERATIONS = ("/open/",)


def _campaign_for(path: str, seeded: dict) -> int:
    if path.endswith(_DRAFT_OPERATIONS):
        return seeded["draft"].pk
    if path.endswith(_READY_OPERATIONS):
        return seeded["ready"].pk
    return seeded["open"].pk


def _point_at_seeded_rows(case, seeded: dict) -> None:
    """Generated ids would all be 404s: the path and `?campaign=` name the seeded rows instead."""
    campaign_id = _campaign_for(case.operation.path, seeded)
    known = {
        "campaign_id": campaign_id,
        "token": seeded["assignment"],
        "comparison_id": seeded["comparison"],
        "invite_id": seeded["invite"],
        "username": seeded["reviewer"],
    }
    if case.path_parameters:
        case.path_parameters = {name: known.get(name, value) for name, value in case.path_parameters.items()}
    if case.query and "campaign" in case.query:
        case.query = {**case.query, "campaign": seeded["open"].pk}


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_answer_is_documented_for_a_lead_and_a_reviewer(case, seeded):
    _point_at_seeded_rows(case, seeded)
    for token in seeded["tokens"].values():
        case.call_and_validate(base_url=seeded["base_url"], headers={"Authorization": f"Token {token}"}, checks=CHECKS)
