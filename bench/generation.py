"""Benchmark of the generation engine: the real pipeline (Celery worker, broker, database).

    .venv/bin/python bench/generation.py [--prompts 200] [--latency 0.25] [--memory-prompts 10000]

It sets up its own temporary database and broker: SQLite and a filesystem broker in a temp
dir, or, when DATABASE_URL (postgres) and CELERY_BROKER_URL (redis) are set, a temporary
PostgreSQL database on that server and the given Redis. It starts the simulated API and one
real worker (`celery -A evalsite worker --pool=prefork --concurrency=2`), waits until the worker
has finished starting (its pool processes loaded the model client, its start-up sweep ran),
then:

1. speed: 200 prompts x 2 contestants at concurrency 32, which here means 16 calls in flight
   per contestant (`max_concurrency=16`, the default), 32 in flight in total, against 250 ms
   per call, `--repeat` times (a new campaign each time). The wall time runs from the
   `generation_start` call (freeze settings, create the pending rows, commit, enqueue) to the
   campaign read back as `ready` (polled every 20 ms). Printed per run: wall time, when the
   first and last call reached the API, the worker's CPU time and the load average; then the
   median and spread, the ideal time (calls x latency / 32), the wall time of a plain
   sequential loop over the `openai` client, and both ratios;
2. the client floor: the same calls (the last campaign's bodies, built by the engine's
   `request_build`, and streaming) made through arena/llm.py by 2 processes x 16 threads, as
   the worker's pool makes them, but with no database, broker or engine: the wall time the
   model client alone needs on this machine, and the pipeline's ratio to it (what the engine
   adds);
3. memory: 10,000 prompts x 2 contestants at a low latency, sampling the worker's RSS and PSS
   (main process plus its pool children, from /proc/<pid>/smaps_rollup) and printing the peak.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pipeline import pipeline, print_ratio_to_ideal, print_runs, timed_run  # noqa: E402


def worker_rss_mb(pid: int) -> float:
    """RSS of the worker's main process plus every descendant (the prefork pool)."""
    return worker_memory_mb(pid)[0]


def worker_memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) summed over the worker's main process and every descendant, in MB.

    Summed RSS counts the pages a forked pool child shares with its parent once per process;
    PSS divides each shared page among the processes sharing it, so its sum is the memory the
    worker really holds.
    """
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    rss_kb = pss_kb = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss_kb += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss_kb += int(line.split()[1])
        except OSError:
            pass
    return rss_kb / 1024, pss_kb / 1024


def make_campaign(name: str, prompts: int, base_url: str, *, stream: bool = True):
    from arena.models import Prompt
    from arena.services.campaigns import ContestantSpec, campaign_create

    extra = None if stream else {"stream": False}  # the engine streams unless told not to
    campaign = campaign_create(
        name=name,
        contestants=[
            ContestantSpec(
                label="A", model="deepseek-v4-flash", base_url=base_url, max_concurrency=16, extra_params=extra
            ),
            ContestantSpec(
                label="B", model="Qwen/Qwen3-32B", base_url=base_url, max_concurrency=16, extra_params=extra
            ),
        ],
        max_tokens=200,
    )
    Prompt.objects.bulk_create(
        [
            Prompt(campaign=campaign, position=i, external_id=f"q{i}", text=f"Order #{i}: where is my parcel?")
            for i in range(prompts)
        ],
        batch_size=2000,
    )
    return campaign


def run_generation(campaign, *, worker_pid: int | None = None) -> tuple[float, tuple[float, float]]:
    """Generate and wait until ready; returns (wall seconds, (peak worker RSS MB, peak PSS MB)))."""
    from arena.models import Campaign
    from arena.services.generation import generation_start

    peak = worker_memory_mb(worker_pid) if worker_pid else (0.0, 0.0)
    started = time.monotonic()
    generation_start(campaign=campaign)
    while Campaign.objects.values_list("status", flat=True).get(pk=campaign.pk) != "ready":
        if worker_pid:
            rss, pss = worker_memory_mb(worker_pid)
            peak = (max(peak[0], rss), max(peak[1], pss))
        time.sleep(0.02)  # the polling adds at most 20 ms (+ one query) to the measured time
    return time.monotonic() - started, peak


def speed_run(campaign, sim, worker_pid: int) -> dict:
    """One timed generation (bench/pipeline.py's `timed_run`), then a wait for the HTML the
    worker renders once the campaign is ready (services/prerender.py), so that no run shares
    the worker with the previous campaign's rendering (it did: about 1 s of CPU per campaign,
    which made every run after the first 10-20% slower)."""
    from arena.models import Response

    figures = timed_run(
        sim,
        worker_pid=worker_pid,
        run=lambda: run_generation(campaign)[0],
        rows=Response.objects.filter(campaign=campaign),
    )
    started = time.monotonic()
    unrendered = Response.objects.filter(campaign=campaign, status=Response.Status.DONE, html="")
    while unrendered.exists() and time.monotonic() - started < 120:
        time.sleep(0.1)
    figures["note"] = f"HTML rendered {time.monotonic() - started:.1f} s after"
    return figures


def _floor_process(base_url: str, bodies: list[dict], threads: int, stream: bool, ready, go, results) -> None:
    """One process of the client floor: `bodies` sent from `threads` threads through llm.py."""
    from arena import llm

    llm.warm_up()
    client = llm.client_for(base_url=base_url, api_key="bench", timeout=30)
    todo = list(bodies)
    lock = threading.Lock()
    failed = []

    def call_thread() -> None:
        while True:
            with lock:
                if not todo:
                    return
                body = todo.pop()
            try:
                llm.chat_completion_once(client=client, request=body, timeout=30, stream=stream)
            except llm.LLMError as error:
                failed.append(error.message)

    pool = [threading.Thread(target=call_thread) for _ in range(threads)]
    ready.put(os.getpid())
    go.wait()
    cpu = time.process_time()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.put((time.process_time() - cpu, len(failed)))


def client_floor(sim, campaign, *, stream: bool) -> dict:
    """The calls of `campaign` (a generated one: the bodies are the engine's, `request_build` on its
    frozen settings) with the model client alone: one forked process per contestant, as the
    worker's pool runs one drain each, x its max_concurrency threads, started together once
    every process has warmed up its client."""
    from arena.generation_requests import request_build

    frozen = campaign.frozen_settings
    prompts = list(campaign.prompts.order_by("position").values_list("text", "messages"))
    context = multiprocessing.get_context("fork")
    ready, go, results = context.Queue(), context.Event(), context.Queue()
    sim.reset()
    processes = []
    for contestant in frozen["contestants"].values():
        bodies = [
            request_build(frozen=frozen, contestant=contestant, prompt_text=text, prompt_messages=messages)
            for text, messages in prompts
        ]
        threads = campaign.contestants.get(model=contestant["model"]).max_concurrency
        args = (contestant["base_url"], bodies, threads, stream, ready, go, results)
        processes.append(context.Process(target=_floor_process, args=args))
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=60)
    started = time.monotonic()
    go.set()
    for process in processes:
        process.join()
    wall = time.monotonic() - started
    figures = [results.get() for _ in processes]
    return {
        "wall": wall,
        "cpu": sum(cpu for cpu, _ in figures),
        "failed": sum(failed for _, failed in figures),
        "in_flight": sim.stats()["max_in_flight"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--repeat", type=int, default=5, help="speed runs on the same worker (median reported)")
    parser.add_argument("--sequential-calls", type=int, default=None, help="default: as many as the pipeline made")
    parser.add_argument("--memory-prompts", type=int, default=10_000, help="0 skips the memory run")
    parser.add_argument("--memory-latency", type=float, default=0.015)
    parser.add_argument("--plain", action="store_true", help="plain calls instead of streamed ones (the default)")
    args = parser.parse_args()

    with pipeline("bench-gen", latency=args.latency) as (sim, worker, _tmp):
        import openai

        from arena.models import Response

        idle_rss, idle_pss = worker_memory_mb(worker.pid)

        # 1. Speed through the pipeline, `--repeat` times on the same worker.
        calls = args.prompts * 2
        concurrency = 32
        ideal = calls * args.latency / concurrency
        runs = []
        for i in range(args.repeat):
            sim.reset()
            campaign = make_campaign(f"bench speed {i + 1}", args.prompts, sim.base_url, stream=not args.plain)
            runs.append(speed_run(campaign, sim, worker.pid))

        # The last campaign's calls with the model client alone, `--repeat` times (no database, no engine).
        campaign.refresh_from_db()
        floors = [client_floor(sim, campaign, stream=not args.plain) for _ in range(args.repeat)]

        # The same calls, one after another, with the plain client.
        seq_calls = args.sequential_calls or calls
        client = openai.OpenAI(base_url=sim.base_url, api_key="bench", max_retries=0, timeout=30)
        started = time.monotonic()
        for i in range(seq_calls):
            client.chat.completions.create(
                model="deepseek-v4-flash",
                messages=[{"role": "user", "content": f"Order #{i}: where is my parcel? (sequential)"}],
                max_tokens=200,
            )
        seq_wall = (time.monotonic() - started) * calls / seq_calls

        print(f"\n== speed: {args.prompts} prompts x 2 = {calls} calls, latency {args.latency * 1000:.0f} ms")
        print("calls: " + ("plain (--plain)" if args.plain else "streamed, with stream_options.include_usage"))
        print("concurrency 32 = max_concurrency 16 per contestant x 2 contestants, one worker (prefork, 2 processes)")
        print(
            "wall time = from the generate call (freeze settings, create the pending rows, commit, enqueue)\n"
            "  to the campaign read back as `ready` (polled every 20 ms); the worker was started before"
        )
        wall = print_runs(runs, calls=calls, ideal=ideal, latency=args.latency, concurrency=concurrency)
        walls = sorted(run["wall"] for run in runs)
        note = "" if seq_calls == calls else f" (measured on {seq_calls} calls, scaled to {calls})"
        print(f"sequential loop:      {seq_wall:8.2f} s{note}")
        print_ratio_to_ideal(runs, ideal=ideal, target=1.25)
        floor_walls = sorted(floor["wall"] for floor in floors)
        floor = statistics.median(floor_walls)
        print(
            f"client floor:         {floor:8.2f} s = {floor / ideal:.2f} x ideal (median of {len(floors)}; min "
            f"{floor_walls[0] / ideal:.2f}, max {floor_walls[-1] / ideal:.2f}): the same calls through arena/llm.py "
            f"from 2 processes x 16 threads, no database or engine; client CPU "
            f"{statistics.median(f['cpu'] for f in floors) / calls * 1000:.1f} ms/call, in flight max "
            f"{max(f['in_flight'] for f in floors)}, failed {sum(f['failed'] for f in floors)}"
        )
        print(f"pipeline / floor:     {wall / floor:8.2f} x   (what the engine, database and broker add)")
        print(
            f"sequential / wall:    {seq_wall / wall:8.1f} x   (target >= 15; "
            f"min {seq_wall / walls[-1]:.1f}, max {seq_wall / walls[0]:.1f})"
        )

        # 3. Memory with many prompts.
        if args.memory_prompts:
            sim.configure(latency=args.memory_latency)
            campaign = make_campaign("bench memory", args.memory_prompts, sim.base_url)
            wall, peak = run_generation(campaign, worker_pid=worker.pid)
            done = Response.objects.filter(campaign=campaign, status="done").count()
            print(
                f"\n== memory: {args.memory_prompts} prompts x 2 contestants = {args.memory_prompts * 2} calls, "
                f"latency {args.memory_latency * 1000:.0f} ms"
            )
            print(f"done: {done}; wall time {wall:.1f} s ({done / wall:.0f} calls/s)")
            print(f"worker idle:          RSS {idle_rss:6.1f} MB, PSS {idle_pss:6.1f} MB (main + 2 pool processes)")
            print(f"worker peak:          RSS {peak[0]:6.1f} MB, PSS {peak[1]:6.1f} MB   (target < 300)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
