"""Campaign criteria: defined through the API (and admin), carried by the review item, answered
with the vote: 400 naming the key for a bad answer with nothing stored, 200/409 on a repeat."""

import pytest

from arena.models import Assignment, Campaign, Comparison, Criterion, Vote, VoteCriterion
from tests.factories import add_reviewers, api_client, make_open_campaign

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_repeats", "expiry_on_every_next")]

CONTESTANTS = [{"label": "Left Model", "model": "m-one"}, {"label": "Right Model", "model": "m-two"}]
TWO_CRITERIA = [
    {"key": "accuracy", "question": "Which answer is more accurate?"},
    {"key": "tone", "question": "Which answer has the better tone?", "required": False},
]


def create(lead, **fields):
    return api_client(lead).post(
        "/api/campaigns/", {"name": "Bake-off", "contestants": CONTESTANTS, **fields}, format="json"
    )


def test_lead_creates_a_campaign_with_criteria_in_order_required_by_default(lead):
    r = create(lead, criteria=TWO_CRITERIA)
    assert r.status_code == 201, r.content
    assert r.json()["criteria"] == [
        {"key": "accuracy", "question": "Which answer is more accurate?", "required": True},
        {"key": "tone", "question": "Which answer has the better tone?", "required": False},
    ]
    campaign = Campaign.objects.get()
    assert list(campaign.criteria.values_list("position", "key", "required")) == [
        (0, "accuracy", True),
        (1, "tone", False),
    ]


def test_a_campaign_without_criteria_has_an_empty_list(lead):
    r = create(lead)
    assert r.status_code == 201 and r.json()["criteria"] == []


def names(body: dict, field: str) -> bool:
    """The 400 names `field` (`criteria[1].key`): as the service's `field`, or as DRF's nested
    errors ({"criteria": {"1": {"key": [...]}}})."""
    if body.get("field") == field:
        return True
    node = body
    for part in field.replace("[", ".").replace("]", "").split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


@pytest.mark.parametrize(
    "criteria, field",
    [
        ([{"key": "Accuracy", "question": "Q?"}], "criteria[0].key"),
        ([{"key": "1st", "question": "Q?"}], "criteria[0].key"),
        ([{"key": "a" * 33, "question": "Q?"}], "criteria[0].key"),
        ([{"key": "tone", "question": "Q?"}, {"key": "tone", "question": "Again?"}], "criteria[1].key"),
        ([{"key": f"c{i}", "question": "Q?"} for i in range(9)], "criteria"),
        ([{"key": "tone", "question": "   "}], "criteria[0].question"),
        ([{"key": "tone", "question": "Is Left Model kinder?"}], "criteria[0].question"),
    ],
    ids=["upper-case", "digit-first", "too-long", "duplicate", "nine", "blank-question", "names-a-model"],
)
def test_bad_criteria_are_refused_naming_the_item_and_nothing_is_stored(lead, criteria, field):
    r = create(lead, criteria=criteria)
    assert r.status_code == 400, r.content
    assert names(r.json(), field), r.json()
    assert Campaign.objects.count() == 0 and Criterion.objects.count() == 0


def test_eight_criteria_are_allowed(lead):
    r = create(lead, criteria=[{"key": f"c{i}", "question": f"Question {i}?"} for i in range(8)])
    assert r.status_code == 201 and len(r.json()["criteria"]) == 8


# --- The review item and the vote ----------------------------------------------------------


@pytest.fixture
def campaign():
    return make_open_campaign(prompts=3, k=2, criteria=TWO_CRITERIA)


@pytest.fixture
def rita(campaign, reviewer):
    add_reviewers(campaign, reviewer.username)
    return api_client(reviewer)


def next_item(client, campaign):
    r = client.get(f"/api/review/next/?campaign={campaign.id}")
    assert r.status_code == 200, r.content
    return r.json()


def vote(client, token, **body):
    return client.post(f"/api/review/{token}/vote/", body, format="json")


def test_the_item_carries_the_criteria_in_order(campaign, rita):
    assert next_item(rita, campaign)["criteria"] == [
        {"key": "accuracy", "question": "Which answer is more accurate?", "required": True},
        {"key": "tone", "question": "Which answer has the better tone?", "required": False},
    ]


def test_an_item_without_criteria_carries_an_empty_list(reviewer):
    plain = make_open_campaign(prompts=1, k=1)
    add_reviewers(plain, reviewer.username)
    assert next_item(api_client(reviewer), plain)["criteria"] == []


@pytest.mark.parametrize("a_on_left", [True, False])
def test_answers_resolve_to_the_pair_as_the_choice_does(campaign, rita, a_on_left):
    token = next_item(rita, campaign)["assignment"]
    Assignment.objects.filter(token=token).update(a_on_left=a_on_left)
    r = vote(rita, token, choice="left", criteria={"accuracy": "right", "tone": "both_bad"})
    assert r.status_code == 201, r.content
    assert r.json()["criteria"] == {"accuracy": "right", "tone": "both_bad"}
    v = Vote.objects.get()
    answers = {a.criterion.key: (a.choice, a.resolved) for a in VoteCriterion.objects.select_related("criterion")}
    assert v.resolved == ("a" if a_on_left else "b")
    assert answers == {"accuracy": ("right", "b" if a_on_left else "a"), "tone": ("both_bad", "both_bad")}


def test_an_optional_criterion_may_be_left_out(campaign, rita):
    token = next_item(rita, campaign)["assignment"]
    assert vote(rita, token, choice="tie", criteria={"accuracy": "tie"}).status_code == 201
    assert list(VoteCriterion.objects.values_list("criterion__key", flat=True)) == ["accuracy"]


@pytest.mark.parametrize(
    "criteria, key",
    [
        ({"tone": "left"}, "accuracy"),  # the required one is missing
        (None, "accuracy"),
        ({"accuracy": None}, "accuracy"),
        ({"accuracy": "left", "speed": "left"}, "speed"),  # unknown key
        ({"accuracy": "a"}, "accuracy"),  # resolved names are not answers
        ({"accuracy": "left", "tone": "better"}, "tone"),
        ({"accuracy": 1}, "accuracy"),
        ({"accuracy": ["left"]}, "accuracy"),
    ],
    ids=["missing", "none-given", "null", "unknown", "pair-side", "bad-word", "number", "list"],
)
def test_a_bad_answer_is_400_naming_the_key_and_nothing_is_stored(campaign, rita, criteria, key):
    token = next_item(rita, campaign)["assignment"]
    body = {"choice": "left"} if criteria is None else {"choice": "left", "criteria": criteria}
    r = vote(rita, token, **body)
    assert r.status_code == 400, r.content
    assert r.json()["field"] == f"criteria.{key}" and key in r.json()["detail"]
    assert Vote.objects.count() == 0 and VoteCriterion.objects.count() == 0
    assert Assignment.objects.get(token=token).status == Assignment.Status.LEASED
    assert sum(Comparison.objects.values_list("votes_count", flat=True)) == 0
    # The item can still be voted on properly.
    assert vote(rita, token, choice="left", criteria={"accuracy": "left"}).status_code == 201


def test_criteria_that_are_not_an_object_are_400(campaign, rita):
    token = next_item(rita, campaign)["assignment"]
    r = vote(rita, token, choice="left", criteria=["accuracy"])
    assert r.status_code == 400 and "criteria" in r.content.decode()
    assert Vote.objects.count() == 0


def test_the_same_vote_again_is_200_and_any_other_answer_409(campaign, rita):
    token = next_item(rita, campaign)["assignment"]
    first = {"choice": "left", "criteria": {"accuracy": "right", "tone": "tie"}}
    assert vote(rita, token, **first).status_code == 201
    again = vote(rita, token, **first)
    assert again.status_code == 200 and again.json()["created"] is False
    for other in (
        {"choice": "left", "criteria": {"accuracy": "left", "tone": "tie"}},
        {"choice": "left", "criteria": {"accuracy": "right"}},  # the optional answer left out
        {"choice": "right", "criteria": {"accuracy": "right", "tone": "tie"}},
    ):
        assert vote(rita, token, **other).status_code == 409, other
    assert VoteCriterion.objects.count() == 2 and Vote.objects.count() == 1


def test_a_vote_on_a_campaign_without_criteria_refuses_any_criterion(reviewer):
    plain = make_open_campaign(prompts=1, k=1)
    add_reviewers(plain, reviewer.username)
    client = api_client(reviewer)
    token = next_item(client, plain)["assignment"]
    r = vote(client, token, choice="left", criteria={"accuracy": "left"})
    assert r.status_code == 400 and r.json()["field"] == "criteria.accuracy"
    assert vote(client, token, choice="left").status_code == 201
