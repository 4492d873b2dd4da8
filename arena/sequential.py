"""Decisions you may watch vote by vote: confidence sequences, many pairs, exact power. Pure.

No Django and no SciPy here (as in arena/stats.py): plain counts in, plain numbers out, checked
against scipy and statsmodels in tests/test_sequential.py.

The sample of a pair is its decisive votes (A or B wins); ties and both-bad do not move the
decisive share, and the number of decisive votes being random is allowed by the time-uniform
guarantee below.

Confidence sequence: the beta-binomial (conjugate) mixture. For Bernoulli observations with
S successes in n, the Beta(a, b) mixture of likelihood ratios against a share p,

    M_n(p) = B(a + S, b + n - S) / B(a, b) / (p^S (1 - p)^(n - S)),

is a nonnegative martingale with M_0 = 1 under p (Robbins 1970, "Statistical methods related
to the law of the iterated logarithm", Ann. Math. Statist. 41; the beta-binomial mixture of
Howard, Ramdas, McAuliffe and Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic
confidence sequences", Ann. Statist. 49(2), for the Bernoulli case). Ville's inequality gives
P(exists n: M_n(p) >= 1/alpha) <= alpha, so

    C_n = {p : M_n(p) < 1/alpha}

covers the true share at every n at once with probability >= 1 - alpha: a decision may be
taken the moment C_n excludes 0.5, however often it is looked at. C_n is an interval around
S/n (log M_n is convex in p and M_n(S/n) <= 1). We use it rather than the normal mixture
(also below, for its worked values) because it uses the Bernoulli variance p(1 - p) rather
than the bound 1/4, and it is exact for 0/1 data (bench/adaptive.py prints both). M_n(0.5) is
at the same time an e-value (a test martingale) for "no preference".

The prior Beta(c, c) sets where the sequence is tightest; c is fixed before the first vote
(PRIOR_C, tuned in bench/adaptive.py for a few hundred decisive votes per pair).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

# Beta(c, c) mixing prior. A larger c puts the mixture near 0.5 (later but tighter for small
# effects). Over shares 0.6, 0.7 and 0.85 with 600 votes (20% ties) and alpha 0.05, mean votes
# to decide were c=1: 284/67/21, c=4: 254/67/24, c=16: 261/83/36, c=32: 286/98/45 (2,000 runs
# each, seed 1): c = 4 is the compromise for a few hundred decisive votes per pair.
PRIOR_C = 4.0
DECISIONS = ("a_better", "b_better", "equivalent", "undecided")


# ---------------------------------------------------------------------------------------------
# The mixture martingale and its confidence sequence
# ---------------------------------------------------------------------------------------------


def _lgamma(x: np.ndarray) -> np.ndarray:
    # numpy has no vectorised lgamma; frompyfunc over math.lgamma is exact and fast enough for
    # the few thousand values a report or a bench step needs.
    return np.asarray(np.frompyfunc(math.lgamma, 1, 1)(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def log_mixture_martingale(successes: ArrayLike, n: ArrayLike, p: ArrayLike, *, prior_c: float = PRIOR_C):
    """log M_n(p) of the Beta(c, c) mixture (module docstring), elementwise over arrays.

    log M = log B(c + S, c + n - S) - log B(c, c) - S log p - (n - S) log(1 - p); 0 at n = 0.
    """
    s = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    f = n - s
    log_beta = _lgamma(prior_c + s) + _lgamma(prior_c + f) - _lgamma(2 * prior_c + n)
    log_beta0 = 2 * math.lgamma(prior_c) - math.lgamma(2 * prior_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        likelihood = np.where(s > 0, s * np.log(p), 0.0) + np.where(f > 0, f * np.log1p(-p), 0.0)
    return log_beta - log_beta0 - likelihood


def confidence_sequence(
    successes: int, n: int, *, alpha: float = 0.05, prior_c: float = PRIOR_C
) -> tuple[float, float]:
    """The interval C_n = {p : M_n(p) < 1/alpha} for `successes` of `n` (module docstring).

    (0, 1) at n = 0. The ends are found by bisection on either side of S/n (log M_n is convex
    in p), to 1e-12.
    """
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    if n < 0 or not 0 <= successes <= n:
        raise ValueError("need 0 <= successes <= n")
    if n == 0:
        return 0.0, 1.0
    threshold = math.log(1 / alpha)
    center = successes / n
    # log M_n(p) = log B(c + S, c + F) - log B(c, c) - S log p - F log(1 - p): the Beta terms do
    # not depend on p, so each bisection step costs two logarithms (this runs on every vote).
    failures = n - successes
    log_beta = (
        math.lgamma(prior_c + successes)
        + math.lgamma(prior_c + failures)
        - math.lgamma(2 * prior_c + n)
        - (2 * math.lgamma(prior_c) - math.lgamma(2 * prior_c))
    )

    def outside(p: float) -> bool:
        if p <= 0.0 or p >= 1.0:
            return (successes > 0 and p <= 0.0) or (failures > 0 and p >= 1.0) or log_beta >= threshold
        likelihood = (successes * math.log(p) if successes else 0.0) + (failures * math.log1p(-p) if failures else 0.0)
        return log_beta - likelihood >= threshold

    def edge(inside: float, beyond: float) -> float:
        # `inside` is in C_n, `beyond` (0 or 1) may or may not be.
        if not outside(beyond):
            return beyond
        for _ in range(60):
            middle = 0.5 * (inside + beyond)
            if outside(middle):
                beyond = middle
            else:
                inside = middle
        return inside

    low = 0.0 if successes == 0 else edge(center, 0.0)
    high = 1.0 if successes == n else edge(center, 1.0)
    return low, high


def normal_mixture_half_width(n: int, *, alpha: float = 0.05, rho: float = 10.0) -> float:
    """Half-width of the normal-mixture confidence sequence for a mean of [0, 1] observations.

    Robbins' normal mixture as in Howard et al. 2021 (sub-Gaussian, variance proxy 1/4 per
    observation, V_n = n/4, mixing lambda ~ N(0, 1/rho)):
    p in p_hat +/- sqrt(2 (n/4 + rho) log(sqrt((n/4 + rho)/rho) / alpha)) / n.
    Kept as the reference the beta-binomial sequence is compared with (its worked values are
    in /shared/METHODS.md: 0.48978 at n = 20, 0.159232 at 100, 0.075945 at 400).
    """
    v = n / 4 + rho
    return math.sqrt(2 * v * math.log(math.sqrt(v / rho) / alpha)) / n


@dataclass(frozen=True)
class SequentialDecision:
    decision: str  # one of DECISIONS
    cs_low: float | None
    cs_high: float | None
    e_value: float  # M_n(0.5): evidence against "no preference"


def sequential_decision(
    *, a_wins: int, b_wins: int, alpha: float = 0.05, margin: float = 0.05, prior_c: float = PRIOR_C
) -> SequentialDecision:
    """What the pair's sequence says now: `a_better` / `b_better` when it excludes 0.5,
    `equivalent` when it lies inside [0.5 - margin, 0.5 + margin] (margin 0: never),
    `undecided` otherwise.

    Exclusion is read from the martingale itself (0.5 is outside C_n exactly when
    M_n(0.5) >= 1/alpha), so the decision does not depend on the bisection's tolerance; the
    same holds for the margin's two ends. The interval is None, None without decisive votes.
    """
    n = a_wins + b_wins
    log_e = float(log_mixture_martingale(a_wins, n, 0.5, prior_c=prior_c))
    e_value = math.exp(min(log_e, 700.0))
    if n == 0:
        return SequentialDecision("undecided", None, None, 1.0)
    low, high = confidence_sequence(a_wins, n, alpha=alpha, prior_c=prior_c)
    threshold = math.log(1 / alpha)
    decision = "undecided"
    if log_e >= threshold:
        decision = "a_better" if 2 * a_wins > n else "b_better"
    elif margin > 0 and abs(a_wins / n - 0.5) < margin:
        ends = log_mixture_martingale(a_wins, n, np.array([0.5 - margin, 0.5 + margin]), prior_c=prior_c)
        if bool(np.all(ends >= threshold)):
            decision = "equivalent"
    return SequentialDecision(decision, low, high, e_value)


def distance_to_decision(*, a_wins: int, b_wins: int, margin: float, cs_low, cs_high) -> float:
    """How far the pair is from a decision: the sequence's half-width relative to the distance
    it must shrink to, the nearer of |share - 0.5| (a winner) and margin - |share - 0.5|
    (equivalence). Large = far (inf when neither can ever be reached); 1 or less = about due.

    This is the allocation key ("widest interval relative to its distance from the decision
    boundary", the idea of Chatbot Arena's active sampling, Chiang et al. 2024): the
    votes still needed grow roughly as its square, since a half-width shrinks like 1/sqrt(n).
    """
    n = a_wins + b_wins
    if n == 0 or cs_low is None or cs_high is None:
        return math.inf if margin <= 0 else 0.5 / margin
    gap = abs(a_wins / n - 0.5)
    target = max(gap, margin - gap)
    half = (cs_high - cs_low) / 2
    return math.inf if target <= 0 else half / target


# ---------------------------------------------------------------------------------------------
# Many pairs at once
# ---------------------------------------------------------------------------------------------


def _adjust(p_values, kind: str) -> list[float | None]:
    values = [None if p is None else float(p) for p in p_values]
    known = [i for i, p in enumerate(values) if p is not None]
    m = len(known)
    out: list[float | None] = [None] * len(values)
    if m == 0:
        return out
    p = np.array([values[i] for i in known])
    if np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise ValueError("p-values must be in [0, 1]")
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    rank = np.arange(1, m + 1)
    if kind == "holm":
        adjusted = np.maximum.accumulate(np.minimum(1.0, (m - rank + 1) * ranked))
    else:
        adjusted = np.minimum.accumulate(np.minimum(1.0, m * ranked / rank)[::-1])[::-1]
    for position, value in zip(order, adjusted, strict=True):
        out[known[position]] = float(value)
    return out


def holm_adjust(p_values) -> list[float | None]:
    """Holm (1979) step-down adjusted p-values, controlling the family-wise error rate.

    Sorted ascending p_(1) <= ... <= p_(m): q_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)).
    None entries (pairs without decisive votes) stay None and are not in the family.
    Equals statsmodels' multipletests(method="holm").
    """
    return _adjust(p_values, "holm")


def bh_adjust(p_values) -> list[float | None]:
    """Benjamini-Hochberg (1995) adjusted p-values, controlling the false discovery rate (the
    lenient option): q_(i) = min_{j >= i} min(1, m p_(j) / j). None entries stay None.
    Equals statsmodels' multipletests(method="fdr_bh").
    """
    return _adjust(p_values, "bh")


def pair_alpha(alpha: float, pairs: int) -> float:
    """The level each pair's sequence runs at in a campaign of `pairs` pairs: alpha / pairs
    (Bonferroni). By the union bound every pair's sequence then covers its true share at
    every vote at once with probability >= 1 - alpha, so the chance that any decision of the
    campaign is wrong is at most alpha, whenever each pair stopped."""
    return alpha / max(1, pairs)


# ---------------------------------------------------------------------------------------------
# Power for the smallest difference that matters, with the exact test
# ---------------------------------------------------------------------------------------------


def _log_factorials(n: int) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))])


def sign_test_power(n: int, share: float, *, alpha: float = 0.05) -> float:
    """Exact power of the two-sided sign test with n decisive votes when the true decisive
    share is `share`: the Binomial(n, share) probability of every k whose exact two-sided
    p-value at 0.5 is at most alpha (Hoenig and Heisey 2001 on why `share` must not be the
    observed one). 0 when n < 6 at alpha 0.05: 5 of 5 gives p = 0.0625."""
    if n <= 0:
        return 0.0
    lf = _log_factorials(n)
    k = np.arange(n + 1)
    log_comb = lf[n] - lf[k] - lf[n - k]
    null_pmf = np.exp(log_comb - n * math.log(2))
    # Two-sided p of k under 0.5 (symmetric): min(1, 2 P(X <= min(k, n - k))).
    tail = np.cumsum(null_pmf)
    p_of_k = np.minimum(1.0, 2 * tail[np.minimum(k, n - k)])
    reject = p_of_k <= alpha * (1 + 1e-12)
    with np.errstate(divide="ignore"):
        log_pmf = log_comb + k * math.log(share) + (n - k) * math.log1p(-share)
    return float(np.exp(log_pmf[reject]).sum())


def decisive_votes_for_power(
    share: float = 0.55, *, alpha: float = 0.05, power: float = 0.80, max_n: int = 200_000
) -> int | None:
    """The smallest number of decisive votes at which the exact sign test reaches `power`
    against a true share `share` (the smallest difference that matters to the lead, fixed
    before the votes; never the observed share). None if not reached by max_n.

    Exact power is not monotone in n (the test's discreteness makes it saw-toothed), so this is
    the first n that reaches it, found by a normal-approximation start and a scan around it.
    """
    if not 0 < share < 1 or share == 0.5:
        raise ValueError("share must be in (0, 1) and not 0.5")
    z_a, z_b = _z(1 - alpha / 2), _z(power)
    guess = ((z_a * 0.5 + z_b * math.sqrt(share * (1 - share))) / abs(share - 0.5)) ** 2
    start = max(1, int(guess * 0.8) - 20)
    # Below `start` the approximation is far from reaching the target; confirm with a scan
    # down first when the guess is small (the exact test's small-n cases).
    if guess < 200:
        start = 1
    for n in range(start, max_n + 1):
        if sign_test_power(n, share, alpha=alpha) >= power:
            return n
    return None


def _z(q: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(q)
