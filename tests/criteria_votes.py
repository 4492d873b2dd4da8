"""Reusable helpers for tests that vote with criteria through the API and check criteria.csv
against numbers worked out from the votes cast (for this module's tests and end-to-end ones).

`vote_all_via_api` makes every reviewer vote on everything they are served, with answers from
`pick`, and records each vote resolved by the test's own reading of the sides;
`expected_criteria_rows` turns those records into criteria.csv's rows by the contract's
definitions, with scipy's binomial test and statsmodels' Wilson interval as the independent
numbers. `check_criteria_csv` compares a downloaded criteria.csv with them.
"""

import csv
import io
import random
from collections import Counter

import pytest
from scipy.stats import binomtest
from statsmodels.stats.proportion import proportion_confint

from arena.models import Assignment
from arena.reports.criteria import CRITERIA_HEADER

ANSWERS = ("left", "right", "tie", "both_bad")


def resolve(answer: str, a_on_left: bool) -> str:
    """The test's own reading of a shown answer: left is A when A was on the left."""
    if answer in ("tie", "both_bad"):
        return answer
    return "a" if (answer == "left") == a_on_left else "b"


def random_pick(seed: int, *, required=("accuracy",), optional=("tone",), optional_share=0.7):
    """A `pick` for `vote_all_via_api`: random answers, optional criteria answered sometimes."""
    rng = random.Random(seed)

    def pick(_item: dict) -> tuple[str, dict]:
        criteria = {key: rng.choice(ANSWERS) for key in required}
        for key in optional:
            if rng.random() < optional_share:
                criteria[key] = rng.choice(ANSWERS)
        return rng.choice(ANSWERS), criteria

    return pick


def vote_all_via_api(campaign, clients: dict, pick) -> list[tuple[str, tuple[str, str], str, dict]]:
    """Each reviewer (name -> API client) votes on every item served, `pick(item) -> (choice,
    criteria)`; returns [(reviewer, (label A, label B), overall resolved, {key: resolved})]."""
    cast = []
    for name, client in clients.items():
        while (r := client.get(f"/api/review/next/?campaign={campaign.id}")).status_code == 200:
            item = r.json()
            choice, criteria = pick(item)
            sent = client.post(
                f"/api/review/{item['assignment']}/vote/", {"choice": choice, "criteria": criteria}, format="json"
            )
            assert sent.status_code == 201, sent.content
            a = Assignment.objects.select_related("comparison__contestant_a", "comparison__contestant_b").get(
                token=item["assignment"]
            )
            pair = (a.comparison.contestant_a.label, a.comparison.contestant_b.label)
            resolved = {key: resolve(value, a.a_on_left) for key, value in criteria.items()}
            cast.append((name, pair, resolve(choice, a.a_on_left), resolved))
    return cast


def expected_criteria_rows(campaign_name: str, cast, *, counted_reviewers, keys, pairs) -> list[dict]:
    """criteria.csv worked out from the votes (contract definitions), criteria in `keys` order,
    pairs in `pairs` order; columns without a value (empty pair, no decisive vote) are left out."""
    rows = []
    for key in keys:
        for pair in pairs:
            n = Counter(
                answers[key]
                for who, p, _overall, answers in cast
                if who in counted_reviewers and p == tuple(pair) and key in answers
            )
            votes = sum(n.values())
            a, b, t, bb = n["a"], n["b"], n["tie"], n["both_bad"]
            row = {"campaign": campaign_name, "criterion": key, "model_a": pair[0], "model_b": pair[1]}
            row.update(votes=votes, a_wins=a, b_wins=b, ties=t, both_bad=bb)
            if votes:
                row.update(
                    a_win_rate=a / votes,
                    b_win_rate=b / votes,
                    tie_rate=(t + bb) / votes,
                    a_score=(a + 0.5 * (t + bb)) / votes,
                )
            if a + b:
                low, high = proportion_confint(a, a + b, alpha=0.05, method="wilson")
                row.update(decisive_share=a / (a + b), ci_low=low, ci_high=high, p_value=binomtest(a, a + b).pvalue)
            rows.append(row)
    return rows


def check_criteria_csv(text: str, expected: list[dict]) -> list[dict]:
    """Assert that criteria.csv (its text) has the contract header and exactly the expected
    rows (numbers to 1e-6); returns its parsed rows."""
    assert text.splitlines()[0] == ",".join(CRITERIA_HEADER)
    got = list(csv.DictReader(io.StringIO(text)))
    assert len(got) == len(expected)
    for g, w in zip(got, expected, strict=True):
        for column in CRITERIA_HEADER:
            if column not in w:
                assert g[column] == "", (column, g)
            elif isinstance(w[column], str):
                assert g[column] == w[column]
            elif isinstance(w[column], int):
                assert int(g[column]) == w[column], (column, g, w)
            else:
                assert float(g[column]) == pytest.approx(w[column], abs=1e-6), (column, g, w)
    return got
