"""The report's vote counts (read in one pass and counted in numpy) against fresh per-vote
ORM queries, after a mixed sequence: votes through the review services and stored directly,
repeat checks, gold answers, a reviewer excluded and included again, an excluded comparison."""

import csv
import io
import random
import statistics
from collections import Counter, defaultdict

import pytest

from arena import stats
from arena.models import CampaignReviewer, Comparison, Vote
from arena.reports.build import report_build
from arena.reports.exports import votes_csv
from arena.services.assignment import assignment_next_for_reviewer
from arena.services.quality import comparison_set_excluded, comparison_set_gold, reviewer_exclude
from arena.services.voting import vote_submit
from tests.factories import add_reviewers, cast_vote, make_campaign, open_campaign

pytestmark = pytest.mark.django_db

OUTCOMES = ("a", "b", "tie", "both_bad")


def expected_numbers(campaign) -> dict:
    """Every vote-derived number of the report, recomputed vote by vote from the ORM."""
    excluded = set(CampaignReviewer.objects.filter(campaign=campaign, excluded=True).values_list("user_id", flat=True))
    votes = list(Vote.objects.filter(campaign=campaign).select_related("comparison", "reviewer", "comparison__prompt"))
    counted = [v for v in votes if v.counted and not v.comparison.excluded]
    included = [v for v in counted if v.reviewer_id not in excluded]
    pairs: dict = defaultdict(Counter)
    categories: dict = defaultdict(Counter)
    by_comparison: dict = defaultdict(list)
    for v in included:
        key = (v.comparison.contestant_a_id, v.comparison.contestant_b_id)
        pairs[key][v.resolved] += 1
        categories[(v.comparison.prompt.category, *key)][v.resolved] += 1
        by_comparison[v.comparison_id].append(v)
    reviewers: dict = defaultdict(lambda: defaultdict(int))
    times: dict = defaultdict(list)
    for v in counted:
        row = reviewers[v.reviewer.username]
        row["votes"] += 1
        row[{"a": "a_wins", "b": "b_wins", "tie": "ties", "both_bad": "both_bad"}[v.resolved]] += 1
        row["too_fast"] += v.too_fast
        if v.comparison.gold:
            row["gold_votes"] += 1
            row["gold_correct"] += v.comparison.gold == v.resolved
        others = [o.resolved for o in by_comparison[v.comparison_id] if o.pk != v.pk]
        majority = stats.majority_label(others)
        if majority is not None:
            row["majority_judged"] += 1
            row["majority_agreed"] += majority == v.resolved
        if v.seconds_on_task is not None:
            times[v.reviewer.username].append(v.seconds_on_task)
    for v in votes:
        if v.counted:
            continue
        first = next(
            (o for o in votes if o.counted and (o.comparison_id, o.reviewer_id) == (v.comparison_id, v.reviewer_id)),
            None,
        )
        if first is not None:
            reviewers[v.reviewer.username]["repeat_votes"] += 1
            reviewers[v.reviewer.username]["repeat_consistent"] += first.resolved == v.resolved
    multi = [c for c in by_comparison.values() if len(c) >= 2]
    return {
        "votes": len(included),
        "pairs": {k: tuple(c[o] for o in OUTCOMES) for k, c in pairs.items()},
        "categories": {k: tuple(c[o] for o in OUTCOMES) for k, c in categories.items()},
        "left": sum(v.choice == "left" for v in included),
        "right": sum(v.choice == "right" for v in included),
        "too_fast": sum(v.too_fast for v in included),
        "median": statistics.median(v.seconds_on_task for v in included) if included else None,
        "reviewers": {name: dict(row) for name, row in reviewers.items()},
        "medians": {name: statistics.median(t) for name, t in times.items()},
        "agreement_comparisons": len(multi),
        "percent_agreement": stats.percent_agreement([[v.resolved for v in c] for c in multi]) if multi else None,
    }


def assert_report_matches_the_votes(campaign) -> None:
    expected = expected_numbers(campaign)
    report = report_build(campaign=campaign, rounds=20)
    assert report.votes == expected["votes"]
    got_pairs = {
        (r.contestant_a_id, r.contestant_b_id): (r.a_wins, r.b_wins, r.ties, r.both_bad)
        for r in report.overall.pairs
        if r.votes
    }
    assert got_pairs == expected["pairs"]
    got_categories = {
        (s.name, r.contestant_a_id, r.contestant_b_id): (r.a_wins, r.b_wins, r.ties, r.both_bad)
        for s in report.categories
        for r in s.pairs
        if r.votes
    }
    assert got_categories == expected["categories"]
    assert (report.position_bias.wins, report.position_bias.losses) == (expected["left"], expected["right"])
    assert report.too_fast_votes == expected["too_fast"]
    assert report.median_seconds == pytest.approx(expected["median"])
    assert report.agreement.comparisons == expected["agreement_comparisons"]
    assert report.agreement.percent_agreement == pytest.approx(expected["percent_agreement"])
    for row in report.reviewers:
        want = expected["reviewers"].get(row["username"], {})
        for name in (
            "votes", "a_wins", "b_wins", "ties", "both_bad", "too_fast", "gold_votes", "gold_correct",
            "majority_judged", "majority_agreed", "repeat_votes", "repeat_consistent",
        ):  # fmt: skip
            assert row[name] == want.get(name, 0), (row["username"], name)
        assert row["median_seconds"] == pytest.approx(expected["medians"].get(row["username"]))
    assert_votes_csv_gives_the_same_pair_counts(campaign, expected["pairs"])


def assert_votes_csv_gives_the_same_pair_counts(campaign, pairs: dict) -> None:
    """The raw-vote export, read through its three flags, counts what the report counts."""
    labels = dict(campaign.contestants.values_list("id", "label"))
    rows = csv.DictReader(io.StringIO("".join(votes_csv(campaign_id=campaign.pk)), newline=""))
    from_export: dict = defaultdict(Counter)
    for row in rows:
        if (row["counted"], row["reviewer_excluded"], row["comparison_excluded"]) == ("true", "false", "false"):
            from_export[(row["model_a"], row["model_b"])][row["resolved"]] += 1
    assert {pair: tuple(c[o] for o in OUTCOMES) for pair, c in from_export.items()} == {
        (labels[a], labels[b]): counts for (a, b), counts in pairs.items()
    }


def test_report_counts_equal_a_vote_by_vote_recount_through_votes_repeats_and_exclusions(settings):
    settings.REVIEW_REPEAT_SHARE = 0.0
    rng = random.Random(7)
    campaign = make_campaign(labels=("Ant", "Bee", "Cat"), prompts=6, k=3, categories=["billing", "shipping"])
    comparisons = open_campaign(campaign)
    reviewers = add_reviewers(campaign, "ann", "bob", "cal", "dee", "eve")
    comparison_set_gold(comparison=comparisons[0], gold="a")
    comparison_set_gold(comparison=comparisons[1], gold="tie")
    # Votes through the review services (the hot path), with a client-side timer.
    for _ in range(3):
        for reviewer in reviewers[:4]:
            assignment = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=reviewer.id)
            if assignment is None:
                continue
            vote_submit(
                token=assignment.token,
                reviewer_id=reviewer.id,
                choice=rng.choice(["left", "right", "tie", "both_bad"]),
                seconds_on_task=rng.choice([0.5, 1.25, 2.0]),
            )
    # Votes stored directly with longer times, and repeat checks (one consistent, one not).
    eve = reviewers[4]
    for comparison in comparisons[-4:]:
        cast_vote(comparison, eve, rng.choice(OUTCOMES), a_on_left=rng.random() < 0.5, seconds=rng.uniform(3, 40))
    first = Vote.objects.filter(reviewer=eve, counted=True).order_by("pk")
    cast_vote(first[0].comparison, eve, first[0].resolved, kind="repeat", a_on_left=not first[0].a_on_left)
    flipped = {"a": "b", "b": "a", "tie": "both_bad", "both_bad": "tie"}[first[1].resolved]
    cast_vote(first[1].comparison, eve, flipped, kind="repeat")
    assert_report_matches_the_votes(campaign)

    reviewer_exclude(campaign=campaign, user=reviewers[0])
    assert_report_matches_the_votes(campaign)
    # Others fill the freed slots while ann is out.
    for reviewer in reviewers[1:4]:
        assignment = assignment_next_for_reviewer(campaign_id=campaign.id, reviewer_id=reviewer.id)
        if assignment is not None:
            vote_submit(token=assignment.token, reviewer_id=reviewer.id, choice="left", seconds_on_task=1.0)
    assert_report_matches_the_votes(campaign)

    comparison_set_excluded(comparison=Comparison.objects.get(pk=first[0].comparison_id), excluded=True)
    reviewer_exclude(campaign=campaign, user=reviewers[0], excluded=False)
    assert_report_matches_the_votes(campaign)
    report = report_build(campaign=campaign, rounds=20)
    assert report.votes == Vote.objects.filter(campaign=campaign, counted=True, comparison__excluded=False).count()
