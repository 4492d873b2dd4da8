"""Per-model economics (models.csv, the JSON report's `models`, the report page) against the
simulated API set to known latencies, first-token times and token counts per model.

The expected figures are computed here from the simulator's own settings and token counting,
not from arena's code: cost from the configured token count and the prices, percentiles
against the configured ranges, TTFT below the latency, and the page's cells equal to the file's.
"""

import csv
import io
import re
import statistics
from decimal import Decimal
from html.parser import HTMLParser

import numpy as np
import pytest
from django.test import Client

from arena.models import Contestant, Response
from arena.reports.build import LeaderboardRow, PairRow
from arena.reports.models import (
    MODELS_HEADER,
    ModelEconomics,
    cost_sentence,
    economics_of,
    exact_cost,
    fmt_usd,
    median_rate,
    pareto_frontier,
    percentile,
    with_ratings,
)
from arena.selectors.models import ContestantUsage
from arena.services.generation import generation_start
from simulator import stats_key
from simulator.replies import count_tokens, message_text
from tests.conftest import wait_until
from tests.factories import add_reviewers, cast_vote, make_campaign, open_campaign, status_of

pytestmark = pytest.mark.django_db

# model -> (latency range s, ttft range s or None, output tokens, price in, price out per million)
PROFILES = {
    "sim-fast-cheap": ((0.20, 0.35), (0.05, 0.10), 40, "0.0050", "0.0100"),
    "sim-slow-dear": ((0.80, 1.00), (0.20, 0.30), 120, "2.5000", "10.0000"),
    "sim-no-stream": ((0.40, 0.55), None, 80, "0.1500", "0.6000"),
}
LABELS = {"sim-fast-cheap": "Fast cheap", "sim-slow-dear": "Slow dear", "sim-no-stream": "Plain only"}
PROMPTS = 16
# What the client and a loaded 2-core machine (load average 8-10 while this was written) add on
# top of the simulator's own time: the lower ends of the ranges are hard bounds, the upper ones
# get this much room.
SLACK_MS = 500


def csv_rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    return header, [dict(zip(header, row, strict=True)) for row in reader]


class _ModelsTable(HTMLParser):
    """The text of every `data-col` element of the report page's #models-table, per row."""

    def __init__(self):
        super().__init__()
        self.rows, self._col, self._in_table = [], None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id") == "models-table":
            self._in_table = True
        if self._in_table and "data-model-row" in attrs:
            self.rows.append({})
        if self._in_table and "data-col" in attrs:
            self._col = attrs["data-col"]
            self.rows[-1][self._col] = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        if tag in ("td", "span"):
            self._col = None

    def handle_data(self, data):
        if self._col and not self.rows[-1][self._col]:
            self.rows[-1][self._col] = data.strip()


def page_cells(html: str) -> list[dict]:
    parser = _ModelsTable()
    parser.feed(html)
    return parser.rows


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_models_csv_matches_the_simulated_api_and_the_page(sim, start_worker, lead, make_user):
    sim.configure(
        model_timing={
            model: ",".join(
                [f"latency={lat[0]}-{lat[1]}", f"tokens={tokens}"] + ([f"ttft={ttft[0]}-{ttft[1]}"] if ttft else [])
            )
            for model, (lat, ttft, tokens, _, _) in PROFILES.items()
        },
        stream_refused_models=["sim-no-stream"],
        rate_429_rate=0.15,
        retry_after=0.05,
        max_failures_per_key=1,
        seed=3,
    )
    campaign = make_campaign(
        name="Economics",
        labels=list(LABELS.values()),
        models=list(PROFILES),
        prompts=PROMPTS,
        base_url=sim.base_url,
        k=1,
    )
    for model, (_, _, _, price_in, price_out) in PROFILES.items():
        Contestant.objects.filter(campaign=campaign, model=model).update(
            price_per_mtok_in=Decimal(price_in), price_per_mtok_out=Decimal(price_out)
        )
    # Four calls in flight per model: fewer threads competing for a busy machine's CPU. Calls
    # already in flight when the first refusal of streaming comes back are refused too.
    Contestant.objects.filter(campaign=campaign).update(max_concurrency=4)
    start_worker(env_overrides={"LLM_BACKOFF_BASE": "0.05", "LLM_BACKOFF_MAX": "0.2"})
    generation_start(campaign=campaign)
    wait_until(lambda: status_of(campaign) == "ready", timeout=90, message="generation to finish")

    # Votes, so that every model has a rating: Slow dear (listed before Plain only, so side A)
    # always beats Plain only, Fast cheap splits evenly with Slow dear (not significant) and
    # beats Plain only three times in four.
    reviewer = make_user("vera")
    add_reviewers(campaign, reviewer.username)
    labels = dict(Contestant.objects.filter(campaign=campaign).values_list("id", "label"))
    for i, comparison in enumerate(open_campaign(campaign)):
        pair = {labels[comparison.contestant_a_id], labels[comparison.contestant_b_id]}
        winner_a = {
            frozenset({"Fast cheap", "Slow dear"}): i % 2 == 0,
            frozenset({"Slow dear", "Plain only"}): True,
            frozenset({"Fast cheap", "Plain only"}): i % 4 != 2,
        }[frozenset(pair)]
        cast_vote(comparison, reviewer, "a" if winner_a else "b")

    client = Client()
    client.force_login(lead)
    header, rows = csv_rows(client.get(f"/api/campaigns/{campaign.pk}/models.csv"))
    assert header == MODELS_HEADER
    by_label = {r["model"]: r for r in rows}
    assert set(by_label) == set(LABELS.values())
    _, board = csv_rows(client.get(f"/api/campaigns/{campaign.pk}/leaderboard.csv"))
    board = {r["model"]: r for r in board}
    stats = sim.stats()

    for model, (latency, ttft, tokens, price_in, price_out) in PROFILES.items():
        row = by_label[LABELS[model]]
        done = list(Response.objects.filter(campaign=campaign, contestant__model=model))
        assert {r.status for r in done} == {"done"} and len(done) == PROMPTS
        assert (int(row["responses"]), int(row["failed"])) == (PROMPTS, 0)
        assert float(row["output_tokens_mean"]) == tokens
        # Exact: the simulator's own count of the prompt's tokens, the configured answer length.
        input_tokens = sum(
            count_tokens(" ".join(message_text(m.get("content")) for m in r.request["body"]["messages"])) for r in done
        )
        expected = (
            Decimal(input_tokens) * Decimal(price_in) + Decimal(tokens * PROMPTS) * Decimal(price_out)
        ) / Decimal(1_000_000)
        assert Decimal(row["cost_usd"]) == expected
        assert Decimal(row["usd_per_1k_responses"]) == expected * 1000 / PROMPTS
        p50, p95, p99 = (float(row[f"latency_{q}_ms"]) for q in ("p50", "p95", "p99"))
        assert latency[0] * 1000 <= p50 <= p95 <= p99 <= latency[1] * 1000 + SLACK_MS, (
            model,
            sorted(r.latency_ms for r in done),
        )
        rate = float(row["output_tokens_per_s"])
        assert tokens / (latency[1] + SLACK_MS / 1000) <= rate <= tokens / latency[0]
        if ttft is None:
            assert row["ttft_p50_ms"] == ""  # the provider refused streaming: plain calls
            assert all(r.ttft_ms is None for r in done)
        else:
            assert ttft[0] * 1000 <= float(row["ttft_p50_ms"]) <= ttft[1] * 1000 + SLACK_MS
            assert all(r.ttft_ms is not None and r.ttft_ms < r.latency_ms for r in done)
            assert float(row["ttft_p50_ms"]) < p50
        for cell in ("rating", "ci_low", "ci_high"):
            assert row[cell] == board[LABELS[model]][cell] != ""
        # Every 429 the simulator sent is counted, and is a retry of its response.
        injected = sum(stats["faults_by_key"].get(stats_key(model, r.request["body"]["messages"]), 0) for r in done)
        assert sum(r.rate_limited for r in done) == injected

    fast, slow = by_label["Fast cheap"], by_label["Slow dear"]
    assert float(fast["latency_p50_ms"]) < float(slow["latency_p50_ms"])

    # Streaming was refused only for the first calls in flight (a 400 costs nothing), then the
    # worker remembered it and made plain calls only.
    assert 1 <= stats["requests_by_status"].get("400", 0) <= 4
    assert stats["faults"].get("rate_429", 0) > 0

    # The JSON report has the same figures, and the 429 and retry counts.
    report = client.get(f"/api/campaigns/{campaign.pk}/report/").json()
    models = {m["model"]: m for m in report["models"]}
    for label, row in by_label.items():
        assert models[label]["cost_usd"] == row["cost_usd"]
        assert models[label]["responses"] == int(row["responses"])
        assert f"{models[label]['latency_p99_ms']:.1f}" == row["latency_p99_ms"]
        assert models[label]["retries"] >= models[label]["rate_limited"]
    assert sum(m["rate_limited"] for m in models.values()) == stats["faults"]["rate_429"]

    # The summary names the cheaper model that is not significantly worse, with the pair's test.
    _, pairs = csv_rows(client.get(f"/api/campaigns/{campaign.pk}/report.csv"))
    pair = next(p for p in pairs if {p["model_a"], p["model_b"]} == {"Fast cheap", "Slow dear"})
    ratio = Decimal(by_label["Slow dear"]["usd_per_1k_responses"]) / Decimal(
        by_label["Fast cheap"]["usd_per_1k_responses"]
    )
    p = float(pair["p_value"])
    sentence = (
        f"Fast cheap is {ratio:.0f}x cheaper per answer than Slow dear and not significantly worse (p = {p:.2f})."
    )
    assert report["overall"]["leaderboard"][0]["model"] == "Slow dear"
    assert report["summary"].endswith(sentence)

    # The page shows exactly the file's cells, the chart and the same summary.
    page = client.get(f"/campaigns/{campaign.pk}/report/")
    assert page.status_code == 200
    html = page.content.decode()
    shown = {r["model"]: r for r in page_cells(html)}
    assert set(shown) == set(by_label)
    for label, row in by_label.items():
        for column in MODELS_HEADER[1:]:
            assert shown[label][column].replace("–", "") == row[column], (label, column)
        assert int(shown[label]["rate_limited"]) == models[label]["rate_limited"]
    assert sentence in html
    assert 'aria-label="Rating against cost per 1,000 responses, with the frontier"' in html


def test_models_csv_is_for_leads_only(client, reviewer, lead):
    campaign = make_campaign(prompts=1)
    client.force_login(reviewer)
    assert client.get(f"/api/campaigns/{campaign.pk}/models.csv").status_code in (403, 404)
    client.force_login(lead)
    response = client.get(f"/api/campaigns/{campaign.pk}/models.csv")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    # Nothing generated: zero responses, zero cost, empty figures (no division by zero).
    assert text.splitlines()[1:] == ["Model A,0,0,,0,,,,,,,,,", "Model B,0,0,,0,,,,,,,,,"]


# --------------------------------------------------------------------------- pure parts


def test_cost_is_exact_from_tokens_not_from_rounded_per_response_amounts():
    # The contract's example: $0.01 per million, 150 tokens: $0.0000015 a response.
    one = exact_cost(input_tokens=0, output_tokens=150, price_per_mtok_in="0", price_per_mtok_out="0.01")
    assert one == Decimal("0.0000015")
    thousand = exact_cost(input_tokens=0, output_tokens=150_000, price_per_mtok_in="0", price_per_mtok_out="0.01")
    assert thousand == Decimal("0.0015")  # rounded per response it would be 1000 x 0.000002 = 0.002
    both = exact_cost(input_tokens=1234, output_tokens=567, price_per_mtok_in="2.5", price_per_mtok_out="10")
    assert both == Decimal("0.008755")
    assert fmt_usd(Decimal("0.0015")) == "0.0015" and fmt_usd(Decimal(0)) == "0" and fmt_usd(None) == ""
    assert fmt_usd(Decimal("12.3456789012")) == "12.3456789012"


def test_percentiles_match_the_inclusive_quantiles_of_the_standard_library():
    rng = np.random.default_rng(5)
    values = list(rng.integers(50, 900, size=37))
    cuts = statistics.quantiles(values, n=100, method="inclusive")  # Hyndman & Fan definition 7
    for q in (50, 95, 99):
        assert percentile(values, q) == pytest.approx(cuts[q - 1])
    assert percentile([], 50) is None
    assert percentile([120], 99) == 120
    assert percentile([100, 200], 50) == 150  # hand-worked: halfway between the two
    assert percentile([100, 200, 300, 400], 95) == pytest.approx(385)  # 300 + 0.85 x 100


def test_tokens_per_second_is_the_median_of_per_response_rates():
    # 100 tokens in 0.5 s, 1 s and 4 s: 200, 100 and 25 tokens/s; the median is 100.
    assert median_rate([100, 100, 100], [500, 1000, 4000]) == 100
    assert median_rate([100, 50], [0, None]) is None  # no positive latency, no rate
    assert median_rate([], []) is None


def usage(cid, label, *, done, tokens_out, latency, ttft, price_out="1", attempts=None, rate_limited=0, failed=0):
    return ContestantUsage(
        contestant_id=cid,
        label=label,
        price_per_mtok_in="0",
        price_per_mtok_out=price_out,
        done=done,
        failed=failed,
        attempts=attempts if attempts is not None else done + failed,
        attempted=done + failed,
        rate_limited=rate_limited,
        input_tokens=[0] * done,
        output_tokens=tokens_out,
        latency_ms=latency,
        ttft_ms=ttft,
    )


def test_economics_of_one_contestant_by_hand():
    row = economics_of(
        usage(
            1,
            "M",
            done=4,
            tokens_out=[100, 200, 300, 400],
            latency=[1000, 2000, 2000, 4000],
            ttft=[100, 300, None, 200],
            price_out="2",
            attempts=9,
            rate_limited=3,
            failed=1,
        )
    )
    assert row.output_tokens_mean == 250 and row.cost_usd == Decimal("0.002")
    assert row.usd_per_1k_responses == Decimal("0.5")
    assert (row.latency_p50_ms, row.ttft_p50_ms, row.streamed) == (2000, 200, 3)
    assert row.output_tokens_per_s == 100  # rates 100, 100, 150, 100
    assert (row.retries, row.rate_limited, row.failed) == (4, 3, 1)  # 9 attempts for 5 responses
    empty = economics_of(usage(2, "E", done=0, tokens_out=[], latency=[], ttft=[]))
    assert (empty.usd_per_1k_responses, empty.latency_p50_ms, empty.output_tokens_mean) == (None, None, None)


def test_pareto_frontier_by_hand():
    # (cost, quality): B is dearer and worse than A; C is dearer and better; D equals A.
    points = [(1.0, 1000.0), (2.0, 950.0), (3.0, 1100.0), (1.0, 1000.0), (0.5, 900.0)]
    assert pareto_frontier(points) == [4, 0, 3, 2]
    assert pareto_frontier([]) == []
    assert pareto_frontier([(5.0, 1.0)]) == [0]
    # Same cost: only the better one; same quality: only the cheaper one.
    assert pareto_frontier([(1.0, 10.0), (1.0, 20.0)]) == [1]
    assert pareto_frontier([(1.0, 10.0), (2.0, 10.0)]) == [0]


def _row(cid, label, per_1k, rating):
    return ModelEconomics(
        contestant_id=cid,
        model=label,
        responses=10,
        failed=0,
        pending=0,
        output_tokens_mean=1.0,
        input_tokens=0,
        output_tokens=10,
        cost_usd=Decimal(per_1k) / 100,
        usd_per_1k_responses=Decimal(per_1k),
        latency_p50_ms=None,
        latency_p95_ms=None,
        latency_p99_ms=None,
        ttft_p50_ms=None,
        streamed=0,
        output_tokens_per_s=None,
        retries=0,
        rate_limited=0,
        served_model_mismatches=0,
        rating=rating,
    )


def _pair(a, b, a_wins, b_wins, p, significant):
    return PairRow(
        contestant_a_id=a,
        contestant_b_id=b,
        model_a=str(a),
        model_b=str(b),
        votes=a_wins + b_wins,
        a_wins=a_wins,
        b_wins=b_wins,
        ties=0,
        both_bad=0,
        a_win_rate=None,
        b_win_rate=None,
        tie_rate=None,
        a_score=None,
        decisive_share=None,
        ci_low=None,
        ci_high=None,
        p_value=p,
        significant=significant,
    )


def test_cost_sentence_cases():
    dear, cheap, cheaper = (
        _row(1, "GPT-4o", "9.0", 1050.0),
        _row(2, "Qwen3 32B", "1.0", 1000.0),
        _row(3, "Tiny", "0.3", 900.0),
    )
    pairs = [_pair(1, 2, 12, 10, 0.41, False), _pair(1, 3, 30, 5, 0.0001, True)]
    # Tiny is cheapest but significantly worse: the cheapest one that is not is named.
    assert cost_sentence([dear, cheap, cheaper], pairs) == (
        "Qwen3 32B is 9x cheaper per answer than GPT-4o and not significantly worse (p = 0.41)."
    )
    assert cost_sentence([dear, cheaper], pairs[1:]) == (
        "Tiny is 30x cheaper per answer than GPT-4o but significantly worse (p < 0.001)."
    )
    assert cost_sentence([dear, _row(2, "Qwen3 32B", "5.0", 1000.0)], pairs[:1]).startswith("Qwen3 32B is 1.8x cheaper")
    # Nothing to say: the best-rated model is the cheapest, no votes, or one model.
    assert cost_sentence([_row(1, "A", "1.0", 1050.0), _row(2, "B", "9.0", 1000.0)], pairs[:1]) == ""
    assert cost_sentence([dear, cheap], [_pair(1, 2, 0, 0, None, False)]) == ""
    assert cost_sentence([dear], pairs) == ""


def test_ratings_come_from_the_leaderboard_and_mark_the_frontier():
    rows = [_row(1, "A", "9.0", None), _row(2, "B", "1.0", None), _row(3, "C", "5.0", None)]
    board = [
        LeaderboardRow(1, "A", 1050.0, 1000.0, 1100.0, 1, 10, 5, 5, 0),
        LeaderboardRow(2, "B", 1000.0, 950.0, 1050.0, 1, 10, 5, 5, 0),
        LeaderboardRow(3, "C", 990.0, 940.0, 1040.0, 1, 10, 5, 5, 0),
    ]
    with_ratings(rows, board)
    assert [(r.rating, r.ci_low, r.on_frontier) for r in rows] == [
        (1050.0, 1000.0, True),
        (1000.0, 950.0, True),
        (990.0, 940.0, False),  # B is cheaper and better
    ]


def test_report_page_escapes_labels_in_the_chart(client, lead):
    campaign = make_campaign(labels=("<b>x</b>", "=HYPERLINK()"), prompts=2)
    open_campaign(campaign)
    client.force_login(lead)
    html = client.get(f"/campaigns/{campaign.pk}/report/").content.decode()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    text = b"".join(client.get(f"/api/campaigns/{campaign.pk}/models.csv").streaming_content).decode()
    assert re.search(r"^'=HYPERLINK\(\),2,0,", text, re.M)  # spreadsheet-safe
