"""The lead's admin flow: Generate responses behind its estimate, contestants from the catalog,
names on membership rows, readable frozen settings. The browser drives the same flow in
tests/test_browser_admin_flow.py; these check each rule on its own, through admin's forms."""

import json
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from arena.admin_actions import CONFIRM_FIELD, estimate_fingerprint
from arena.models import Campaign, CampaignReviewer, Contestant, ModelCatalogEntry, Response
from arena.selectors.generation import generation_estimate
from arena.services.catalog import catalog_seed
from arena.services.generation import generation_start
from tests.conftest import purge_broker
from tests.factories import add_reviewers, make_campaign, open_campaign
from tests.test_demo_and_admin import campaign_form

LIST = "/admin/arena/campaign/"


@pytest.fixture
def lead_browser(lead):
    client = Client()
    client.force_login(lead)
    return client


def queued_tasks() -> int:
    """Messages waiting in the broker's default queue (filesystem or Redis, whichever is set)."""
    from evalsite.celery import app

    with app.connection_for_write() as connection:
        return connection.default_channel.queue_declare(queue="celery").message_count


def ask_to_generate(client, *campaigns, **extra):
    return client.post(LIST, {"action": "action_generate", "_selected_action": [c.pk for c in campaigns], **extra})


def confirm_generate(client, *campaigns, fingerprints=None):
    fields = {
        f"estimate_{c.pk}": (fingerprints or {}).get(c.pk, estimate_fingerprint(generation_estimate(campaign=c)))
        for c in campaigns
    }
    return ask_to_generate(client, *campaigns, **{CONFIRM_FIELD: "yes", **fields})


def nothing_started(campaign) -> bool:
    campaign.refresh_from_db()
    return (
        campaign.status == "draft"
        and campaign.frozen_settings is None
        and not Response.objects.filter(campaign=campaign).exists()
    )


# --- Generate responses: the estimate first, money only after "Yes" ---------------------------


@pytest.mark.django_db
def test_generate_shows_each_contestants_estimate_and_starts_nothing(lead_browser, django_capture_on_commit_callbacks):
    purge_broker()
    campaign = make_campaign(prompts=5, expected_output_tokens=300)
    Contestant.objects.filter(campaign=campaign, position=1).update(price_per_mtok_out=Decimal("2.50"))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        page = ask_to_generate(lead_browser, campaign)
    assert page.status_code == 200
    html = page.content.decode()
    # 5 prompts x 300 tokens = 1,500 output tokens per model, at $1.00 and $2.50 per million.
    assert "<td>0.001500</td>" in html and "<td>0.003750</td>" in html
    assert '<th class="estimate-total">$0.005250</th>' in html
    assert 'value="Yes, generate (estimated $0.005250)"' in html
    # The "No" is a plain link back to the list: following it starts nothing either.
    assert re.search(r'<a href="/admin/arena/campaign/" id="cancel-generate"', html)
    assert lead_browser.get(LIST).status_code == 200
    assert callbacks == [] and queued_tasks() == 0
    assert nothing_started(campaign)


@pytest.mark.django_db
def test_confirming_the_estimate_starts_generation_and_queues_one_task_per_model(
    lead_browser, django_capture_on_commit_callbacks
):
    purge_broker()
    campaign = make_campaign(prompts=3)
    with django_capture_on_commit_callbacks(execute=True):
        page = confirm_generate(lead_browser, campaign)
    assert page.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == "generating" and campaign.frozen_settings is not None
    assert Response.objects.filter(campaign=campaign, status="pending").count() == 6
    assert queued_tasks() == 2
    messages = [m.message for m in lead_browser.get(LIST).context["messages"]]
    assert messages == [f"{campaign}: generation started (estimated cost $0.002400)."]  # 2 x 1,200 tokens at $1
    purge_broker()


@pytest.mark.django_db
def test_an_estimate_that_changed_after_it_was_shown_is_shown_again_and_nothing_starts(lead_browser):
    campaign = make_campaign(prompts=2)
    shown = estimate_fingerprint(generation_estimate(campaign=campaign))
    Contestant.objects.filter(campaign=campaign, position=0).update(price_per_mtok_out=Decimal("30"))
    page = confirm_generate(lead_browser, campaign, fingerprints={campaign.pk: shown})
    assert page.status_code == 200
    html = page.content.decode()
    assert f"The estimate of {campaign} changed since it was shown" in html
    assert '<th class="estimate-total">$0.024800</th>' in html  # the new one: 800 tokens at $30 + $1
    assert nothing_started(campaign)


@pytest.mark.django_db
def test_confirming_several_campaigns_starts_those_that_can_and_says_why_the_other_cannot(lead_browser):
    ready_to_go = make_campaign(name="Ready to go", prompts=1)
    empty = make_campaign(name="No prompts yet", prompts=0)
    page = confirm_generate(lead_browser, ready_to_go, empty)
    assert page.status_code == 302
    messages = {m.message for m in lead_browser.get(LIST).context["messages"]}
    assert messages == {
        "Ready to go: generation started (estimated cost $0.000800).",
        "No prompts yet: add prompts before generating",
    }
    assert Campaign.objects.get(pk=ready_to_go.pk).status == "generating"
    assert nothing_started(empty)


@pytest.mark.django_db
def test_a_budget_below_the_estimate_is_pointed_out_on_the_confirmation_page(lead_browser):
    campaign = make_campaign(prompts=4, budget_usd=Decimal("0.001"))
    html = ask_to_generate(lead_browser, campaign).content.decode()
    assert "Budget: $0.0010" in html and "the estimate is above it" in html
    assert nothing_started(campaign)


@pytest.mark.django_db
def test_a_staff_user_who_may_only_view_campaigns_cannot_generate(django_user_model):
    viewer = django_user_model.objects.create_user(username="vera", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client = Client()
    client.force_login(viewer)
    campaign = make_campaign(prompts=2)
    assert "action_generate" not in client.get(LIST).content.decode()
    confirm_generate(client, campaign)
    ask_to_generate(client, campaign)
    assert nothing_started(campaign)


@pytest.mark.django_db
def test_a_reviewer_asking_to_generate_is_sent_to_the_admin_login_and_sees_no_estimate(reviewer):
    campaign = make_campaign(prompts=2, labels=("Secret Label A", "Secret Label B"))
    add_reviewers(campaign, reviewer.username)
    client = Client()
    client.force_login(reviewer)
    for page in (ask_to_generate(client, campaign), confirm_generate(client, campaign)):
        assert page.status_code == 302 and page["Location"].startswith("/admin/login/")
        assert b"Secret" not in page.content and b"estimate" not in page.content
    assert nothing_started(campaign)


# --- Contestants from the model catalog ---------------------------------------------------------


@pytest.fixture
def catalog(db):
    catalog_seed()
    return {entry.label: entry for entry in ModelCatalogEntry.objects.all()}


def blank_row(**fields) -> dict:
    """A contestant row as a browser without the page's script posts it: a pick, the rest empty."""
    return {"label": "", "model": "", "price_per_mtok_out": "", "price_per_mtok_in": "", **fields}


@pytest.mark.django_db
def test_a_catalog_pick_fills_the_model_id_label_and_prices_left_empty(lead_browser, catalog):
    flash, qwen = catalog["DeepSeek V4 Flash"], catalog["Qwen3-32B"]
    rows = [
        blank_row(catalog=str(flash.pk)),
        # Typed values are kept: the lead's label and a negotiated price win over the catalog's.
        blank_row(catalog=str(qwen.pk), label="Challenger", price_per_mtok_out="0.20"),
    ]
    page = lead_browser.post("/admin/arena/campaign/add/", campaign_form(contestants=rows))
    assert page.status_code == 302, page.content.decode()[:3000]
    saved = [
        (c.label, c.model, c.price_per_mtok_out, c.price_per_mtok_in) for c in Campaign.objects.get().contestants.all()
    ]
    assert saved == [
        ("DeepSeek V4 Flash", "deepseek-v4-flash", Decimal("0.25"), Decimal("0")),
        ("Challenger", "Qwen/Qwen3-32B", Decimal("0.20"), Decimal("0")),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("second", "message"),
    [
        (blank_row(catalog="GLM-5"), "the catalog has no API id for GLM-5: type the model id"),
        (blank_row(label="Typed by hand"), "This field is required."),
    ],
)
def test_a_contestant_without_a_model_id_from_the_catalog_or_typed_is_refused(lead_browser, catalog, second, message):
    if "catalog" in second:
        second = {**second, "catalog": str(catalog[second["catalog"]].pk)}
    rows = [blank_row(catalog=str(catalog["DeepSeek V4 Flash"].pk)), second]
    page = lead_browser.post("/admin/arena/campaign/add/", campaign_form(contestants=rows))
    assert page.status_code == 200
    assert message in page.content.decode()
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_the_catalog_options_carry_what_the_page_script_fills_in(lead_browser, catalog):
    html = lead_browser.get("/admin/arena/campaign/add/").content.decode()
    flash = catalog["DeepSeek V4 Flash"]
    option = re.search(rf'<option value="{flash.pk}"[^>]*>', html).group(0)
    for attribute in ('data-model="deepseek-v4-flash"', 'data-price-out="0.2500"', 'data-label="DeepSeek V4 Flash"'):
        assert attribute in option
    assert "/static/arena/admin_catalog.js" in html


@pytest.mark.django_db
def test_an_existing_contestant_shows_its_catalog_model_picked(lead_browser, catalog):
    campaign = make_campaign(models=["deepseek-v4-flash", "not-in-the-catalog"])
    html = lead_browser.get(f"/admin/arena/campaign/{campaign.pk}/change/").content.decode()
    assert re.search(rf'<option value="{catalog["DeepSeek V4 Flash"].pk}"[^>]*selected', html)
    assert html.count("selected>---------</option>") >= 1  # the other one and the empty rows


@pytest.mark.django_db
def test_the_advanced_contestant_fields_are_folded_away(lead_browser):
    html = lead_browser.get("/admin/arena/campaign/add/").content.decode()
    folded = re.findall(r"<details>.*?</details>", html, flags=re.S)
    assert folded and all('name="contestants-' in block for block in folded)
    for name in ("base_url", "api_key_env", "max_concurrency", "extra_params"):
        assert any(f'name="contestants-0-{name}"' in block for block in folded), name
    assert not any('name="contestants-0-model"' in block for block in folded)


# --- Names on membership rows, frozen settings ---------------------------------------------------


@pytest.mark.django_db
def test_membership_rows_are_titled_with_the_reviewers_name(lead_browser, django_user_model):
    campaign = make_campaign(prompts=1)
    (rita, ravi) = add_reviewers(campaign, "rita", "ravi")
    django_user_model.objects.filter(pk=rita.pk).update(first_name="Rita", last_name="Moreno")
    memberships = {m.user.username: str(m) for m in CampaignReviewer.objects.select_related("user")}
    assert memberships == {"rita": "Rita Moreno (rita)", "ravi": "ravi"}
    html = lead_browser.get(f"/admin/arena/campaign/{campaign.pk}/change/").content.decode()
    assert "Rita Moreno (rita)" in html and "CampaignReviewer object" not in html


@pytest.mark.django_db
def test_comparisons_assignments_and_votes_are_named_by_id_never_by_model(lead_browser):
    from tests.factories import cast_vote

    campaign = make_campaign(prompts=1, labels=("Secret Label A", "Secret Label B"))
    (comparison,) = open_campaign(campaign)
    (rita,) = add_reviewers(campaign, "rita")
    vote = cast_vote(comparison, rita, "a")
    names = [str(comparison), str(vote.assignment), str(vote)]
    assert names == [
        f"comparison {comparison.pk} (prompt {comparison.prompt_id})",
        f"assignment {vote.assignment.pk} (normal, voted)",
        f"vote on assignment {vote.assignment.pk}: {vote.choice}",
    ]
    assert not any("Secret" in name or "object (" in name for name in names)


@pytest.mark.django_db
def test_frozen_settings_are_shown_as_indented_json_and_escaped(lead_browser):
    campaign = make_campaign(prompts=1, system_prompt="Answer kindly. <script>alert(1)</script>")
    html = lead_browser.get(f"/admin/arena/campaign/{campaign.pk}/change/").content.decode()
    assert "Not frozen yet" in html
    generation_start(campaign=campaign)
    html = lead_browser.get(f"/admin/arena/campaign/{campaign.pk}/change/").content.decode()
    shown = re.search(r'<pre class="frozen-settings">(.*?)</pre>', html, flags=re.S).group(1)
    assert "<script>" not in shown and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    assert "\n  &quot;system_prompt&quot;: " in shown and "\n      &quot;label&quot;: &quot;Model A&quot;" in shown
    campaign.refresh_from_db()
    unescaped = shown.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&#x27;", "'")
    assert json.loads(unescaped) == campaign.frozen_settings
