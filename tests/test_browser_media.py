"""The review page shows a conversation and an image, in Debian's Chromium (see test_browser.py).

A reviewer sees each prompt given as messages as a chat transcript above the two answers: one
bubble per turn with its role, a long turn folded until "Show all", an image that fits its
column, loads from this service only, and enlarges on click (Esc closes it). Screenshots of the
page and of the enlarged image are saved under the var dir.
"""

import pytest
from django.conf import settings

from arena.imports import parse_json_list
from arena.models import Vote
from arena.services.campaigns import prompts_import
from tests.factories import add_reviewers, import_media_prompts, make_campaign, open_campaign, png_bytes
from tests.test_browser import CHROMIUM, LABELS, MODELS, browser_page, in_browser, log_in  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]

LONG_TURN = "Here is everything we know about your order.\n" + "\n".join(
    f"Step {i}: the parcel was scanned at depot {i}." for i in range(1, 25)
)


def test_reviewer_sees_the_conversation_and_the_image_and_enlarges_it(live_server, browser_page, reviewer):  # noqa: F811
    in_browser(see_conversation_and_image, live_server, *browser_page)


def see_conversation_and_image(live_server, page, outside, blocked):
    from playwright.sync_api import expect

    campaign = make_campaign(name="Parcel check", labels=LABELS, models=MODELS, k=1)
    png = png_bytes(480, 300, seed=3)
    import_media_prompts(campaign, png)
    long_chat = [
        {"role": "user", "content": "Where is my parcel?"},
        {"role": "assistant", "content": LONG_TURN},
        {"role": "user", "content": "Thanks. And when will it arrive?"},
    ]
    prompts_import(campaign=campaign, rows=parse_json_list([{"external_id": "long", "messages": long_chat}]))
    open_campaign(campaign)
    add_reviewers(campaign, "rita")

    log_in(page, live_server, "rita", f"/review/{campaign.id}/")
    shots = settings.VAR_DIR / "screenshots"
    shots.mkdir(exist_ok=True)
    seen = set()
    for n in range(1, 4):
        page.wait_for_selector("#item:not([hidden]) button.choice:not([disabled])")
        assert page.locator("#conversation-card").is_visible() and not page.locator("#prompt-card").is_visible()
        turns = page.locator("#conversation li.turn")
        roles = [turns.nth(i).get_attribute("class").split()[1] for i in range(turns.count())]
        texts = page.locator("#conversation .turn-text").all_inner_texts()
        if roles == ["turn-system", "turn-user", "turn-assistant", "turn-user"]:
            seen.add("three turns")
            assert texts[-1] == "Yes, nobody has it. What now?"
            assert page.locator("#conversation .turn-role").all_inner_texts()[:3] == ["SYSTEM", "USER", "ASSISTANT"]
        elif page.locator("#conversation img").count():
            seen.add("image")
            img = page.locator("#conversation img")
            expect(img).to_have_js_property("naturalWidth", 480)  # loaded, the exact picture
            column = page.locator("#conversation-card").bounding_box()
            box = img.bounding_box()
            assert box["width"] <= column["width"] and box["height"] <= 261  # fits its column
            page.screenshot(path=str(shots / "review-image.png"), full_page=True)
            img.click()
            expect(page.locator("#lightbox")).to_be_visible()
            big = page.locator("#lightbox-img").bounding_box()
            assert big["width"] > box["width"]
            page.screenshot(path=str(shots / "review-image-enlarged.png"))
            page.keyboard.press("1")  # no vote while the enlarged image is open
            page.keyboard.press("Escape")
            expect(page.locator("#lightbox")).to_be_hidden()
            assert page.locator("#progress").inner_text() == f"{n - 1} of 3"
        else:
            seen.add("long turn")
            long_turn = page.locator("#conversation li.turn-assistant")
            assert "folded" in long_turn.get_attribute("class")
            folded = long_turn.locator(".turn-text").bounding_box()["height"]
            long_turn.get_by_role("button", name="Show all").click()
            assert long_turn.locator(".turn-text").bounding_box()["height"] > 2 * folded
            assert "Step 24: the parcel was scanned at depot 24." in long_turn.inner_text()
            page.screenshot(path=str(shots / "review-conversation.png"), full_page=True)
        html = page.content()
        assert not [secret for secret in (*LABELS, *MODELS) if secret in html]
        page.keyboard.press("3")
        if n < 3:
            expect(page.locator("#progress")).to_have_text(f"{n} of 3")
    expect(page.locator("#done")).to_be_visible()
    assert list(Vote.objects.values_list("choice", flat=True)) == ["tie"] * 3  # not the "1" pressed on the image
    assert seen == {"three turns", "image", "long turn"}
    assert blocked == [] and outside == []
