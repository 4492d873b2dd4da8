"""Benchmark of the judging engine: the real pipeline (Celery worker, broker, database).

    .venv/bin/python bench/judging.py [--comparisons 1000] [--latency 0.25] [--concurrency 32] [--repeat 3]

The set-up is bench/generation.py's (a temporary database and broker, the simulated API, one
real worker `--pool=prefork --concurrency=2`, started and swept before timing). A campaign of
`--comparisons` prompts x one pair with its responses already stored is judged by one judge
with `max_concurrency = --concurrency`, every comparison in both orders: 2,000 calls at 250 ms.
The wall time runs from `judging_start` (create the pending rows, commit, enqueue) until every
judgement is read back done (polled every 20 ms). Printed per run: wall time, first and last
call at the API, the worker's CPU; then the median, the ideal (calls x latency / concurrency)
and their ratio (target <= 1.3).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generation import setup_environment, start_worker, tree_cpu_seconds  # noqa: E402

JUDGE_MODEL = "bench-judge"


def make_judged_campaign(name: str, comparisons: int, base_url: str, concurrency: int):
    """A ready campaign of `comparisons` prompts x one pair, responses stored, comparisons built, one judge."""
    from django.utils import timezone

    from arena.models import Campaign, Judge, Prompt, Response
    from arena.services.campaigns import ContestantSpec, campaign_create
    from arena.services.pairing import comparisons_build

    campaign = campaign_create(
        name=name,
        contestants=[
            ContestantSpec(label="A", model="deepseek-v4-flash", base_url=base_url),
            ContestantSpec(label="B", model="Qwen/Qwen3-32B", base_url=base_url),
        ],
    )
    prompts = Prompt.objects.bulk_create(
        [
            Prompt(campaign=campaign, position=i, external_id=f"q{i}", text=f"Order #{i}: where is my parcel?")
            for i in range(comparisons)
        ],
        batch_size=2000,
    )
    now = timezone.now()
    Response.objects.bulk_create(
        [
            Response(
                campaign=campaign,
                prompt=p,
                contestant=c,
                status="done",
                text=f"Your parcel #{p.position} is on its way{' with tracking' * c.position}.",
                completed_at=now,
            )
            for p in prompts
            for c in campaign.contestants.all()
        ],
        batch_size=2000,
    )
    comparisons_build(campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status="ready")
    Judge.objects.create(
        campaign=campaign, label="Bench judge", model=JUDGE_MODEL, base_url=base_url, max_concurrency=concurrency
    )
    return campaign


def judge_run(campaign, sim, worker_pid: int) -> dict:
    from django.db.models import Count

    from arena.models import Judgement
    from arena.services.judging import judging_start

    cpu_before = tree_cpu_seconds(worker_pid)
    t0 = time.time()
    started = time.monotonic()
    total = judging_start(campaign_id=campaign.pk)
    finished = Judgement.objects.filter(campaign_id=campaign.pk, status__in=("done", "unparsed", "failed"))
    while finished.count() < total:
        time.sleep(0.02)
    wall = time.monotonic() - started
    stats = sim.stats()
    times = sorted(stats["request_times"])
    statuses = dict(
        Judgement.objects.filter(campaign_id=campaign.pk)
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {
        "wall": wall,
        "calls": total,
        "first": times[0] - t0,
        "last": times[-1] - t0,
        "in_flight": stats["max_in_flight"],
        "statuses": statuses,
        "cpu": tree_cpu_seconds(worker_pid) - cpu_before,
        "load": os.getloadavg()[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comparisons", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--concurrency", type=int, default=32, help="the judge's max_concurrency")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-judge-"))
    info = setup_environment(tmp)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from evalsite.celery import app
    from simulator import SimulatorConfig, SimulatorServer

    call_command("migrate", verbosity=0)
    try:
        app.control.purge()
    except Exception:  # noqa: BLE001 - an empty queue may have nothing to purge
        pass
    print(f"database: {info['database']}; broker: {info['broker']}; cores: {os.cpu_count()}")
    worker = None
    try:
        with SimulatorServer(SimulatorConfig(latency=args.latency, judge_models=[JUDGE_MODEL])) as sim:
            os.environ["LLM_ALLOWED_HOSTS"] = f"{sim.host}:{sim.port}"
            settings.LLM_ALLOWED_HOSTS = [f"{sim.host}:{sim.port}"]
            worker = start_worker(tmp / "worker.log")
            runs = []
            for i in range(args.repeat):
                campaign = make_judged_campaign(
                    f"bench judge {i + 1}", args.comparisons, sim.base_url, args.concurrency
                )
                sim.reset()
                runs.append(judge_run(campaign, sim, worker.pid))
            calls = runs[0]["calls"]
            ideal = calls * args.latency / args.concurrency
            print(
                f"\n== judging: {args.comparisons} comparisons x 2 orders = {calls} calls, latency "
                f"{args.latency * 1000:.0f} ms, one judge at max_concurrency {args.concurrency}, one worker"
            )
            for i, run in enumerate(runs, 1):
                print(
                    f"run {i}: wall {run['wall']:5.2f} s = {run['wall'] / ideal:4.2f} x ideal | "
                    f"first call at {run['first']:.2f} s, last at {run['last']:.2f} s | in flight max "
                    f"{run['in_flight']} | {run['statuses']} | worker CPU {run['cpu']:.2f} s "
                    f"({run['cpu'] / calls * 1000:.1f} ms/call) | load {run['load']:.2f}"
                )
            walls = sorted(run["wall"] for run in runs)
            wall = statistics.median(walls)
            print(
                f"pipeline wall time:   {wall:8.2f} s   "
                f"(median of {len(walls)}; min {walls[0]:.2f}, max {walls[-1]:.2f})"
            )
            print(f"ideal time:           {ideal:8.2f} s   ({calls} x {args.latency} s / {args.concurrency})")
            print(f"wall / ideal:         {wall / ideal:8.2f} x   (target <= 1.3)")
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
        connection.close()
        if info["drop"]:
            import psycopg

            admin, name = info["drop"]
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
