"""Admin's criteria inline: campaign_check's rules on the form, nothing saved on a refusal, and
criteria fixed once review has opened."""

import pytest

from arena.models import Campaign, Criterion
from tests.factories import make_campaign, make_open_campaign
from tests.test_demo_and_admin import GOOD_PAIR, campaign_form, lead_browser  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def with_criteria(form: dict, criteria: list[dict]) -> dict:
    form = {**form, "criteria-TOTAL_FORMS": str(len(criteria))}
    for i, c in enumerate(criteria):
        row = {"position": str(i), "required": "on", **c}
        form.update({f"criteria-{i}-{k}": v for k, v in row.items() if v is not None})
    return form


def test_admin_creates_a_campaign_with_criteria_in_position_order(lead_browser):  # noqa: F811
    criteria = [
        {"position": "1", "key": "tone", "question": "Which is kinder?", "required": None},
        {"position": "0", "key": "accuracy", "question": "Which is right?"},
    ]
    page = lead_browser.post(
        "/admin/arena/campaign/add/", with_criteria(campaign_form(contestants=GOOD_PAIR), criteria)
    )
    assert page.status_code == 302, page.content.decode()[:3000]
    campaign = Campaign.objects.get()
    assert list(campaign.criteria.values_list("key", "required")) == [("accuracy", True), ("tone", False)]


@pytest.mark.parametrize(
    "criteria, message",
    [
        ([{"key": "Tone", "question": "Which is kinder?"}], "must match [a-z][a-z0-9_]{0,31}"),
        ([{"key": "tone", "question": "A?"}, {"key": "tone", "question": "B?"}], "duplicate data for key"),
    ],
)
def test_admin_refuses_bad_criteria_with_the_reason_on_the_form_and_saves_nothing(lead_browser, criteria, message):  # noqa: F811
    page = lead_browser.post(
        "/admin/arena/campaign/add/", with_criteria(campaign_form(contestants=GOOD_PAIR), criteria)
    )
    assert page.status_code == 200
    assert message in page.content.decode()
    assert not Campaign.objects.exists() and not Criterion.objects.exists()


def test_admin_refuses_a_question_that_names_a_contestant(lead_browser):  # noqa: F811
    campaign = make_campaign(prompts=1)
    rows = [
        {"id": str(c.pk), "campaign": str(campaign.pk), "label": c.label, "model": c.model}
        for c in campaign.contestants.all()
    ]
    form = with_criteria(
        campaign_form(name=campaign.name, contestants=rows), [{"key": "tone", "question": "Is Model B kinder?"}]
    )
    page = lead_browser.post(f"/admin/arena/campaign/{campaign.pk}/change/", form)
    assert page.status_code == 200
    assert "which reviewers would see" in page.content.decode()
    assert not Criterion.objects.exists()


def test_criteria_are_read_only_in_admin_once_review_has_opened(lead_browser):  # noqa: F811
    campaign = make_open_campaign(prompts=1, criteria=["accuracy"])
    html = lead_browser.get(f"/admin/arena/campaign/{campaign.pk}/change/").content.decode()
    assert "accuracy" in html
    assert 'name="criteria-0-key"' not in html  # shown, not editable
