"""Benchmark: the full report and the raw-votes export at a million votes.

    .venv/bin/python bench/report.py                    # SQLite (the embedded default)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/report.py
    .venv/bin/python bench/report.py --votes 100000     # a quicker run

Builds a throwaway database (a temporary SQLite file, or a `bench_report_<pid>` database on
the PostgreSQL server of DATABASE_URL), fills it with one campaign of ten models compared in
all 45 pairs, three reviewers per comparison (30 reviewers), and `--votes` votes drawn from
known Bradley-Terry strengths with 20% ties/both-bad, then measures:

1. the full report (`report_build`: per-pair tables with the prompt bootstrap, the
   leaderboard with 1,000 bootstrap rounds, matrices, agreement, biases, reviewer table,
   category slices) and a cached read of it;
2. a straightforward per-vote Python loop computing the per-pair counts, against the SQL
   GROUP BY that the report uses for the same counts, and their ratio;
3. the raw-votes CSV export of every vote: time, and peak Python memory (tracemalloc, in a
   second pass, since tracing slows Python down).

Each figure is printed with the machine's load average: on a shared machine the same code
can take twice as long, so a figure without its load says little.

Rows are bulk-inserted (COPY on PostgreSQL, executemany on SQLite). The database is
destroyed at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--reviewers", type=int, default=30)
    parser.add_argument("--k", type=int, default=3, help="votes per comparison")
    parser.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds")
    parser.add_argument("--categories", type=int, default=4)
    parser.add_argument("--skip-memory", action="store_true", help="skip the traced export pass")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from scratch_database import scratch_database

    with scratch_database("bench-report"):
        run(args)


def fast_insert(model, rows, *, defaults: tuple[str, ...] = ()) -> None:
    """Insert tuples of the model's concrete fields in the model's order (the primary key too),
    but for the fields named in `defaults`: those columns get their field default."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if f.name not in defaults]
    others = [model._meta.get_field(n) for n in defaults]
    constants = tuple(f.get_db_prep_save(f.get_default(), connection) for f in others)
    columns = [f.column for f in fields] + [f.column for f in others]
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((*row, *constants))
        return
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    connection.ensure_connection()
    raw = connection.connection
    batch = []
    for row in rows:
        batch.append((*row, *constants))
        if len(batch) >= 50_000:
            raw.executemany(sql, batch)
            batch = []
    if batch:
        raw.executemany(sql, batch)
    raw.commit()


def populate(args):
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.db.models import Max

    from arena.models import (
        Assignment,
        Campaign,
        CampaignReviewer,
        Comparison,
        Contestant,
        Prompt,
        Response,
        Vote,
    )
    from arena.services.pairing import contestant_pairs
    from bench._common import done_response

    rng = np.random.default_rng(12345)
    m, k = args.models, args.k
    campaign = Campaign.objects.create(
        name="Benchmark: 10 models, 1M votes", votes_per_comparison=k, status=Campaign.Status.OPEN
    )
    contestants = [
        Contestant.objects.create(campaign=campaign, position=i, label=f"model-{i:02d}", model=f"bench-model-{i:02d}")
        for i in range(m)
    ]
    pairs = [(a.position, b.position) for a, b in contestant_pairs(contestants=contestants, pairing="all_pairs")]
    n_pairs = len(pairs)
    n_comparisons = -(-args.votes // k)
    n_prompts = -(-n_comparisons // n_pairs)
    categories = [f"category-{c}" for c in range(args.categories)]
    Prompt.objects.bulk_create(
        [
            Prompt(
                campaign=campaign,
                position=p,
                external_id=f"p{p}",
                category=categories[p % len(categories)],
                text=f"Benchmark prompt {p}: my order has not arrived, what can I do?",
            )
            for p in range(n_prompts)
        ],
        batch_size=5000,
    )
    prompt_ids = np.array(list(campaign.prompts.order_by("position").values_list("id", flat=True)))
    lengths = rng.integers(200, 1200, size=(n_prompts, m))
    filler = "The answer explains the refund policy step by step. " * 30
    Response.objects.bulk_create(
        [
            done_response(campaign, int(prompt_ids[p]), contestants[i], filler[: int(lengths[p, i])])
            for p in range(n_prompts)
            for i in range(m)
        ],
        batch_size=5000,
    )
    response_id = {
        (pid, cid): rid
        for rid, pid, cid in Response.objects.filter(campaign=campaign).values_list("id", "prompt_id", "contestant_id")
    }
    User = get_user_model()
    User.objects.bulk_create([User(username=f"bench-reviewer-{r}") for r in range(args.reviewers)])
    reviewers = list(
        User.objects.filter(username__startswith="bench-reviewer-").order_by("id").values_list("id", flat=True)
    )
    CampaignReviewer.objects.bulk_create([CampaignReviewer(campaign=campaign, user_id=u) for u in reviewers])

    # Comparisons: explicit ids, prompt-major, every pair on every prompt.
    first_comparison = (Comparison.objects.aggregate(x=Max("id"))["x"] or 0) + 1
    contestant_ids = [c.id for c in contestants]

    def comparison_rows():
        cid = first_comparison
        for p in range(n_prompts):
            pid = int(prompt_ids[p])
            for a, b in pairs:
                ca, cb = contestant_ids[a], contestant_ids[b]
                yield (cid, campaign.pk, pid, ca, cb, response_id[(pid, ca)], response_id[(pid, cb)], k, k)
                cid += 1

    with transaction.atomic():
        fast_insert(
            Comparison,
            comparison_rows(),
            defaults=("a_left_count", "excluded", "gold", "order_key", "pick_rank", "judge_held"),
        )

    # Votes: k per comparison (the last comparison may get fewer), outcomes from known strengths.
    n = args.votes
    comparison_index = np.arange(n) // k
    slot = np.arange(n) % k
    pair_index = comparison_index % n_pairs
    prompt_index = comparison_index // n_pairs
    pa = np.array([a for a, _ in pairs])[pair_index]
    pb = np.array([b for _, b in pairs])[pair_index]
    strength = np.linspace(1200, 800, m)
    s = 1.0 / (1.0 + 10 ** ((strength[pb] - strength[pa]) / 400.0))
    draw = rng.random(n)
    resolved_code = np.where(draw < s - 0.1, 0, np.where(draw < 0.8, 1, np.where(rng.random(n) < 0.5, 2, 3)))
    a_on_left = rng.random(n) < 0.5
    reviewer_index = (comparison_index + slot * (args.reviewers // k)) % args.reviewers
    seconds = np.round(rng.lognormal(mean=3.0, sigma=0.5, size=n), 2)
    first_assignment = (Assignment.objects.aggregate(x=Max("id"))["x"] or 0) + 1
    base = datetime(2026, 1, 1, tzinfo=UTC)
    stamps = [connection.ops.adapt_datetimefield_value(base + timedelta(seconds=i)) for i in range(n // 1000 + 1)]
    resolved_names = ["a", "b", "tie", "both_bad"]

    def assignment_rows():
        for i in range(n):
            yield (
                first_assignment + i,
                f"bench{i}",
                campaign.pk,
                first_comparison + int(comparison_index[i]),
                reviewers[int(reviewer_index[i])],
                "normal",
                bool(a_on_left[i]),
                "voted",
                stamps[i // 1000],
                stamps[i // 1000],
            )

    def vote_rows():
        for i in range(n):
            code = int(resolved_code[i])
            left = bool(a_on_left[i])
            choice = (
                ("left" if left else "right")
                if code == 0
                else ("right" if left else "left")
                if code == 1
                else resolved_names[code]
            )
            yield (
                first_assignment + i,
                campaign.pk,
                first_comparison + int(comparison_index[i]),
                reviewers[int(reviewer_index[i])],
                choice,
                resolved_names[code],
                left,
                True,
                float(seconds[i]),
                bool(seconds[i] < 3.0),
                stamps[i // 1000],
            )

    with transaction.atomic():
        fast_insert(Assignment, assignment_rows(), defaults=("flag_reason",))
    with transaction.atomic():
        fast_insert(Vote, vote_rows(), defaults=("comment",))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    del prompt_index
    return campaign


def load() -> str:
    """The machine's load averages (1, 5, 15 min), as `uptime` prints them, with the CPU count."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def run(args) -> None:
    from arena.models import Vote
    from arena.reports.build import campaign_report, pair_count_rows, report_build
    from arena.reports.exports import votes_csv
    from arena.selectors.report import pair_counts, report_data

    campaign, seconds = timed(lambda: populate(args))
    total = Vote.objects.filter(campaign=campaign).count()
    print(
        f"populated {total:,} votes, {args.models} models, "
        f"{campaign.comparisons.count():,} comparisons in {seconds:.1f} s"
    )

    print(f"machine load before the report: {load()}")
    report, t_report = timed(lambda: report_build(campaign=campaign, rounds=args.rounds))
    print(f"full report (uncached, {args.rounds} bootstrap rounds): {t_report:.2f} s  [{load()}]")
    _, t_again = timed(lambda: report_build(campaign=campaign, rounds=args.rounds))
    print(f"full report, second uncached build (warm database caches): {t_again:.2f} s  [{load()}]")
    _, t_first = timed(lambda: campaign_report(campaign=campaign, rounds=args.rounds))
    cached, t_cached = timed(lambda: campaign_report(campaign=campaign, rounds=args.rounds))
    # Leave nothing behind in a shared (Redis) cache either.
    from django.core.cache import cache

    from arena.reports.build import REPORT_VERSION

    cache.delete(f"arena:report:v{REPORT_VERSION}:{campaign.pk}:{args.rounds}:{cached.fingerprint}")
    print(f"cached report read: {t_cached:.3f} s (first, filling the cache: {t_first:.2f} s)")
    top = report.overall.leaderboard[0]
    print(
        f"  leaderboard top: {top.model} {top.rating:.0f} [{top.ci_low:.0f}, {top.ci_high:.0f}]; "
        f"alpha {report.agreement.krippendorff_alpha:.3f}; {len(report.overall.pairs)} pairs; "
        f"{len(report.categories)} category slices"
    )

    sql_counts, t_sql = timed(lambda: pair_counts(campaign=campaign))

    def report_pair_counts():
        data = report_data(campaign=campaign)
        return {(r["contestant_a_id"], r["contestant_b_id"]): r for r in pair_count_rows(data.per_comparison, None)}

    scan_counts, t_scan = timed(report_pair_counts)

    def per_vote_loop():
        counts: dict = {}
        votes = (
            Vote.objects.filter(campaign=campaign, counted=True, comparison__excluded=False)
            .select_related("comparison")
            .iterator(chunk_size=5000)
        )
        for vote in votes:
            key = (vote.comparison.contestant_a_id, vote.comparison.contestant_b_id)
            row = counts.setdefault(key, {"a": 0, "b": 0, "tie": 0, "both_bad": 0})
            row[vote.resolved] += 1
        return counts

    loop_counts, t_loop = timed(per_vote_loop)
    for row in sql_counts:
        looped = loop_counts[(row["contestant_a_id"], row["contestant_b_id"])]
        assert (row["a_wins"], row["b_wins"], row["ties"], row["both_bad"]) == (
            looped["a"],
            looped["b"],
            looped["tie"],
            looped["both_bad"],
        ), "the loop and the SQL disagree"
        mine = scan_counts[(row["contestant_a_id"], row["contestant_b_id"])]
        assert all(mine[k] == row[k] for k in ("a_wins", "b_wins", "ties", "both_bad")), "the report disagrees"
    print(
        f"per-pair counts: SQL GROUP BY {t_sql:.2f} s; the report's vote scan (report_data, which also makes "
        f"the reviewer table) {t_scan:.2f} s; per-vote Python loop {t_loop:.2f} s  [{load()}]"
    )
    print(
        f"  ratios: loop / full report = {t_loop / t_report:.2f}x; loop / SQL GROUP BY = {t_loop / t_sql:.1f}x; "
        f"loop / report's scan = {t_loop / t_scan:.1f}x"
    )

    def export(trace: bool):
        size = rows = 0
        if trace:
            tracemalloc.start()
        for chunk in votes_csv(campaign_id=campaign.pk):
            size += len(chunk)
            rows += chunk.count("\r\n")
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
        return size, rows, peak

    (size, rows, _), t_export = timed(lambda: export(False))
    print(f"raw votes CSV export: {rows - 1:,} rows, {size / 1e6:.0f} MB of text in {t_export:.1f} s  [{load()}]")
    peak = None
    if not args.skip_memory:
        (_, _, peak), t_traced = timed(lambda: export(True))
        print(
            f"  peak Python memory during the export (tracemalloc): {peak / 1e6:.1f} MB (traced pass {t_traced:.1f} s)"
        )
    import resource

    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS over the whole run (incl. data generation): {max_rss_mb:.0f} MB")
    ok_report = t_report < 5.0
    ok_export = t_export < 20.0
    memory = "not measured" if peak is None else ("met" if peak < 200e6 else "MISSED")
    print(
        f"targets: report < 5 s: {'met' if ok_report else 'MISSED'}; "
        f"export < 20 s: {'met' if ok_export else 'MISSED'}; export peak memory < 200 MB: {memory}  [{load()}]"
    )


if __name__ == "__main__":
    main()
