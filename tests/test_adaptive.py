"""Adaptive stopping through the API (PRODUCT.md, "Contract: adaptive stopping"): settings,
decided pairs handed to no one, 204 when all are decided, decisions.csv, switching while open,
and real reviewers in parallel on PostgreSQL."""

import csv
import io
import random
import threading
from collections import Counter

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from arena.models import Assignment, Campaign, Comparison, PairDecision, Vote
from tests.conftest import run_in_parallel
from tests.factories import add_reviewers, api_client, generate_done

THREE_MODELS = [{"label": "Alpha"}, {"label": "Beta"}, {"label": "Gamma"}]
DECISIONS_HEADER = "campaign,model_a,model_b,votes,decision,decided_at_votes,cs_low,cs_high"


def _create(lead, **fields) -> dict:
    body = {
        "name": "Adaptive bake-off",
        "contestants": [{"label": "Alpha"}, {"label": "Beta"}],
        **fields,
    }
    body["contestants"] = [{"model": f"m-{c['label'].lower()}", **c} for c in body["contestants"]]
    return api_client(lead).post("/api/campaigns/", body, format="json")


def _open(lead, campaign_id: int) -> Campaign:
    campaign = Campaign.objects.get(pk=campaign_id)
    generate_done(campaign)
    assert api_client(lead).post(f"/api/campaigns/{campaign_id}/open/").status_code == 200
    campaign.refresh_from_db()
    return campaign


def _prompts(lead, campaign_id: int, n: int) -> None:
    rows = [{"text": f"Question {i}: where is my parcel?", "external_id": f"q{i}"} for i in range(n)]
    assert api_client(lead).post(f"/api/campaigns/{campaign_id}/prompts/", rows, format="json").status_code == 201


def _open_campaign(lead, *, prompts: int, **fields) -> Campaign:
    """A campaign made through the API with `fields` (see `_create`) and `prompts` prompts,
    generated and open."""
    created = _create(lead, **fields).json()
    _prompts(lead, created["id"], prompts)
    return _open(lead, created["id"])


def _contestant_ids(campaign: Campaign) -> list[int]:
    return list(campaign.contestants.order_by("position").values_list("id", flat=True))


def _vote_for(client: APIClient, campaign_id: int, prefer: dict, rng=None, log=None):
    """Fetch the next item and vote as a reviewer who prefers, per pair, 'a', 'b' or 'tie' (the
    default), or A with a probability (a float; `rng` draws). The pair voted on, or None on 204."""
    r = client.get(f"/api/review/next/?campaign={campaign_id}")
    if r.status_code == 204:
        return None
    assert r.status_code == 200, r.content
    token = r.json()["assignment"]
    # The test (not the reviewer) looks up which side is A, to vote as a reviewer who prefers it.
    assignment = Assignment.objects.select_related("comparison").get(token=token)
    pair = (assignment.comparison.contestant_a_id, assignment.comparison.contestant_b_id)
    want = prefer.get(pair, "tie")
    if isinstance(want, float):
        want = "a" if rng.random() < want else "b"
    choice = "tie" if want == "tie" else ("left" if (want == "a") == assignment.a_on_left else "right")
    v = client.post(f"/api/review/{token}/vote/", {"choice": choice}, format="json")
    assert v.status_code == 201, v.content
    if log is not None:
        log.append((pair, assignment.kind == "normal"))
    return pair


def _decisions_csv(lead, campaign_id: int) -> list[dict]:
    r = api_client(lead).get(f"/api/campaigns/{campaign_id}/decisions.csv")
    assert r.status_code == 200
    text = b"".join(r.streaming_content).decode()
    assert text.splitlines()[0] == DECISIONS_HEADER
    return list(csv.DictReader(io.StringIO(text)))


pytestmark = pytest.mark.django_db(transaction=True)


def test_the_stopping_settings_are_taken_and_bad_ones_name_the_field(lead):
    r = _create(lead, stopping="adaptive", alpha=0.1, equivalence_margin=0, power_share=0.6)
    assert r.status_code == 201, r.content
    assert {k: r.json()[k] for k in ("stopping", "alpha", "equivalence_margin", "power_share")} == {
        "stopping": "adaptive",
        "alpha": 0.1,
        "equivalence_margin": 0.0,
        "power_share": 0.6,
    }
    defaults = _create(lead).json()
    assert (defaults["stopping"], defaults["alpha"], defaults["equivalence_margin"]) == ("fixed", 0.05, 0.05)
    for field, value in (("alpha", 0), ("alpha", 1.5), ("equivalence_margin", 0.5), ("power_share", 0.5)):
        bad = _create(lead, **{field: value})
        assert bad.status_code == 400 and field in bad.content.decode(), (field, bad.content)
    bad = _create(lead, stopping="sometimes")
    assert bad.status_code == 400 and "stopping" in bad.content.decode()
    assert Campaign.objects.count() == 2  # nothing half-written


def test_a_decided_pair_gets_no_new_assignment_and_the_others_go_on(lead, make_user):
    campaign = _open_campaign(lead, prompts=40, stopping="adaptive", votes_per_comparison=3, contestants=THREE_MODELS)
    ids = _contestant_ids(campaign)
    pairs = [(ids[0], ids[1]), (ids[0], ids[2]), (ids[1], ids[2])]
    users = add_reviewers(campaign, "ann", "ben", "cat")
    clients = [api_client(u) for u in users]
    served: list = []  # (pair, counted) per vote, repeat checks included
    # Alpha-Beta is one-sided, the other two pairs closer: they take longer to decide.
    prefer, rng = {pairs[0]: "a", pairs[1]: 0.8, pairs[2]: 0.8}, random.Random(5)
    while _vote_for(clients[len(served) % 3], campaign.id, prefer, rng, log=served) is not None:
        pass
    decisions = {(d.contestant_a_id, d.contestant_b_id): d for d in PairDecision.objects.filter(campaign=campaign)}
    assert all(d.decision != "undecided" and d.closed for d in decisions.values())
    assert len(served) < 40 * 3 * 3  # every pair stopped before its budget
    first_decided = len(served)
    for pair in pairs:
        counted = [i for i, (p, normal) in enumerate(served) if p == pair and normal]
        deciding = counted[decisions[pair].decided_at_votes - 1]
        # Nothing of the pair, not even a repeat check, was handed out after its deciding vote.
        assert [p for p, _ in served[deciding + 1 :]].count(pair) == 0
        first_decided = min(first_decided, deciding)
    assert first_decided < len(served) - 10  # the other pairs went on after the first decision
    rows = {(r["model_a"], r["model_b"]): r for r in _decisions_csv(lead, campaign.id)}
    assert rows[("Alpha", "Beta")]["decision"] == "a_better"
    assert rows[("Alpha", "Beta")]["decided_at_votes"] == str(decisions[pairs[0]].decided_at_votes)
    assert any(not normal for _, normal in served)  # repeat checks were part of the run
    assert float(rows[("Alpha", "Beta")]["cs_low"]) > 0.5


def test_a_pair_without_decisive_votes_is_undecided_and_served_first(lead, no_repeats):
    campaign = _open_campaign(lead, prompts=10, stopping="adaptive", votes_per_comparison=1, contestants=THREE_MODELS)
    ids = _contestant_ids(campaign)
    (user,) = add_reviewers(campaign, "ann")
    # Alpha-Beta gets decisive votes, the rest ties: the tied pairs are furthest from a decision
    # (no decisive vote at all), so once Alpha-Beta has votes they come first.
    served = [_vote_for(api_client(user), campaign.id, {(ids[0], ids[1]): "a"}) for _ in range(12)]
    first_ab = served.index((ids[0], ids[1]))
    assert (ids[0], ids[1]) not in served[first_ab + 1 : first_ab + 10]
    rows = {(r["model_a"], r["model_b"]): r for r in _decisions_csv(lead, campaign.id)}
    assert rows[("Beta", "Gamma")]["decision"] == "undecided" and rows[("Beta", "Gamma")]["decided_at_votes"] == ""


def test_every_pair_decided_answers_204_and_the_report_counts_the_same_votes(lead, no_repeats):
    campaign = _open_campaign(lead, prompts=50, stopping="adaptive", votes_per_comparison=3)
    users = add_reviewers(campaign, "ann", "ben", "cat")
    a, b = _contestant_ids(campaign)
    votes = 0
    while _vote_for(api_client(users[votes % 3]), campaign.id, {(a, b): "a"}) is not None:
        votes += 1
    assert votes < 50 * 3  # stopped long before the budget
    for user in users:
        assert api_client(user).get(f"/api/review/next/?campaign={campaign.id}").status_code == 204
    report = api_client(lead).get(f"/api/campaigns/{campaign.id}/report/").json()
    (row,) = _decisions_csv(lead, campaign.id)
    counted = Vote.objects.filter(campaign=campaign, counted=True).count()
    assert int(row["votes"]) == report["overall"]["votes"] == counted == votes
    assert row["decision"] == "a_better" and int(row["decided_at_votes"]) == votes
    (decision,) = report["decisions"]
    assert decision["votes_saved"] == 150 - votes
    assert f"decided after {votes} votes: Alpha better; {150 - votes} reviewer votes saved" in decision["sentence"]
    assert report["overall"]["pairs"][0]["p_holm"] == report["overall"]["pairs"][0]["p_value"]  # one pair


def test_a_fixed_campaign_shows_the_decision_but_keeps_handing_out_items(lead, no_repeats):
    campaign = _open_campaign(lead, prompts=40, votes_per_comparison=1)
    (user,) = add_reviewers(campaign, "ann")
    a, b = _contestant_ids(campaign)
    votes = 0
    while _vote_for(api_client(user), campaign.id, {(a, b): "b"}) is not None:
        votes += 1
    assert votes == 40  # fixed: the whole budget
    (row,) = _decisions_csv(lead, campaign.id)
    assert row["decision"] == "b_better" and 0 < int(row["decided_at_votes"]) < 40
    assert float(row["cs_high"]) < 0.5
    browser = Client()
    browser.force_login(lead)
    page = browser.get(f"/campaigns/{campaign.id}/report/")
    assert page.status_code == 200 and "adaptive stopping would have saved" in page.content.decode()


def test_the_lead_switches_a_campaign_to_fixed_and_back_while_it_is_open(lead, no_repeats):
    campaign = _open_campaign(lead, prompts=30, stopping="adaptive", votes_per_comparison=2)
    users = add_reviewers(campaign, "ann", "ben")
    a, b = _contestant_ids(campaign)
    n = 0
    while _vote_for(api_client(users[n % 2]), campaign.id, {(a, b): "a"}) is not None:
        n += 1
    lead_api = api_client(lead)
    switched = lead_api.post(f"/api/campaigns/{campaign.id}/stopping/", {"stopping": "fixed"}, format="json")
    assert switched.status_code == 200 and switched.json()["decisions"][0]["decision"] == "a_better"
    assert _vote_for(api_client(users[0]), campaign.id, {(a, b): "a"}) == (a, b)  # open again up to k
    back = lead_api.post(f"/api/campaigns/{campaign.id}/stopping/", {"stopping": "adaptive"}, format="json")
    assert back.status_code == 200
    assert api_client(users[1]).get(f"/api/review/next/?campaign={campaign.id}").status_code == 204
    assert lead_api.post(f"/api/campaigns/{campaign.id}/stopping/", {"stopping": "x"}, format="json").status_code == 400


def test_decisions_are_for_leads_only(lead, reviewer):
    campaign = _open_campaign(lead, prompts=3, stopping="adaptive")
    add_reviewers(campaign, reviewer.username)
    client = api_client(reviewer)
    assert client.get(f"/api/campaigns/{campaign.id}/decisions.csv").status_code in (403, 404)
    r = client.post(f"/api/campaigns/{campaign.id}/stopping/", {"stopping": "fixed"}, format="json")
    assert r.status_code in (403, 404)


@pytest.mark.postgres_only
def test_parallel_reviewers_never_get_a_decided_pair_and_never_pass_k(lead):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises every writer (run with DATABASE_URL=postgres://...)")
    reviewers, k = 12, 3
    campaign = _open_campaign(lead, prompts=60, stopping="adaptive", votes_per_comparison=k, contestants=THREE_MODELS)
    ids = _contestant_ids(campaign)
    # Alpha beats Beta most of the time; Gamma ties with everyone (those pairs never decide).
    prefer = {(ids[0], ids[1]): 0.85}
    users = add_reviewers(campaign, *[f"rev{i:02d}" for i in range(reviewers)])
    served: list = []  # (pair, counted) per vote
    lock = threading.Lock()

    def client_loop(user, seed):
        rng = random.Random(seed)
        client = api_client(user)
        mine: list = []
        while _vote_for(client, campaign.id, prefer, rng, log=mine) is not None:
            pass
        with lock:
            served.extend(mine)

    errors = run_in_parallel(client_loop, users)
    assert not errors, errors
    decided = PairDecision.objects.get(campaign=campaign, contestant_a_id=ids[0], contestant_b_id=ids[1])
    assert decided.decision == "a_better" and decided.closed
    # No new assignment after the decision: the votes on the pair past the decision are at
    # most the leases that were out at that moment (one per reviewer, the decider's excluded).
    on_pair = Vote.objects.filter(
        campaign=campaign, counted=True, comparison__contestant_a_id=ids[0], comparison__contestant_b_id=ids[1]
    ).count()
    assert decided.decided_at_votes <= on_pair <= decided.decided_at_votes + reviewers - 1
    leased_after = Assignment.objects.filter(
        campaign=campaign,
        kind="normal",
        comparison__contestant_a_id=ids[0],
        comparison__contestant_b_id=ids[1],
    ).count()
    assert leased_after <= decided.decided_at_votes + reviewers - 1
    # Exact k: no comparison past k, counters equal the votes.
    per_comparison = Counter(
        Vote.objects.filter(campaign=campaign, counted=True).values_list("comparison_id", flat=True)
    )
    assert max(per_comparison.values()) <= k
    for comparison in Comparison.objects.filter(campaign=campaign):
        assert comparison.votes_count == per_comparison.get(comparison.id, 0) <= k
    # The undecided pairs were filled to their budget; everyone now gets 204.
    others = Comparison.objects.filter(campaign=campaign).exclude(contestant_a_id=ids[0], contestant_b_id=ids[1])
    assert all(c.votes_count == k for c in others)
    for user in users[:3]:
        assert api_client(user).get(f"/api/review/next/?campaign={campaign.id}").status_code == 204
    # The report counts exactly the votes cast.
    rows = _decisions_csv(lead, campaign.id)
    assert sum(int(r["votes"]) for r in rows) == sum(per_comparison.values()) == sum(c for _, c in served)


def test_excluding_the_reviewer_whose_votes_decided_a_pair_opens_it_again(lead, no_repeats):
    campaign = _open_campaign(lead, prompts=30, stopping="adaptive", votes_per_comparison=2)
    ann, ben = add_reviewers(campaign, "ann", "ben")
    a, b = _contestant_ids(campaign)
    while _vote_for(api_client(ann), campaign.id, {(a, b): "a"}) is not None:
        pass
    assert PairDecision.objects.get(campaign=campaign).closed
    assert api_client(ben).get(f"/api/review/next/?campaign={campaign.id}").status_code == 204
    r = api_client(lead).post(f"/api/campaigns/{campaign.id}/reviewers/ann/exclude/")
    assert r.status_code == 200, r.content
    decision = PairDecision.objects.get(campaign=campaign)
    assert (decision.votes, decision.decision, decision.closed) == (0, "undecided", False)
    assert _vote_for(api_client(ben), campaign.id, {(a, b): "a"}) == (a, b)
    (row,) = _decisions_csv(lead, campaign.id)
    assert (row["votes"], row["decision"]) == ("1", "undecided")


def test_the_lead_switches_to_adaptive_in_admin_and_a_decided_pair_closes(lead, no_repeats):
    from tests.test_demo_and_admin import campaign_form

    campaign = _open_campaign(lead, prompts=30, votes_per_comparison=2)
    (ann,) = add_reviewers(campaign, "ann")
    a, b = _contestant_ids(campaign)
    for _ in range(25):  # fixed: a decision shows, nothing stops
        assert _vote_for(api_client(ann), campaign.id, {(a, b): "a"}) == (a, b)
    assert PairDecision.objects.get(campaign=campaign).decision == "a_better"
    rows = [
        {"id": str(c.pk), "campaign": str(campaign.pk), "label": c.label, "model": c.model}
        for c in campaign.contestants.all()
    ]
    browser = Client()
    browser.force_login(lead)
    form = campaign_form(name=campaign.name, contestants=rows, stopping="adaptive", votes_per_comparison="2")
    page = browser.post(f"/admin/arena/campaign/{campaign.pk}/change/", form)
    assert page.status_code == 302, page.content.decode()[:1500]
    assert Campaign.objects.get(pk=campaign.pk).stopping == "adaptive"
    assert PairDecision.objects.get(campaign=campaign).closed
    assert api_client(ann).get(f"/api/review/next/?campaign={campaign.id}").status_code == 204
