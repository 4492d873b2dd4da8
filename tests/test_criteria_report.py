"""The per-criterion report: reviewers vote with two criteria through the API, and criteria.csv,
the JSON report, the report page and votes.csv/jsonl are checked against numbers worked out
here from the votes cast (independently: scipy's binomial test, statsmodels' Wilson interval).
"""

import csv
import io
import json
from collections import Counter, defaultdict

import pytest
from django.test import Client
from statsmodels.stats.proportion import proportion_confint

from arena.reports.criteria import CRITERIA_HEADER
from tests.criteria_votes import check_criteria_csv, expected_criteria_rows, random_pick, vote_all_via_api
from tests.factories import add_reviewers, api_client, cast_vote, make_open_campaign

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_repeats", "expiry_on_every_next")]

LABELS = ("North", "South", "East")
CRITERIA = [
    {"key": "accuracy", "question": "Which answer is more accurate?"},
    {"key": "tone", "question": "Which answer has the better tone?", "required": False},
]


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_criteria_csv_matches_the_votes_cast(lead, make_user, settings):
    campaign = make_open_campaign(name="Tone and facts", labels=LABELS, prompts=6, k=3, criteria=CRITERIA)
    names = ["rita", "sam", "tess", "uma"]
    users = [make_user(n) for n in names]
    add_reviewers(campaign, *names)
    clients = {u.username: api_client(u) for u in users}
    cast = vote_all_via_api(campaign, clients, random_pick(11))
    assert len(cast) == 18 * 3  # 6 prompts x 3 pairs x k=3
    # A lead leaves one reviewer out: their answers leave every criterion's table too.
    lead_client = api_client(lead)
    assert lead_client.post(f"/api/campaigns/{campaign.id}/reviewers/uma/exclude/").status_code == 200
    counted = {"rita", "sam", "tess"}

    r = lead_client.get(f"/api/campaigns/{campaign.id}/criteria.csv")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    text = body(r)
    assert CRITERIA_HEADER == (
        "campaign,criterion,model_a,model_b,votes,a_wins,b_wins,ties,both_bad,a_win_rate,b_win_rate,tie_rate,"
        "a_score,decisive_share,ci_low,ci_high,p_value"
    ).split(",")
    pairs = [("North", "South"), ("North", "East"), ("South", "East")]
    want = expected_criteria_rows(
        "Tone and facts", cast, counted_reviewers=counted, keys=["accuracy", "tone"], pairs=pairs
    )
    got = check_criteria_csv(text, want)
    assert len(got) == 6
    # The optional criterion was answered less often than the required one.
    assert sum(int(g["votes"]) for g in got if g["criterion"] == "tone") < sum(
        int(g["votes"]) for g in got if g["criterion"] == "accuracy"
    )

    # The JSON report: the same pair rows, a leaderboard per criterion (three models) and the
    # agreement with the overall choice, counted here.
    report = lead_client.get(f"/api/campaigns/{campaign.id}/report/").json()
    by_key = {c["key"]: c for c in report["criteria"]}
    assert list(by_key) == ["accuracy", "tone"]
    for key, section in by_key.items():
        mine = [(overall, answers[key]) for who, _p, overall, answers in cast if who in counted and key in answers]
        agreed = sum(o == c for o, c in mine)
        opposite = sum({o, c} == {"a", "b"} for o, c in mine)
        assert section["agreement"]["answered"] == len(mine)
        assert section["agreement"]["agreed"] == agreed and section["agreement"]["opposite"] == opposite
        assert section["agreement"]["share"] == pytest.approx(agreed / len(mine))
        low, high = proportion_confint(agreed, len(mine), alpha=0.05, method="wilson")
        assert (section["agreement"]["ci_low"], section["agreement"]["ci_high"]) == pytest.approx((low, high))
        board = section["leaderboard"]
        assert sorted(b["model"] for b in board) == sorted(LABELS)
        wins = defaultdict(int)
        for who, (a, b), _o, answers in cast:
            if who in counted and key in answers:
                wins[a] += answers[key] == "a"
                wins[b] += answers[key] == "b"
        assert {b["model"]: b["wins"] for b in board} == dict(wins)
        assert [p["votes"] for p in section["pairs"]] == [int(g["votes"]) for g in got if g["criterion"] == key]

    # votes.csv and votes.jsonl carry every vote's answers, resolved, and reproduce criteria.csv.
    votes_csv = list(csv.DictReader(io.StringIO(body(lead_client.get(f"/api/campaigns/{campaign.id}/votes.csv")))))
    assert len(votes_csv) == len(cast)
    assert {"criterion_accuracy", "criterion_tone"} <= set(votes_csv[0])
    kept = [v for v in votes_csv if v["counted"] == "true" and v["reviewer_excluded"] == "false"]
    for g in got:
        n = Counter(
            v[f"criterion_{g['criterion']}"]
            for v in kept
            if (v["model_a"], v["model_b"]) == (g["model_a"], g["model_b"]) and v[f"criterion_{g['criterion']}"]
        )
        assert (n["a"], n["b"], n["tie"], n["both_bad"]) == tuple(
            int(g[c]) for c in ("a_wins", "b_wins", "ties", "both_bad")
        )
    lines = [json.loads(x) for x in body(lead_client.get(f"/api/campaigns/{campaign.id}/votes.jsonl")).splitlines()]
    assert sorted(json.dumps(x["criteria"], sort_keys=True) for x in lines) == sorted(
        json.dumps(answers, sort_keys=True) for *_, answers in cast
    )

    # The lead's report page shows each criterion's table and links criteria.csv.
    browser = Client()
    browser.force_login(lead)
    page = browser.get(f"/campaigns/{campaign.id}/report/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Which answer is more accurate?" in html and "Which answer has the better tone?" in html
    assert f"/api/campaigns/{campaign.id}/criteria.csv" in html


def test_a_campaign_without_criteria_has_an_empty_criteria_csv_and_plain_vote_exports(lead, reviewer):
    campaign = make_open_campaign(prompts=2, k=1)
    (rita,) = add_reviewers(campaign, reviewer.username)
    for comparison in campaign.comparisons.all():
        cast_vote(comparison, rita, "a")
    client = api_client(lead)
    assert body(client.get(f"/api/campaigns/{campaign.id}/criteria.csv")).splitlines() == [",".join(CRITERIA_HEADER)]
    assert client.get(f"/api/campaigns/{campaign.id}/report/").json()["criteria"] == []
    header = body(client.get(f"/api/campaigns/{campaign.id}/votes.csv")).splitlines()[0]
    assert "criterion_" not in header
    lines = body(client.get(f"/api/campaigns/{campaign.id}/votes.jsonl")).splitlines()
    assert [json.loads(x)["criteria"] for x in lines] == [{}, {}]


def test_two_models_get_pair_tables_per_criterion_but_no_leaderboard(lead, reviewer):
    campaign = make_open_campaign(prompts=3, k=1, criteria=["accuracy"])
    (rita,) = add_reviewers(campaign, reviewer.username)
    for comparison, answer in zip(campaign.comparisons.order_by("id"), ["a", "b", "a"], strict=True):
        cast_vote(comparison, rita, "tie", criteria={"accuracy": answer})
    (section,) = api_client(lead).get(f"/api/campaigns/{campaign.id}/report/").json()["criteria"]
    assert section["leaderboard"] == []
    (pair,) = section["pairs"]
    assert (pair["votes"], pair["a_wins"], pair["b_wins"], pair["ties"]) == (3, 2, 1, 0)
    assert section["agreement"] == {
        "answered": 3,
        "agreed": 0,
        "opposite": 0,
        "share": 0.0,
        "ci_low": pytest.approx(proportion_confint(0, 3, method="wilson")[0], abs=1e-12),
        "ci_high": pytest.approx(proportion_confint(0, 3, method="wilson")[1]),
    }


def test_votes_needed_per_criterion_use_the_campaigns_smallest_share_that_matters(lead, reviewer):
    from arena.sequential import decisive_votes_for_power

    campaign = make_open_campaign(prompts=4, k=1, criteria=["accuracy"])
    campaign.power_share = 0.65
    campaign.save(update_fields=["power_share"])
    (rita,) = add_reviewers(campaign, reviewer.username)
    for comparison, answer in zip(campaign.comparisons.order_by("id"), ["a", "b", "a", "a"], strict=True):
        cast_vote(comparison, rita, "a", criteria={"accuracy": answer})
    report = api_client(lead).get(f"/api/campaigns/{campaign.id}/report/").json()
    (overall,) = report["overall"]["pairs"]
    (criterion,) = report["criteria"][0]["pairs"]
    # Every vote decisive: the votes needed are the decisive votes for 80% power at a 65% share
    # (the exact sign test, alpha 0.05), for the overall table and the criterion's alike.
    needed = decisive_votes_for_power(0.65, alpha=0.05, power=0.80)
    assert needed != decisive_votes_for_power(0.55, alpha=0.05, power=0.80)
    assert overall["votes_needed"] == criterion["votes_needed"] == needed


def test_no_votes_give_empty_rate_cells_per_criterion(lead):
    campaign = make_open_campaign(prompts=2, k=1, criteria=["accuracy", "tone"])
    text = body(api_client(lead).get(f"/api/campaigns/{campaign.id}/criteria.csv"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["criterion"] for r in rows] == ["accuracy", "tone"]
    assert all(r["votes"] == "0" and r["a_win_rate"] == "" and r["p_value"] == "" for r in rows)


def test_repeat_checks_measure_self_consistency_per_criterion(lead, reviewer):
    campaign = make_open_campaign(prompts=2, k=1, criteria=["accuracy", "tone"])
    (rita,) = add_reviewers(campaign, reviewer.username)
    first, second = campaign.comparisons.order_by("id")
    cast_vote(first, rita, "a", criteria={"accuracy": "a", "tone": "b"})
    cast_vote(second, rita, "b", criteria={"accuracy": "tie"})
    # Repeats show the sides swapped: the same resolved answers are consistent.
    cast_vote(first, rita, "a", a_on_left=False, kind="repeat", criteria={"accuracy": "a", "tone": "a"})
    cast_vote(second, rita, "b", a_on_left=False, kind="repeat", criteria={"accuracy": "tie", "tone": "a"})
    report = api_client(lead).get(f"/api/campaigns/{campaign.id}/report/").json()
    accuracy, tone = report["criteria"]
    # accuracy: 2 repeats, both consistent; tone: only the first has a first answer, changed.
    assert (accuracy["repeats"], accuracy["repeats_consistent"], accuracy["self_consistency"]) == (2, 2, 1.0)
    assert (tone["repeats"], tone["repeats_consistent"], tone["self_consistency"]) == (1, 0, 0.0)
    assert tone["reviewers"] == [{"username": "rita", "repeats": 1, "repeats_consistent": 0}]
    (quality,) = api_client(lead).get(f"/api/campaigns/{campaign.id}/reviewers/quality/").json()["reviewers"]
    assert (quality["criteria_repeats"], quality["criteria_repeats_consistent"]) == (3, 2)
    assert (quality["repeats"], quality["repeats_consistent"]) == (2, 2)  # the overall choice
    # Repeat checks are not counted: the pair table has the two first votes only.
    assert [p["votes"] for p in accuracy["pairs"]] == [2]


def test_the_report_command_prints_each_criterion_and_writes_criteria_csv(lead, reviewer, tmp_path, capsys):
    from django.core.management import call_command

    campaign = make_open_campaign(prompts=2, k=1, criteria=["accuracy"])
    (rita,) = add_reviewers(campaign, reviewer.username)
    for comparison in campaign.comparisons.all():
        cast_vote(comparison, rita, "a", criteria={"accuracy": "b"})
    out = tmp_path / "criteria.csv"
    call_command("report", str(campaign.pk), "--criteria-csv", str(out))
    printed = capsys.readouterr().out
    assert "criterion accuracy" in printed and "agrees with the overall choice 0.0% of 2" in printed
    api = body(api_client(lead).get(f"/api/campaigns/{campaign.id}/criteria.csv"))
    assert out.read_bytes().decode() == api
    (row,) = csv.DictReader(io.StringIO(api))
    assert (row["criterion"], row["votes"], row["a_wins"], row["b_wins"]) == ("accuracy", "2", "0", "2")
