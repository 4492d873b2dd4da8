"""The report through the API, the CSV, the page and the command, against numbers worked by hand."""

import csv
import io
import math
from fractions import Fraction

import pytest
from django.core.management import call_command

from arena.models import CampaignReviewer, Contestant
from arena.reports.build import campaign_report
from tests.factories import add_reviewers, cast_vote, make_campaign, open_campaign

pytestmark = pytest.mark.django_db

Z95 = 1.959963984540054
HEADER = (
    "campaign,model_a,model_b,votes,a_wins,b_wins,ties,both_bad,a_win_rate,b_win_rate,tie_rate,a_score,"
    "decisive_share,ci_low,ci_high,p_value"
)


def wilson(successes, n, z=Z95):
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def sign_test(m, n):
    """Exact two-sided binomial test at 1/2, summed as fractions."""
    total = m + n
    k = min(m, n)
    tail = sum(Fraction(math.comb(total, i), 2**total) for i in range(k + 1))
    return min(1.0, float(2 * tail)) if m != n else 1.0


def csv_rows(response):
    text = b"".join(response.streaming_content).decode()
    return text.splitlines()[0], list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def two_model_campaign(db):
    """4 prompts, 3 reviewers: A wins 5, B wins 2, 2 ties, 1 both bad (10 votes)."""
    campaign = make_campaign(name="Support bots", labels=("Flash", "GPT"), prompts=4, k=3)
    comparisons = open_campaign(campaign)
    r1, r2, r3 = add_reviewers(campaign, "ann", "bob", "cat")
    plan = [
        (comparisons[0], [(r1, "a", True), (r2, "a", False), (r3, "a", True)]),
        (comparisons[1], [(r1, "a", False), (r2, "b", True), (r3, "tie", True)]),
        (comparisons[2], [(r1, "a", True), (r2, "b", False), (r3, "both_bad", False)]),
        (comparisons[3], [(r1, "tie", True)]),
    ]
    for comparison, votes in plan:
        for reviewer, resolved, a_left in votes:
            cast_vote(comparison, reviewer, resolved, a_on_left=a_left)
    campaign.refresh_from_db()
    return campaign, comparisons, (r1, r2, r3)


def test_report_json_gives_the_hand_worked_pair_numbers(client, lead, two_model_campaign):
    campaign, _, _ = two_model_campaign
    client.force_login(lead)
    response = client.get(f"/api/campaigns/{campaign.pk}/report/")
    assert response.status_code == 200
    body = response.json()
    (pair,) = body["overall"]["pairs"]
    low, high = wilson(5, 7)
    assert (pair["model_a"], pair["model_b"]) == ("Flash", "GPT")
    assert (pair["votes"], pair["a_wins"], pair["b_wins"], pair["ties"], pair["both_bad"]) == (10, 5, 2, 2, 1)
    assert pair["a_win_rate"] == pytest.approx(0.5)
    assert pair["b_win_rate"] == pytest.approx(0.2)
    assert pair["tie_rate"] == pytest.approx(0.3)
    assert pair["a_score"] == pytest.approx(0.65)
    assert pair["decisive_share"] == pytest.approx(5 / 7)
    assert pair["ci_low"] == pytest.approx(low, abs=1e-9)
    assert pair["ci_high"] == pytest.approx(high, abs=1e-9)
    assert pair["p_value"] == pytest.approx(58 / 128, abs=1e-12) == sign_test(5, 2)
    assert pair["prompts"] == 4
    # not significant: the page says how many votes would be needed
    assert pair["significant"] is False and pair["votes_needed"] > 10
    # the prompt bootstrap interval brackets the score
    assert pair["score_ci_low"] <= 0.65 <= pair["score_ci_high"]
    assert "Flash in 50% of votes and GPT in 20%; 30% were ties" in body["summary"]


def test_report_csv_has_the_contract_header_and_the_hand_worked_row(client, lead, two_model_campaign):
    campaign, _, _ = two_model_campaign
    client.force_login(lead)
    response = client.get(f"/api/campaigns/{campaign.pk}/report.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response["Content-Disposition"].endswith('report.csv"')
    header, rows = csv_rows(response)
    assert header == HEADER
    (row,) = rows
    low, high = wilson(5, 7)
    assert row["campaign"] == "Support bots"
    assert (row["model_a"], row["model_b"]) == ("Flash", "GPT")
    assert [int(row[k]) for k in ("votes", "a_wins", "b_wins", "ties", "both_bad")] == [10, 5, 2, 2, 1]
    assert row["a_win_rate"] == "0.500000" and row["tie_rate"] == "0.300000"
    assert float(row["b_win_rate"]) == 0.2
    assert float(row["a_score"]) == 0.65
    assert float(row["decisive_share"]) == pytest.approx(5 / 7, abs=1e-6)
    assert float(row["ci_low"]) == pytest.approx(low, abs=1e-6)
    assert float(row["ci_high"]) == pytest.approx(high, abs=1e-6)
    assert float(row["p_value"]) == pytest.approx(58 / 128, abs=1e-6)
    for key in ("a_win_rate", "b_win_rate", "tie_rate", "a_score", "decisive_share", "ci_low", "ci_high"):
        assert len(row[key].split(".")[1]) >= 4


def test_report_csv_works_whatever_the_client_accepts(client, lead, two_model_campaign):
    campaign, _, _ = two_model_campaign
    client.force_login(lead)
    for extra in ({"HTTP_ACCEPT": "text/csv"}, {"HTTP_ACCEPT": "application/json"}, {}):
        response = client.get(f"/api/campaigns/{campaign.pk}/report.csv", **extra)
        assert response.status_code == 200
        assert csv_rows(response)[0] == HEADER
    response = client.get(f"/api/campaigns/{campaign.pk}/report.csv?format=json")
    assert response.status_code == 200 and csv_rows(response)[0] == HEADER


def test_tiny_p_values_are_written_so_they_parse_as_floats(client, lead):
    campaign = make_campaign(labels=("Strong", "Weak"), prompts=40, k=1)
    comparisons = open_campaign(campaign)
    reviewers = add_reviewers(campaign, *[f"rev{i}" for i in range(1)])
    for comparison in comparisons:
        cast_vote(comparison, reviewers[0], "a")
    client.force_login(lead)
    _, (row,) = csv_rows(client.get(f"/api/campaigns/{campaign.pk}/report.csv"))
    assert float(row["p_value"]) == pytest.approx(2 * 0.5**40, rel=1e-6)
    assert "e-" in row["p_value"]
    assert row["ci_high"] == "1.000000"


def test_an_excluded_reviewer_is_left_out_of_every_number(client, lead, two_model_campaign):
    campaign, _, (r1, _, _) = two_model_campaign
    client.force_login(lead)
    before = client.get(f"/api/campaigns/{campaign.pk}/report/").json()
    assert before["votes"] == 10
    CampaignReviewer.objects.filter(campaign=campaign, user=r1).update(excluded=True)
    after = client.get(f"/api/campaigns/{campaign.pk}/report/").json()
    # ann cast a, a, a, tie: without her, 6 votes remain: a 1, b 2, tie 1, both_bad 1... worked out:
    # bob: a, b, b; cat: a, tie, both_bad
    (pair,) = after["overall"]["pairs"]
    assert (pair["votes"], pair["a_wins"], pair["b_wins"], pair["ties"], pair["both_bad"]) == (6, 2, 2, 1, 1)
    assert after["votes"] == 6
    assert after["excluded_reviewers"] == 1
    _, (row,) = csv_rows(client.get(f"/api/campaigns/{campaign.pk}/report.csv"))
    assert row["votes"] == "6" and row["decisive_share"] == "0.500000" and float(row["p_value"]) == 1.0
    ann = next(r for r in after["reviewers"] if r["username"] == "ann")
    assert ann["excluded"] is True


def test_repeat_votes_are_not_counted(client, lead, two_model_campaign):
    campaign, comparisons, (r1, r2, _) = two_model_campaign
    cast_vote(comparisons[0], r1, "b", a_on_left=False, kind="repeat")  # ann changes her mind
    cast_vote(comparisons[1], r2, "b", a_on_left=False, kind="repeat")  # bob is consistent
    client.force_login(lead)
    body = client.get(f"/api/campaigns/{campaign.pk}/report/").json()
    (pair,) = body["overall"]["pairs"]
    assert (pair["votes"], pair["a_wins"], pair["b_wins"]) == (10, 5, 2)
    reviewers = {r["username"]: r for r in body["reviewers"]}
    assert (reviewers["ann"]["repeat_votes"], reviewers["ann"]["repeat_consistent"]) == (1, 0)
    assert (reviewers["bob"]["repeat_votes"], reviewers["bob"]["repeat_consistent"]) == (1, 1)
    assert reviewers["cat"]["repeat_votes"] == 0


def test_a_new_vote_invalidates_the_cached_report(lead, two_model_campaign):
    campaign, comparisons, _ = two_model_campaign
    first = campaign_report(campaign=campaign)
    again = campaign_report(campaign=campaign)
    assert again.generated_at == first.generated_at  # served from the cache
    newcomer = add_reviewers(campaign, "dan")[0]
    cast_vote(comparisons[3], newcomer, "b")
    fresh = campaign_report(campaign=campaign)
    assert fresh.votes == 11
    assert fresh.overall.pairs[0].b_wins == 3
    assert fresh.fingerprint != first.fingerprint


def test_the_api_serves_the_new_numbers_after_a_vote(client, lead, two_model_campaign):
    campaign, comparisons, _ = two_model_campaign
    client.force_login(lead)
    assert client.get(f"/api/campaigns/{campaign.pk}/report/").json()["votes"] == 10
    cast_vote(comparisons[3], add_reviewers(campaign, "dan")[0], "a")
    _, (row,) = csv_rows(client.get(f"/api/campaigns/{campaign.pk}/report.csv"))
    assert (row["votes"], row["a_wins"]) == ("11", "6")


def test_empty_pairs_have_empty_rate_cells(client, lead):
    campaign = make_campaign(name="Three", labels=("A1", "B2", "C3"), prompts=3, k=1)
    comparisons = open_campaign(campaign)
    (rev,) = add_reviewers(campaign, "solo")
    ab = [c for c in comparisons if (c.contestant_a.label, c.contestant_b.label) == ("A1", "B2")]
    for comparison in ab:
        cast_vote(comparison, rev, "a")
    client.force_login(lead)
    header, rows = csv_rows(client.get(f"/api/campaigns/{campaign.pk}/report.csv"))
    assert header == HEADER
    assert [(r["model_a"], r["model_b"]) for r in rows] == [("A1", "B2"), ("A1", "C3"), ("B2", "C3")]
    assert rows[0]["votes"] == "3" and rows[0]["a_win_rate"] == "1.000000"
    for row in rows[1:]:
        assert row["votes"] == "0"
        for key in HEADER.split(",")[8:]:
            assert row[key] == ""
    board = list(
        csv.DictReader(
            io.StringIO(
                b"".join(client.get(f"/api/campaigns/{campaign.pk}/leaderboard.csv").streaming_content).decode()
            )
        )
    )
    assert [r["model"] for r in board][0] == "A1"
    assert {r["model"]: r["votes"] for r in board} == {"A1": "3", "B2": "3", "C3": "0"}


def test_leaderboard_csv_counts_wins_losses_and_ties_per_model(client, lead, two_model_campaign):
    campaign, _, _ = two_model_campaign
    client.force_login(lead)
    response = client.get(f"/api/campaigns/{campaign.pk}/leaderboard.csv")
    assert response["Content-Disposition"].endswith('leaderboard.csv"')
    text = b"".join(response.streaming_content).decode()
    assert text.splitlines()[0] == "model,rating,ci_low,ci_high,votes,wins,losses,ties"
    rows = {r["model"]: r for r in csv.DictReader(io.StringIO(text))}
    assert [rows["Flash"][k] for k in ("votes", "wins", "losses", "ties")] == ["10", "5", "2", "3"]
    assert [rows["GPT"][k] for k in ("votes", "wins", "losses", "ties")] == ["10", "2", "5", "3"]
    # Two models, mean at 1000: the gap is the Elo log-odds of the score 0.65 (ties half).
    gap = float(rows["Flash"]["rating"]) - float(rows["GPT"]["rating"])
    assert gap == pytest.approx(400 * math.log10(0.65 / 0.35), abs=0.01)
    assert float(rows["Flash"]["rating"]) + float(rows["GPT"]["rating"]) == pytest.approx(2000, abs=0.01)
    assert float(rows["Flash"]["ci_low"]) <= float(rows["Flash"]["rating"]) <= float(rows["Flash"]["ci_high"])


def test_category_tables_split_the_votes(client, lead):
    campaign = make_campaign(labels=("X", "Y"), prompts=4, k=1, categories=["billing", "shipping"])
    comparisons = open_campaign(campaign)
    (rev,) = add_reviewers(campaign, "solo")
    for comparison in comparisons:
        cast_vote(comparison, rev, "a" if comparison.prompt.category == "billing" else "b")
    client.force_login(lead)
    body = client.get(f"/api/campaigns/{campaign.pk}/report/").json()
    by_name = {s["name"]: s["pairs"][0] for s in body["categories"]}
    assert (by_name["billing"]["a_wins"], by_name["billing"]["b_wins"]) == (2, 0)
    assert (by_name["shipping"]["a_wins"], by_name["shipping"]["b_wins"]) == (0, 2)
    assert body["overall"]["pairs"][0]["a_score"] == 0.5


def test_agreement_and_reviewer_majority_are_worked_out(client, lead, two_model_campaign):
    campaign, _, _ = two_model_campaign
    client.force_login(lead)
    body = client.get(f"/api/campaigns/{campaign.pk}/report/").json()
    agreement = body["agreement"]
    # three comparisons with 3 votes: (a,a,a), (a,b,tie), (a,b,both_bad)
    assert agreement["comparisons"] == 3
    assert agreement["percent_agreement"] == pytest.approx(1 / 3)
    assert agreement["fleiss_comparisons"] == 3 and agreement["fleiss_raters"] == 3
    # Krippendorff by hand: n=9, n_a=5, n_b=2, n_tie=1, n_bad=1; sum o_cc = 3 (first unit only)
    expected_alpha = 1 - 8 * (9 - 3) / (81 - (25 + 4 + 1 + 1))
    assert agreement["krippendorff_alpha"] == pytest.approx(expected_alpha)
    reviewers = {r["username"]: r for r in body["reviewers"]}
    # ann: comparison 0 others (a,a) -> agrees; 1: others (b,tie) no unique majority; 2: (b,bad) none;
    # comparison 3 has no others.
    assert (reviewers["ann"]["majority_judged"], reviewers["ann"]["majority_agreed"]) == (1, 1)
    assert (reviewers["bob"]["majority_judged"], reviewers["bob"]["majority_agreed"]) == (1, 1)
    assert reviewers["ann"]["median_seconds"] == 10.0


def test_position_and_length_bias_are_counted_from_the_shown_sides(client, lead):
    campaign = make_campaign(labels=("Long", "Short"), prompts=4, k=1)
    from tests.factories import generate_done

    generate_done(campaign, text_for=lambda p, c: "word " * (50 if c.position == 0 else 5))
    comparisons = open_campaign(campaign)
    (rev,) = add_reviewers(campaign, "solo")
    # three votes for the left side, one right; the longer response (A) wins three of four
    cast_vote(comparisons[0], rev, "a", a_on_left=True)
    cast_vote(comparisons[1], rev, "a", a_on_left=True)
    cast_vote(comparisons[2], rev, "b", a_on_left=False)
    cast_vote(comparisons[3], rev, "a", a_on_left=False)
    client.force_login(lead)
    body = client.get(f"/api/campaigns/{campaign.pk}/report/").json()
    assert (body["position_bias"]["wins"], body["position_bias"]["losses"]) == (3, 1)
    assert body["position_bias"]["share"] == 0.75
    assert body["position_bias"]["p_value"] == pytest.approx(sign_test(3, 1))
    assert (body["length_bias"]["wins"], body["length_bias"]["losses"]) == (3, 1)


def test_report_page_shows_summary_tables_charts_and_export_links(client, lead, two_model_campaign):
    campaign, _, _ = two_model_campaign
    Contestant.objects.filter(campaign=campaign, label="GPT").update(label="GPT <script>alert(1)</script>")
    client.force_login(lead)
    response = client.get(f"/campaigns/{campaign.pk}/report/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Reviewers preferred Flash in 50% of votes" in html
    assert "<svg" in html
    assert "<script>alert(1)</script>" not in html
    assert "GPT &lt;script&gt;alert(1)&lt;/script&gt;" in html
    for suffix in ("report.csv", "leaderboard.csv", "votes.csv", "votes.jsonl", "preferences.jsonl"):
        assert f"/api/campaigns/{campaign.pk}/{suffix}" in html
    assert "votes for 80% power" in html


def test_report_page_says_when_responses_are_simulated(client, lead, settings):
    campaign = make_campaign(labels=("S1", "S2"), prompts=1, base_url=settings.SIMULATED_API_BASE_URL)
    client.force_login(lead)
    html = client.get(f"/campaigns/{campaign.pk}/report/").content.decode()
    assert "Simulated responses" in html


def test_report_command_prints_the_report_and_writes_the_exports(tmp_path, two_model_campaign, capsys):
    campaign, _, _ = two_model_campaign
    paths = {name: tmp_path / name for name in ("r.csv", "l.csv", "v.csv", "v.jsonl", "p.jsonl")}
    call_command(
        "report",
        str(campaign.pk),
        "--csv",
        str(paths["r.csv"]),
        "--leaderboard",
        str(paths["l.csv"]),
        "--votes-csv",
        str(paths["v.csv"]),
        "--votes-jsonl",
        str(paths["v.jsonl"]),
        "--preferences",
        str(paths["p.jsonl"]),
        "--rounds",
        "200",
    )
    printed = capsys.readouterr().out
    assert "Reviewers preferred Flash in 50% of votes" in printed
    assert "Krippendorff" in printed
    assert paths["r.csv"].read_text().splitlines()[0] == HEADER
    assert len(paths["v.csv"].read_text().splitlines()) == 11
    assert len(paths["v.jsonl"].read_text().splitlines()) == 10
    # only comparison 0 (a, a, a) is a clear preference
    assert len(paths["p.jsonl"].read_text().splitlines()) == 1
