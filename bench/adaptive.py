"""Simulated campaigns: fixed k = 3, naive peeking and adaptive stopping (issue 13).

    .venv/bin/python bench/adaptive.py [--runs 2000] [--seed 13] [--quick]

Pure numbers, no database: the decision rules are the ones the service runs
(arena/sequential.py), vectorised over runs with numpy. `--quick` runs 200 campaigns per
setting (a smoke test, about a second).

1. Two models over 200 prompts, k = 3 (a budget of 600 votes), 20% ties, true decisive shares
   0.5, 0.55, 0.6, 0.7 and 0.85; per setting `--runs` campaigns, each the same seeded stream
   of votes for the three rules:
   - fixed: all 600 votes, then the 95% Wilson interval of the decisive share; a winner when it
     excludes 0.5;
   - naive peeking: the same Wilson interval after every vote, stop as soon as it excludes 0.5;
   - adaptive: the beta-binomial confidence sequence (level 1 - alpha, alpha 0.05) after every
     vote, stop when it excludes 0.5 (a winner) or lies inside 0.5 +/- 0.05 (equivalent);
     the normal-mixture sequence (rho 10) is printed beside it for reference.
   Printed: the share of runs declaring a winner, the wrong-winner rate (any winner at 0.5, B
   otherwise), the share of runs with the right winner, and mean votes.
2. Four models (Bradley-Terry log-strengths 0, 0.45, 0.9, 1.35: six pairs, decisive shares
   0.61 to 0.79), each pair's budget 600 votes, alpha 0.05 split over the six pairs: votes
   until every pair is decided (or out of budget) under
   - round-robin: today's schedule, every pair in turn, a decided pair keeps its turns;
   - allocation: the service's rule, the next vote to the undecided pair whose decision is
     furthest away (sequential.distance_to_decision);
   - round-robin over the undecided pairs only.
   Each pair's votes come from its own seeded stream, so a pair is decided at the same
   count of its own votes under every rule: the order changes only when, not whether.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arena import sequential  # noqa: E402

PROMPTS, K, TIES, ALPHA, MARGIN = 200, 3, 0.20, 0.05, 0.05
SHARES = (0.5, 0.55, 0.6, 0.7, 0.85)
Z = 1.959963984540054


class MixtureTable:
    """log M_n(p) of the beta-binomial mixture for integer counts, by table lookup (the same
    formula as sequential.log_mixture_martingale, which the test below checks)."""

    def __init__(self, max_n: int, c: float = sequential.PRIOR_C):
        j = np.arange(max_n + 1)
        self.lg = np.array([math.lgamma(c + x) for x in j])
        self.lg2 = np.array([math.lgamma(2 * c + x) for x in j])
        self.base = 2 * math.lgamma(c) - math.lgamma(2 * c)

    def log_m(self, s: np.ndarray, n: np.ndarray, p: float | np.ndarray) -> np.ndarray:
        f = n - s
        with np.errstate(divide="ignore", invalid="ignore"):
            like = np.where(s > 0, s * np.log(p), 0.0) + np.where(f > 0, f * np.log1p(-p), 0.0)
        return self.lg[s] + self.lg[f] - self.lg2[n] - self.base - like


def wilson_excludes_half(s: np.ndarray, n: np.ndarray) -> np.ndarray:
    """+1 / -1 where the 95% Wilson interval lies above / below 0.5, else 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, s / np.maximum(n, 1), 0.5)
        nn = np.maximum(n, 1)
        centre = (p + Z**2 / (2 * nn)) / (1 + Z**2 / nn)
        half = Z * np.sqrt(p * (1 - p) / nn + Z**2 / (4 * nn**2)) / (1 + Z**2 / nn)
    return np.where(n > 0, np.where(centre - half > 0.5, 1, np.where(centre + half < 0.5, -1, 0)), 0)


def first_hit(mask: np.ndarray) -> np.ndarray:
    """Index of the first True per row, or -1."""
    hit = mask.any(axis=1)
    return np.where(hit, mask.argmax(axis=1), -1)


def votes_stream(rng, runs: int, votes: int, share: float) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative A wins and decisive votes after each vote, (runs, votes) each."""
    tie = rng.random((runs, votes)) < TIES
    a = ~tie & (rng.random((runs, votes)) < share)
    return np.cumsum(a, axis=1), np.cumsum(~tie, axis=1)


def _line(share: float, truth: int, rule: str, side: np.ndarray, votes: np.ndarray, equivalent=None) -> dict:
    """Print one rule's row; `side` is +1 (A), -1 (B) or 0 (no winner) per run."""
    winner = side != 0
    wrong = winner & (side != truth) if truth else winner
    right = (side == truth) if truth else ~winner
    eq = f"{np.mean(equivalent):>7.3f}" if equivalent is not None else f"{'':>7}"
    print(
        f"{share:>6.2f} {rule:<22} {winner.mean():>7.3f} {wrong.mean():>7.3f} {right.mean():>7.3f} "
        f"{eq} {votes.mean():>7.1f}"
    )
    return {"right": int(right.sum()), "votes": float(votes.mean())}


def two_models(runs: int, seed: int) -> None:
    budget = PROMPTS * K
    table = MixtureTable(budget)
    threshold = math.log(1 / ALPHA)
    print(f"Two models, {PROMPTS} prompts, k = {K} ({budget} votes), {TIES:.0%} ties, {runs} runs per setting")
    print("right: the true winner declared (at 0.50: no winner declared); equiv: stopped as equivalent")
    print(f"{'share':>6} {'rule':<22} {'winner':>7} {'wrong':>7} {'right':>7} {'equiv':>7} {'votes':>7}")
    for index, share in enumerate(SHARES):
        rng = np.random.default_rng([seed, index])
        s, n = votes_stream(rng, runs, budget, share)
        truth = 0 if share == 0.5 else 1
        line = functools.partial(_line, share, truth)

        fixed = line("fixed k=3 (Wilson)", wilson_excludes_half(s[:, -1], n[:, -1]), np.full(runs, budget))
        signs = wilson_excludes_half(s, n)
        t = first_hit(signs != 0)
        stop = np.where(t >= 0, t, budget - 1)
        line("naive peeking", np.where(t >= 0, signs[np.arange(runs), stop], 0), stop + 1.0)
        # Adaptive: the service's rule on the same votes.
        log_half = table.log_m(s, n, 0.5)
        p_hat = np.where(n > 0, s / np.maximum(n, 1), 0.5)
        ends = (table.log_m(s, n, 0.5 - MARGIN) >= threshold) & (table.log_m(s, n, 0.5 + MARGIN) >= threshold)
        equivalent = ends & (np.abs(p_hat - 0.5) < MARGIN) & (log_half < threshold)
        decided = (log_half >= threshold) | equivalent
        t = first_hit(decided)
        stop = np.where(t >= 0, t, budget - 1)
        rows = np.arange(runs)
        side = np.where(
            (t >= 0) & (log_half[rows, stop] >= threshold), np.where(2 * s[rows, stop] > n[rows, stop], 1, -1), 0
        )
        adaptive = line("adaptive (beta-binom.)", side, stop + 1.0, equivalent=(t >= 0) & equivalent[rows, stop])
        # Reference: the normal mixture of Howard et al. (sub-Gaussian, rho = 10).
        v = n / 4 + 10.0
        bound = np.sqrt(2 * v * np.log(np.sqrt(v / 10.0) / ALPHA))
        hit = np.abs(s - n / 2) >= bound
        t = first_hit(hit)
        stop = np.where(t >= 0, t, budget - 1)
        side = np.where(t >= 0, np.where(2 * s[rows, stop] > n[rows, stop], 1, -1), 0)
        line("adaptive (normal mix.)", side, stop + 1.0)
        if share >= 0.7:
            saved = 1 - adaptive["votes"] / fixed["votes"]
            print(
                f"{'':>6} adaptive vs fixed: right winner in {adaptive['right']} vs {fixed['right']} runs, "
                f"{saved:.0%} fewer votes"
            )


def _cs_table(max_n: int, alpha: float, table: MixtureTable) -> tuple[np.ndarray, np.ndarray]:
    """The sequence's ends for every (successes, n) up to max_n, by vectorised bisection."""
    s, n = np.meshgrid(np.arange(max_n + 1), np.arange(max_n + 1), indexing="ij")
    valid = s <= n
    s, n = np.where(valid, s, 0), np.where(valid, n, 0)
    threshold = math.log(1 / alpha)
    centre = np.where(n > 0, s / np.maximum(n, 1), 0.5)

    def edge(beyond: float) -> np.ndarray:
        inside, out = centre.copy(), np.full(centre.shape, beyond)
        reach = table.log_m(s, n, np.clip(out, 1e-12, 1 - 1e-12)) >= threshold
        for _ in range(40):
            middle = 0.5 * (inside + out)
            over = table.log_m(s, n, np.clip(middle, 1e-12, 1 - 1e-12)) >= threshold
            out, inside = np.where(over, middle, out), np.where(over, inside, middle)
        return np.where(reach, inside, beyond)

    low, high = edge(0.0), edge(1.0)
    low, high = np.where(n > 0, low, 0.0), np.where(n > 0, high, 1.0)
    return low, high


def four_models(runs: int, seed: int) -> None:
    strengths = np.array([0.0, 0.45, 0.9, 1.35])
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    shares = np.array([1 / (1 + math.exp(strengths[i] - strengths[j])) for i, j in pairs])  # j beats i
    m, budget = len(pairs), PROMPTS * K
    alpha = sequential.pair_alpha(ALPHA, m)
    threshold = math.log(1 / alpha)
    table = MixtureTable(budget)
    low, high = _cs_table(budget, alpha, table)
    rng = np.random.default_rng([seed, 99])
    streams = [votes_stream(rng, runs, budget, share) for share in shares]
    s_all = np.stack([x[0] for x in streams], axis=1)  # (runs, pairs, votes)
    n_all = np.stack([x[1] for x in streams], axis=1)

    # Each pair's own decision time (in its own votes), the same under every rule.
    log_half = table.log_m(s_all, n_all, 0.5)
    hit = (log_half >= threshold).reshape(runs * m, budget)
    tau = first_hit(hit).reshape(runs, m) + 1  # 0 = never within budget
    decided_all = np.all(tau > 0, axis=1)
    own = np.where(tau > 0, tau, budget)
    round_robin = (
        m * (own.max(axis=1) - 1)
        + 1
        + np.array([max(j for j in range(m) if own[r, j] == own[r].max()) for r in range(runs)])
    )
    undecided_only = own.sum(axis=1)

    # Allocation, step by step as the service does it.
    counts = np.zeros((runs, m), dtype=np.int64)
    done = np.zeros((runs, m), dtype=bool)
    total = np.zeros(runs, dtype=np.int64)
    rows = np.arange(runs)
    for _ in range(m * budget):
        active = ~np.all(done | (counts >= budget), axis=1)
        if not active.any():
            break
        idx = np.maximum(counts - 1, 0)
        s = np.where(counts > 0, np.take_along_axis(s_all, idx[..., None], axis=2)[..., 0], 0)
        n = np.where(counts > 0, np.take_along_axis(n_all, idx[..., None], axis=2)[..., 0], 0)
        lo, hi = low[s, n], high[s, n]
        gap = np.abs(np.where(n > 0, s / np.maximum(n, 1), 0.5) - 0.5)
        target = np.maximum(gap, MARGIN - gap)
        distance = np.where(n > 0, (hi - lo) / 2 / np.maximum(target, 1e-12), 0.5 / MARGIN)
        distance = np.where(done | (counts >= budget), -np.inf, distance)
        pick = distance.argmax(axis=1)
        counts[rows[active], pick[active]] += 1
        total[active] += 1
        c = counts[rows, pick]
        new_s = s_all[rows, pick, c - 1]
        new_n = n_all[rows, pick, c - 1]
        done[rows, pick] |= active & (table.log_m(new_s, new_n, 0.5) >= threshold)

    print()
    print(
        f"Four models, {m} pairs (decisive shares {', '.join(f'{x:.2f}' for x in sorted(shares))}), "
        f"budget {budget} votes a pair, alpha {ALPHA} split over the pairs, {runs} runs"
    )
    print(f"every pair decided within budget: {decided_all.mean():.3f} of runs")
    for name, votes in (
        ("round-robin (every pair in turn)", round_robin),
        ("allocation (furthest from a decision)", total),
        ("round-robin over undecided pairs", undecided_only),
    ):
        print(f"{name:<40} mean votes to decide every pair {votes.mean():>7.1f}  (median {np.median(votes):.0f})")
    print(f"allocation vs round-robin: {1 - total.mean() / round_robin.mean():.0%} fewer votes")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--quick", action="store_true", help="200 runs per setting (a smoke test)")
    args = parser.parse_args(argv)
    runs = 200 if args.quick else args.runs
    started = time.perf_counter()
    two_models(runs, args.seed)
    four_models(runs, args.seed)
    print(f"\n({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
