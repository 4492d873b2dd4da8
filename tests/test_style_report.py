"""Style control and "not estimable" through the report: JSON, leaderboard_style.csv, the page,
the summary and the command, on campaigns whose votes are drawn with known causes."""

import csv
import io

import numpy as np
import pytest
from django.core.management import call_command
from scipy.special import expit

from arena import style
from arena.reports.build import campaign_report
from arena.reports.csv import LEADERBOARD_HEADER, csv_line, fmt_rating
from tests.factories import add_reviewers, cast_vote, generate_done, make_campaign, open_campaign

pytestmark = pytest.mark.django_db

LENGTHS = {"Long": (600, 1400), "Mid": (400, 1000), "Short": (150, 700)}
BETA = 1.0  # log-odds per SD of the normalised length difference


def body(response):
    return b"".join(response.streaming_content).decode()


def length_campaign(*, prompts=70, k=3, seed=2):
    """Answers differ only in length (plain words, no markdown), Long > Mid > Short on average,
    and every vote follows P(A wins) = sigmoid(BETA * z_length): model identity does not matter."""
    rng = np.random.default_rng(seed)
    campaign = make_campaign(name="Length only", labels=("Short", "Long", "Mid"), prompts=prompts, k=k)

    def text_for(prompt, contestant):
        n = int(rng.integers(*LENGTHS[contestant.label]))
        return ("word " * (n // 5 + 1))[:n]

    generate_done(campaign, text_for=text_for)
    comparisons = open_campaign(campaign)
    people = add_reviewers(campaign, *[f"r{i}" for i in range(k)])
    a = np.array([style.style_counts(c.response_a.text) for c in comparisons])
    b = np.array([style.style_counts(c.response_b.text) for c in comparisons])
    z, _ = style.style_covariates(a, b, np.full(len(comparisons), k))
    for comparison, z_len in zip(comparisons, z[:, 0], strict=True):
        for person in people:
            resolved = "a" if rng.random() < expit(BETA * z_len) else "b"
            cast_vote(comparison, person, resolved, a_on_left=bool(rng.random() < 0.5))
    return campaign


def test_length_preference_moves_the_plain_leaderboard_but_not_the_style_controlled_one(client, lead):
    campaign = length_campaign()
    report = campaign_report(campaign=campaign, rounds=400)
    plain = {r.model: r for r in report.overall.leaderboard}
    controlled = {r.model: r for r in report.style.leaderboard}
    # plain: Long is above Short with intervals apart
    assert plain["Long"].rating - plain["Short"].rating > 100
    assert plain["Long"].ci_low > plain["Short"].ci_high
    assert [r.model for r in report.overall.leaderboard] == ["Long", "Mid", "Short"]
    # style-controlled: every interval holds the truth (1000: identity does not matter) and
    # overlaps every other one, so no model is ranked above another
    for row in controlled.values():
        assert row.ci_low <= 1000 <= row.ci_high, row
        for other in controlled.values():
            assert row.ci_low <= other.ci_high, (row, other)
        assert row.rank == 1
    # the length coefficient is recovered; markdown features do not vary in plain words
    coefficients = {c.feature: c for c in report.style.coefficients}
    length = coefficients["length"]
    assert length.ci_low <= BETA <= length.ci_high
    assert length.rating_points == pytest.approx(400 / np.log(10) * length.coefficient)
    for name in ("headers", "list_items", "bold"):
        assert coefficients[name].coefficient is None and coefficients[name].note == "does not vary"
    assert "Style control: one standard deviation of relative answer length is worth +" in report.summary

    client.force_login(lead)
    # leaderboard_style.csv: exactly the leaderboard header, the same numbers as the JSON
    response = client.get(f"/api/campaigns/{campaign.pk}/leaderboard_style.csv")
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('leaderboard_style.csv"')
    text = body(response)
    assert text.splitlines()[0] == ",".join(LEADERBOARD_HEADER) == "model,rating,ci_low,ci_high,votes,wins,losses,ties"
    rows = list(csv.DictReader(io.StringIO(text)))
    data = client.get(f"/api/campaigns/{campaign.pk}/report/").json()
    assert [r["model"] for r in rows] == [r["model"] for r in data["style"]["leaderboard"]]
    for row, shown in zip(rows, data["style"]["leaderboard"], strict=True):
        assert float(row["rating"]) == pytest.approx(shown["rating"], abs=0.005)
        assert float(row["ci_low"]) == pytest.approx(shown["ci_low"], abs=0.005)
        assert float(row["ci_high"]) == pytest.approx(shown["ci_high"], abs=0.005)
        assert int(row["votes"]) == shown["votes"] == plain[row["model"]].votes
    assert data["style"]["coefficients"][0]["feature"] == "length"
    # the page shows both boards side by side, and the export link
    page = client.get(f"/campaigns/{campaign.pk}/report/").content.decode()
    assert 'id="style-leaderboard"' in page and 'id="style-coefficients"' in page
    assert "leaderboard_style.csv" in page
    assert "answer length (characters)" in page


def test_two_models_get_the_style_controlled_a_versus_b_preference(client, lead):
    rng = np.random.default_rng(4)
    campaign = make_campaign(name="Two", labels=("Verbose", "Terse"), prompts=60, k=3)
    generate_done(
        campaign,
        text_for=lambda p, c: "x" * int(rng.integers(500, 1500) if c.label == "Verbose" else rng.integers(200, 900)),
    )
    comparisons = open_campaign(campaign)
    people = add_reviewers(campaign, "a1", "a2", "a3")
    a = np.array([style.style_counts(c.response_a.text) for c in comparisons])
    b = np.array([style.style_counts(c.response_b.text) for c in comparisons])
    z, _ = style.style_covariates(a, b, np.full(len(comparisons), 3))
    for comparison, z_len in zip(comparisons, z[:, 0], strict=True):
        for person in people:
            cast_vote(comparison, person, "a" if rng.random() < expit(BETA * z_len) else "b")
    report = campaign_report(campaign=campaign, rounds=300)
    (pair,) = report.overall.pairs
    (preference,) = report.style.pairs
    assert (preference.model_a, preference.model_b) == ("Verbose", "Terse")
    assert pair.a_score > 0.6  # reviewers did prefer the verbose answers
    assert preference.raw_score == pair.a_score
    # with style held equal, 50% is inside the interval and the point is near it
    assert preference.ci_low < 0.5 < preference.ci_high
    assert abs(preference.preference - 0.5) < 0.1
    assert "With length and markdown held equal, Verbose would be preferred to Terse" in report.summary
    client.force_login(lead)
    data = client.get(f"/api/campaigns/{campaign.pk}/report/").json()
    assert data["style"]["pairs"][0]["preference"] == pytest.approx(preference.preference)


def test_a_model_that_never_wins_is_not_estimable_in_table_csv_summary_and_command(client, lead, tmp_path):
    campaign = make_campaign(name="Loser", labels=("Ace", "Bee", "Cat", "Dud"), prompts=12, k=2)
    comparisons = open_campaign(campaign)
    r1, r2 = add_reviewers(campaign, "u1", "u2")
    rng = np.random.default_rng(0)
    for comparison in comparisons:
        labels = (comparison.contestant_a.label, comparison.contestant_b.label)
        for person in (r1, r2):
            if "Dud" in labels:
                resolved = "b" if labels[0] == "Dud" else "a"
            else:
                resolved = "a" if rng.random() < 0.5 else rng.choice(["b", "tie"])
            cast_vote(comparison, person, resolved)
    report = campaign_report(campaign=campaign, rounds=200)
    board = {r.model: r for r in report.overall.leaderboard}
    dud = board["Dud"]
    assert (dud.rating, dud.ci_low, dud.ci_high, dud.rank, dud.estimable) == (None, None, None, None, False)
    assert dud.note == "not estimable: never won" and dud.losses == 72 and dud.wins == 0
    assert report.overall.leaderboard[-1].model == "Dud"
    # the others are fitted without Dud: their mean is 1000, not pushed up by a prior's number
    others = [board[m].rating for m in ("Ace", "Bee", "Cat")]
    assert np.mean(others) == pytest.approx(1000, abs=1e-6)
    assert "Not estimable, so not rated: Dud (never won)" in report.summary
    assert report.style.leaderboard[-1].model == "Dud" and report.style.leaderboard[-1].rating is None

    client.force_login(lead)
    for name in ("leaderboard.csv", "leaderboard_style.csv"):
        rows = {
            r["model"]: r for r in csv.DictReader(io.StringIO(body(client.get(f"/api/campaigns/{campaign.pk}/{name}"))))
        }
        assert (rows["Dud"]["rating"], rows["Dud"]["ci_low"], rows["Dud"]["ci_high"]) == ("", "", ""), name
        assert rows["Dud"]["losses"] == "72"
        assert float(rows["Ace"]["ci_low"]) <= float(rows["Ace"]["rating"]) <= float(rows["Ace"]["ci_high"])
    page = client.get(f"/campaigns/{campaign.pk}/report/").content.decode()
    assert "not estimable" in page and "never won" in page
    out = io.StringIO()
    path = tmp_path / "style.csv"
    call_command("report", campaign.pk, "--rounds=50", f"--leaderboard-style={path}", stdout=out, stderr=io.StringIO())
    assert "not estimable" in out.getvalue()
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(LEADERBOARD_HEADER)


def test_one_vote_is_too_few_and_no_votes_is_an_empty_style_section(client, lead):
    campaign = make_campaign(name="Tiny", labels=("P", "Q"), prompts=2, k=1)
    comparisons = open_campaign(campaign)
    (person,) = add_reviewers(campaign, "only")
    report = campaign_report(campaign=campaign, rounds=20)
    assert report.style.leaderboard == [] and report.style.pairs == []
    cast_vote(comparisons[0], person, "a")
    report = campaign_report(campaign=campaign, rounds=20)
    assert all(
        r.rating is None and r.note == "not estimable: only 1 votes (fewer than 10)" for r in report.overall.leaderboard
    )
    assert report.style.pairs[0].preference is None
    client.force_login(lead)
    rows = list(csv.DictReader(io.StringIO(body(client.get(f"/api/campaigns/{campaign.pk}/leaderboard_style.csv")))))
    assert [(r["rating"], r["votes"]) for r in rows] == [("", "1"), ("", "1")]


def test_a_negative_computed_rating_stays_a_number_in_the_csv():
    # a rating below zero is a number the service computed, not a formula: no quote added
    assert csv_line(["'@x", fmt_rating(-12.5)]) == "'@x,-12.50\r\n"


def test_stored_style_counts_are_what_the_report_reads_and_equal_counting_the_texts():
    from arena.models import Response

    campaign = length_campaign(prompts=30)
    counted = campaign_report(campaign=campaign, rounds=200, use_cache=False).style
    for response in Response.objects.filter(campaign=campaign):  # as the engine stores them
        Response.objects.filter(pk=response.pk).update(style=list(style.style_counts(response.text)))
    stored = campaign_report(campaign=campaign, rounds=200, use_cache=False).style
    assert [(r.model, r.rating, r.ci_low, r.ci_high) for r in stored.leaderboard] == [
        (r.model, r.rating, r.ci_low, r.ci_high) for r in counted.leaderboard
    ]
    assert stored.coefficients == counted.coefficients
    # The stored counts are read, not the texts: swapped lengths reverse the length effect.
    for response in Response.objects.filter(campaign=campaign):
        n, *rest = style.style_counts(response.text)
        Response.objects.filter(pk=response.pk).update(style=[2000 - n, *rest])
    swapped = campaign_report(campaign=campaign, rounds=200, use_cache=False).style
    assert swapped.coefficients[0].coefficient * counted.coefficients[0].coefficient < 0
