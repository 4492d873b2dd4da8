"""The review page in a real browser: Playwright's sync API driving Debian's Chromium.

Logs in as a reviewer, votes five times with keys and clicks (one of them a double click,
which must send one vote), checks no model label ever shows, saves a screenshot, and checks
that a response containing `<script>` and `<img onerror>` is shown as text and never runs.
Playwright never downloads a browser here: it launches /usr/bin/chromium
(`apt-get install -y chromium`).
"""

from pathlib import Path

import pytest
from django.db import connections

from arena.models import Campaign, Response, Vote
from arena.services.pairing import comparisons_build
from tests.factories import add_reviewers, cast_vote, generate_done, make_campaign, open_campaign

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LABELS = ("Zephyrion Prime", "Quokkaflux Lite")
MODELS = ("zephyrion-x9-ultra", "quokkaflux-2b-instruct")
HOSTILE = (
    "Here is the fix:\n\n<script>window.__pwned = 'script'</script>\n\n"
    "An image: <img src=x onerror=\"window.__pwned = 'img'\">\n\n"
    "```python\nprint('hello')\n```\n\n| step | what |\n|---|---|\n| 1 | restart |\n"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)"
    ),
]


@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the test makes
    # between browser steps are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        # Nothing but the live server may be fetched: no asset from the internet.
        outside = []
        page.on(
            "request",
            lambda r: outside.append(r.url) if "127.0.0.1" not in r.url and "localhost" not in r.url else None,
        )
        # Chromium reports every script, style or request the Content-Security-Policy blocks on
        # the console; the site's own pages must cause none.
        blocked = []
        page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
        yield page, outside, blocked
        context.close()
        browser.close()


def test_reviewer_votes_five_times_with_keys_and_mouse_and_sees_no_model(live_server, browser_page, reviewer):
    in_browser(review_five_times, live_server, *browser_page, reviewer)


def in_browser(flow, *args) -> None:
    """Run `flow(*args)`, a browser test's steps, then close the database connections.

    With Playwright running, the test's ORM calls get a database connection of their own (not
    pytest-django's); close it here, in the same context, or it outlives the session and the
    test database cannot be dropped at the end."""
    try:
        flow(*args)
    finally:
        connections.close_all()


def log_in(page, live_server, username: str, next_path: str, *, keyboard: bool = False) -> None:
    """Sign in through the login form as `username` (password `<username>-pass-123`, as the
    tests' users have) and wait for `next_path`; `keyboard`: send the form with Enter."""
    page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", f"{username}-pass-123")
    if keyboard:
        page.keyboard.press("Enter")  # the login form too, without the mouse
    else:
        page.click("button[type=submit]")
    page.wait_for_url(f"**{next_path}")


def review_five_times(live_server, page, outside, blocked, reviewer):
    from playwright.sync_api import expect

    campaign = make_campaign(name="Spring support check", labels=LABELS, models=MODELS, prompts=8, k=1)
    generate_done(
        campaign, text_for=lambda prompt, c: HOSTILE if c.position == 0 else f"Plain answer {prompt.position}."
    )
    Response.objects.filter(campaign=campaign).update(served_model=MODELS[0])
    comparisons_build(campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status="open")
    (rita,) = add_reviewers(campaign, reviewer.username)  # `reviewer` is rita, with a password

    log_in(page, live_server, "rita", f"/review/{campaign.id}/")
    page.wait_for_selector("#item:not([hidden])")
    progress = page.locator("#progress")
    assert progress.inner_text() == "0 of 8"
    assert not page.locator("#flag-form").is_visible()  # the flag form opens only on demand

    # The hostile response is shown as text and nothing in it ran.
    both = page.locator("#left").inner_text() + page.locator("#right").inner_text()
    assert "<script>window.__pwned = 'script'</script>" in both
    assert "<img src=x onerror=" in both
    assert page.locator("#left img, #right img, #left script, #right script").count() == 0
    assert page.locator(".pair table").count() == 1 and page.locator(".pair pre code").count() == 1
    page.wait_for_timeout(200)
    assert page.evaluate("window.__pwned === undefined")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)

    def act(n, action):
        action()
        # A locator wait, not wait_for_function: Playwright evaluates a predicate string with
        # eval(), which the page's Content-Security-Policy (rightly) refuses.
        expect(page.locator("#progress")).to_have_text(f"{n} of 8")
        page.wait_for_selector("#item:not([hidden]) button.choice:not([disabled])")
        html = page.content()
        for secret in (*LABELS, *MODELS):
            assert secret not in html

    act(1, lambda: page.keyboard.press("1"))
    act(2, lambda: page.keyboard.press("ArrowRight"))
    act(3, lambda: page.get_by_role("button", name="Tie").dblclick())  # a double press: one vote
    act(4, lambda: page.keyboard.press("4"))
    act(5, lambda: page.get_by_role("button", name="Left is better").click())

    votes = list(Vote.objects.filter(reviewer=rita).order_by("created_at").values_list("choice", flat=True))
    assert votes == ["left", "right", "tie", "both_bad", "left"]
    assert page.evaluate("window.__pwned === undefined")
    assert not outside, outside

    # Skip with S, then the guidelines open with one click.
    page.keyboard.press("s")
    page.wait_for_selector("#item:not([hidden]) button.choice:not([disabled])")
    page.click("#guidelines summary")
    assert page.locator("#guidelines .guidelines-body").is_visible()
    assert Vote.objects.filter(reviewer=rita).count() == 5
    assert blocked == []


def test_the_leads_campaign_and_report_pages_work_under_the_content_security_policy(live_server, browser_page, lead):
    in_browser(lead_pages, live_server, *browser_page)


def lead_pages(live_server, page, outside, blocked):
    from playwright.sync_api import expect

    campaign = make_campaign(name="Three-way check", labels=("North", "South", "East"), prompts=4, k=1)
    (rita,) = add_reviewers(campaign, "rita")
    for comparison in open_campaign(campaign):
        cast_vote(comparison, rita, "a")

    log_in(page, live_server, "lead", f"/campaigns/{campaign.id}/report/")
    # The report's styles are a file now: the win matrices sit side by side, as its CSS says.
    matrix = page.locator("table.matrix").first
    assert matrix.evaluate("t => getComputedStyle(t).display") == "inline-table"
    # The style-controlled board sits beside the plain one; with 4 votes per model no rating
    # is estimable, and the page says so instead of printing a prior's number.
    expect(page.locator("#style-control")).to_be_visible()
    assert page.locator("#style-leaderboard tbody tr").count() == 3
    assert "not estimable" in page.locator("#style-leaderboard").inner_text()

    # The campaign page's script (a file too) polls the progress endpoint and shows what changed.
    page.goto(f"{live_server.url}/campaigns/{campaign.id}/")
    assert page.locator("#status").inner_text() == "open"
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.CLOSED)
    expect(page.locator("#status")).to_have_text("closed", timeout=20000)

    # Django admin, with the campaign list's progress bars, is within the policy too.
    page.goto(f"{live_server.url}/admin/arena/campaign/")
    assert page.locator("#result_list svg rect").count() >= 3
    assert blocked == [] and outside == []
