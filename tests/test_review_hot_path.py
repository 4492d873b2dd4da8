"""The review path: markdown rendered once and stored, a fixed small number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arena import review_items
from arena.models import Assignment, Campaign, Prompt, Response
from arena.rendering import render_markdown
from arena.services import prerender
from tests.factories import add_reviewers, api_client, generate_done, make_campaign, open_campaign

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_repeats")]

HOSTILE = "Fine.\n\n<script>alert(1)</script> <img src=x onerror=alert(2)>\n\n- one\n- two"


def open_with(prompts, *reviewers, k=3, text_for=None):
    campaign = make_campaign(prompts=prompts, k=k)
    generate_done(campaign, text_for=text_for)
    open_campaign(campaign)
    return campaign, add_reviewers(campaign, *reviewers)


def test_first_view_stores_the_safe_html_and_later_views_reuse_it(monkeypatch):
    campaign, (r1, r2) = open_with(1, "r1", "r2", text_for=lambda p, c: f"**Answer {c.position}**\n\n{HOSTILE}")
    first = api_client(r1).get(f"/api/review/next/?campaign={campaign.id}").json()
    for response in Response.objects.filter(campaign=campaign):
        assert response.html == render_markdown(response.text)
    prompt = Prompt.objects.get(campaign=campaign)
    assert prompt.html == render_markdown(prompt.display_text)

    def no_rendering(text):
        raise AssertionError("markdown rendered again")

    monkeypatch.setattr(review_items, "render_markdown", no_rendering)
    second = api_client(r2).get(f"/api/review/next/?campaign={campaign.id}").json()
    assert {second["left"]["html"], second["right"]["html"]} == {first["left"]["html"], first["right"]["html"]}
    assert second["prompt_html"] == first["prompt_html"]


def test_stored_html_shows_hostile_markup_as_text():
    campaign, (r1,) = open_with(1, "r1", text_for=lambda p, c: HOSTILE)
    body = api_client(r1).get(f"/api/review/next/?campaign={campaign.id}").json()
    for side in ("left", "right"):
        assert "&lt;script&gt;" in body[side]["html"]
        assert "<script" not in body[side]["html"] and "<img" not in body[side]["html"]
    for html in Response.objects.filter(campaign=campaign).values_list("html", flat=True):
        assert "<script" not in html and "<img" not in html


def test_the_api_serves_each_next_and_vote_with_the_same_few_queries_whatever_the_campaign_size(settings):
    settings.REVIEW_EXPIRY_EVERY_SECONDS = 0  # the lazy expiry runs on every "next" here

    def measure(prompts):
        campaign, users = open_with(prompts, "a", "b", "c", "d")
        for user in users[:3]:  # some history to walk past
            client = api_client(user)
            for _ in range(2):
                token = client.get(f"/api/review/next/?campaign={campaign.id}").json()["assignment"]
                assert client.post(f"/api/review/{token}/vote/", {"choice": "tie"}, format="json").status_code == 201
        client = api_client(users[3])
        with CaptureQueriesContext(connection) as next_queries:
            r = client.get(f"/api/review/next/?campaign={campaign.id}")
        assert r.status_code == 200
        token = r.json()["assignment"]
        with CaptureQueriesContext(connection) as vote_queries:
            assert client.post(f"/api/review/{token}/vote/", {"choice": "left"}, format="json").status_code == 201
        assert Assignment.objects.get(token=token).status == Assignment.Status.VOTED
        # Storing rendered HTML happens once per text (up to 3 on a comparison's first view).
        statements = [q["sql"] for q in next_queries.captured_queries]
        fills = [sql for sql in statements if sql.startswith("UPDATE") and "html" in sql.replace('"', "")]
        assert len(fills) <= 3
        return len(statements) - len(fills), len(vote_queries)

    small, large = measure(4), measure(150)
    assert large[0] <= small[0] and large[1] <= small[1], (small, large)
    # "next": lazy expiry (3 with its transaction), transaction (2), membership lock with the
    # current lease (1), pick (1), claim (1), lease (1), served count (1), item (1); a vote:
    # transaction (2), lock (1), vote count (1), status (1), vote (1), the reviewer's progress (1),
    # and the pair's decision (services/decisions.py): its comparison's pair (1), its locked row
    # (1), its update (1).
    assert large[0] <= 11 and large[1] <= 10, large


def test_a_worker_renders_every_text_before_review_so_next_renders_nothing(monkeypatch):
    campaign = make_campaign(prompts=3, k=2)
    generate_done(campaign, text_for=lambda p, c: f"**Answer {c.position}**\n\n{HOSTILE}")
    Response.objects.filter(campaign=campaign, prompt__position=3, contestant__position=1).update(status="failed")
    rendered = prerender.html_prerender(campaign_id=campaign.pk)
    assert rendered == 3 + 5  # every prompt, every done response (not the failed one)
    for response in Response.objects.filter(campaign=campaign):
        expected = render_markdown(response.text) if response.status == "done" else ""
        assert response.html == expected
        assert "<script" not in response.html and "<img" not in response.html
    for prompt in Prompt.objects.filter(campaign=campaign):
        assert prompt.html == render_markdown(prompt.display_text)
    assert prerender.html_prerender(campaign_id=campaign.pk) == 0  # idempotent

    # Never overwrites HTML a reviewer's first view stored meanwhile.
    Prompt.objects.filter(campaign=campaign, position=1).update(html="<p>kept</p>")
    assert prerender.html_prerender(campaign_id=campaign.pk) == 0
    assert Prompt.objects.get(campaign=campaign, position=1).html == "<p>kept</p>"

    open_campaign(campaign)
    (r1,) = add_reviewers(campaign, "r1")
    monkeypatch.setattr(review_items, "render_markdown", lambda text: pytest.fail("rendered on the hot path"))
    body = api_client(r1).get(f"/api/review/next/?campaign={campaign.id}").json()
    assert "&lt;script&gt;" in body["left"]["html"]


def test_opening_review_and_finishing_generation_enqueue_the_rendering(monkeypatch, django_capture_on_commit_callbacks):
    from arena import tasks
    from arena.services import campaigns as campaign_services
    from arena.services.generation import generation_finish_if_complete

    queued = []
    monkeypatch.setattr(tasks.html_prerender, "delay", lambda campaign_id: queued.append(campaign_id))
    campaign = make_campaign(prompts=2, k=2)
    generate_done(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.GENERATING)
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_finish_if_complete(campaign_id=campaign.pk)
    assert queued == [campaign.pk]
    campaign.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        campaign_services.campaign_open(campaign=campaign)
    assert queued == [campaign.pk, campaign.pk]
