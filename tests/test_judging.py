"""LLM judges against the simulated API taught to judge (simulator/judging.py): the exports,
the calibration worked out here from the votes and verdicts by the contract's definitions,
fault handling, a killed worker, hybrid review and the API's validation."""

import csv
import io
import itertools

import pytest
from django.test import override_settings

from arena.models import Campaign, Comparison, Judge, Judgement, Vote
from arena.reports.build import campaign_report
from arena.services.judging_hybrid import HALF
from simulator import stats_key
from tests.conftest import FAST_LLM, wait_until
from tests.factories import add_reviewers, api_client, cast_vote, generate_done, make_campaign, open_campaign

JUDGE_MODEL = "judge-sim-1"
FAST_WORKER = {"LLM_REQUEST_TIMEOUT": "2", "LLM_BACKOFF_BASE": "0.05", "LLM_BACKOFF_MAX": "0.2"}


def answer_text(prompt, contestant):
    """Every third prompt A's answer carries the marker, the next B's, the next neither;
    A's answer is longer on even prompts."""
    marked = {0: 0, 1: 1}.get(prompt.position % 3)
    text = f"Answer {contestant.position} to question {prompt.position}."
    if prompt.position % 2 == 0 and contestant.position == 0:
        text += " With a few more words of detail."
    if marked == contestant.position:
        text += " [best]"
    return text


def campaign_with_votes(*, prompts=9, k=3, categories=("shipping", "billing"), **fields):
    campaign = make_campaign(prompts=prompts, k=k, labels=("Alpha", "Beta"), categories=list(categories), **fields)
    generate_done(campaign, text_for=answer_text)
    comparisons = open_campaign(campaign)
    reviewers = add_reviewers(campaign, *[f"rev{i}-{campaign.pk}" for i in range(k)])
    outcomes = itertools.cycle(["a", "a", "b", "tie", "b", "a", "both_bad", "b", "a", "a", "b"])
    for comparison in comparisons:
        for reviewer in reviewers:
            cast_vote(comparison, reviewer, next(outcomes))
    return campaign


def add_judge(lead, campaign, sim, **fields):
    body = {"label": fields.pop("label", "Judge One"), "model": JUDGE_MODEL, "base_url": sim.base_url, **fields}
    r = api_client(lead).post(f"/api/campaigns/{campaign.pk}/judges/", body, format="json")
    assert r.status_code == 201, r.content
    return Judge.objects.get(pk=r.json()["id"])


def judge_now(lead, campaign):
    r = api_client(lead).post(f"/api/campaigns/{campaign.pk}/judge/")
    assert r.status_code == 202, r.content
    return r.json()


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def expected_calibration(campaign, judge) -> dict:
    """The contract's figures, worked out from the rows with plain loops."""
    side = {}
    for j in Judgement.objects.filter(judge=judge, status="done"):
        first_is_a = j.order == "ab"
        side[(j.comparison_id, j.order)] = (
            "tie" if j.verdict == "tie" else ("a" if (j.verdict == "first") == first_is_a else "b")
        )
    votes = {}
    for v in Vote.objects.filter(campaign=campaign, counted=True):
        votes.setdefault(v.comparison_id, []).append((v.reviewer_id, "tie" if v.resolved == "both_bad" else v.resolved))
    judged = consistent = agree = total = agree_d = total_d = 0
    pairs = equal = pairs_d = equal_d = 0
    for c in Comparison.objects.filter(campaign=campaign, excluded=False):
        ab, ba = side.get((c.id, "ab")), side.get((c.id, "ba"))
        if ab is None or ba is None:
            continue
        judged += 1
        consistent += ab == ba
        verdict = ab if ab == ba else "tie"
        mine = votes.get(c.id, [])
        for _, vote in mine:
            total += 1
            agree += vote == verdict
            if vote in "ab" and verdict in ("a", "b"):
                total_d += 1
                agree_d += vote == verdict
        for (r1, v1), (r2, v2) in itertools.permutations(mine, 2):
            if r1 == r2:
                continue
            pairs += 1
            equal += v1 == v2
            if v1 in ("a", "b") and v2 in ("a", "b"):
                pairs_d += 1
                equal_d += v1 == v2

    def share(x, n):
        return x / n if n else None

    return {
        "judge": judge.label,
        "comparisons": judged,
        "consistency": share(consistent, judged),
        "agreement": share(agree, total),
        "agreement_decisive": share(agree_d, total_d),
        "human_agreement": share(equal, pairs),
        "human_agreement_decisive": share(equal_d, pairs_d),
    }


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_LLM)
def test_judging_exports_one_row_per_order_and_calibration_equals_the_hand_count(sim, lead, eager):
    sim.configure(judge_models=[JUDGE_MODEL], judge_rule="marker", judge_first_rate=0.3)
    campaign = campaign_with_votes()
    before = b"".join(api_client(lead).get(f"/api/campaigns/{campaign.pk}/report.csv").streaming_content)
    judge = add_judge(lead, campaign, sim)

    started = judge_now(lead, campaign)
    assert started["judgements_total"] == 18

    rows = csv_rows(api_client(lead).get(f"/api/campaigns/{campaign.pk}/judgements.csv"))
    assert list(rows[0]) == ["judge", "prompt", "model_a", "model_b", "order", "verdict", "winner"]
    assert len(rows) == 18
    assert len({(r["judge"], r["prompt"], r["order"]) for r in rows}) == 18
    assert {r["order"] for r in rows} == {"ab", "ba"}
    for r in rows:
        if r["verdict"] == "tie":
            assert r["winner"] == "tie"
        else:
            first, second = ("Alpha", "Beta") if r["order"] == "ab" else ("Beta", "Alpha")
            assert r["winner"] == (first if r["verdict"] == "first" else second)
    # Without the position bias the marker decides: prompt 3 (A marked) goes to Alpha in both orders.
    assert any(r["prompt"] == "p3" and r["winner"] == "Alpha" for r in rows)

    body = api_client(lead).get(f"/api/campaigns/{campaign.pk}/calibration/").json()
    assert body == {"judges": [pytest.approx(expected_calibration(campaign, judge))]}
    got = body["judges"][0]
    assert got["comparisons"] == 9 and 0 < got["consistency"] < 1  # the bias flipped some

    progress = api_client(lead).get(f"/api/campaigns/{campaign.pk}/").json()["progress"]
    assert progress["judgements_done"] == progress["judgements_total"] == 18
    # The humans' figures are untouched by the judge.
    after = b"".join(api_client(lead).get(f"/api/campaigns/{campaign.pk}/report.csv").streaming_content)
    assert after == before
    assert campaign_report(campaign=campaign, use_cache=False).votes == 27

    board = csv_rows(api_client(lead).get(f"/api/campaigns/{campaign.pk}/judge_leaderboard.csv"))
    assert list(board[0]) == ["model", "rating", "ci_low", "ci_high", "votes", "wins", "losses", "ties"]
    verdicts = {}
    for r in rows:
        verdicts.setdefault(r["prompt"], []).append(r["winner"])
    wins_alpha = sum(1 for w in verdicts.values() if w == ["Alpha", "Alpha"])
    alpha = next(b for b in board if b["model"] == "Alpha")
    assert int(alpha["wins"]) == wins_alpha and int(alpha["votes"]) == 9

    full = api_client(lead).get(f"/api/campaigns/{campaign.pk}/calibration/?full=1").json()["judges"][0]
    assert {c["category"] for c in full["categories"]} == {"shipping", "billing"}
    assert sum(c["comparisons"] for c in full["categories"]) == 9
    assert full["verdict"].startswith("On 9 comparisons")

    # Starting again judges only what is missing: nothing.
    requests = sim.stats()["requests_total"]
    assert judge_now(lead, campaign)["to_judge"] == 0
    assert sim.stats()["requests_total"] == requests


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_LLM)
def test_a_judge_that_always_says_a_has_consistency_zero_and_the_report_says_so(sim, lead, eager):
    sim.configure(judge_models=[JUDGE_MODEL], judge_rule="always_a")
    campaign = campaign_with_votes(prompts=4)
    add_judge(lead, campaign, sim, label="Always A")
    judge_now(lead, campaign)

    body = api_client(lead).get(f"/api/campaigns/{campaign.pk}/calibration/?full=1").json()["judges"][0]
    assert body["consistency"] == 0.0 and body["comparisons"] == 4
    assert body["position_bias"]["first_wins"] == 8 and body["position_bias"]["second_wins"] == 0
    assert "follows the position" in body["verdict"]
    page = api_client(lead)
    page.force_login(lead)
    html = page.get(f"/campaigns/{campaign.pk}/report/").content.decode()
    assert "Always A" in html and "follows the position" in html


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_LLM)
def test_500s_429s_malformed_and_verdictless_replies_end_done_or_unparsed_and_paid_once(sim, lead, eager):
    sim.configure(
        judge_models=[JUDGE_MODEL],
        judge_rule="longer",
        judge_no_verdict_rate=0.3,
        error_500_rate=0.2,
        rate_429_rate=0.1,
        retry_after=0.05,
        malformed_rate=0.05,
        seed=4,
    )
    campaign = make_campaign(prompts=12, labels=("Alpha", "Beta"))
    generate_done(campaign, text_for=answer_text)
    # One question that the simulated judge never answers with a verdict.
    campaign.prompts.filter(position=1).update(text="Where is my parcel? [no verdict]")
    open_campaign(campaign)
    judge = add_judge(lead, campaign, sim)
    judge_now(lead, campaign)

    rows = list(Judgement.objects.filter(judge=judge))
    assert len(rows) == 24
    assert {r.status for r in rows} <= {"done", "unparsed"}
    unparsed = [r for r in rows if r.status == "unparsed"]
    assert {r.comparison.prompt.position for r in unparsed} >= {1}
    assert all(r.reply and "[[" not in r.reply.replace("[[ A ]", "").replace("[[D]]", "") for r in unparsed)
    stats = sim.stats()
    assert stats["faults"]["error_500"] and stats["faults"]["rate_429"] and stats["faults"]["malformed"]
    # Every request the API saw was recorded as an attempt, and every reply it completed is
    # paid for on exactly one row (token counts add up), so nothing was paid twice or lost.
    assert sum(r.attempts for r in rows) == stats["requests_by_model"][JUDGE_MODEL]
    assert sum(r.output_tokens or 0 for r in rows) == stats["completion_tokens"]
    assert all(r.cost_usd is not None for r in rows)
    csv_verdicts = {
        r["verdict"] for r in csv_rows(api_client(lead).get(f"/api/campaigns/{campaign.pk}/judgements.csv"))
    }
    assert "unparsed" in csv_verdicts


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_judging_loses_nothing(sim, lead, start_worker):
    sim.configure(judge_models=[JUDGE_MODEL], judge_rule="longer", latency=0.3)
    campaign = make_campaign(prompts=30, labels=("Alpha", "Beta"))
    generate_done(campaign, text_for=answer_text)
    open_campaign(campaign)
    judge = add_judge(lead, campaign, sim, max_concurrency=4)
    env = {**FAST_WORKER, "GENERATION_STUCK_AFTER_SECONDS": "3", "GENERATION_HEARTBEAT_SECONDS": "0.5"}
    first = start_worker(env_overrides=env)
    judge_now(lead, campaign)
    finished = Judgement.objects.filter(judge=judge, status__in=("done", "unparsed"))
    wait_until(lambda: finished.count() >= 12, timeout=60, message="some judgements")
    first.kill()
    done_before = set(finished.values_list("id", flat=True))
    running_at_kill = Judgement.objects.filter(judge=judge, status="running").count()
    start_worker(env_overrides=env)
    wait_until(lambda: finished.count() == 60, timeout=120, message="judging to finish after the kill")

    stats = sim.stats()
    rows = list(Judgement.objects.filter(judge=judge).select_related("comparison"))
    completions = {
        r.id: stats["completions_by_key"].get(stats_key(JUDGE_MODEL, r.request["body"]["messages"]), 0) for r in rows
    }
    assert all(completions[i] == 1 for i in done_before)
    assert sum(n - 1 for n in completions.values() if n > 1) <= running_at_kill
    assert {r.status for r in rows} == {"done"}


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_LLM)
def test_hybrid_review_serves_the_inconsistent_comparisons_first_and_holds_back_the_rest(sim, lead, eager, no_repeats):
    sim.configure(judge_models=[JUDGE_MODEL], judge_rule="marker", judge_first_rate=0.4)
    campaign = make_campaign(prompts=12, labels=("Alpha", "Beta"), k=1, judge_mode="hybrid", hybrid_share=0.5)
    generate_done(campaign, text_for=answer_text)
    judge = add_judge(lead, campaign, sim)
    judge_now(lead, campaign)  # from ready: builds the comparisons itself

    comparisons = list(Comparison.objects.filter(campaign=campaign))
    assert len(comparisons) == 12
    winners = {}
    for j in Judgement.objects.filter(judge=judge, status="done"):
        winners.setdefault(j.comparison_id, set()).add(
            "tie" if j.verdict == "tie" else ("a" if (j.verdict == "first") == (j.order == "ab") else "b")
        )
    inconsistent = {c.id for c in comparisons if len(winners.get(c.id, ())) != 1}
    settled = [c for c in comparisons if c.id not in inconsistent]
    assert inconsistent and settled
    assert all(not c.judge_held and c.order_key < HALF for c in comparisons if c.id in inconsistent)
    assert sum(c.judge_held for c in settled) == len(settled) - round(len(settled) * 0.5)

    api_client(lead).post(f"/api/campaigns/{campaign.pk}/open/")
    (reviewer,) = add_reviewers(campaign, "hybrid-rev")
    client = api_client(reviewer)
    served = []
    while (r := client.get(f"/api/review/next/?campaign={campaign.pk}")).status_code == 200:
        token = r.json()["assignment"]
        served.append(Comparison.objects.get(assignments__token=token).id)
        client.post(f"/api/review/{token}/vote/", {"choice": "left"}, format="json")
    assert set(served[: len(inconsistent)]) == inconsistent
    held = Comparison.objects.filter(campaign=campaign, judge_held=True).count()
    assert set(served) == set(
        Comparison.objects.filter(campaign=campaign, judge_held=False).values_list("id", flat=True)
    )
    page = api_client(lead)
    page.force_login(lead)
    html = page.get(f"/campaigns/{campaign.pk}/report/").content.decode()
    assert f"{held} of 12 comparisons were held back from reviewers" in html


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_LLM)
def test_a_judge_only_campaign_needs_no_reviewer_and_reports_the_judges_tables(sim, lead, eager):
    sim.configure(judge_models=[JUDGE_MODEL], judge_rule="marker")
    campaign = make_campaign(prompts=6, labels=("Alpha", "Beta"), judge_mode="judge_only")
    generate_done(campaign, text_for=answer_text)
    add_judge(lead, campaign, sim)
    judge_now(lead, campaign)
    body = api_client(lead).get(f"/api/campaigns/{campaign.pk}/calibration/").json()["judges"][0]
    assert body["comparisons"] == 6 and body["consistency"] == 1.0 and body["agreement"] is None
    rows = csv_rows(api_client(lead).get(f"/api/campaigns/{campaign.pk}/judge_report.csv"))
    assert len(rows) == 1 and rows[0]["votes"] == "6"
    # Prompts 3 and 6 mark A, 1 and 4 mark B, 2 and 5 neither: 2 wins each, 2 ties.
    assert (rows[0]["a_wins"], rows[0]["b_wins"], rows[0]["ties"]) == ("2", "2", "2")
    page = api_client(lead)
    page.force_login(lead)
    html = page.get(f"/campaigns/{campaign.pk}/report/").content.decode()
    assert "This campaign is judge-only" in html and "Leaderboard, by this judge's verdicts" in html


@pytest.mark.django_db
def test_judges_are_validated_like_contestants(lead, reviewer, settings):
    campaign = make_campaign(prompts=1)
    client = api_client(lead)
    url = f"/api/campaigns/{campaign.pk}/judges/"
    r = client.post(url, {"label": "J", "model": "m", "base_url": "http://10.0.0.5:9/v1"}, format="json")
    assert r.status_code == 400 and r.json()["field"] == "base_url"
    r = client.post(url, [{"label": "J", "model": "m", "api_key_env": "AWS_SECRET_ACCESS_KEY"}], format="json")
    assert r.status_code == 400 and r.json()["field"] == "judges[0].api_key_env"
    r = client.post(url, [{"label": "J", "model": "m"}, {"label": "K", "price_per_mtok_out": "1"}], format="json")
    assert r.status_code == 400 and r.json()["field"] == "judges[1].model"
    assert not Judge.objects.filter(campaign=campaign).exists()
    assert client.post(url, {"label": "J", "model": "m"}, format="json").status_code == 201
    assert client.post(url, {"label": "J", "model": "m2"}, format="json").status_code == 400
    assert client.post(f"/api/campaigns/{campaign.pk}/judge/").status_code == 409  # a draft
    for path in ("judges/", "judge/", "calibration/", "judgements.csv", "judge_leaderboard.csv", "judging/"):
        assert api_client(reviewer).get(f"/api/campaigns/{campaign.pk}/{path}").status_code in (403, 404)


@pytest.mark.django_db
def test_the_estimate_counts_two_calls_per_comparison_per_judge(lead):
    campaign = make_campaign(prompts=5, labels=("A1", "B1", "C1"))
    generate_done(campaign)
    Judge.objects.create(campaign=campaign, label="J1", model="m", price_per_mtok_out="10", expected_output_tokens=100)
    Judge.objects.create(campaign=campaign, label="J2", model="m", price_per_mtok_out="0")
    body = api_client(lead).get(f"/api/campaigns/{campaign.pk}/judging/").json()
    assert body["comparisons"] == 15 and body["calls"] == 60 and body["judgements_total"] == 60
    j1 = next(j for j in body["judges"] if j["label"] == "J1")
    assert float(j1["usd"]) == pytest.approx(30 * 100 * 10 / 1e6)
    assert Campaign.objects.get(pk=campaign.pk).status == "ready"


@pytest.mark.django_db
def test_the_admin_action_queues_judging_and_shows_the_estimate(lead):
    from django.test import Client

    campaign = make_campaign(prompts=3, labels=("Alpha", "Beta"))
    generate_done(campaign)
    Judge.objects.create(campaign=campaign, label="J1", model="m", price_per_mtok_out="2", budget_usd="0.50")
    client = Client()
    client.force_login(lead)
    r = client.post(
        "/admin/arena/campaign/", {"action": "action_judge", "_selected_action": [campaign.pk]}, follow=True
    )
    text = r.content.decode()
    assert "6 judgements queued (2 per comparison per judge, 3 comparisons)" in text
    assert "estimated cost $" in text and "budget caps: J1 $0.5" in text
    assert Judgement.objects.filter(campaign=campaign, status="pending").count() == 6
    assert "Judges" in client.get(f"/admin/arena/campaign/{campaign.pk}/change/").content.decode()


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST_LLM)
def test_a_judge_pauses_at_its_budget_cap_and_stays_paused_until_it_is_raised(sim, lead, eager):
    sim.configure(judge_models=[JUDGE_MODEL], judge_rule="longer")
    campaign = make_campaign(prompts=5, labels=("Alpha", "Beta"))
    generate_done(campaign, text_for=answer_text)
    # $1000 per million output tokens: one reply of ~20 tokens costs ~$0.02, over the $0.01 cap.
    judge = add_judge(lead, campaign, sim, price_per_mtok_out="1000", budget_usd="0.01", max_concurrency=1)
    judge_now(lead, campaign)
    judge.refresh_from_db()
    assert judge.paused_reason.startswith("Paused: judging has cost $")
    made = Judgement.objects.filter(judge=judge, status="done").count()
    assert made == 1 and Judgement.objects.filter(judge=judge, status="pending").count() == 9
    judge_now(lead, campaign)  # still over the cap: nothing more is judged
    assert Judgement.objects.filter(judge=judge, status="done").count() == 1
    Judge.objects.filter(pk=judge.pk).update(budget_usd=None)
    judge_now(lead, campaign)
    assert Judgement.objects.filter(judge=judge, status="done").count() == 10
