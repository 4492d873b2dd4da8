"""The lead's admin flow in a real browser (Debian's Chromium), with a real worker and the loopback API.

The lead logs in, creates a campaign whose two contestants are picked from the model catalog
(the picks fill model id and prices on the page), imports prompts, runs "Generate responses",
reads the estimate on the confirmation page while nothing has been sent to any model, confirms,
and watches generation reach `ready`. Every page is checked at 1366 x 768 (a common laptop
screen) for horizontal overflow, and screenshots are saved under the var dir (`screenshots/`).
"""

from decimal import Decimal

import pytest
from django.conf import settings

from arena.models import Campaign, ModelCatalogEntry, Response
from arena.services.catalog import catalog_seed
from tests import test_browser
from tests.conftest import wait_until

browser_page = test_browser.browser_page  # the fixture: Chromium with the CSP and off-site request checks
CHROMIUM = test_browser.CHROMIUM

LAPTOP = {"width": 1366, "height": 768}
PICKS = ("DeepSeek V4 Flash", "Qwen3-32B")  # catalog entries with an API id
PROMPTS = 6

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]


def screenshots_dir():
    path = settings.VAR_DIR / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def assert_fits_the_width(page, what: str):
    """Nothing on the page is wider than the window: no sideways scrolling to reach a column."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= LAPTOP["width"], f"{what} is {width} px wide at {LAPTOP['width']} px"


def assert_shown_without_scrolling(page, selector: str):
    """Every match lies inside the window and inside the list's own scroll box (admin's result
    table scrolls sideways within the page when it is too wide, hiding its last columns)."""
    results = page.locator("#changelist .results")
    assert results.evaluate("e => e.scrollWidth <= e.clientWidth"), "the campaign list scrolls sideways"
    frame = results.bounding_box()
    right = min(LAPTOP["width"], frame["x"] + frame["width"])
    matches = page.locator(selector)
    assert matches.count() > 0, selector
    for i in range(matches.count()):
        box = matches.nth(i).bounding_box()
        assert box is not None and box["x"] >= frame["x"] and box["x"] + box["width"] <= right, (selector, box)


@pytest.mark.django_db(transaction=True)
def test_lead_creates_a_campaign_from_the_catalog_confirms_the_estimate_and_generates(
    live_server, browser_page, lead, sim, start_worker
):
    test_browser.in_browser(admin_flow, live_server, *browser_page, sim, start_worker)


def admin_flow(live_server, page, outside, blocked, sim, start_worker):
    from playwright.sync_api import expect

    catalog_seed()
    entries = [ModelCatalogEntry.objects.get(label=label) for label in PICKS]
    start_worker(env_overrides={"LLM_REQUEST_TIMEOUT": "5", "LLM_BACKOFF_BASE": "0.05"})
    shots = screenshots_dir()
    page.set_viewport_size(LAPTOP)

    test_browser.log_in(page, live_server, "lead", "/admin/arena/campaign/add/")
    assert_fits_the_width(page, "the add-campaign page")

    page.fill("#id_name", "Parcel damage answers")
    page.fill("#id_guidelines", "Pick the answer that solves the customer's problem.")
    for i, entry in enumerate(entries):
        # Picking from the catalog fills the row's model id and prices (and its empty label).
        page.select_option(f"#id_contestants-{i}-catalog", value=str(entry.pk))
        expect(page.locator(f"#id_contestants-{i}-model")).to_have_value(entry.model)
        assert Decimal(page.input_value(f"#id_contestants-{i}-price_per_mtok_out")) == entry.price_per_mtok_out
        expect(page.locator(f"#id_contestants-{i}-label")).to_have_value(entry.label)
        # The endpoint is folded away with the other advanced fields: open it for the test API.
        base_url = page.locator(f"#id_contestants-{i}-base_url")
        assert not base_url.is_visible()
        page.locator(f"#contestants-{i} details summary").click()
        base_url.fill(sim.base_url)
    assert_fits_the_width(page, "the add-campaign page with its contestants")
    page.screenshot(path=str(shots / "admin-add-campaign.png"), full_page=True)
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/arena/campaign/")
    campaign = Campaign.objects.get(name="Parcel damage answers")
    assert [(c.label, c.model, c.price_per_mtok_out) for c in campaign.contestants.all()] == [
        (e.label, e.model, e.price_per_mtok_out) for e in entries
    ]

    # Import prompts from the list's link.
    page.locator(f'a[href="/admin/arena/campaign/{campaign.pk}/import/"]').click()
    csv = "text,external_id,category\n" + "".join(
        f'"My parcel {i} arrived crushed, what now?",d{i},damage\n' for i in range(PROMPTS)
    )
    page.set_input_files("#id_file", files=[{"name": "prompts.csv", "mimeType": "text/csv", "buffer": csv.encode()}])
    page.click("input[type=submit]")
    page.wait_for_url(f"**/admin/arena/campaign/{campaign.pk}/change/")
    expect(page.locator(".messagelist")).to_contain_text(f"Imported {PROMPTS} prompts")

    # The campaign list keeps its progress bars and links on screen at laptop width.
    page.goto(f"{live_server.url}/admin/arena/campaign/")
    assert_fits_the_width(page, "the campaign list")
    assert_shown_without_scrolling(page, "#result_list td.field-links a")
    assert_shown_without_scrolling(page, "#result_list td.field-responses_bar svg, #result_list td.field-votes_bar")
    page.screenshot(path=str(shots / "admin-campaign-list.png"))

    # Generate responses: first the estimate, and nothing is sent or queued.
    page.locator(f'#result_list input[name=_selected_action][value="{campaign.pk}"]').check()
    page.select_option("select[name=action]", value="action_generate")
    page.click("button[name=index]")
    page.wait_for_selector("table.estimate")
    tokens = PROMPTS * campaign.expected_output_tokens
    expected = sum(Decimal(tokens) * e.price_per_mtok_out / 1_000_000 for e in entries).quantize(Decimal("0.000001"))
    expect(page.locator("th.estimate-total")).to_have_text(f"${expected}")
    for entry in entries:
        expect(page.locator("table.estimate tbody")).to_contain_text(entry.model)
    assert_fits_the_width(page, "the confirmation page")
    page.screenshot(path=str(shots / "admin-generate-confirm.png"), full_page=True)
    page.wait_for_timeout(500)  # time for anything wrongly queued to reach the worker and the API
    assert sim.stats()["requests_total"] == 0
    assert not Response.objects.filter(campaign=campaign).exists()
    campaign.refresh_from_db()
    assert campaign.status == "draft" and campaign.frozen_settings is None

    page.click("#confirm-generate")
    page.wait_for_url("**/admin/arena/campaign/")
    expect(page.locator(".messagelist")).to_contain_text(f"generation started (estimated cost ${expected})")
    wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == "ready", timeout=90, message="the campaign ready")
    assert sim.stats()["requests_by_model"] == {e.model: PROMPTS for e in entries}
    page.reload()
    expect(page.locator("#result_list td.field-responses_bar")).to_contain_text(f"{2 * PROMPTS} / {2 * PROMPTS}")
    page.screenshot(path=str(shots / "admin-campaign-ready.png"))

    # The frozen settings read as indented JSON on the change page.
    page.goto(f"{live_server.url}/admin/arena/campaign/{campaign.pk}/change/")
    frozen = page.locator("pre.frozen-settings").inner_text()
    assert f'"model": "{entries[0].model}"' in frozen and '\n  "contestants": {' in frozen
    assert_fits_the_width(page, "the change page")
    page.screenshot(path=str(shots / "admin-campaign-change.png"), full_page=True)
    assert blocked == [] and outside == []
