"""The review page with criteria, in Debian's Chromium, keyboard only: the overall row, then
each criterion row with the same keys (1-4, arrows), ArrowUp/ArrowDown to move, Enter to send.
A screenshot of the page is saved under the var directory (screenshots/review-criteria.png)."""

from pathlib import Path

import pytest
from django.conf import settings

from arena.models import Campaign, Vote
from arena.services.pairing import comparisons_build
from tests.factories import add_reviewers, generate_done, make_campaign
from tests.test_browser import CHROMIUM, LABELS, MODELS, browser_page, in_browser, log_in  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]

CRITERIA = [
    {"key": "accuracy", "question": "Which answer is more accurate?"},
    {"key": "tone", "question": "Which answer has the kinder tone?", "required": False},
]


def test_reviewer_answers_criteria_with_the_keyboard_only(live_server, browser_page, reviewer):  # noqa: F811
    in_browser(answer_three_items, live_server, *browser_page)


def answers_of(vote: Vote) -> dict:
    return {a.criterion.key: a.choice for a in vote.criteria.select_related("criterion")}


def answer_three_items(live_server, page, outside, blocked):
    from playwright.sync_api import expect

    campaign = make_campaign(name="Facts and tone", labels=LABELS, models=MODELS, prompts=3, k=1, criteria=CRITERIA)
    generate_done(campaign, text_for=lambda p, c: f"Answer {p.position} from side {c.position}: the parcel is late.")
    comparisons_build(campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status="open")
    (rita,) = add_reviewers(campaign, "rita")

    log_in(page, live_server, "rita", f"/review/{campaign.id}/", keyboard=True)
    page.wait_for_selector("#item:not([hidden]) button.choice:not([disabled])")
    rows = page.locator(".answer-row")
    expect(rows).to_have_count(3)
    assert [q.strip() for q in page.locator(".answer-row .row-question").all_inner_texts()] == [
        "Overall, which answer is better?",
        "Which answer is more accurate?",
        "Which answer has the kinder tone? (optional)",
    ]
    # The criteria sit under the two answers.
    assert page.locator("#criteria").bounding_box()["y"] > page.locator("#right").bounding_box()["y"]
    assert rows.nth(0).get_attribute("aria-current") == "true"

    def send_and_wait(n):
        page.keyboard.press("Enter")
        expect(page.locator("#progress")).to_have_text(f"{n} of 3")

    # Item 1: overall left, accuracy right, tone tie, Enter.
    page.keyboard.press("1")
    assert rows.nth(1).get_attribute("aria-current") == "true"  # the highlight moved down
    page.keyboard.press("2")
    page.keyboard.press("3")
    shot = Path(settings.VAR_DIR) / "screenshots" / "review-criteria.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    send_and_wait(1)
    first = Vote.objects.get(reviewer=rita)
    assert (first.choice, answers_of(first)) == ("left", {"accuracy": "right", "tone": "tie"})

    # Item 2: Enter before the required criterion is answered sends nothing and says why.
    page.wait_for_selector("#item:not([hidden]) button.choice:not([disabled])")
    expect(rows.nth(0)).to_have_attribute("aria-current", "true")  # a new item starts at the top
    page.keyboard.press("4")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text("Which answer is more accurate?")
    assert Vote.objects.filter(reviewer=rita).count() == 1
    page.keyboard.press("ArrowLeft")  # the arrows answer too: accuracy left
    send_and_wait(2)  # the optional tone is left out
    second = Vote.objects.filter(reviewer=rita).order_by("created_at").last()
    assert (second.choice, answers_of(second)) == ("both_bad", {"accuracy": "left"})

    # Item 3: change the overall answer with ArrowUp before sending.
    page.wait_for_selector("#item:not([hidden]) button.choice:not([disabled])")
    page.keyboard.press("1")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("2")
    page.keyboard.press("3")
    page.keyboard.press("4")
    page.keyboard.press("Enter")
    page.wait_for_selector("#done:not([hidden])")
    third = Vote.objects.filter(reviewer=rita).order_by("created_at").last()
    assert (third.choice, answers_of(third)) == ("right", {"accuracy": "tie", "tone": "both_bad"})

    html = page.content()
    for secret in (*LABELS, *MODELS):
        assert secret not in html
    assert shot.stat().st_size > 10_000
    assert blocked == [] and outside == []
