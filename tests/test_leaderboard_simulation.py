"""Simulated reviewers with known true preferences: the leaderboard must find them.

Four models with true Elo-scale ratings; every vote is drawn so that the expected score
(ties and both-bad counting half) is exactly the Bradley-Terry probability of the true gap:
P(tie or both bad) = t, P(A wins) = s - t/2, P(B wins) = 1 - s - t/2 with s = 1/(1+10^(-gap/400)).
So the true ratings are exactly what the fitted model estimates, and a correct leaderboard
orders the models and its 95% intervals cover the truth. The seed is fixed: the test is
deterministic, and a wrong fit, scale, sign or centring makes it fail.
"""

import csv
import io

import numpy as np
import pytest

from arena.reports.build import campaign_report
from tests.factories import add_reviewers, cast_vote, make_campaign, open_campaign

pytestmark = pytest.mark.django_db

TRUE = {"Best": 1180.0, "Good": 1060.0, "Fair": 940.0, "Weak": 820.0}  # mean 1000
TIE_SHARE = 0.2


def simulate(campaign, *, seed: int, reviewers: int = 3):
    rng = np.random.default_rng(seed)
    comparisons = open_campaign(campaign)
    people = add_reviewers(campaign, *[f"sim{i}" for i in range(reviewers)])
    truth = {"wins": 0}
    for comparison in comparisons:
        a, b = comparison.contestant_a.label, comparison.contestant_b.label
        s = 1.0 / (1.0 + 10 ** ((TRUE[b] - TRUE[a]) / 400.0))
        for person in people:
            draw = rng.random()
            if draw < s - TIE_SHARE / 2:
                resolved = "a"
            elif draw < 1.0 - TIE_SHARE:
                resolved = "b"
            else:
                resolved = "tie" if rng.random() < 0.5 else "both_bad"
            cast_vote(comparison, person, resolved, a_on_left=bool(rng.random() < 0.5))
            truth["wins"] += 1
    return truth


def test_leaderboard_orders_four_models_by_their_true_strength_and_covers_the_truth(client, lead):
    # listed in a shuffled order so that the campaign order cannot give the answer away
    campaign = make_campaign(name="Four", labels=("Fair", "Best", "Weak", "Good"), prompts=40, k=3)
    simulate(campaign, seed=20240601)
    report = campaign_report(campaign=campaign)
    board = report.overall.leaderboard
    assert [row.model for row in board] == ["Best", "Good", "Fair", "Weak"]
    for row in board:
        assert row.ci_low <= TRUE[row.model] <= row.ci_high, (row.model, row.ci_low, row.ci_high)
        assert row.ci_low < row.rating < row.ci_high
    # mean-centred at 1000
    assert np.mean([row.rating for row in board]) == pytest.approx(1000.0, abs=1e-6)
    # 120-point gaps with ~360 votes per model separate the best from the weakest
    assert board[0].rank == 1 and board[-1].rank > 1
    # the predicted matrix follows the ratings, and the observed one the votes
    labels = report.overall.labels
    best, weak = labels.index("Best"), labels.index("Weak")
    assert report.overall.predicted[best][weak] > 0.75
    assert report.overall.observed[best][weak] > 0.6
    # the CSV says the same
    client.force_login(lead)
    text = b"".join(client.get(f"/api/campaigns/{campaign.pk}/leaderboard.csv").streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["model"] for r in rows] == ["Best", "Good", "Fair", "Weak"]
    assert all(float(r["ci_low"]) <= TRUE[r["model"]] <= float(r["ci_high"]) for r in rows)


def test_vs_baseline_pins_the_baseline_at_1000(lead):
    # the baseline (listed last) is Fair at 940: shifting the truth so Fair is 1000
    campaign = make_campaign(
        name="Baseline", labels=("Best", "Good", "Weak", "Fair"), prompts=40, k=3, pairing="vs_baseline"
    )
    simulate(campaign, seed=7)
    report = campaign_report(campaign=campaign)
    ratings = {row.model: row for row in report.overall.leaderboard}
    assert ratings["Fair"].rating == pytest.approx(1000.0, abs=1e-6)
    assert [row.model for row in report.overall.leaderboard] == ["Best", "Good", "Fair", "Weak"]
    for name, row in ratings.items():
        if name != "Fair":
            assert row.ci_low <= TRUE[name] - TRUE["Fair"] + 1000 <= row.ci_high
    # only the three pairs against the baseline exist, each with B = the baseline
    assert [(p.model_a, p.model_b) for p in report.overall.pairs] == [
        ("Best", "Fair"),
        ("Good", "Fair"),
        ("Weak", "Fair"),
    ]
