"""Statistics for pairwise evaluation: pure functions, no Django, no ORM.

Everything here takes plain counts (or numpy arrays of counts) and returns plain numbers,
so it can be tested against an independent implementation (scipy, in tests/test_stats.py)
and reused from views, exports and notebooks alike. SciPy is deliberately not imported.

Conventions (PRODUCT.md, "Vote semantics and the numbers"): a pair (A, B) has `a_wins`,
`b_wins`, `ties` and `both_bad`; a tie and a both-bad vote both count as half a win to each
side in scores and ratings. Anything whose denominator is zero is reported as None.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

# ---------------------------------------------------------------------------------------------
# Normal quantile
# ---------------------------------------------------------------------------------------------


def normal_quantile(p: float) -> float:
    """Inverse standard normal CDF.

    CPython's `statistics.NormalDist.inv_cdf` is Wichura's algorithm AS241 (PPND16, Applied
    Statistics 37, 1988), accurate to about 1e-16: the same algorithm we would otherwise
    hand-copy, without the risk of a mistyped coefficient.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"quantile level must be in (0, 1), got {p}")
    return NormalDist().inv_cdf(p)


def _two_sided_z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return normal_quantile(0.5 + 0.5 * confidence)


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if int(value) != value or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


# ---------------------------------------------------------------------------------------------
# Proportions: Wilson interval and exact sign test
# ---------------------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | tuple[None, None]:
    """Wilson score interval for a binomial proportion (Wilson 1927).

    Chosen over the Wald interval because it keeps its coverage for small n and proportions
    near 0 or 1 (Newcombe 1998, Stat. Med. 17:857; Agresti & Coull 1998) and never leaves
    [0, 1]. Formula as in Newcombe (1998), the same as scipy's `proportion_ci('wilson')`,
    including the exact bounds 0 when successes == 0 and 1 when successes == n.
    """
    _check_counts(successes=successes, n=n)
    if successes > n:
        raise ValueError(f"successes ({successes}) cannot exceed n ({n})")
    if n == 0:
        return None, None
    z = _two_sided_z(confidence)
    p = successes / n
    denom = 2 * (n + z * z)
    center = (2 * n * p + z * z) / denom
    delta = z / denom * math.sqrt(4 * n * p * (1 - p) + z * z)
    low = 0.0 if successes == 0 else center - delta
    high = 1.0 if successes == n else center + delta
    return low, high


# Below this n the binomial tail is summed exactly with integers; above it, with Loader's
# saddle-point pmf (math.comb sums for n ~ 1e6 would be slow: ~1e5-digit integers).
_EXACT_SIGN_TEST_MAX_N = 2000


def sign_test_p_value(a_wins: int, b_wins: int) -> float | None:
    """Exact two-sided binomial (sign) test of a_wins against b_wins at p = 0.5.

    Equals scipy.stats.binomtest(a_wins, a_wins + b_wins, 0.5).pvalue: under p = 0.5 the
    distribution is symmetric, so the "as or less likely" two-sided p-value is
    min(1, 2 * P(X <= min(k, n - k))). None when there are no decisive votes.
    """
    _check_counts(a_wins=a_wins, b_wins=b_wins)
    n = int(a_wins + b_wins)
    if n == 0:
        return None
    m = min(int(a_wins), int(b_wins))
    if n <= _EXACT_SIGN_TEST_MAX_N:
        return _sign_test_exact(m, n)
    return _sign_test_saddlepoint(m, n)


def _sign_test_exact(m: int, n: int) -> float:
    # Integer arithmetic; int / int true division in Python is correctly rounded.
    tail = sum(math.comb(n, i) for i in range(m + 1))
    return min(1.0, 2 * tail / 2**n)


def _sign_test_saddlepoint(m: int, n: int) -> float:
    # P(X <= m) = pmf(m) * (1 + r_m + r_m r_{m-1} + ...), r_i = pmf(i-1)/pmf(i) = i/(n-i+1).
    # Each ratio is exact to one rounding, so the partial products lose ~j*eps after j steps;
    # terms past a few sqrt(n) steps underflow harmlessly to 0.
    i = np.arange(m, 0, -1, dtype=np.float64)
    ratios = i / (n - i + 1)
    tail = _binom_half_pmf(m, n) * (1.0 + float(np.sum(np.cumprod(ratios))))
    return min(1.0, 2.0 * tail)


def _stirlerr(n: int) -> float:
    """log(n!) - log(sqrt(2 pi n) (n/e)^n), as in Loader (2000) and R's dbinom."""
    if n <= 15:
        return math.log(math.factorial(n)) - (n + 0.5) * math.log(n) + n - 0.5 * math.log(2 * math.pi)
    s0, s1, s2, s3, s4 = 1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188
    nn = n * n
    if n > 500:
        return (s0 - s1 / nn) / n
    if n > 80:
        return (s0 - (s1 - s2 / nn) / nn) / n
    if n > 35:
        return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n


def _bd0(x: float, mean: float) -> float:
    """Deviance term x log(x/mean) + mean - x, summed as a series when x ~ mean (Loader 2000)."""
    if abs(x - mean) < 0.1 * (x + mean):
        v = (x - mean) / (x + mean)
        s = (x - mean) * v
        ej = 2 * x * v
        v2 = v * v
        for j in range(1, 1000):
            ej *= v2
            s_next = s + ej / (2 * j + 1)
            if s_next == s:
                return s_next
            s = s_next
    return x * math.log(x / mean) + mean - x


def _binom_half_pmf(k: int, n: int) -> float:
    """P(X = k) for X ~ Binomial(n, 1/2), relative error ~1e-15 for any n (Loader 2000).

    Naive lgamma differences lose ~1e-9 relative accuracy at n = 1e6 (cancellation of
    terms of size 1e7); the saddle-point form only subtracts small quantities.
    """
    if k == 0 or k == n:
        return math.ldexp(1.0, -n)
    half = n / 2
    lc = _stirlerr(n) - _stirlerr(k) - _stirlerr(n - k) - _bd0(k, half) - _bd0(n - k, half)
    lf = math.log(2 * math.pi) + math.log(k) + math.log1p(-k / n)
    return math.exp(lc - 0.5 * lf)


# ---------------------------------------------------------------------------------------------
# One pair of models
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairStats:
    """The numbers of one model pair, as the win-rate CSV contract defines them."""

    votes: int
    a_wins: int
    b_wins: int
    ties: int
    both_bad: int
    a_win_rate: float | None
    b_win_rate: float | None
    tie_rate: float | None
    a_score: float | None
    decisive_share: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


def pair_stats(*, a_wins: int, b_wins: int, ties: int, both_bad: int) -> PairStats:
    _check_counts(a_wins=a_wins, b_wins=b_wins, ties=ties, both_bad=both_bad)
    # plain ints (not numpy's) so the result serialises to JSON as is
    a_wins, b_wins, ties, both_bad = int(a_wins), int(b_wins), int(ties), int(both_bad)
    n = a_wins + b_wins + ties + both_bad
    decisive = a_wins + b_wins
    undecided = ties + both_bad
    ci_low, ci_high = wilson_interval(a_wins, decisive)
    return PairStats(
        votes=n,
        a_wins=a_wins,
        b_wins=b_wins,
        ties=ties,
        both_bad=both_bad,
        a_win_rate=a_wins / n if n else None,
        b_win_rate=b_wins / n if n else None,
        tie_rate=undecided / n if n else None,
        a_score=(a_wins + 0.5 * undecided) / n if n else None,
        decisive_share=a_wins / decisive if decisive else None,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=sign_test_p_value(a_wins, b_wins),
    )


def prompt_bootstrap_score_interval(
    per_prompt: ArrayLike, rounds: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float] | tuple[None, None]:
    """Percentile bootstrap interval of a_score, resampling prompts with replacement.

    Votes on one prompt are correlated (the same two responses judged by k reviewers), so
    the independent unit is the prompt: a cluster bootstrap (Davison & Hinkley 1997, s. 3.8;
    Field & Welsh 2007, JRSS-B 69:369). Prompts without votes carry no information and are
    dropped before resampling. `per_prompt` has shape (P, 4): [a_wins, b_wins, ties, both_bad].
    """
    counts = np.asarray(per_prompt, dtype=np.float64).reshape(-1, 4)
    if np.any(counts < 0):
        raise ValueError("per_prompt counts must be non-negative")
    counts = counts[counts.sum(axis=1) > 0]
    n_prompts = len(counts)
    if n_prompts == 0:
        return None, None
    _two_sided_z(confidence)  # validates confidence
    rng = np.random.default_rng(seed)
    # score numerator and vote count per prompt; a round's totals are a matrix product of the
    # resampling multiplicities with these two columns.
    per = np.column_stack([counts[:, 0] + 0.5 * (counts[:, 2] + counts[:, 3]), counts.sum(axis=1)])
    # Prompts with the same (numerator, count) are interchangeable, and drawing P prompts with
    # replacement is the same as a multinomial over the distinct rows with probabilities
    # proportional to how often each occurs (the trick Chatbot Arena uses for its BT
    # bootstrap). With k votes per prompt there are only a few dozen distinct rows, so a
    # round costs O(distinct) instead of O(P): the bootstrap of a pair with 10,000 prompts
    # takes milliseconds.
    # np.unique over rows (axis=0) sorts structured views and is slow; both columns are small
    # non-negative integers once the numerator is doubled, so a 1-D key in the same
    # lexicographic order finds the same distinct rows, in the same order, much faster.
    doubled = np.rint(2 * per[:, 0]).astype(np.int64)
    votes = per[:, 1].astype(np.int64)
    span = int(votes.max()) + 1
    keys, frequency = np.unique(doubled * span + votes, return_counts=True)
    per = np.column_stack([(keys // span) / 2.0, (keys % span).astype(np.float64)])
    probabilities = frequency / n_prompts
    scores = np.empty(rounds)
    chunk = max(1, 4_000_000 // len(per))  # bound the (rounds x distinct) multiplicity matrix
    for start in range(0, rounds, chunk):
        size = min(chunk, rounds - start)
        multiplicity = rng.multinomial(n_prompts, probabilities, size=size)
        totals = multiplicity @ per
        scores[start : start + size] = totals[:, 0] / totals[:, 1]
    alpha = 1.0 - confidence
    low, high = np.quantile(scores, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def votes_needed_for_power(
    *, a_wins: int, b_wins: int, ties: int, both_bad: int, alpha: float = 0.05, power: float = 0.80
) -> int | None:
    """Total votes needed to detect the observed decisive share against 0.5.

    Normal approximation to the binomial for a one-sample proportion test, with the null
    variance under H0 and the alternative variance under H1 (Lachin 1981, Controlled Clinical
    Trials 2:93, n = ((z_a s0 + z_b s1) / delta)^2):

        n_decisive = ((z_{1-alpha/2} * sqrt(p0 q0) + z_{power} * sqrt(p1 q1)) / (p1 - p0))^2

    with p0 = 0.5, p1 = a_wins / (a_wins + b_wins). Ties and both-bad votes carry no sign-test
    information, so the total is n_decisive divided by the observed decisive fraction of all
    votes, rounded up. None when p1 == 0.5 (no effect to detect) or no decisive votes.
    """
    _check_counts(a_wins=a_wins, b_wins=b_wins, ties=ties, both_bad=both_bad)
    decisive = a_wins + b_wins
    if decisive == 0 or 2 * a_wins == decisive:
        return None
    p1 = a_wins / decisive
    z_alpha = _two_sided_z(1.0 - alpha)
    z_power = normal_quantile(power)
    n_decisive = ((z_alpha * 0.5 + z_power * math.sqrt(p1 * (1 - p1))) / (p1 - 0.5)) ** 2
    decisive_fraction = decisive / (decisive + ties + both_bad)
    # the 1e-9 keeps an exact integer from being bumped up by a rounding error
    return math.ceil(n_decisive / decisive_fraction - 1e-9)


# ---------------------------------------------------------------------------------------------
# Bradley-Terry leaderboard
# ---------------------------------------------------------------------------------------------

ELO_SCALE = 400.0 / math.log(10.0)  # rating points per unit of natural log-strength
ELO_CENTER = 1000.0
# Gaussian prior N(0, 1/BT_PRIOR) on every natural log-strength, i.e. a penalty
# BT_PRIOR/2 * sum(theta^2) in vote units: worth about a millionth of a vote, so it moves
# well-observed ratings by < 1e-4 points, yet it makes the MLE unique and finite when a model
# never wins (the plain MLE is -infinity; here it lands far below the others, ~log(votes/1e-6)
# in natural units) or has no votes (it sits exactly at the mean). Separate components of the
# comparison graph are each centred at the same mean, the only choice without information.
# Chatbot Arena fits the unpenalised likelihood with L-BFGS and a capped iteration count,
# which stops "somewhere" in those cases; an explicit prior makes the answer well-defined.
BT_PRIOR = 1e-6
BT_TOL = 1e-9  # convergence: largest Newton step in natural log-strength units


def _bt_rows(n_models: int, pair_outcomes: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Aggregate (i, j, wins_i, wins_j, ties) rows into unique (first, second, score) outcomes.

    score is 1 when `first` won, 0 when `second` won, 0.5 for a tie (a tie is half a win to
    each side, as in Chatbot Arena's BT fit). Returns first, second, score, count.
    """
    rows = np.asarray(pair_outcomes, dtype=np.float64).reshape(-1, 5)
    if rows.size and (np.any(rows != np.round(rows)) or np.any(rows < 0)):
        raise ValueError("pair_outcomes must hold non-negative integers")
    i, j = rows[:, 0].astype(int), rows[:, 1].astype(int)
    if np.any(i == j) or np.any(np.maximum(i, j) >= n_models):
        raise ValueError("pair_outcomes: model indices must differ and be < n_models")
    swap = i > j
    first, second = np.where(swap, j, i), np.where(swap, i, j)
    wins_first = np.where(swap, rows[:, 3], rows[:, 2])
    wins_second = np.where(swap, rows[:, 2], rows[:, 3])
    # outcome code 2 = first won, 0 = second won, 1 = tie (score = code / 2)
    keys = np.column_stack([np.tile(first, 3), np.tile(second, 3), np.repeat([2, 0, 1], len(first))])
    weights = np.concatenate([wins_first, wins_second, rows[:, 4]])
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    counts = np.bincount(inverse.ravel(), weights=weights, minlength=len(unique))
    keep = counts > 0
    unique, counts = unique[keep], counts[keep]
    return unique[:, 0], unique[:, 1], unique[:, 2] / 2.0, counts


def _bt_fit(design: np.ndarray, score: np.ndarray, weights: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Newton's method with Armijo backtracking, batched over bootstrap rounds.

    Minimises f(theta) = -sum_k w_k [y_k log s(d_k) + (1 - y_k) log s(-d_k)] + BT_PRIOR/2 |theta|^2,
    d = design @ theta, s the logistic function; f is strictly convex, so Newton converges
    quadratically once close and the line search guards the first steps. `weights` and `theta`
    are (rounds, rows) and (rounds, models); each round stops on its own.

    The likelihood ignores a common shift of theta, so the only curvature along (1, ..., 1) is
    the 1e-6 prior and rounding noise in the gradient would move the solution by ~1e-9 along
    it on every step. Because the optimum has sum(theta) == 0 exactly (summing the gradient
    equations, the likelihood terms cancel and BT_PRIOR * sum(theta) == 0 remains), adding
    (sum theta)^2 / 2 leaves the optimum unchanged and makes that direction well conditioned.
    """
    theta = theta.copy()
    n_models = theta.shape[1]
    regulariser = BT_PRIOR * np.eye(n_models) + 1.0
    active = np.arange(len(theta))
    previous = np.full(len(theta), np.inf)

    def objective(th: np.ndarray, w: np.ndarray) -> np.ndarray:
        d = th @ design.T
        loss = score * np.logaddexp(0.0, -d) + (1.0 - score) * np.logaddexp(0.0, d)
        penalty = 0.5 * BT_PRIOR * (th * th).sum(axis=1) + 0.5 * th.sum(axis=1) ** 2
        return (w * loss).sum(axis=1) + penalty

    # f(theta) of each round at its current theta, known from the previous line search.
    known = np.full(len(theta), np.nan)
    for _ in range(500):
        th, w = theta[active], weights[active]
        d = th @ design.T
        # s(d) and s(-d) each computed directly (not as 1 - the other), so that the gradient
        # of a lopsided pair (s ~ 1e-12, thousands of votes) keeps its relative precision.
        win = np.exp(-np.logaddexp(0.0, -d))
        loss = np.exp(-np.logaddexp(0.0, d))
        grad = -(w * (score * loss - (1.0 - score) * win)) @ design
        grad += BT_PRIOR * th + th.sum(axis=1, keepdims=True)
        curvature = w * win * loss
        hessian = (design.T[None, :, :] * curvature[:, None, :]) @ design + regulariser
        step = -np.linalg.solve(hessian, grad[..., None])[..., 0]
        decrement = -(grad * step).sum(axis=1)  # Newton decrement squared, >= 0
        f0 = known[active]
        if np.isnan(f0).any():
            f0 = objective(th, w)
        t, f1 = newton_step_sizes(objective, th, w, step, decrement, f0)
        theta[active] = th + t[:, None] * step
        # f1 is f at the new theta when the search ended on success (saves one objective
        # evaluation per Newton step); otherwise recompute next time.
        known[active] = np.nan if f1 is None else f1
        active = newton_unconverged(active, t, step, previous)
        if active.size == 0:
            return theta
    raise RuntimeError("Bradley-Terry fit did not converge")


def newton_step_sizes(objective, th: np.ndarray, w: np.ndarray, step: np.ndarray, decrement: np.ndarray, f0):
    """Armijo backtracking for a batch of Newton steps (one per row of `th`): each row's step
    size t halves until f falls by at least 1e-4 * t * decrement (the Newton decrement squared),
    at most 60 times. Returns t and f at th + t * step, or t and None when some row still
    failed. Shared by `_bt_fit` and arena/style.py's fit with covariates."""
    t = np.ones(len(th))
    for _ in range(60):
        f1 = objective(th + t[:, None] * step, w)
        # Once the decrement is at rounding level f cannot tell better from worse; the
        # full step is then the right one (pure Newton phase).
        ok = (f1 <= f0 - 1e-4 * t * decrement) | (decrement <= 1e-12 * (1.0 + np.abs(f0)))
        if ok.all():
            return t, f1
        t = np.where(ok, t, 0.5 * t)
    return t, None


def newton_unconverged(active: np.ndarray, t: np.ndarray, step: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """The rows of `active` still to iterate after steps of t * step; `previous` (indexed by
    row, all rows) holds each row's last step size and is updated here.

    Converged: a step below BT_TOL, or full steps that stopped shrinking while already tiny
    (quadratic convergence would square them; what is left is rounding noise, e.g. along the
    relative shift of comparison-graph components that never met)."""
    size = np.abs(step).max(axis=1)
    noise = (t == 1.0) & (size < 1e-7) & (size > 0.25 * previous[active])
    previous[active] = size
    return active[(t * size >= BT_TOL) & ~noise]


def _bt_design(n_models: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    design = np.zeros((len(first), n_models))
    design[np.arange(len(first)), first] = 1.0
    design[np.arange(len(first)), second] = -1.0
    return design


def _to_elo(theta: np.ndarray, anchor: int | None) -> np.ndarray:
    ratings = ELO_SCALE * theta
    ref = ratings[..., [anchor]] if anchor is not None else ratings.mean(axis=-1, keepdims=True)
    return ratings - ref + ELO_CENTER


def bradley_terry_ratings(*, n_models: int, pair_outcomes: ArrayLike, anchor: int | None = None) -> np.ndarray:
    """Bradley-Terry MLE (with the tiny prior above) on the Elo-like scale.

    rating = 400 * log10(strength), so a 400-point gap means 10:1 odds (Bradley & Terry 1952;
    the scale Chatbot Arena reports, Chiang et al. 2024). Centred so the mean rating is 1000,
    or so model `anchor` is exactly 1000. `pair_outcomes` rows are (i, j, wins_i, wins_j, ties).
    """
    if anchor is not None and not 0 <= anchor < n_models:
        raise ValueError(f"anchor {anchor} is not a model index")
    first, second, score, counts = _bt_rows(n_models, pair_outcomes)
    design = _bt_design(n_models, first, second)
    theta = _bt_fit(design, score, counts[None, :], np.zeros((1, n_models)))[0]
    return _to_elo(theta, anchor)


def bradley_terry_bootstrap(
    *,
    n_models: int,
    pair_outcomes: ArrayLike,
    rounds: int = 1000,
    seed: int = 0,
    anchor: int | None = None,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point ratings and percentile bootstrap intervals.

    Like Chatbot Arena's `compute_bootstrap_bt`: each round draws a multinomial over the
    unique (i, j, outcome) rows with probabilities proportional to their counts and the total
    number of votes fixed; that is the same as resampling votes with replacement, but the fit
    only sees ~3 rows per pair. Rounds are fitted together, warm-started at the point estimate.
    """
    if anchor is not None and not 0 <= anchor < n_models:
        raise ValueError(f"anchor {anchor} is not a model index")
    _two_sided_z(confidence)
    first, second, score, counts = _bt_rows(n_models, pair_outcomes)
    design = _bt_design(n_models, first, second)
    theta = _bt_fit(design, score, counts[None, :], np.zeros((1, n_models)))
    ratings = _to_elo(theta[0], anchor)
    total = int(counts.sum())
    if total == 0 or rounds == 0:
        return ratings, ratings.copy(), ratings.copy()
    rng = np.random.default_rng(seed)
    boot_counts = rng.multinomial(total, counts / total, size=rounds).astype(np.float64)
    boot_theta = _bt_fit(design, score, boot_counts, np.repeat(theta, rounds, axis=0))
    boot = _to_elo(boot_theta, anchor)
    alpha = 1.0 - confidence
    ci_low, ci_high = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
    return ratings, ci_low, ci_high


def ranks_from_intervals(ci_low: Sequence[float], ci_high: Sequence[float]) -> list[int]:
    """Chatbot Arena's rank: 1 + the number of models whose ci_low exceeds this ci_high.

    Models whose intervals overlap share a rank, so ranks can tie and skip.
    """
    low = np.asarray(ci_low, dtype=float)
    high = np.asarray(ci_high, dtype=float)
    return [1 + int(np.sum(low > h)) for h in high]


def predicted_win_matrix(ratings: Sequence[float]) -> np.ndarray:
    """P(i beats j) = 1 / (1 + 10^((r_j - r_i)/400)), ties as half; NaN on the diagonal."""
    r = np.asarray(ratings, dtype=float)
    matrix = 1.0 / (1.0 + 10.0 ** ((r[None, :] - r[:, None]) / 400.0))
    np.fill_diagonal(matrix, np.nan)
    return matrix


# ---------------------------------------------------------------------------------------------
# Agreement between reviewers
# ---------------------------------------------------------------------------------------------


def fleiss_kappa(table: ArrayLike) -> float | None:
    """Fleiss' kappa (Fleiss 1971, Psychol. Bull. 76:378) for items x categories counts.

    Requires the same number of ratings on every item (the statistic assumes it). None when
    undefined: no items, fewer than 2 raters per item, or every rating in one category
    (expected agreement 1, kappa 0/0).
    """
    counts = np.asarray(table, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError("table must be 2-D: items x categories")
    if np.any(counts < 0):
        raise ValueError("table counts must be non-negative")
    if counts.shape[0] == 0:
        return None
    per_item = counts.sum(axis=1)
    raters = per_item[0]
    for row, total in enumerate(per_item):
        if total != raters:
            raise ValueError(f"row {row} has {total:g} ratings but row 0 has {raters:g}")
    if raters < 2:
        return None
    items = counts.shape[0]
    p_item = ((counts * counts).sum(axis=1) - raters) / (raters * (raters - 1))
    p_bar = p_item.mean()
    p_cat = counts.sum(axis=0) / (items * raters)
    p_e = float((p_cat * p_cat).sum())
    if p_e >= 1.0:
        return None
    return float((p_bar - p_e) / (1.0 - p_e))


def _pairable(units: Sequence[Sequence[Hashable]]) -> list[Counter]:
    """Each unit's label counts, missing (None) ratings dropped, units with < 2 ratings dropped."""
    result = []
    for unit in units:
        counter = Counter(label for label in unit if label is not None)
        if sum(counter.values()) >= 2:
            result.append(counter)
    return result


def krippendorff_alpha_nominal(units: Sequence[Sequence[Hashable]]) -> float | None:
    """Krippendorff's alpha for nominal data via the coincidence matrix (Krippendorff 2011).

    alpha = 1 - D_o / D_e = 1 - (n - 1) * sum_{c!=k} o_ck / sum_{c!=k} n_c n_k, where a unit
    with m ratings adds n_c (n_k - [c == k]) / (m - 1) to o_ck. Units with fewer than two
    ratings are not pairable and are ignored; None entries count as missing.

    None when undefined: no pairable unit, or D_e == 0 (all pairable ratings are the same
    label; then D_o == 0 as well and alpha is 0/0 - the data have no variation to judge
    reliability by, and percent agreement, which is 1, is the number to show).
    """
    counters = _pairable(units)
    if not counters:
        return None
    n_c: Counter = Counter()
    observed_agree = 0.0  # sum_c o_cc
    for counter in counters:
        m = sum(counter.values())
        n_c.update(counter)
        observed_agree += sum(v * (v - 1) for v in counter.values()) / (m - 1)
    n = sum(n_c.values())
    expected_disagree = n * n - sum(v * v for v in n_c.values())  # sum_{c!=k} n_c n_k
    if expected_disagree == 0:
        return None
    return 1.0 - (n - 1) * (n - observed_agree) / expected_disagree


def percent_agreement(units: Sequence[Sequence[Hashable]]) -> float | None:
    """Mean, over units with >= 2 ratings, of the share of rater pairs that agree."""
    counters = _pairable(units)
    if not counters:
        return None
    shares = []
    for counter in counters:
        m = sum(counter.values())
        shares.append(sum(v * (v - 1) for v in counter.values()) / (m * (m - 1)))
    return sum(shares) / len(shares)


def _agreement_counts(table: ArrayLike) -> np.ndarray:
    counts = np.asarray(table, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError("table must be 2-D: units x categories")
    if np.any(counts < 0):
        raise ValueError("table counts must be non-negative")
    return counts[counts.sum(axis=1) >= 2]


def krippendorff_alpha_nominal_counts(table: ArrayLike) -> float | None:
    """`krippendorff_alpha_nominal` from a units x categories table of counts, vectorised.

    The same statistic (missing ratings are simply not counted; units with fewer than two
    ratings are dropped), for a report that has per-comparison counts from a GROUP BY and
    hundreds of thousands of units, where building label lists would be slow.
    """
    counts = _agreement_counts(table)
    if len(counts) == 0:
        return None
    m = counts.sum(axis=1)
    observed_agree = float(((counts * (counts - 1)).sum(axis=1) / (m - 1)).sum())
    n_c = counts.sum(axis=0)
    n = float(n_c.sum())
    expected_disagree = n * n - float((n_c * n_c).sum())
    if expected_disagree == 0:
        return None
    return 1.0 - (n - 1) * (n - observed_agree) / expected_disagree


def percent_agreement_counts(table: ArrayLike) -> float | None:
    """`percent_agreement` from a units x categories table of counts, vectorised."""
    counts = _agreement_counts(table)
    if len(counts) == 0:
        return None
    m = counts.sum(axis=1)
    return float(((counts * (counts - 1)).sum(axis=1) / (m * (m - 1))).mean())


def majority_label(ratings: Sequence[Hashable]) -> Hashable | None:
    """The most frequent label; None if there is none or the top count is tied."""
    top = Counter(label for label in ratings if label is not None).most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


def agrees_with_unique_majority(others: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """For each vote: whether the other votes on its item have a unique most frequent label,
    and whether the vote's own label is that one.

    `others` is (n, categories): the counts of the *other* votes on each vote's item;
    `labels` the vote's own category index. A tie for the top count, or no other votes, is
    not judged (the vectorised form of comparing a label with `majority_label(others)`).
    """
    others = np.asarray(others, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if others.size == 0:
        empty = np.zeros(len(labels), dtype=bool)
        return empty, empty.copy()
    top = others.max(axis=1)
    judged = (top > 0) & ((others == top[:, None]).sum(axis=1) == 1)
    agreed = judged & (others.argmax(axis=1) == labels)
    return judged, agreed


def median_or_none(values: ArrayLike) -> float | None:
    """The median (mean of the two middle values for an even count), None when empty."""
    values = np.asarray(values, dtype=float)
    return float(np.median(values)) if len(values) else None


def group_medians(groups: ArrayLike, values: ArrayLike, *, groups_count: int) -> list[float | None]:
    """The median of `values` within each group 0..groups_count-1 (None for an empty group),
    with one sort for all groups rather than one per group."""
    groups = np.asarray(groups, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    # A stable sort of small integers is a radix sort in numpy (linear time); each group's
    # middle values are then found by a partial sort of that group only.
    small = groups.astype(np.int16) if groups_count < 2**15 else groups
    order = np.argsort(small, kind="stable")
    values = values[order]
    sizes = np.bincount(groups, minlength=groups_count)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if groups_count else np.zeros(0, dtype=np.int64)
    medians: list[float | None] = []
    for start, size in zip(starts, sizes, strict=True):
        if size == 0:
            medians.append(None)
            continue
        low, high = (size - 1) // 2, size // 2
        part = np.partition(values[start : start + size], [low, high])
        medians.append(float((part[low] + part[high]) / 2))
    return medians


# ---------------------------------------------------------------------------------------------
# Biases
# ---------------------------------------------------------------------------------------------


class ShareTest(NamedTuple):
    """A share of decisive votes with its Wilson interval and sign-test p-value."""

    share: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


def _share_test(wins: int, losses: int) -> ShareTest:
    _check_counts(wins=wins, losses=losses)
    low, high = wilson_interval(wins, wins + losses)
    share = wins / (wins + losses) if wins + losses else None
    return ShareTest(share, low, high, sign_test_p_value(wins, losses))


def position_bias(*, left_wins: int, right_wins: int) -> ShareTest:
    """Share of decisive votes that went to the response shown on the left (0.5 = no bias)."""
    return _share_test(left_wins, right_wins)


def length_bias(*, longer_wins: int, shorter_wins: int) -> ShareTest:
    """Share of decisive votes that went to the longer response (0.5 = no bias)."""
    return _share_test(longer_wins, shorter_wins)
