"""Load test of the review workflow: gunicorn on PostgreSQL, many reviewers doing next + vote.

    .venv/bin/python bench/review_load.py            # 100,000 comparisons vs a 1,000 baseline
    .venv/bin/python bench/review_load.py --comparisons 20000 --seconds 10

It creates (and drops at the start) its own database `review_bench` on the PostgreSQL of
BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432), seeds two open campaigns (the big one
and a small baseline), starts gunicorn on loopback, and runs `--reviewers` client threads, each
with one keep-alive HTTP connection and a token, doing `GET /api/review/next/` then
`POST /api/review/{assignment}/vote/` as fast as they can for `--seconds` per campaign. It
prints p50/p95/p99 latency per request and votes per second for each campaign, and the ratio
big/baseline, which shows whether "next" slows down as a campaign grows. Bounded in time;
talks to 127.0.0.1 only; stops the gunicorn it started.
"""

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recreate_database(server_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"


def seed(*, comparisons: int, baseline: int, reviewers: int) -> dict:
    """Two open campaigns with done responses and comparisons; reviewers with API tokens."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from arena.models import Campaign, CampaignReviewer, Contestant, Prompt, Response
    from arena.services.pairing import comparisons_build

    User = get_user_model()
    users = [User(username=f"bench{i:03d}") for i in range(reviewers)]
    for u in users:
        u.set_unusable_password()
    User.objects.bulk_create(users)
    users = list(User.objects.filter(username__startswith="bench").order_by("username"))
    tokens = [Token.objects.create(user=u).key for u in users]
    ids = {}
    for label, size in (("baseline", baseline), ("big", comparisons)):
        started = time.monotonic()
        campaign = Campaign.objects.create(name=f"bench {label}", votes_per_comparison=3, status="open")
        a = Contestant.objects.create(campaign=campaign, position=0, label="A", model="bench-a")
        b = Contestant.objects.create(campaign=campaign, position=1, label="B", model="bench-b")
        Prompt.objects.bulk_create(
            (Prompt(campaign=campaign, position=i, text=f"Question {i}: where is my parcel?") for i in range(size)),
            batch_size=5000,
        )
        now = timezone.now()
        prompt_ids = list(Prompt.objects.filter(campaign=campaign).values_list("id", flat=True))
        Response.objects.bulk_create(
            (
                Response(
                    campaign=campaign, prompt_id=p, contestant=c, status="done", text=f"Answer {p}.", completed_at=now
                )
                for p in prompt_ids
                for c in (a, b)
            ),
            batch_size=5000,
        )
        comparisons_build(campaign=campaign)
        campaign.opened_at = now
        campaign.save(update_fields=["opened_at"])
        CampaignReviewer.objects.bulk_create(CampaignReviewer(campaign=campaign, user=u) for u in users)
        ids[label] = campaign.id
        print(f"seeded {label}: {size} comparisons in {time.monotonic() - started:.1f}s", flush=True)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"campaigns": ids, "tokens": tokens}


def client_loop(*, port, token, campaign_id, deadline, out, lock):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    post_headers = {**headers, "Content-Type": "application/json"}
    rng = random.Random(token)
    next_ms, vote_ms, votes, errors = [], [], 0, 0
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        conn.request("GET", f"/api/review/next/?campaign={campaign_id}", headers=headers)
        r = conn.getresponse()
        body = r.read()
        next_ms.append((time.perf_counter() - t0) * 1000)
        if r.status == 204:
            break
        if r.status != 200:
            errors += 1
            continue
        token_id = json.loads(body)["assignment"]
        payload = json.dumps({"choice": rng.choice(["left", "right", "tie", "both_bad"])})
        t0 = time.perf_counter()
        conn.request("POST", f"/api/review/{token_id}/vote/", body=payload, headers=post_headers)
        r = conn.getresponse()
        r.read()
        vote_ms.append((time.perf_counter() - t0) * 1000)
        if r.status in (200, 201):
            votes += 1
        else:
            errors += 1
    conn.close()
    with lock:
        out["next"].extend(next_ms)
        out["vote"].extend(vote_ms)
        out["votes"] += votes
        out["errors"] += errors


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def run_phase(*, port, tokens, campaign_id, seconds) -> dict:
    out = {"next": [], "vote": [], "votes": 0, "errors": 0}
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + seconds
    threads = [
        threading.Thread(
            target=client_loop,
            kwargs=dict(port=port, token=t, campaign_id=campaign_id, deadline=deadline, out=out, lock=lock),
        )
        for t in tokens
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 60)
    elapsed = time.monotonic() - start
    both = out["next"] + out["vote"]
    return {
        "votes": out["votes"],
        "errors": out["errors"],
        "seconds": round(elapsed, 2),
        "votes_per_s": round(out["votes"] / elapsed, 1),
        **{
            f"{name}_p{p}": round(pct(vals, p), 2)
            for name, vals in (("next", out["next"]), ("vote", out["vote"]), ("all", both))
            for p in (50, 95, 99)
        },
        "next_mean": round(statistics.fmean(out["next"]), 2) if out["next"] else None,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comparisons", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--reviewers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0, help="load duration per campaign")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker (gthread)")
    args = parser.parse_args()

    server = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    assert urlparse(server).hostname in ("127.0.0.1", "localhost"), "loopback only"
    var_dir = Path(os.environ.get("BENCH_VAR_DIR", "/tmp/review-bench-var"))
    env = {
        **os.environ,
        "DATABASE_URL": recreate_database(server, "review_bench"),
        "DJANGO_SETTINGS_MODULE": "evalsite.settings",
        "EVALSITE_VAR_DIR": str(var_dir),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DB_CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    data = seed(comparisons=args.comparisons, baseline=args.baseline, reviewers=args.reviewers)

    port = free_port()
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "evalsite.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(args.threads),
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        print(
            f"gunicorn: {args.workers} workers x {args.threads} threads; {args.reviewers} reviewers; "
            f"{args.seconds:.0f}s per campaign; {os.cpu_count()} CPUs",
            flush=True,
        )
        results = {}
        for label in ("baseline", "big"):
            results[label] = run_phase(
                port=port, tokens=data["tokens"], campaign_id=data["campaigns"][label], seconds=args.seconds
            )
            size = args.baseline if label == "baseline" else args.comparisons
            r = results[label]
            print(
                f"{label:8} {size:>7} comparisons: {r['votes']} votes in {r['seconds']}s = {r['votes_per_s']} votes/s, "
                f"errors {r['errors']}\n"
                f"         next  p50 {r['next_p50']} ms  p95 {r['next_p95']} ms  p99 {r['next_p99']} ms\n"
                f"         vote  p50 {r['vote_p50']} ms  p95 {r['vote_p95']} ms  p99 {r['vote_p99']} ms\n"
                f"         all   p50 {r['all_p50']} ms  p95 {r['all_p95']} ms  p99 {r['all_p99']} ms",
                flush=True,
            )
        base, big = results["baseline"], results["big"]
        print(
            f"ratio big/baseline: next p50 x{big['next_p50'] / base['next_p50']:.2f}, "
            f"next p99 x{big['next_p99'] / base['next_p99']:.2f}, "
            f"votes/s x{big['votes_per_s'] / base['votes_per_s']:.2f}"
        )
        ok = big["all_p99"] < 50 and big["votes_per_s"] >= 200
        print(f"targets (p99 < 50 ms, >= 200 votes/s) on the big campaign: {'met' if ok else 'NOT met'}")
        print(json.dumps(results))
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)
        try:
            gunicorn.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(gunicorn.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
