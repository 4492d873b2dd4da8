"""Per-model economics: cost, speed and reliability next to the rating (models.csv, the JSON
report's `models`, the report page's table, chart and sentence).

Pure functions over plain data (arena/selectors/models.py reads the rows; the ratings come
from the report's leaderboard):

* cost: Decimal, from the summed token counts times the prices per million tokens (PRODUCT.md,
  "Contract: models"): never a sum of per-response amounts rounded to micro-dollars, which at
  $0.01/M and 150 tokens turns $0.0000015 into $0.000002;
* latency and TTFT percentiles: numpy's default "linear" percentile (Hyndman & Fan 1996,
  definition 7: the order statistics interpolated at (n - 1) q), over done responses;
* output tokens per second: the median over done responses of output tokens / latency
  (responses with a zero latency, which no real call has, are left out of it);
* the frontier of quality against cost (Pareto 1906; "skyline"): the models that no other
  model beats on both, i.e. none is at most as dear and at least as well rated, better in one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal

import numpy as np

from ..selectors.models import ContestantUsage, contestant_usage
from .csv import ComputedNumber, fmt_rating, stream_csv

MILLION = Decimal(1_000_000)
# Enough places for any cost at 4-decimal prices: tokens x price / 10^6 has at most 10.
COST_PLACES = Decimal("1e-10")

MODELS_HEADER = [
    "model",
    "responses",
    "failed",
    "output_tokens_mean",
    "cost_usd",
    "usd_per_1k_responses",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "ttft_p50_ms",
    "output_tokens_per_s",
    "rating",
    "ci_low",
    "ci_high",
]


@dataclass
class ModelEconomics:
    contestant_id: int
    model: str
    responses: int
    failed: int
    pending: int
    output_tokens_mean: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    usd_per_1k_responses: Decimal | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    ttft_p50_ms: float | None
    streamed: int
    output_tokens_per_s: float | None
    retries: int
    rate_limited: int
    served_model_mismatches: int
    rating: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    on_frontier: bool = False


def exact_cost(*, input_tokens: int, output_tokens: int, price_per_mtok_in, price_per_mtok_out) -> Decimal:
    """Token counts times prices per million tokens, exactly (Decimal, no rounding)."""
    return (Decimal(input_tokens) * Decimal(str(price_per_mtok_in or 0))) / MILLION + (
        Decimal(output_tokens) * Decimal(str(price_per_mtok_out or 0))
    ) / MILLION


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation (Hyndman & Fan definition 7); None if empty."""
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else None


def median_rate(tokens: Sequence[int], latency_ms: Sequence[int | None]) -> float | None:
    """Median over responses of tokens / seconds, leaving out responses without a positive latency."""
    rates = [t / (ms / 1000) for t, ms in zip(tokens, latency_ms, strict=True) if ms]
    return float(np.median(rates)) if rates else None


def economics_of(usage: ContestantUsage) -> ModelEconomics:
    """One contestant's figures from its counts, prices and done responses."""
    n = usage.done
    tokens_in, tokens_out = sum(usage.input_tokens), sum(usage.output_tokens)
    cost = exact_cost(
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        price_per_mtok_in=usage.price_per_mtok_in,
        price_per_mtok_out=usage.price_per_mtok_out,
    )
    latencies = [ms for ms in usage.latency_ms if ms is not None]
    ttfts = [ms for ms in usage.ttft_ms if ms is not None]
    return ModelEconomics(
        contestant_id=usage.contestant_id,
        model=usage.label,
        responses=n,
        failed=usage.failed,
        pending=usage.pending,
        output_tokens_mean=tokens_out / n if n else None,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        cost_usd=cost,
        usd_per_1k_responses=Decimal(1000) * cost / n if n else None,
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        latency_p99_ms=percentile(latencies, 99),
        ttft_p50_ms=percentile(ttfts, 50),
        streamed=len(ttfts),
        output_tokens_per_s=median_rate(usage.output_tokens, usage.latency_ms),
        retries=max(0, usage.attempts - usage.attempted),
        rate_limited=usage.rate_limited,
        served_model_mismatches=usage.mismatches,
    )


def pareto_frontier(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (cost, quality) points that no other point dominates (at most the cost
    and at least the quality, strictly better in one), in order of cost. Equal points are all
    on it."""
    frontier = []
    for i, (cost_i, quality_i) in enumerate(points):
        dominated = any(
            cost_j <= cost_i and quality_j >= quality_i and (cost_j < cost_i or quality_j > quality_i)
            for j, (cost_j, quality_j) in enumerate(points)
            if j != i
        )
        if not dominated:
            frontier.append(i)
    return sorted(frontier, key=lambda i: (points[i][0], -points[i][1]))


def with_ratings(rows: list[ModelEconomics], leaderboard) -> list[ModelEconomics]:
    """Each row's rating and interval from the report's leaderboard (a rating the leaderboard
    marks not estimable stays empty), and whether it is on the quality/cost frontier."""
    board = {r.contestant_id: r for r in leaderboard}
    for row in rows:
        entry = board.get(row.contestant_id)
        if entry is not None and getattr(entry, "estimable", True) and row.responses:
            row.rating, row.ci_low, row.ci_high = entry.rating, entry.ci_low, entry.ci_high
    rated = [r for r in rows if r.rating is not None and r.usd_per_1k_responses is not None]
    for i in pareto_frontier([(float(r.usd_per_1k_responses), r.rating) for r in rated]):
        rated[i].on_frontier = True
    return rows


def campaign_models(*, campaign, report) -> list[ModelEconomics]:
    """Every contestant's figures, with the rating and interval of the report's leaderboard."""
    rows = [economics_of(u) for u in contestant_usage(campaign=campaign)]
    return with_ratings(rows, report.overall.leaderboard)


# ---------------------------------------------------------------------------------------------
# Cells: the CSV and the page show the same text.


def fmt_usd(value: Decimal | None) -> str:
    """Dollars with up to 10 decimals, trailing zeros dropped: exact for a cost at 4-decimal prices."""
    if value is None:
        return ""
    text = format(value.quantize(COST_PLACES), "f").rstrip("0").rstrip(".")
    return ComputedNumber(text or "0")


def fmt_fixed(value: float | None, places: int = 1) -> str:
    return "" if value is None else ComputedNumber(f"{value:.{places}f}")


def csv_cells(row: ModelEconomics) -> list:
    return [
        row.model,
        row.responses,
        row.failed,
        fmt_fixed(row.output_tokens_mean, 2),
        fmt_usd(row.cost_usd),
        fmt_usd(row.usd_per_1k_responses),
        fmt_fixed(row.latency_p50_ms),
        fmt_fixed(row.latency_p95_ms),
        fmt_fixed(row.latency_p99_ms),
        fmt_fixed(row.ttft_p50_ms),
        fmt_fixed(row.output_tokens_per_s, 2),
        fmt_rating(row.rating),
        fmt_rating(row.ci_low),
        fmt_rating(row.ci_high),
    ]


def models_csv(rows: list[ModelEconomics]) -> Iterator[str]:
    return stream_csv(MODELS_HEADER, (csv_cells(r) for r in rows))


def models_as_dicts(rows: list[ModelEconomics]) -> list[dict]:
    """Plain data for the JSON report: money as exact decimal strings, the rest as numbers."""
    out = []
    for row in rows:
        data = asdict(row)
        data["cost_usd"] = fmt_usd(row.cost_usd)
        data["usd_per_1k_responses"] = fmt_usd(row.usd_per_1k_responses) or None
        out.append(data)
    return out


# ---------------------------------------------------------------------------------------------
# Words


def _times(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 3 else f"{ratio:.1f}x"


def _p(p: float | None) -> str:
    if p is None:
        return "no decisive votes"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2f}" if p >= 0.01 else f"p = {p:.3f}"


def cost_sentence(rows: list[ModelEconomics], pairs) -> str:
    """ "X is 9x cheaper per answer than Y and not significantly worse (p = 0.41)": the best-rated
    model Y against the cheapest model compared with it directly, preferring one that is not
    significantly worse; the pair's sign test gives the p-value. "" when there is nothing to say
    (no ratings, no costs, or no cheaper model compared with Y)."""
    rated = [r for r in rows if r.rating is not None and r.usd_per_1k_responses is not None]
    if len(rated) < 2:
        return ""
    top = max(rated, key=lambda r: (r.rating, -r.usd_per_1k_responses))
    verdicts = []
    for pair in pairs:
        if not pair.votes or top.contestant_id not in (pair.contestant_a_id, pair.contestant_b_id):
            continue
        other_id = pair.contestant_b_id if pair.contestant_a_id == top.contestant_id else pair.contestant_a_id
        other = next((r for r in rated if r.contestant_id == other_id), None)
        if other is None or other.usd_per_1k_responses >= top.usd_per_1k_responses:
            continue
        other_wins, top_wins = (
            (pair.a_wins, pair.b_wins) if pair.contestant_a_id == other_id else (pair.b_wins, pair.a_wins)
        )
        worse = pair.significant and other_wins < top_wins
        verdicts.append((worse, other.usd_per_1k_responses, other, other_wins > top_wins, pair))
    if not verdicts:
        return ""
    worse, _, other, better, pair = min(verdicts, key=lambda v: (v[0], v[1]))
    if other.usd_per_1k_responses == 0:
        head = (
            f"{other.model} costs nothing per answer at its prices, against "
            f"${top.usd_per_1k_responses:.4g} per 1,000 for {top.model},"
        )
    else:
        ratio = float(top.usd_per_1k_responses / other.usd_per_1k_responses)
        head = f"{other.model} is {_times(ratio)} cheaper per answer than {top.model}"
    if worse:
        tail = f"but significantly worse ({_p(pair.p_value)})"
    elif pair.significant and better:
        tail = f"and significantly better ({_p(pair.p_value)})"
    else:
        tail = f"and not significantly worse ({_p(pair.p_value)})"
    return f"{head} {tail}."


def summary_with_costs(report, rows: list[ModelEconomics]) -> str:
    """The report's summary paragraph with the cost sentence after it (when there is one)."""
    sentence = cost_sentence(rows, report.overall.pairs)
    return f"{report.summary} {sentence}".strip() if sentence else report.summary
