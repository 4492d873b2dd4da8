"""Benchmark: the per-vote exports (votes.csv, votes.jsonl, preferences.jsonl), this code
against an older checkout, in the same run on the same database.

    .venv/bin/python bench/exports.py --baseline-root /work/wt-baseline
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/exports.py \\
        --baseline-root /work/wt-baseline --votes 200000
    .venv/bin/python bench/exports.py --baseline-root /work/wt-baseline --votes 1000000 \\
        --exports votes_csv --rounds 1

Builds a throwaway database (a temporary SQLite file, or `bench_exports_<pid>` on the
PostgreSQL server of DATABASE_URL; destroyed at the end, also on failure) with the campaign of
`bench/report.py` (ten models in all 45 pairs, k = 3, votes from known strengths), then runs
each export of each checkout in its own Python process, alternating the checkouts for
`--rounds` rounds so that a change in the machine's load hits both alike. Each process times a
full pass (rows/s); in the first round it then measures the peak Python memory of a second
pass (tracemalloc, which slows Python down, hence the separate pass). Printed: the best and
the median time of each (on a shared machine the best is the one least disturbed by others),
rows/s of the best, peak memory, and the ratios old time / new time (above 1: the new code
is faster), of the best times and of the medians.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = ("votes_csv", "votes_jsonl", "preferences_jsonl")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--votes", type=int, default=200_000)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--reviewers", type=int, default=30)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--categories", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per checkout")
    parser.add_argument("--baseline-root", help="an older checkout to measure in the same run")
    parser.add_argument(
        "--exports",
        default=",".join(EXPORTS),
        help=f"which exports to measure, comma-separated (default: {','.join(EXPORTS)})",
    )
    # The measuring child process (internal).
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--app-root", help=argparse.SUPPRESS)
    parser.add_argument("--campaign", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if unknown := sorted(set(args.exports.split(",")) - set(EXPORTS)):
        parser.error(f"--exports: unknown {', '.join(unknown)} (known: {', '.join(EXPORTS)})")
    return args


def measure(args) -> None:
    """In a child process: run every export of the checkout at --app-root once timed, once
    traced, and print one JSON line per export."""
    sys.path.insert(0, str(Path(args.app_root).resolve()))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
    import django

    django.setup()
    from arena.models import Campaign
    from arena.reports import exports

    campaign = Campaign.objects.get(pk=args.campaign)
    for name in args.exports.split(","):
        function = getattr(exports, name)
        # The older code takes the campaign, this one its id.
        takes_id = "campaign_id" in inspect.signature(function).parameters
        kwargs = {"campaign_id": campaign.pk} if takes_id else {"campaign": campaign}

        def one_pass(function=function, kwargs=kwargs, name=name):
            size = lines = 0
            for chunk in function(**kwargs):
                size += len(chunk)
                lines += chunk.count("\r\n" if name == "votes_csv" else "\n")
            return size, lines - (name == "votes_csv")  # the CSV's header is not a row

        start = time.perf_counter()
        size, rows = one_pass()
        seconds = time.perf_counter() - start
        peak = None
        if args.trace:
            tracemalloc.start()
            one_pass()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        print(json.dumps({"export": name, "rows": rows, "bytes": size, "seconds": seconds, "peak": peak}), flush=True)


def main() -> None:
    args = parse_args()
    if args.measure:
        measure(args)
        return
    sys.path.insert(0, str(ROOT))
    from scratch_database import scratch_database

    with scratch_database("bench-exports"):
        from django.db import connection

        from evalsite.env import database_url_of

        run(args, database_url=database_url_of(connection.settings_dict))


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def run(args, *, database_url: str) -> None:
    from django.db import connection

    from arena.models import Vote
    from bench.report import populate

    start = time.perf_counter()
    campaign = populate(args)
    total = Vote.objects.filter(campaign=campaign).count()
    print(f"populated {total:,} votes in {time.perf_counter() - start:.1f} s")
    connection.close()  # the children must be able to read without this process in the way

    roots = {"new": ROOT}
    if args.baseline_root:
        roots["old"] = Path(args.baseline_root).resolve()
    results: dict[tuple[str, str], list[dict]] = {}
    for round_number in range(args.rounds):
        # Alternate which checkout goes first, so neither always meets the same load.
        order = list(roots.items()) if round_number % 2 == 0 else list(reversed(roots.items()))
        for label, root in order:
            env = {**os.environ, "DATABASE_URL": database_url}
            command = [sys.executable, str(Path(__file__).resolve()), "--measure", "--app-root", str(root)]
            command += ["--exports", args.exports]
            if round_number == 0:
                command.append("--trace")
            output = subprocess.run(
                [*command, "--campaign", str(campaign.pk)],
                env=env,
                cwd=root,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            for line in output.splitlines():
                if line.startswith("{"):
                    result = json.loads(line)
                    results.setdefault((label, result["export"]), []).append(result)
                    print(
                        f"  round {round_number + 1} {label}: {result['export']} {result['rows']:,} rows "
                        f"in {result['seconds']:.2f} s  [{load()}]",
                        flush=True,
                    )
    print()
    chosen = [name for name in EXPORTS if name in args.exports.split(",")]
    print(f"{'export':<18} {'code':<4} {'rows':>9} {'best s':>7} {'median s':>9} {'rows/s':>9} {'peak MB':>8}  old/new")
    for name in chosen:
        for label in roots:
            times = [r["seconds"] for r in results[(label, name)]]
            rows = results[(label, name)][0]["rows"]
            peaks = [r["peak"] for r in results[(label, name)] if r["peak"] is not None]
            ratio = ""
            if label == "new" and ("old", name) in results:
                old = [r["seconds"] for r in results[("old", name)]]
                medians = statistics.median(old) / statistics.median(times)
                ratio = f"{min(old) / min(times):.2f}x best, {medians:.2f}x median"
            print(
                f"{name:<18} {label:<4} {rows:>9,} {min(times):>7.2f} {statistics.median(times):>9.2f} "
                f"{rows / min(times):>9,.0f} {max(peaks) / 1e6:>8.1f}  {ratio}"
            )
    for name in chosen:
        if ("old", name) in results:
            old_rows, new_rows = results[("old", name)][0]["rows"], results[("new", name)][0]["rows"]
            if old_rows != new_rows:
                print(f"NOTE: {name} has {old_rows:,} rows in the old code and {new_rows:,} in the new")
    print(f"[{load()}]")


if __name__ == "__main__":
    main()
