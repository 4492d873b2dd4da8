"""Load test of the review workflow: gunicorn on PostgreSQL, many reviewers doing next + vote.

    .venv/bin/python bench/review_load.py            # 100,000 comparisons vs a 1,000 baseline
    .venv/bin/python bench/review_load.py --comparisons 20000 --seconds 8 --rates 100,200 --skip-baseline
    .venv/bin/python bench/review_load.py --app-root /path/to/older/checkout   # another checkout
    .venv/bin/python bench/review_load.py --versus /path/to/older/checkout     # both, and the ratio

It creates (and drops at the start) its own database (`review_bench`, or BENCH_DB_NAME) on the
PostgreSQL of BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432), seeds two open campaigns
(the big one and a small baseline, ~1 KB markdown answers), starts gunicorn on loopback, and
drives it from one asyncio process: one coroutine and keep-alive socket per reviewer (API token,
or with `--auth session` the browser UI's session cookie and CSRF header),
`GET /api/review/next/` then `POST /api/review/{assignment}/vote/`. Per campaign: one
closed-loop phase (as fast as they can: maximum throughput) and open-loop phases at the offered
rates of `--rates` (votes/s over all reviewers, Poisson arrivals), each `--seconds` long. It
prints p50/p95/p99 per request, votes/s served, the highest offered rate with p99 < 50 ms, the
result at 200 votes/s and the big/baseline ratios. Bounded in time; talks to 127.0.0.1 only;
stops the gunicorn it started.

`--versus ROOT` measures two checkouts in one invocation: this bench runs itself once for
`--app-root` (this checkout by default) and once for ROOT, each on its own database seeded the
same way by its own code (its own migrations: an older checkout's queries on this checkout's
schema lose their indexes), with the same options, one after the other on the same machine, and
prints the ratio of the first to the second (votes/s closed loop, and p99 at each offered rate).
"""

import argparse
import asyncio
import gc
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import done_response  # noqa: E402


def cpu_calibration() -> float:
    """Seconds for a fixed pure-Python loop (10M additions): how fast this machine's CPU is
    today. The same checkout measured 3.2 and 9 ms of CPU per next + vote on two sessions of
    this machine kind; figures from runs with different calibrations do not compare."""
    started = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recreate_database(server_url: str, name: str, *, template: str | None = None) -> str:
    import psycopg

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return f"{server_url}/{name}"


def database_exists(server_url: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


# A realistic answer (about 1 KB of markdown: list, table, code block, quote), so the bench pays
# what a real campaign pays for rendering and transferring texts.
ANSWER = """Here is what I would do.

1. Check the **tracking number** on the carrier's site.
2. If it says *delivered*, look around the door and ask neighbours.
3. Otherwise wait one more business day, then contact support.

| step | who | when |
|---|---|---|
| track | you | now |
| claim | shop | after 2 days |

```python
def status(tracking_id: str) -> str:
    response = carrier.lookup(tracking_id)
    return response["status"]
```

> Most parcels marked *late* arrive within 48 hours.

- Keep the receipt.
- Take photos if the box is damaged.
"""
ANSWERS = [ANSWER, ANSWER.replace("one more", "two more") + "\nGood luck!\n"]
QUESTION = "Question {i}: my parcel is **late**. What can I do?"
QUESTION_HTML = "<p>Question {i}: my parcel is <strong>late</strong>. What can I do?</p>"


def seed(*, comparisons: int, baseline: int, reviewers: int) -> dict:
    """Two open campaigns with done responses and comparisons; reviewers with API tokens.

    Prompts and responses get their safe HTML stored as the worker stores it before review
    opens (arena/services/prerender.py), rendered once per distinct body here ("Answer N." + one
    of two bodies renders to "<p>Answer N.</p>" + the body's HTML; a prompt's number renders in
    place: both shortcuts are checked). Against an app without the `html` columns (`--app-root`
    of an older checkout) none is stored and the first view renders it.
    """
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from arena.models import Campaign, CampaignReviewer, Contestant, Prompt, Response
    from arena.services.pairing import comparisons_build

    stores_html = any(f.name == "html" for f in Response._meta.get_fields())
    html = {}
    if stores_html:
        from arena.rendering import render_markdown

        html = {body: render_markdown(body) for body in ANSWERS}
        sample = f"Answer 7.\n\n{ANSWERS[1]}"
        assert render_markdown(sample) == f"<p>Answer 7.</p>\n{html[ANSWERS[1]]}", "HTML shortcut is wrong"
        assert render_markdown(QUESTION.format(i=7)) == QUESTION_HTML.format(i=7), "prompt HTML shortcut is wrong"

    def response(campaign, prompt_id, contestant, now):
        body = ANSWERS[(prompt_id + contestant.position) % 2]
        extra = {"html": f"<p>Answer {prompt_id}.</p>\n{html[body]}"} if stores_html else {}
        return done_response(
            campaign, prompt_id, contestant, f"Answer {prompt_id}.\n\n{body}", completed_at=now, **extra
        )

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
            (
                Prompt(
                    campaign=campaign,
                    position=i,
                    text=QUESTION.format(i=i),
                    **({"html": QUESTION_HTML.format(i=i)} if stores_html else {}),
                )
                for i in range(size)
            ),
            batch_size=5000,
        )
        now = timezone.now()
        prompt_ids = list(Prompt.objects.filter(campaign=campaign).values_list("id", flat=True))
        Response.objects.bulk_create(
            (response(campaign, p, c, now) for p in prompt_ids for c in (a, b)),
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
        # VACUUM (not just ANALYZE): statistics and visibility maps as a settled database has
        # them; CHECKPOINT: the seed's ~300 MB of dirty pages are written now, not during the
        # measured phases (a spread checkpoint after the seed stalled commits at random).
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")
    connection.close()
    return {"campaigns": ids, "tokens": tokens}


def log_in_reviewers() -> list[str]:
    """A session for each bench reviewer, made by the measured checkout's own SESSION_ENGINE and
    authentication backend (a copied seed may come from another checkout)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    users = list(get_user_model().objects.filter(username__startswith="bench").order_by("username"))
    sessions = [logged_in_session(u) for u in users]
    connection.close()
    return sessions


def logged_in_session(user) -> str:
    """The key of a session as `login()` leaves it (the browser UI's authentication), stored by
    the site's SESSION_ENGINE."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def reset_campaign(db_url: str, campaign_id: int) -> None:
    """Back to "nothing handed out yet" (votes, assignments, counters), so a small campaign can
    serve several phases without running out of items."""
    import psycopg

    with psycopg.connect(db_url, autocommit=False) as conn:
        conn.execute("DELETE FROM arena_vote WHERE campaign_id = %s", (campaign_id,))
        conn.execute("DELETE FROM arena_assignment WHERE campaign_id = %s", (campaign_id,))
        conn.execute(
            "UPDATE arena_comparison SET active_assignments = 0, votes_count = 0, a_left_count = 0"
            " WHERE campaign_id = %s",
            (campaign_id,),
        )
        conn.execute(
            "UPDATE arena_campaignreviewer SET normal_served = 0, repeats_served = 0, last_prompt_id = NULL"
            " WHERE campaign_id = %s",
            (campaign_id,),
        )


def vacuum_between_phases(db_url: str) -> str:
    """VACUUM the tables review writes; returns the server's `autovacuum` setting.

    This machine's PostgreSQL runs with autovacuum off, so without this dead row versions pile
    up from phase to phase (the membership row alone is rewritten on every "next") and later
    phases pay for the earlier ones. A production server's autovacuum (naptime 1 min) cleans
    at least this often over a run of several phases; within a 10 s phase nothing is cleaned.
    """
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        setting = conn.execute("SHOW autovacuum").fetchone()[0]
        conn.execute("VACUUM arena_campaignreviewer, arena_comparison, arena_assignment, arena_vote")
    return setting


class Http:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams.

    The load generator shares the 2 CPUs with gunicorn and PostgreSQL, so it must cost as little
    as possible: one coroutine per reviewer and a hand-written request line instead of a thread
    with http.client (which cost about as much CPU as the server in the first version).
    """

    def __init__(self, port: int, credential: str, *, auth: str = "token"):
        self.port = port
        if auth == "token":
            self.auth = f"Authorization: Token {credential}\r\n"
        else:  # the browser UI's way: session cookie, and the CSRF cookie echoed in a header
            csrf = credential[:32].ljust(32, "x")
            self.auth = f"Cookie: sessionid={credential}; csrftoken={csrf}\r\nX-CSRFToken: {csrf}\r\n"
        self.auth += "Accept: application/json\r\nHost: 127.0.0.1\r\n"
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = f"{method} {path} HTTP/1.1\r\n{self.auth}"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        if not status_line:  # the server closed the keep-alive connection: reconnect once
            self.close()
            return await self.request(method, path, body)
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        data = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, data

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


CHOICES = [json.dumps({"choice": c}).encode() for c in ("left", "right", "tie", "both_bad")]


async def reviewer(*, http: Http, campaign_id: int, deadline: float, interval: float | None, rng, out: dict):
    """next + vote in a loop until the deadline.

    Closed loop (`interval` None): the next pair starts as soon as the vote returns.
    Open loop: pairs start at Poisson arrival times with mean `interval` seconds; a pair's "next"
    latency is counted from its scheduled start, so a server that falls behind is charged for
    the wait (no coordinated omission).
    """
    loop = asyncio.get_running_loop()
    scheduled = loop.time() + (rng.expovariate(1 / interval) if interval else 0)
    while True:
        if interval:
            if scheduled >= deadline:
                break
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            t0 = scheduled
        else:
            t0 = loop.time()
            if t0 >= deadline:
                break
        status, body = await http.request("GET", f"/api/review/next/?campaign={campaign_id}")
        t1 = loop.time()
        out["next"].append((t1 - t0) * 1000)
        if t1 - t0 > 0.05:
            out["slow"].append(t1)
        if status == 204:
            out["exhausted"] += 1
            break
        if status != 200:
            out["errors"] += 1
        else:
            token = json.loads(body)["assignment"]
            status, _ = await http.request("POST", f"/api/review/{token}/vote/", rng.choice(CHOICES))
            t2 = loop.time()
            out["vote"].append((t2 - t1) * 1000)
            if t2 - t1 > 0.05:
                out["slow"].append(t2)
            if status in (200, 201):
                out["votes"] += 1
            else:
                out["errors"] += 1
        if interval:
            scheduled += rng.expovariate(1 / interval)


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class ClientStalls:
    """How long this load generator itself stood still during a phase: its event loop's longest
    lag behind a 5 ms timer, and its longest garbage collection. Latency counts from each
    request's scheduled start, so a stall here would be charged to the server."""

    def __init__(self):
        self.loop_lag = 0.0
        self.gc_pause = 0.0
        self._gc_started = None

    def gc_callback(self, phase, info):
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started is not None:
            self.gc_pause = max(self.gc_pause, time.perf_counter() - self._gc_started)
            self._gc_started = None

    async def watch(self, deadline: float):
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            before = loop.time()
            await asyncio.sleep(0.005)
            self.loop_lag = max(self.loop_lag, loop.time() - before - 0.005)


async def run_phase(*, port, tokens, campaign_id, seconds, votes_per_s: float | None, auth: str = "token") -> dict:
    """One load phase: closed loop (`votes_per_s` None) or an offered rate over all reviewers."""
    out = {"next": [], "vote": [], "votes": 0, "errors": 0, "exhausted": 0, "slow": []}
    clients = [Http(port, t, auth=auth) for t in tokens]
    for c in clients:  # connect first, so connection set-up is not part of the measured time
        c.reader, c.writer = await asyncio.open_connection("127.0.0.1", port)
    # ... and use each connection once (a static file: no database, no log line). gunicorn's
    # gthread worker parks a thread on a new connection until its first request arrives (up to
    # 5 s), so new connections idle until their first Poisson arrival stalled the others.
    await asyncio.gather(*(c.request("GET", "/static/arena/review.js") for c in clients))
    loop = asyncio.get_running_loop()
    start = loop.time()
    interval = len(tokens) / votes_per_s if votes_per_s else None
    stalls = ClientStalls()
    gc.callbacks.append(stalls.gc_callback)
    await asyncio.gather(
        stalls.watch(start + seconds),
        *(
            reviewer(
                http=c,
                campaign_id=campaign_id,
                deadline=start + seconds,
                interval=interval,
                rng=random.Random(f"{t}{votes_per_s}"),
                out=out,
            )
            for c, t in zip(clients, tokens, strict=True)
        ),
    )
    elapsed = loop.time() - start
    gc.callbacks.remove(stalls.gc_callback)
    for c in clients:
        c.close()
    both = out["next"] + out["vote"]
    # When the requests over 50 ms ended (whole seconds into the phase): a burst at one moment is
    # a stall of the whole server (a checkpoint, a slow fsync), a spread is saturation.
    slow_seconds: dict[int, int] = {}
    for t in out["slow"]:
        second = int(t - start)
        slow_seconds[second] = slow_seconds.get(second, 0) + 1
    return {
        "slow_over_50ms_by_second": dict(sorted(slow_seconds.items())),
        "client_max_loop_lag_ms": round(stalls.loop_lag * 1000, 1),
        "client_max_gc_pause_ms": round(stalls.gc_pause * 1000, 1),
        "offered_votes_per_s": votes_per_s,
        "votes": out["votes"],
        "errors": out["errors"],
        "exhausted_reviewers": out["exhausted"],
        "seconds": round(elapsed, 2),
        "votes_per_s": round(out["votes"] / elapsed, 1),
        **{
            f"{name}_p{p}": round(pct(vals, p), 1)
            for name, vals in (("next", out["next"]), ("vote", out["vote"]), ("all", both))
            for p in (50, 95, 99)
        },
    }


def _ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def cpu_seconds(gunicorn_pid: int, db_url: str) -> dict:
    """CPU used so far by the gunicorn processes, the database's backends and this process.

    Backends live as long as the workers' persistent connections; all run on this machine.
    """
    import psycopg

    children = Path(f"/proc/{gunicorn_pid}/task/{gunicorn_pid}/children")
    pids = [gunicorn_pid, *map(int, children.read_text().split())] if children.exists() else [gunicorn_pid]
    with psycopg.connect(db_url, autocommit=True) as conn:
        backends = [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
        checkpoints = sum(conn.execute("SELECT checkpoints_timed, checkpoints_req FROM pg_stat_bgwriter").fetchone())
    hz = os.sysconf("SC_CLK_TCK")
    return {
        "checkpoints": checkpoints,
        "server": sum(map(_ticks, pids)) / hz,
        "postgres": sum(map(_ticks, backends)) / hz,
        "client": time.process_time(),
    }


def show(label: str, r: dict) -> None:
    mode = f"offered {r['offered_votes_per_s']:g} votes/s" if r["offered_votes_per_s"] else "closed loop"
    print(
        f"  {label:8} {mode:24} {r['votes_per_s']:6.1f} votes/s  "
        f"next p50/p95/p99 {r['next_p50']}/{r['next_p95']}/{r['next_p99']} ms  "
        f"vote {r['vote_p50']}/{r['vote_p95']}/{r['vote_p99']} ms  "
        f"all p99 {r['all_p99']} ms  errors {r['errors']}  "
        f"CPU ms/vote: gunicorn {r['cpu_ms_per_vote']['server']}, postgres {r['cpu_ms_per_vote']['postgres']}, "
        f"client {r['cpu_ms_per_vote']['client']}"
        + (f"  ({r['exhausted_reviewers']} reviewers ran out of items)" if r["exhausted_reviewers"] else ""),
        flush=True,
    )
    if r["offered_votes_per_s"] and r["slow_over_50ms_by_second"]:
        spread = ", ".join(f"{n} at {second}s" for second, n in r["slow_over_50ms_by_second"].items())
        print(
            f"           over 50 ms: {spread}; checkpoints during the phase: {r['checkpoints']}; "
            f"load generator's longest stall: loop {r['client_max_loop_lag_ms']} ms, "
            f"GC {r['client_max_gc_pause_ms']} ms",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comparisons", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--reviewers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each load phase")
    parser.add_argument("--rates", default="50,100,150,200", help="offered votes/s of the open-loop phases")
    # 4 x 2 rather than 2 x 4: a keep-alive connection stays with the worker that accepted it,
    # and the kernel handed one of two workers up to 84% of the 50 connections (one core busy,
    # one idle); four workers spread them better. Two threads overlap each one's DB waits.
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=2, help="gunicorn threads per worker (gthread)")
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class (gthread, sync)")
    parser.add_argument("--app-root", default=str(ROOT), help="checkout whose app is served (for a before/after)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--auth",
        choices=["token", "session"],
        default="token",
        help="API token (scripts) or session cookie + CSRF header (the browser UI)",
    )
    parser.add_argument(
        "--gunicorn-arg",
        action="append",
        default=[],
        help="extra gunicorn option, e.g. --gunicorn-arg=--http-parser=python",
    )
    parser.add_argument("--versus", help="also measure this checkout, and print the ratio of --app-root to it")
    parser.add_argument("--json-out", help="write the results as JSON to this file too")
    parser.add_argument("--reuse-seed", action="store_true", help="copy the database an earlier run seeded")
    args = parser.parse_args()
    if args.versus:
        return compare(args)
    rates = [float(r) for r in args.rates.split(",") if r]
    app_root = Path(args.app_root).resolve()
    sys.path.insert(0, str(app_root))
    # Celery (loaded with the settings) puts the working directory first on sys.path: run from
    # the measured checkout, or its settings would be read with another checkout's `arena`.
    os.chdir(app_root)

    server = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    assert urlparse(server).hostname in ("127.0.0.1", "localhost"), "loopback only"
    var_dir = Path(os.environ.get("BENCH_VAR_DIR", "/tmp/review-bench-var"))
    db_name = os.environ.get("BENCH_DB_NAME", "review_bench")
    # --reuse-seed: the seeded database is kept as a template (`<name>_seed`, with the seed's
    # tokens and sessions beside it) and the next run copies it instead of seeding again. A
    # --versus run gives each checkout a database (and template) of its own.
    seed_db = f"{db_name}_seed"
    seed_file = var_dir / f"{seed_db}-{args.comparisons}-{args.baseline}-{args.reviewers}.json"
    reuse = args.reuse_seed and seed_file.exists() and database_exists(server, seed_db)
    db_url = recreate_database(server, db_name, template=seed_db if reuse else None)
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DJANGO_SETTINGS_MODULE": "evalsite.settings",
        "EVALSITE_VAR_DIR": str(var_dir),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DB_CONN_MAX_AGE": "600",  # persistent connections: no connect per request
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    calibration = cpu_calibration()
    if reuse:
        data = json.loads(seed_file.read_text())
        print(f"seed copied from {seed_db}", flush=True)
    else:
        data = seed(comparisons=args.comparisons, baseline=args.baseline, reviewers=args.reviewers)
        if args.reuse_seed:
            recreate_database(server, seed_db, template=db_name)
            var_dir.mkdir(parents=True, exist_ok=True)
            seed_file.write_text(json.dumps(data))
    if args.auth == "session":
        data["sessions"] = log_in_reviewers()

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
            args.worker_class,
            "--threads",
            str(args.threads),
            "--keep-alive",
            "60",
            "--log-level",
            "warning",
            *args.gunicorn_arg,
        ],  # fmt: skip
        cwd=app_root,
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
            f"app {app_root}; gunicorn {args.worker_class} {args.workers} workers x {args.threads} threads"
            f"{''.join(' ' + a for a in args.gunicorn_arg)}; {args.auth} auth; "
            f"{args.reviewers} reviewers; "
            f"{args.seconds:g}s per phase; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; "
            f"CPU calibration (10M-addition loop) {calibration:.2f} s",
            flush=True,
        )
        results = {}
        labels = ("big",) if args.skip_baseline else ("baseline", "big")
        for label in labels:
            size = args.baseline if label == "baseline" else args.comparisons
            print(f"{label}: {size} comparisons", flush=True)
            phases = results[label] = []
            for rate in [None, *rates]:
                if label == "baseline":
                    reset_campaign(db_url, data["campaigns"][label])
                autovacuum = vacuum_between_phases(db_url)
                before = cpu_seconds(gunicorn.pid, db_url)
                r = asyncio.run(
                    run_phase(
                        port=port,
                        tokens=data["tokens"] if args.auth == "token" else data["sessions"],
                        campaign_id=data["campaigns"][label],
                        seconds=args.seconds,
                        votes_per_s=rate,
                        auth=args.auth,
                    )
                )
                after = cpu_seconds(gunicorn.pid, db_url)
                r["checkpoints"] = after.pop("checkpoints") - before.pop("checkpoints")
                r["cpu_ms_per_vote"] = {k: round(1000 * (after[k] - before[k]) / max(r["votes"], 1), 2) for k in before}
                r["load_average"] = round(os.getloadavg()[0], 2)
                r["server_autovacuum"] = autovacuum
                phases.append(r)
                show(label, r)
        big = results["big"]
        closed = big[0]
        under = [r["offered_votes_per_s"] for r in big[1:] if r["all_p99"] < 50 and not r["errors"]]
        at_200 = next((r for r in big[1:] if r["offered_votes_per_s"] == 200), None)
        print(f"big campaign, closed loop (as fast as {args.reviewers} reviewers can): {closed['votes_per_s']} votes/s")
        print(f"highest offered rate tried with p99 < 50 ms: {max(under) if under else 'none'} votes/s")
        if at_200:
            print(
                f"at an offered 200 votes/s: {at_200['votes_per_s']} votes/s served, p99 {at_200['all_p99']} ms "
                f"(target p99 < 50 ms: {'met' if at_200['all_p99'] < 50 else 'NOT met'})"
            )
        if "baseline" in results:
            base = results["baseline"]
            for b, g in zip(base, big, strict=True):
                mode = f"offered {g['offered_votes_per_s']:g}" if g["offered_votes_per_s"] else "closed loop"
                print(
                    f"ratio big/baseline, {mode}: next p50 x{g['next_p50'] / b['next_p50']:.2f}, "
                    f"p99 x{g['all_p99'] / b['all_p99']:.2f}, votes/s x{g['votes_per_s'] / b['votes_per_s']:.2f}"
                )
        print(json.dumps(results))
        if args.json_out:
            Path(args.json_out).write_text(json.dumps({"app_root": str(app_root), "results": results}))
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)
        try:
            gunicorn.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(gunicorn.pid, signal.SIGKILL)


def compare(args) -> None:
    """Run this bench on `--app-root` and on `--versus`, one after the other, and print the
    ratio of the first to the second. Each run is a process of its own (Django is set up once
    per process, from the checkout it measures)."""
    import tempfile

    forwarded = []
    skip = False
    for arg in sys.argv[1:]:  # every option but --versus, --app-root and --json-out
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in ("--versus", "--app-root", "--json-out"):
            skip = "=" not in arg
            continue
        forwarded.append(arg)
    roots = [str(Path(args.app_root).resolve()), str(Path(args.versus).resolve())]
    # Each checkout seeds a database of its own with its own migrations, by the same seeding (the
    # same sizes and texts): the other checkout's schema would take away the indexes its queries
    # were written for (de46f36 on this checkout's schema ran at 1.9 votes/s, PostgreSQL at 980 ms
    # of CPU per vote). The seeds are kept as templates, so a second comparison seeds nothing.
    if "--reuse-seed" not in forwarded:
        forwarded.append("--reuse-seed")
    db_name = os.environ.get("BENCH_DB_NAME", "review_bench")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, root in enumerate(roots):
            out = Path(tmp) / f"run{i}.json"
            command = [sys.executable, __file__, *forwarded, "--app-root", root, "--json-out", str(out)]
            env = {**os.environ, "BENCH_DB_NAME": db_name if i == 0 else f"{db_name}_versus"}
            subprocess.run(command, check=True, env=env)
            runs.append(json.loads(out.read_text())["results"]["big"])
    new, old = runs
    print(f"ratio {roots[0]} / {roots[1]} (big campaign):")
    for n, o in zip(new, old, strict=True):
        mode = f"offered {n['offered_votes_per_s']:g}" if n["offered_votes_per_s"] else "closed loop"
        print(
            f"  {mode:14} votes/s {n['votes_per_s']} vs {o['votes_per_s']} "
            f"(x{n['votes_per_s'] / o['votes_per_s']:.2f}), "
            f"all p99 {n['all_p99']} vs {o['all_p99']} ms (x{n['all_p99'] / o['all_p99']:.2f})",
            flush=True,
        )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"roots": roots, "results": runs}))


if __name__ == "__main__":
    main()
