"""One item with everything issue 11 adds, in Debian's Chromium, keyboard only: a campaign with
two criteria whose prompts are a conversation and a photo. The reviewer sees the transcript and
the image, answers the overall row and both criteria with 1-4 and sends with Enter; the votes
and answers stored are the keys pressed. Screenshot: screenshots/review-rich-item.png."""

import pytest
from django.conf import settings

from arena.models import Vote
from tests.factories import add_reviewers, import_media_prompts, make_campaign, open_campaign, png_bytes
from tests.test_browser import CHROMIUM, LABELS, MODELS, browser_page, in_browser, log_in  # noqa: F401 (a fixture)
from tests.test_browser_criteria import CRITERIA, answers_of

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]


def test_a_criteria_item_with_a_conversation_and_an_image_by_keyboard(live_server, browser_page, reviewer):  # noqa: F811
    in_browser(answer_rich_items, live_server, *browser_page)


def answer_rich_items(live_server, page, outside, blocked):
    from playwright.sync_api import expect

    campaign = make_campaign(name="Parcel help", labels=LABELS, models=MODELS, k=1, criteria=CRITERIA)
    import_media_prompts(campaign, png_bytes(320, 200, seed=5))
    open_campaign(campaign)
    (rita,) = add_reviewers(campaign, "rita")

    log_in(page, live_server, "rita", f"/review/{campaign.id}/", keyboard=True)
    # (keys pressed, expected choice, expected answers) per item, in the order served.
    shot = settings.VAR_DIR / "screenshots" / "review-rich-item.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    plans = [("132", "left", {"accuracy": "tie", "tone": "right"}), ("24", "right", {"accuracy": "both_bad"})]
    seen = {"transcript": False, "image": False}
    for n, (keys, choice, answers) in enumerate(plans, start=1):
        page.wait_for_selector("#item:not([hidden]) button.choice:not([disabled])")
        expect(page.locator("#conversation-card")).to_be_visible()
        expect(page.locator(".answer-row")).to_have_count(3)
        roles = page.locator("#conversation .turn-role").all_inner_texts()
        if "ASSISTANT" in roles:  # the three-turn chat
            seen["transcript"] = True
            assert roles == ["SYSTEM", "USER", "ASSISTANT", "USER"]
        if page.locator("#conversation img").count():
            seen["image"] = True
            img = page.locator("#conversation img")
            expect(img).to_have_js_property("naturalWidth", 320)  # loaded: the uploaded picture
        for key in keys:
            page.keyboard.press(key)
        if page.locator("#conversation img").count():  # the image item, answered, before sending
            page.screenshot(path=str(shot), full_page=True)
        page.keyboard.press("Enter")
        if n < len(plans):
            expect(page.locator("#progress")).to_have_text(f"{n} of 2")
        else:
            page.wait_for_selector("#done:not([hidden])")
        vote = Vote.objects.filter(reviewer=rita).order_by("created_at").last()
        assert vote is not None and (vote.choice, answers_of(vote)) == (choice, answers)
    assert seen == {"transcript": True, "image": True}
    assert Vote.objects.filter(reviewer=rita).count() == 2
    html = page.content()
    for secret in (*LABELS, *MODELS):
        assert secret not in html
    assert shot.stat().st_size > 10_000
    assert blocked == [] and outside == []
