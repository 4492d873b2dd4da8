"""Nothing a reviewer can fetch names or hints at a model.

The campaign uses distinctive labels, model ids, served models, response ids, costs and token
counts, so that a leak anywhere in the reviewer's JSON or HTML makes the scan fail.
"""

import json
import re
from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from arena.models import Campaign, Response
from arena.services.pairing import comparisons_build
from tests.factories import add_reviewers, generate_done, import_media_prompts, make_campaign, png_bytes

pytestmark = pytest.mark.django_db

LABELS = ("Zephyrion Prime", "Quokkaflux Lite", "Marmotron Max")
MODELS = ("zephyrion-x9-ultra", "quokkaflux-2b-instruct", "marmotron-70b-chat")
VENDORS = ("DeepSeek", "Alibaba", "Moonshot", "Zhipu", "OpenAI", "Anthropic", "Qwen", "Kimi")
COST = Decimal("0.004213")
BLIND_CRITERIA = [
    {"key": "accuracy", "question": "Which answer gets the facts right?"},
    {"key": "tone", "question": "Which answer sounds kinder?", "required": False},
]
INPUT_TOKENS, OUTPUT_TOKENS, LATENCY = 73191, 81727, 60817
TTFT, RATE_LIMITED = 50923, 4711
STYLE = [67391, 41, 43, 47]  # stored style counts (length, headers, list items, bold)


@pytest.fixture
def blind_campaign():
    return made_blind(
        make_campaign(
            name="Support answers, spring", labels=LABELS, models=MODELS, prompts=3, k=2, criteria=BLIND_CRITERIA
        )
    )


def made_blind(campaign):
    """Generated with distinctive served models, costs, tokens and response ids; then opened."""
    generate_done(
        campaign, text_for=lambda p, c: f"Thanks for writing in. Your parcel left the depot today ({p.position})."
    )
    Response.objects.filter(campaign=campaign).update(
        served_model="zephyrion-x9-ultra-2025-07-01",
        cost_usd=COST,
        input_tokens=INPUT_TOKENS,
        output_tokens=OUTPUT_TOKENS,
        latency_ms=LATENCY,
        ttft_ms=TTFT,
        rate_limited=RATE_LIMITED,
        style=STYLE,
    )
    # Distinctive response ids, set before any comparison points at them.
    for i, response in enumerate(Response.objects.filter(campaign=campaign).order_by("id")):
        Response.objects.filter(pk=response.pk).update(id=918273600 + i)
    comparisons_build(campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status="open")
    campaign.refresh_from_db()
    return campaign


def forbidden_strings(campaign) -> list[str]:
    strings = [*LABELS, *MODELS, "zephyrion-x9-ultra-2025-07-01", *VENDORS]
    strings += [str(pk) for pk in Response.objects.filter(campaign=campaign).values_list("pk", flat=True)]
    strings += ["0.004213", "0.0042", str(INPUT_TOKENS), str(OUTPUT_TOKENS), str(LATENCY), str(TTFT), str(RATE_LIMITED)]
    strings += [str(STYLE[0]), "list_items"]
    strings += ["ttft", "rate_limited", "usd_per_1k", "tokens_per_s"]
    strings += ["model_a", "model_b", "contestant", "served_model", "cost_usd", "output_tokens", "response_a"]
    return strings


# Random values a reviewer is shown, each in the one place it appears: an assignment token, an
# image's URL token, Django's CSRF form token. They are blanked before the scan, because a
# random token can spell a forbidden string ("p84m5hQweNi9..." holds "qwen"); each pattern needs
# the token's exact length and alphabet, so a label or model id put in its place is still found.
RANDOM_TOKENS = [
    re.compile(r'("assignment":\s*")[A-Za-z0-9_-]{24}(")'),
    re.compile(r"(/api/review/)[A-Za-z0-9_-]{24}(/)"),
    re.compile(r"(/media/i/)[A-Za-z0-9_-]{32}(/)"),
    re.compile(r'(name="csrfmiddlewaretoken" value=")[A-Za-z0-9]{64}(")'),
]


def without_random_tokens(text: str) -> str:
    for pattern in RANDOM_TOKENS:
        text = pattern.sub(r"\1<random>\2", text)
    return text


def assert_blind(text: str, campaign, where: str):
    lowered = without_random_tokens(text).lower()
    leaks = [s for s in forbidden_strings(campaign) if s.lower() in lowered]
    assert not leaks, f"{where} shows {leaks}"


def test_the_scan_can_fail(blind_campaign):
    with pytest.raises(AssertionError):
        assert_blind("<td>Quokkaflux Lite</td>", blind_campaign, "a leaky page")


def test_a_random_token_is_not_a_leak_but_a_model_id_in_its_place_is():
    """CI once failed on the assignment token "p84m5hQweNi9cBVFKD78QJMW" ("qwen"): the scan skips
    random tokens where they belong, and still finds a model id where a token would be."""
    token = "p84m5hQweNi9cBVFKD78QJMW"
    item = f'{{"assignment":"{token}","left":"/api/review/{token}/vote/","img":"/media/i/{"Kimi" * 8}/"}}'
    assert "qwen" not in without_random_tokens(item).lower() and "kimi" not in without_random_tokens(item).lower()
    for leaky in ('{"assignment":"zephyrion-x9-ultra-2025-07-01"}', "/api/review/marmotron-70b-chat/vote/"):
        assert without_random_tokens(leaky) == leaky
    form = f'<input type="hidden" name="csrfmiddlewaretoken" value="{"Qwen" * 16}">'
    assert "qwen" not in without_random_tokens(form).lower()


@pytest.mark.parametrize("auth", ["session", "token"])
def test_reviewer_json_and_html_name_no_model(blind_campaign, reviewer, settings, auth):
    """Through the browser's session and through an API token: the same scan, every answer."""
    settings.REVIEW_REPEAT_SHARE = 0.5  # repeat checks are shown too
    campaign = blind_campaign
    add_reviewers(campaign, reviewer.username)
    client = Client()
    if auth == "session":
        client.force_login(reviewer)
    else:
        client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=reviewer).key}")
    seen = []

    def fetch(method, url, **kw):
        r = getattr(client, method)(url, **kw)
        body = r.content.decode()
        seen.append((url, r.status_code))
        assert_blind(body, campaign, f"{method.upper()} {url} ({r.status_code})")
        assert_blind(json.dumps(dict(r.items())), campaign, f"headers of {url}")
        return r

    fetch("get", "/")
    fetch("get", f"/review/{campaign.id}/")
    fetch("get", "/api/review/next/")  # 400
    fetch("get", "/api/review/next/?campaign=999999")  # 404
    bad_token = Client(HTTP_AUTHORIZATION="Token " + "0" * 40)
    for r in (bad_token.get(f"/api/review/next/?campaign={campaign.id}"), bad_token.post("/api/review/x/vote/")):
        assert r.status_code in (401, 403)
        assert_blind(r.content.decode(), campaign, "an invalid token's answer")
    fetch("post", "/api/review/no-such-token/vote/", data={"choice": "left"}, content_type="application/json")
    first = None
    while True:
        r = fetch("get", f"/api/review/next/?campaign={campaign.id}")
        if r.status_code == 204:
            break
        token = r.json()["assignment"]
        first = first or token
        assert [c["key"] for c in r.json()["criteria"]] == ["accuracy", "tone"]
        url = f"/api/review/{token}/vote/"
        answers = {"accuracy": "right", "tone": "tie"}
        fetch("post", url, data={"choice": "bogus"}, content_type="application/json")  # 400
        for bad in ({}, {"accuracy": "a"}, {"accuracy": "left", "speed": "left"}):  # 400s naming a key
            fetch("post", url, data={"choice": "left", "criteria": bad}, content_type="application/json")
        fetch(
            "post", url, data={"choice": "left", "comment": "ok", "criteria": answers}, content_type="application/json"
        )
        fetch("post", url, data={"choice": "left", "criteria": answers}, content_type="application/json")  # 200
        fetch("post", url, data={"choice": "left", "criteria": {"accuracy": "left"}}, content_type="application/json")
        fetch("post", url, data={"choice": "right"}, content_type="application/json")  # 409
        fetch("post", f"/api/review/{token}/skip/")  # 409 on a voted item
    fetch("get", "/")
    fetch("get", f"/review/{campaign.id}/")
    statuses = {s for _, s in seen}
    assert {200, 201, 204, 400, 404, 409} <= statuses
    assert sum(1 for url, s in seen if url.startswith("/api/review/next/?campaign=") and s == 200) >= 9


def test_reviewer_cannot_reach_lead_pages_or_reports(blind_campaign, reviewer):
    add_reviewers(blind_campaign, reviewer.username)
    client = Client()
    client.force_login(reviewer)
    for url in (
        f"/api/campaigns/{blind_campaign.id}/",
        f"/api/campaigns/{blind_campaign.id}/report/",
        f"/api/campaigns/{blind_campaign.id}/report.csv",
        f"/api/campaigns/{blind_campaign.id}/leaderboard.csv",
        f"/api/campaigns/{blind_campaign.id}/leaderboard_style.csv",
        f"/api/campaigns/{blind_campaign.id}/models.csv",
        f"/api/campaigns/{blind_campaign.id}/reviewers/quality/",
        f"/api/campaigns/{blind_campaign.id}/flags/",
        "/api/campaigns/",
    ):
        r = client.get(url)
        assert r.status_code in (403, 404), url
        assert_blind(r.content.decode(), blind_campaign, url)


def test_conversations_image_urls_and_image_headers_name_no_model(reviewer, no_repeats):
    """The scan over prompts given as messages: a conversation and an image. An image's URL is a
    random token, and its answer's headers name no file, digest, campaign or model."""
    import hashlib
    import re

    png = png_bytes(24, 24, seed=61)
    campaign = make_campaign(name="Support answers, spring", labels=LABELS, models=MODELS, k=1)
    import_media_prompts(campaign, png)
    made_blind(campaign)
    add_reviewers(campaign, reviewer.username)
    client = Client()
    client.force_login(reviewer)
    digest = hashlib.sha256(png).hexdigest()
    turns, images = 0, 0
    while (r := client.get(f"/api/review/next/?campaign={campaign.id}")).status_code == 200:
        assert_blind(r.content.decode(), campaign, "an item with a conversation")
        for turn in r.json()["conversation"] or []:
            turns += 1
            for url in turn["images"]:
                images += 1
                assert re.fullmatch(r"/media/i/[A-Za-z0-9_-]{32}/", url), url
                assert digest[:12] not in url
                shown = client.get(url)
                assert shown.status_code == 200 and shown.content == png
                headers = json.dumps(dict(shown.items()))
                assert_blind(headers, campaign, f"headers of {url}")
                for secret in (digest[:12], campaign.name, "filename", "Content-Disposition"):
                    assert secret.lower() not in headers.lower(), secret
        client.post(
            f"/api/review/{r.json()['assignment']}/vote/", data={"choice": "tie"}, content_type="application/json"
        )
    assert turns == 3 * (4 + 1) and images == 3  # three pairs of each prompt: 4 turns and 1 turn


def test_an_adaptive_campaign_tells_reviewers_nothing_new(blind_campaign, reviewer):
    """Stopping decides who gets which item, never what an item shows: the same scan on every
    answer of an adaptive campaign until it is done, and the decisions are the lead's only."""
    campaign = blind_campaign
    Campaign.objects.filter(pk=campaign.pk).update(stopping="adaptive", equivalence_margin=0)
    add_reviewers(campaign, reviewer.username)
    client = Client()
    client.force_login(reviewer)
    answered = 0
    while (r := client.get(f"/api/review/next/?campaign={campaign.id}")).status_code == 200:
        assert_blind(r.content.decode(), campaign, "an adaptive campaign's item")
        allowed = {"assignment", "campaign", "prompt", "prompt_html", "left", "right", "guidelines", "progress"}
        assert set(r.json()) <= allowed | {"criteria", "conversation"}
        body = {"choice": "left", "criteria": {c["key"]: "left" for c in r.json()["criteria"] if c["required"]}}
        vote = client.post(f"/api/review/{r.json()['assignment']}/vote/", body, "application/json")
        assert vote.status_code == 201, vote.content  # else the same item comes back for ever
        assert_blind(vote.content.decode(), campaign, "a vote's answer")
        answered += 1
    assert r.status_code == 204 and answered > 0
    for url in (f"/api/campaigns/{campaign.id}/decisions.csv", f"/api/campaigns/{campaign.id}/report/"):
        denied = client.get(url)
        assert denied.status_code in (403, 404)
        assert_blind(denied.content.decode(), campaign, url)
    denied = client.post(f"/api/campaigns/{campaign.id}/stopping/", {"stopping": "fixed"}, "application/json")
    assert denied.status_code in (403, 404)


def test_a_criterion_question_naming_a_model_is_refused_at_open(blind_campaign, lead):
    """Reviewers read the questions: one naming a contestant (added after creation, e.g. in
    admin) keeps the campaign from opening, as its name and guidelines would."""
    from arena.errors import Conflict
    from arena.models import Criterion
    from arena.services.campaigns import check_blind_texts

    Criterion.objects.filter(campaign=blind_campaign, key="tone").update(question="Is Marmotron Max kinder?")
    with pytest.raises(Conflict) as refused:
        check_blind_texts(campaign=blind_campaign)
    assert refused.value.field == "criteria.tone"


JUDGE_LABEL, JUDGE_MODEL = "Owlbear Arbiter", "owlbear-judge-7"


@pytest.mark.django_db(transaction=True)
def test_the_judge_is_sent_no_label_or_model_id_and_reviewers_see_nothing_of_judges(
    blind_campaign, reviewer, sim, eager, settings
):
    from arena.models import Judge, Judgement
    from arena.services.judging import judging_start

    settings.LLM_REQUEST_TIMEOUT, settings.LLM_BACKOFF_BASE = 0.5, 0.01
    sim.configure(judge_models=[JUDGE_MODEL], judge_rule="longer")
    campaign = blind_campaign
    Judge.objects.create(campaign=campaign, label=JUDGE_LABEL, model=JUDGE_MODEL, base_url=sim.base_url)
    judging_start(campaign_id=campaign.pk)
    judgements = list(Judgement.objects.filter(campaign=campaign))
    assert len(judgements) == 2 * campaign.comparisons.count() and {j.status for j in judgements} == {"done"}
    for j in judgements:
        sent = json.dumps(j.request["body"], ensure_ascii=False)
        assert "Your parcel left the depot" in sent  # the scan reads the real request
        assert_blind(sent.replace(JUDGE_MODEL, ""), campaign, f"the request of judgement {j.pk}")

    add_reviewers(campaign, reviewer.username)
    client = Client()
    client.force_login(reviewer)
    for url in ("/", f"/review/{campaign.id}/", f"/api/review/next/?campaign={campaign.id}"):
        body = client.get(url).content.decode().lower()
        assert JUDGE_LABEL.lower() not in body and JUDGE_MODEL not in body and "judge" not in body, url
    for path in ("calibration/", "judgements.csv", "judge_leaderboard.csv", "judges/"):
        r = client.get(f"/api/campaigns/{campaign.id}/{path}")
        assert r.status_code in (403, 404) and JUDGE_LABEL not in r.content.decode()
