"""votes.csv alone reproduces every number of report.csv (issue 10, must-show 4).

A campaign of three models (three pairs) gets votes of every kind: decisive, ties, both bad,
repeat checks. The lead excludes a reviewer and a comparison. Both files are downloaded
through the API; each report row is then recomputed from the raw votes with independent code
(Wilson's interval written out here, scipy's exact binomial test) and must match.
"""

import csv
import io
import math
import random
from collections import Counter

import pytest
from scipy.stats import binomtest, norm

from arena.models import Comparison
from arena.services.assignment import assignment_next_for_reviewer
from arena.services.quality import comparison_set_excluded, reviewer_exclude
from arena.services.voting import vote_submit
from tests.factories import add_reviewers, cast_vote, make_campaign, open_campaign

pytestmark = pytest.mark.django_db


def download_csv(client, url: str) -> list[dict]:
    response = client.get(url)
    assert response.status_code == 200, response.content
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval, from the textbook formula (Wilson 1927)."""
    z = norm.ppf(0.975)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def report_rows_from_votes(votes: list[dict]) -> dict[tuple[str, str], dict]:
    """Every report.csv row, recomputed from votes.csv rows alone."""
    pairs = {(v["model_a"], v["model_b"]) for v in votes}
    counts = {pair: Counter() for pair in pairs}
    for v in votes:
        if v["counted"] == "true" and v["reviewer_excluded"] == "false" and v["comparison_excluded"] == "false":
            counts[(v["model_a"], v["model_b"])][v["resolved"]] += 1
    rows = {}
    for (model_a, model_b), c in counts.items():
        a, b, ties, both_bad = c["a"], c["b"], c["tie"], c["both_bad"]
        n = a + b + ties + both_bad
        row = {"campaign": votes[0]["campaign"], "votes": n, "a_wins": a, "b_wins": b, "ties": ties}
        row["both_bad"] = both_bad
        row["a_win_rate"] = a / n if n else None
        row["b_win_rate"] = b / n if n else None
        row["tie_rate"] = (ties + both_bad) / n if n else None
        row["a_score"] = (a + 0.5 * (ties + both_bad)) / n if n else None
        decisive = a + b
        row["decisive_share"] = a / decisive if decisive else None
        row["ci_low"], row["ci_high"] = wilson(a, decisive) if decisive else (None, None)
        row["p_value"] = binomtest(a, decisive, 0.5).pvalue if decisive else None
        rows[(model_a, model_b)] = row
    return rows


def test_report_csv_is_recomputed_row_for_row_from_votes_csv_alone(client, lead, settings):
    settings.REVIEW_REPEAT_SHARE = 0.0
    rng = random.Random(10)
    campaign = make_campaign(name="Support models, round 2", labels=("Ant", "Bee", "Cat"), prompts=8, k=4)
    comparisons = open_campaign(campaign)
    reviewers = add_reviewers(campaign, "ann", "bob", "cal", "dee")
    by_pair: dict[tuple[str, str], list[Comparison]] = {}
    for comparison in comparisons:
        by_pair.setdefault((comparison.contestant_a.label, comparison.contestant_b.label), []).append(comparison)
    # Ant beats Bee clearly (a small p-value), Ant and Cat are close, Bee and Cat mostly tie.
    leanings = {
        ("Ant", "Bee"): ["a"] * 8 + ["b", "tie", "both_bad"],
        ("Ant", "Cat"): ["a", "b", "tie", "both_bad"],
        ("Bee", "Cat"): ["tie", "tie", "both_bad", "a", "b"],
    }
    # Every reviewer judges every comparison through the review services, as in the web UI.
    for reviewer in reviewers:
        while assignment := assignment_next_for_reviewer(campaign_id=campaign.pk, reviewer_id=reviewer.pk):
            comparison = assignment.comparison
            resolved = rng.choice(leanings[(comparison.contestant_a.label, comparison.contestant_b.label)])
            choice = {"a": "left", "b": "right"}.get(resolved, resolved)
            if resolved in ("a", "b") and not assignment.a_on_left:
                choice = {"left": "right", "right": "left"}[choice]
            vote_submit(token=assignment.token, reviewer_id=reviewer.pk, choice=choice, seconds_on_task=4.0)
    # Repeat checks (not counted), one agreeing with the first vote and one not.
    cast_vote(by_pair[("Ant", "Bee")][0], reviewers[1], "a", kind="repeat", a_on_left=False)
    cast_vote(by_pair[("Ant", "Cat")][1], reviewers[2], "both_bad", kind="repeat")
    reviewer_exclude(campaign=campaign, user=reviewers[3])
    excluded = by_pair[("Ant", "Bee")][2]
    comparison_set_excluded(comparison=excluded, excluded=True)

    client.force_login(lead)
    votes = download_csv(client, f"/api/campaigns/{campaign.pk}/votes.csv")
    report = download_csv(client, f"/api/campaigns/{campaign.pk}/report.csv")

    # Every kind of vote the report must leave out is in the export, marked.
    assert any(v["counted"] == "false" for v in votes)
    assert any(v["reviewer_excluded"] == "true" for v in votes)
    on_excluded = [v for v in votes if v["comparison_id"] == str(excluded.pk)]
    assert on_excluded and {v["comparison_excluded"] for v in on_excluded} == {"true"}
    assert {v["comparison_excluded"] for v in votes if v["comparison_id"] != str(excluded.pk)} == {"false"}
    assert {"tie", "both_bad"} <= {v["resolved"] for v in votes}

    expected = report_rows_from_votes(votes)
    assert {(r["model_a"], r["model_b"]) for r in report} == set(expected) == set(by_pair)
    for row in report:
        want = expected[(row["model_a"], row["model_b"])]
        assert row["campaign"] == want["campaign"] == campaign.name
        for name in ("votes", "a_wins", "b_wins", "ties", "both_bad"):
            assert int(row[name]) == want[name], (row["model_a"], row["model_b"], name)
        for name in ("a_win_rate", "b_win_rate", "tie_rate", "a_score", "decisive_share", "ci_low", "ci_high"):
            assert float(row[name]) == pytest.approx(want[name], abs=5e-7), (row["model_a"], row["model_b"], name)
        assert float(row["p_value"]) == pytest.approx(want["p_value"], rel=1e-5, abs=5e-7), (
            row["model_a"],
            row["model_b"],
        )
    ant_bee = next(r for r in report if (r["model_a"], r["model_b"]) == ("Ant", "Bee"))
    assert float(ant_bee["p_value"]) < 0.05

    # Counting the votes on the excluded comparison would give other numbers: the column matters.
    naive = Counter(
        v["resolved"]
        for v in votes
        if (v["model_a"], v["model_b"]) == ("Ant", "Bee")
        and v["counted"] == "true"
        and v["reviewer_excluded"] == "false"
    )
    assert sum(naive.values()) > int(ant_bee["votes"])
