"""The whole loop over real HTTP with a real Celery worker process and the loopback model API.

A lead creates a campaign of two contestants on the test double, uploads prompts, generates,
opens review and adds three reviewers; the reviewers vote every assignment through the API;
the lead downloads report.csv, and every number of its row is checked against values worked
out here from the votes this test cast.
"""

import csv
import io
import math
import random

import httpx
import pytest
from scipy.stats import binomtest

from tests.conftest import wait_until

HEADER = (
    "campaign,model_a,model_b,votes,a_wins,b_wins,ties,both_bad,a_win_rate,b_win_rate,tie_rate,"
    "a_score,decisive_share,ci_low,ci_high,p_value"
)


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def token_client(base_url: str, username: str, password: str) -> httpx.Client:
    response = httpx.post(f"{base_url}/api/auth/token/", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Token {response.json()['token']}"}, timeout=30)


def campaign_created(lead: httpx.Client, body: dict) -> dict:
    """The campaign the lead creates with `body` through the API (201)."""
    created = lead.post("/api/campaigns/", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def generate_and_wait(lead: httpx.Client, campaign_id: int) -> None:
    """Start the campaign's generation through the API and wait until the worker has made it ready."""
    assert lead.post(f"/api/campaigns/{campaign_id}/generate/").status_code == 202
    wait_until(
        lambda: lead.get(f"/api/campaigns/{campaign_id}/").json()["status"] == "ready",
        timeout=90,
        message="generation to finish (campaign ready)",
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_lead_runs_a_campaign_and_the_csv_matches_the_votes_cast(live_server, sim, start_worker, make_lead, make_user):
    make_lead("lena")
    reviewers = ["rev1", "rev2", "rev3"]
    for name in reviewers:
        make_user(name)
    start_worker(env_overrides={"LLM_REQUEST_TIMEOUT": "5", "LLM_BACKOFF_BASE": "0.05"})
    sim.configure(latency=0.01)
    base = live_server.url
    lead = token_client(base, "lena", "lead-pass-123")

    created = campaign_created(
        lead,
        {
            "name": "Support bake-off",
            "guidelines": "Pick the answer that solves the problem.",
            "votes_per_comparison": 3,
            "system_prompt": "You are a support agent.",
            "temperature": 0.2,
            "max_tokens": 300,
            "contestants": [
                {"label": "Flash", "model": "flash-model-x", "base_url": sim.base_url, "price_per_mtok_out": "0.25"},
                {"label": "Pro", "model": "pro-model-y", "base_url": sim.base_url, "price_per_mtok_out": "2.50"},
            ],
        },
    )
    campaign_id = created["id"]
    assert created["status"] == "draft"

    upload = "text,external_id,category\n" + "".join(
        f'"Customer {i}: my order #{1000 + i} has not arrived, what now?",q{i},shipping\n' for i in range(8)
    )
    imported = lead.post(f"/api/campaigns/{campaign_id}/prompts/", files={"file": ("prompts.csv", upload, "text/csv")})
    assert imported.status_code == 201, imported.text
    assert imported.json()["created"] == 8

    generate_and_wait(lead, campaign_id)
    progress = lead.get(f"/api/campaigns/{campaign_id}/").json()["progress"]
    assert progress["responses_done"] == 16
    assert progress["responses_failed"] == 0
    assert progress["responses_total"] == 16

    assert lead.post(f"/api/campaigns/{campaign_id}/open/").status_code == 200
    added = lead.post(f"/api/campaigns/{campaign_id}/reviewers/", json={"usernames": reviewers})
    assert added.status_code == 200, added.text
    progress = lead.get(f"/api/campaigns/{campaign_id}/").json()["progress"]
    assert progress["votes_target"] == 8 * 3

    # Each reviewer has a fixed taste: it tells the pair apart through the response text only,
    # which is all the blind API gives. Flash's and Pro's texts differ, so we learn which side
    # is which from the stored responses, as an outside observer (the lead) could.
    from arena.models import Response

    side_of_text = {r.text: r.contestant.label for r in Response.objects.filter(campaign_id=campaign_id)}
    rng = random.Random(42)
    expected = {"a_wins": 0, "b_wins": 0, "ties": 0, "both_bad": 0}
    for name in reviewers:
        client = token_client(base, name, f"{name}-pass-123")
        while True:
            item = client.get("/api/review/next/", params={"campaign": campaign_id})
            if item.status_code == 204:
                break
            assert item.status_code == 200, item.text
            body = item.json()
            left_label = side_of_text[body["left"]["text"]]
            outcome = rng.choices(["Flash", "Pro", "tie", "both_bad"], weights=[5, 2, 2, 1])[0]
            if outcome in ("tie", "both_bad"):
                choice = outcome
                expected["ties" if outcome == "tie" else "both_bad"] += 1
            else:
                choice = "left" if outcome == left_label else "right"
                expected["a_wins" if outcome == "Flash" else "b_wins"] += 1
            voted = client.post(f"/api/review/{body['assignment']}/vote/", json={"choice": choice})
            assert voted.status_code == 201, voted.text
            again = client.post(f"/api/review/{body['assignment']}/vote/", json={"choice": choice})
            assert again.status_code == 200  # idempotent: counted once
    n = sum(expected.values())
    assert n == 24

    report = lead.get(f"/api/campaigns/{campaign_id}/report.csv")
    assert report.status_code == 200
    lines = report.text.splitlines()
    assert lines[0] == HEADER
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert len(rows) == 1
    row = rows[0]
    assert (row["campaign"], row["model_a"], row["model_b"]) == ("Support bake-off", "Flash", "Pro")
    a, b, t, bb = expected["a_wins"], expected["b_wins"], expected["ties"], expected["both_bad"]
    assert int(row["votes"]) == n
    assert (int(row["a_wins"]), int(row["b_wins"]), int(row["ties"]), int(row["both_bad"])) == (a, b, t, bb)
    assert float(row["a_win_rate"]) == pytest.approx(a / n, abs=1e-4)
    assert float(row["b_win_rate"]) == pytest.approx(b / n, abs=1e-4)
    assert float(row["tie_rate"]) == pytest.approx((t + bb) / n, abs=1e-4)
    assert float(row["a_score"]) == pytest.approx((a + 0.5 * (t + bb)) / n, abs=1e-4)
    assert float(row["decisive_share"]) == pytest.approx(a / (a + b), abs=1e-4)
    low, high = wilson(a, a + b)
    assert float(row["ci_low"]) == pytest.approx(low, abs=1e-4)
    assert float(row["ci_high"]) == pytest.approx(high, abs=1e-4)
    assert float(row["p_value"]) == pytest.approx(binomtest(a, a + b, 0.5).pvalue, rel=1e-4)
    for rate_column in ("a_win_rate", "b_win_rate", "tie_rate", "a_score", "decisive_share", "ci_low", "ci_high"):
        assert len(row[rate_column].split(".")[-1]) >= 4, f"{rate_column} has fewer than 4 decimals"

    assert lead.post(f"/api/campaigns/{campaign_id}/close/").status_code == 200
    assert lead.get(f"/api/campaigns/{campaign_id}/").json()["status"] == "closed"
