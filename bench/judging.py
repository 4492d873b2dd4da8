"""Benchmark of the judging engine: the real pipeline (Celery worker, broker, database).

    .venv/bin/python bench/judging.py [--comparisons 1000] [--latency 0.25] [--concurrency 32] [--repeat 3]

The set-up is bench/pipeline.py's, shared with bench/generation.py (a temporary database and
broker, the simulated API, one real worker `--pool=prefork --concurrency=2`, started and swept
before timing). A campaign of
`--comparisons` prompts x one pair with its responses already stored is judged by one judge
with `max_concurrency = --concurrency`, every comparison in both orders: 2,000 calls at 250 ms.
The wall time runs from `judging_start` (create the pending rows, commit, enqueue) until every
judgement is read back done (polled every 20 ms). Printed per run: wall time, first and last
call at the API, the worker's CPU; then the median, the ideal (calls x latency / concurrency)
and their ratio (target <= 1.3).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import done_response  # noqa: E402
from bench.pipeline import pipeline, print_ratio_to_ideal, print_runs, timed_run  # noqa: E402

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
            done_response(
                campaign,
                p.pk,
                c,
                f"Your parcel #{p.position} is on its way{' with tracking' * c.position}.",
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
    """One timed judging (bench/pipeline.py's `timed_run`), with the number of calls."""
    from arena.models import Judgement
    from arena.services.judging import judging_start

    total = 0

    def run() -> float:
        nonlocal total
        started = time.monotonic()
        total = judging_start(campaign_id=campaign.pk)
        finished = Judgement.objects.filter(campaign_id=campaign.pk, status__in=("done", "unparsed", "failed"))
        while finished.count() < total:
            time.sleep(0.02)
        return time.monotonic() - started

    figures = timed_run(sim, worker_pid=worker_pid, run=run, rows=Judgement.objects.filter(campaign_id=campaign.pk))
    return {**figures, "calls": total}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comparisons", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--concurrency", type=int, default=32, help="the judge's max_concurrency")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with pipeline("bench-judge", latency=args.latency, judge_models=[JUDGE_MODEL]) as (sim, worker, _tmp):
        runs = []
        for i in range(args.repeat):
            campaign = make_judged_campaign(f"bench judge {i + 1}", args.comparisons, sim.base_url, args.concurrency)
            sim.reset()
            runs.append(judge_run(campaign, sim, worker.pid))
        calls = runs[0]["calls"]
        ideal = calls * args.latency / args.concurrency
        print(
            f"\n== judging: {args.comparisons} comparisons x 2 orders = {calls} calls, latency "
            f"{args.latency * 1000:.0f} ms, one judge at max_concurrency {args.concurrency}, one worker"
        )
        print_runs(runs, calls=calls, ideal=ideal, latency=args.latency, concurrency=args.concurrency)
        print_ratio_to_ideal(runs, ideal=ideal, target=1.3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
