"""Style control and prompt-resampled Bradley-Terry ratings: pure functions, no Django.

Bradley-Terry with covariates (Chatbot Arena's style control; Li, Angelopoulos, Chiang, "Does
style matter? Disentangling style and substance in Chatbot Arena", LMSYS blog, 2024-08-29):

    P(A beats B) = sigmoid(theta_A - theta_B + beta . z_AB),  ties as half a win,

a logistic regression whose design row holds +1 for A, -1 for B and the comparison's style
differences z. The features (FastChat `add_markdown_info.count_markdown_elements` and the
style-control notebook's `construct_style_matrices`): answer length, markdown headers, list
items and bold spans, each normalised as (a - b) / (a + b + 1) and divided by its standard
deviation over the votes. Arena also subtracts each feature's mean; that is only harmless when
the side called A is random per battle. Here A is always the first-listed contestant, so
centring would hand the average style advantage of A back to A's rating (METHODS.md,
"Style control": 255 vs 198 rating points in a length-only simulation). The features are
therefore scaled but not centred.

Length is counted in characters of the response text, not in the API's output tokens: every
model here has its own tokenizer, so token counts are not comparable across contestants.
Markdown is counted after removing fenced code blocks, as FastChat does.

Intervals resample prompts, not votes (a cluster bootstrap: Davison & Hinkley 1997, s. 3.8;
Field & Welsh 2007, JRSS-B 69:369): all votes on one prompt, over every pair, move together.
Without covariates each round is an exact refit on the (pair, outcome) counts of the resampled
prompts. With covariates each comparison is its own row; while rows x rounds stays within
EXACT_BUDGET each round is an exact refit too, above it each round is one Newton step from the
full-sample estimate with the resample's gradient and Hessian (the one-step bootstrap of
Davidson & MacKinnon, "Bootstrap testing in nonlinear models", Int. Econ. Rev. 40, 1999;
Andrews, "Higher-order improvements of a computationally attractive k-step bootstrap",
Econometrica 70, 2002), which is first-order equivalent and costs one matrix product.

Not estimable: the maximum-likelihood ratings exist exactly when the "scored against" graph
(i -> j when i won or tied against j at least once) is strongly connected (Zermelo 1929;
Ford 1957; Hunter 2004, Ann. Statist. 32:384, Assumption 1). A model that never wins (every
vote a loss) or never loses breaks that; its rating would be whatever the prior says. Such
models, and those with fewer than MIN_VOTES votes, are left out of the fit (so they cannot
move the others) and reported apart; the fit keeps the largest strongly connected set.
A bound is also not estimable when, in more than alpha/2 of the resamples, the model never
won (lower bound) or never lost (upper bound): that quantile would be the prior's number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import stats
from .stats import BT_PRIOR, ELO_CENTER, ELO_SCALE
from .style_features import STYLE_FEATURES, style_counts  # noqa: F401 (arena.style's API)

MIN_VOTES = 10
# Largest rows x rounds for exact refits with covariates (about 1 s); above it, one-step rounds.
EXACT_BUDGET = 1_000_000
_CHUNK = 3_000_000  # bound on rounds x rows x parameters held at once


def style_covariates(a_counts, b_counts, weights) -> tuple[np.ndarray, np.ndarray]:
    """Per-comparison covariates z = ((a - b) / (a + b + 1)) / sd, and the sd of each column.

    `a_counts`, `b_counts`: (n, k) feature counts of each comparison's answers A and B;
    `weights`: votes per comparison (the sd is over votes, as Arena's is over battles). The +1
    is FastChat's `add_one` (no 0/0 when neither answer has the element). Not centred (see the
    module docstring). A column with sd 0 (say no answer has bold text) is left at 0 and its
    sd reported as 0: its coefficient is not estimable.
    """
    a = np.asarray(a_counts, dtype=np.float64)
    b = np.asarray(b_counts, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    ratio = (a - b) / (a + b + 1.0)
    if not len(ratio) or w.sum() <= 0:
        return np.zeros_like(ratio), np.zeros(ratio.shape[1] if ratio.ndim == 2 else 0)
    mean = (w[:, None] * ratio).sum(axis=0) / w.sum()
    sd = np.sqrt((w[:, None] * (ratio - mean) ** 2).sum(axis=0) / w.sum())
    sd = np.where(sd > 1e-12, sd, 0.0)
    z = np.divide(ratio, sd, out=np.zeros_like(ratio), where=sd > 0)
    return z, sd


# ---------------------------------------------------------------------------------------------
# Which models have a rating at all


def estimable_models(
    n_models: int, first, second, a_wins, b_wins, ties, *, min_votes: int = MIN_VOTES
) -> tuple[np.ndarray, list[str | None]]:
    """The models the fit can rate (a boolean mask), and for the others the reason.

    Repeats until stable: drop models with fewer than `min_votes` votes against the kept
    ones, then keep only the largest strongly connected set of the "won or tied against"
    graph (by votes; the MLE exists exactly there, see the module docstring).
    """
    first, second = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    a_wins, b_wins, ties = (np.asarray(x, dtype=np.float64) for x in (a_wins, b_wins, ties))
    keep = np.ones(n_models, dtype=bool)
    reasons: list[str | None] = [None] * n_models
    while True:
        live = keep[first] & keep[second]
        votes = np.bincount(first[live], a_wins[live] + b_wins[live] + ties[live], n_models)
        votes += np.bincount(second[live], a_wins[live] + b_wins[live] + ties[live], n_models)
        few = keep & (votes < min_votes)
        for i in np.flatnonzero(few):
            reasons[i] = "no votes" if votes[i] == 0 else f"only {int(votes[i])} votes (fewer than {min_votes})"
        keep &= ~few
        live = keep[first] & keep[second]
        beat = np.zeros((n_models, n_models), dtype=bool)  # beat[i, j]: i won or tied against j
        f, s = first[live], second[live]
        np.logical_or.at(beat, (f, s), (a_wins[live] + ties[live]) > 0)
        np.logical_or.at(beat, (s, f), (b_wins[live] + ties[live]) > 0)
        reach = beat | np.eye(n_models, dtype=bool)
        for _ in range(max(1, math.ceil(math.log2(max(n_models, 2))))):
            reach = reach | ((reach.astype(np.int64) @ reach.astype(np.int64)) > 0)
        strong = reach & reach.T
        groups = {tuple(np.flatnonzero(strong[i] & keep)) for i in np.flatnonzero(keep)}
        if not groups:
            return keep, reasons
        best = max(groups, key=lambda g: (votes[list(g)].sum(), -g[0]))
        dropped = keep.copy()
        dropped[list(best)] = False
        if not dropped.any():
            return keep, reasons
        for i in np.flatnonzero(dropped):
            won = beat[i, best].any()
            lost = beat[best, i].any()
            reasons[i] = "never won" if not won else "never lost" if not lost else "one-sided results"
        keep &= ~dropped


# ---------------------------------------------------------------------------------------------
# The fit


def _newton(design: np.ndarray, score: np.ndarray, weights: np.ndarray, theta: np.ndarray, n_models: int):
    """Newton's method with Armijo backtracking, batched over rounds (rows of `weights`).

    Minimises sum_k w_k [-y_k log s(d_k) - (1 - y_k) log s(-d_k)] + BT_PRIOR/2 |theta|^2
    + (sum of the model parameters)^2 / 2, d = design @ theta. The likelihood ignores a common
    shift of the model parameters (each row's model entries sum to 0), so at the optimum the
    tiny prior makes their sum exactly 0 and the last term leaves the optimum unchanged while
    conditioning that direction (as in stats._bt_fit).
    """
    theta = theta.copy()
    q = theta.shape[1]
    mask = np.zeros(q)
    mask[:n_models] = 1.0
    regulariser = BT_PRIOR * np.eye(q) + np.outer(mask, mask)

    def objective(th, w):
        d = th @ design.T
        log1p = np.log1p(np.exp(-np.abs(d)))  # softplus(+-d) = max(+-d, 0) + log1p(exp(-|d|))
        loss = score * (np.maximum(-d, 0.0) + log1p) + (1.0 - score) * (np.maximum(d, 0.0) + log1p)
        return (w * loss).sum(axis=1) + 0.5 * BT_PRIOR * (th * th).sum(axis=1) + 0.5 * (th @ mask) ** 2

    outer = None
    if len(theta) > 1:
        outer = (design[:, :, None] * design[:, None, :]).reshape(len(design), q * q)
    active = np.arange(len(theta))
    previous = np.full(len(theta), np.inf)
    for _ in range(500):
        th, w = theta[active], weights[active]
        win, loss = _sigmoids(th @ design.T)
        grad = -(w * (score * loss - (1.0 - score) * win)) @ design
        grad += BT_PRIOR * th + (th @ mask)[:, None] * mask
        curvature = w * win * loss
        if outer is None:  # one round (the point fit): X^T diag(c) X directly
            hessian = (design.T @ (curvature[0][:, None] * design))[None] + regulariser
        else:  # many rounds over few rows: one product with the rows' outer products
            hessian = (curvature @ outer).reshape(-1, q, q) + regulariser
        step = -np.linalg.solve(hessian, grad[..., None])[..., 0]
        decrement = -(grad * step).sum(axis=1)
        t, _ = stats.newton_step_sizes(objective, th, w, step, decrement, objective(th, w))
        theta[active] = th + t[:, None] * step
        active = stats.newton_unconverged(active, t, step, previous)
        if active.size == 0:
            return theta
    raise RuntimeError("Bradley-Terry fit did not converge")


def _sigmoids(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s(d) and s(-d), each to full relative precision (neither computed as 1 - the other,
    so a lopsided pair keeps the precision of its gradient), from one exp."""
    e = np.exp(-np.abs(d))
    big, small = 1.0 / (1.0 + e), e / (1.0 + e)
    positive = d >= 0
    return np.where(positive, big, small), np.where(positive, small, big)


def _fit(design, score, weights, theta, n_models):
    """`_newton` over chunks of rounds, so rounds x rows x parameters stays bounded."""
    rows, q = design.shape
    chunk = max(1, _CHUNK // max(1, rows * q * q))
    out = np.empty_like(theta)
    for start in range(0, len(theta), chunk):
        part = slice(start, start + chunk)
        out[part] = _newton(design, score, weights[part], theta[part], n_models)
    return out


def prompt_resamples(n_prompts: int, rounds: int, seed: int, chunk: int = 200):
    """Yield (size, n_prompts) arrays: how often each prompt is drawn in each round, drawing
    n_prompts prompts with replacement (rounds in chunks, the same stream as one draw)."""
    rng = np.random.default_rng(seed)
    for start in range(0, rounds, chunk):
        size = min(chunk, rounds - start)
        picks = rng.integers(0, n_prompts, size=(size, n_prompts))
        offsets = (np.arange(size) * n_prompts)[:, None]
        yield np.bincount((picks + offsets).ravel(), minlength=size * n_prompts).reshape(size, n_prompts)


@dataclass
class RatingFit:
    """Ratings (NaN where not estimable), their percentile intervals (NaN where the bound is
    not estimable), the style coefficients with intervals (NaN where the feature does not
    vary or cannot be told apart from model identity), and the bootstrap ratings."""

    ratings: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    estimable: np.ndarray
    reasons: list[str | None]
    coefficients: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef_low: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef_high: np.ndarray = field(default_factory=lambda: np.zeros(0))
    boot: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    method: str = "exact"


def _centre(ratings: np.ndarray, point: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Shift each round by the weighted mean of its reference models' departures from the
    point estimate (ratings are only defined up to a common shift; a round's shift is set by
    the models it can place, weighted by their votes so a barely observed one adds no noise)."""
    total = np.maximum(weights.sum(axis=1), 1e-300)
    shift = (weights * np.where(weights > 0, ratings - point[None, :], 0.0)).sum(axis=1) / total
    return ratings - shift[:, None]


def cluster_bt(
    *,
    n_models: int,
    prompt,
    first,
    second,
    a_wins,
    b_wins,
    ties,
    covariates=None,
    rounds: int = 1000,
    seed: int = 0,
    anchor: int | None = None,
    confidence: float = 0.95,
    min_votes: int = MIN_VOTES,
    exact_budget: int = EXACT_BUDGET,
) -> RatingFit:
    """Bradley-Terry ratings (Elo scale: 400 points = 10:1 odds, ties half a win), optionally
    with style covariates, and prompt-resampled percentile intervals.

    Inputs are per comparison (one prompt of one pair): its prompt index, the two model
    indices (A = first), A's wins, B's wins and undecided votes (ties and both bad), and
    optionally its covariates (n, k). Centring: the mean of the rated models is 1000, or
    model `anchor` is exactly 1000 when it is rated. Models that are not estimable get NaN.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    prompt = np.asarray(prompt, dtype=np.int64)
    first, second = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    a_wins, b_wins, ties = (np.asarray(x, dtype=np.float64) for x in (a_wins, b_wins, ties))
    if len(first) and (np.any(first == second) or max(first.max(), second.max()) >= n_models):
        raise ValueError("model indices must differ and be < n_models")
    if np.any(a_wins < 0) or np.any(b_wins < 0) or np.any(ties < 0):
        raise ValueError("counts must be non-negative")
    k = 0 if covariates is None else np.asarray(covariates).reshape(len(first), -1).shape[1]
    z = np.zeros((len(first), k)) if covariates is None else np.asarray(covariates, dtype=np.float64).reshape(-1, k)
    keep, reasons = estimable_models(n_models, first, second, a_wins, b_wins, ties, min_votes=min_votes)
    nan = np.full(n_models, np.nan)
    rated = np.flatnonzero(keep)
    m = len(rated)
    if m < 2:  # nothing to compare: no rating, and no model is "rated" alone
        keep = np.zeros(n_models, dtype=bool)
        reasons = [r or "no other rated model to compare with" for r in reasons]
        return RatingFit(nan, nan.copy(), nan.copy(), keep, reasons, *(np.full(k, np.nan) for _ in range(3)))
    slot = np.full(n_models, -1)
    slot[rated] = np.arange(m)
    votes = a_wins + b_wins + ties
    use = keep[first] & keep[second] & (votes > 0)
    f, s, p, zc = slot[first[use]], slot[second[use]], prompt[use], z[use]
    n_c, y_c = votes[use], (a_wins[use] + 0.5 * ties[use]) / votes[use]
    full = np.zeros((len(f), m + k))
    full[np.arange(len(f)), f] = 1.0
    full[np.arange(len(f)), s] = -1.0
    full[:, m:] = zc
    columns = _separable_covariates(full, m, n_c)
    design = full[:, list(range(m)) + [m + j for j in columns]] if len(columns) < k else full
    q = design.shape[1]
    prompts, p_index = np.unique(p, return_inverse=True)
    n_prompts = len(prompts)
    exact = not columns or len(f) * rounds <= exact_budget
    if not columns:
        # (pair, outcome) rows: each comparison's votes split into A wins, B wins, undecided;
        # the fit and every round only see these few rows (stats._bt_fit, as the vote
        # bootstrap did), the round's counts being the resampled prompts' sums.
        keys = np.tile((f * m + s) * 3, 3) + np.repeat([0, 1, 2], len(f))
        unique, inverse = np.unique(keys, return_inverse=True)
        pair, outcome = unique // 3, unique % 3
        rows_design = np.zeros((len(unique), m))
        rows_design[np.arange(len(unique)), pair // m] = 1.0
        rows_design[np.arange(len(unique)), pair % m] = -1.0
        rows_score = np.array([1.0, 0.0, 0.5])[outcome]
        gather = np.bincount(
            np.tile(p_index, 3) * len(unique) + inverse,
            np.concatenate([a_wins[use], b_wins[use], ties[use]]),
            n_prompts * len(unique),
        ).reshape(n_prompts, len(unique))
        solve = stats._bt_fit  # same objective: no covariate, so its sum penalty is exact
        theta = solve(rows_design, rows_score, gather.sum(axis=0)[None, :], np.zeros((1, m)))[0]
    else:
        theta = _fit(design, y_c, n_c[None, :], np.zeros((1, q)), m)[0]
        if exact:
            rows_design, rows_score = design, y_c
            gather = np.zeros((n_prompts, len(f)))
            gather[p_index, np.arange(len(f))] = n_c

            def solve(design_, score_, weights_, theta_):
                return _fit(design_, score_, weights_, theta_, m)
        else:
            grad_p, hess_p = _per_prompt_derivatives(design, y_c, n_c, theta, p_index, n_prompts)
            upper = np.triu_indices(q)  # the Hessian is symmetric: sum only its upper triangle
            hess_p = hess_p.reshape(n_prompts, q, q)[:, upper[0], upper[1]]
    point = _elo(theta[None, :m], anchor_slot(anchor, slot))[0]

    # Each prompt's votes and score per model: a round's totals tell which models it can place.
    cells = np.concatenate([p_index * m + f, p_index * m + s])
    per_model_votes = np.bincount(cells, np.tile(n_c, 2), n_prompts * m).reshape(n_prompts, m)
    per_model_score = np.bincount(cells, np.concatenate([n_c * y_c, n_c * (1 - y_c)]), n_prompts * m)
    per_model_score = per_model_score.reshape(n_prompts, m)
    mask = np.zeros(q)
    mask[:m] = 1.0
    prior = BT_PRIOR * np.eye(q) + np.outer(mask, mask)
    boot_theta, boot_votes, boot_score = [], [], []
    for draws in prompt_resamples(n_prompts, rounds, seed):
        draws = draws.astype(np.float64)
        boot_votes.append(draws @ per_model_votes)
        boot_score.append(draws @ per_model_score)
        if exact:
            weights = draws @ gather
            boot_theta.append(solve(rows_design, rows_score, weights, np.repeat(theta[None], len(draws), 0)))
        else:
            grad = draws @ grad_p + BT_PRIOR * theta + theta[:m].sum() * mask
            hess = np.empty((len(draws), q, q))
            hess[:, upper[0], upper[1]] = draws @ hess_p
            hess[:, upper[1], upper[0]] = hess[:, upper[0], upper[1]]
            hess += prior
            boot_theta.append(theta[None] - np.linalg.solve(hess, grad[..., None])[..., 0])
    boot_theta = np.concatenate(boot_theta) if boot_theta else np.zeros((0, q))
    b_votes = np.concatenate(boot_votes) if boot_votes else np.zeros((0, m))
    b_score = np.concatenate(boot_score) if boot_score else np.zeros((0, m))
    # A round where a model never won (never lost) cannot place it: such a round is centred
    # on the anchor, or on the models it can place (vote-weighted), never on the prior's value.
    never_won = b_score <= 0
    never_lost = b_score >= b_votes
    reference = np.where(never_won | never_lost, 0.0, b_votes)
    a_slot = anchor_slot(anchor, slot)
    if a_slot is not None:
        pinned = np.zeros_like(reference)
        pinned[:, a_slot] = 1.0
        reference = np.where(reference[:, [a_slot]] > 0, pinned, reference)
    boot = _centre(ELO_SCALE * boot_theta[:, :m], point, reference)
    if a_slot is not None:
        # A round pinned on the anchor gives it exactly its point rating: r - (r - point) can be
        # one unit in the last place off, depending on the CPU's vector sums.
        boot[reference[:, a_slot] > 0, a_slot] = point[a_slot]
    alpha = 1.0 - confidence
    ratings, low, high = nan.copy(), nan.copy(), nan.copy()
    ratings[rated] = point
    if len(boot):
        lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
        lo = np.where(never_won.mean(axis=0) > alpha / 2, np.nan, lo)
        hi = np.where(never_lost.mean(axis=0) > alpha / 2, np.nan, hi)
        low[rated], high[rated] = lo, hi
    coefficients, coef_low, coef_high = np.full(k, np.nan), np.full(k, np.nan), np.full(k, np.nan)
    if columns:
        coefficients[columns] = theta[m:]
        if len(boot):
            c_lo, c_hi = np.quantile(boot_theta[:, m:], [alpha / 2, 1 - alpha / 2], axis=0)
            coef_low[columns], coef_high[columns] = c_lo, c_hi
    full_boot = np.full((len(boot), n_models), np.nan)
    full_boot[:, rated] = boot
    return RatingFit(
        ratings=ratings,
        ci_low=low,
        ci_high=high,
        estimable=keep,
        reasons=reasons,
        coefficients=coefficients,
        coef_low=coef_low,
        coef_high=coef_high,
        boot=full_boot,
        method="exact refits" if exact else "one-step Newton",
    )


def _separable_covariates(x: np.ndarray, m: int, votes: np.ndarray) -> list[int]:
    """The covariate columns that vary and are not a combination of the model columns (and
    the covariates kept before them): the rank of the vote-weighted Gram matrix must grow by
    one with each. A covariate fixed by who plays whom cannot be told apart from identity."""
    gram = x.T @ (votes[:, None] * x)

    def rank(cols: list[int]) -> int:
        sub = gram[np.ix_(cols, cols)]
        if not len(cols):
            return 0
        eig = np.linalg.eigvalsh(sub)
        return int((eig > 1e-9 * max(1.0, eig.max())).sum())

    kept = list(range(m))
    base = rank(kept)
    columns: list[int] = []
    for j in range(x.shape[1] - m):
        if gram[m + j, m + j] > 0 and rank(kept + [m + j]) == base + 1:
            kept.append(m + j)
            base += 1
            columns.append(j)
    return columns


def anchor_slot(anchor: int | None, slot: np.ndarray) -> int | None:
    """The anchor's index among the rated models; None (mean centring) when it is not rated."""
    if anchor is None or not 0 <= anchor < len(slot) or slot[anchor] < 0:
        return None
    return int(slot[anchor])


def _elo(theta: np.ndarray, anchor: int | None) -> np.ndarray:
    ratings = ELO_SCALE * theta
    ref = ratings[..., [anchor]] if anchor is not None else ratings.mean(axis=-1, keepdims=True)
    return ratings - ref + ELO_CENTER


def _per_prompt_derivatives(design, score, votes, theta, p_index, n_prompts):
    """Each prompt's likelihood gradient (P, q) and Hessian (P, q*q) at theta.

    A prompt has at most one row per pair, so its rows are laid out in a (P, pairs, q) block
    (zero-padded) and the Hessians are one batched product X_p^T diag(c_p) X_p.
    """
    q = design.shape[1]
    order = np.argsort(p_index, kind="stable")
    design, score, votes, p_index = design[order], score[order], votes[order], p_index[order]
    win, loss = _sigmoids(design @ theta)
    residual = -(votes * (score * loss - (1.0 - score) * win))
    curvature = votes * win * loss
    starts = np.searchsorted(p_index, np.arange(n_prompts))
    slot = np.arange(len(p_index)) - starts[p_index]
    width = int(slot.max()) + 1 if len(slot) else 1
    block = np.zeros((n_prompts, width, q))
    block[p_index, slot] = design
    weighted = np.zeros((n_prompts, width, q))
    weighted[p_index, slot] = curvature[:, None] * design
    hess = np.matmul(np.ascontiguousarray(block.transpose(0, 2, 1)), weighted).reshape(n_prompts, q * q)
    grad = np.zeros((n_prompts, width))
    grad[p_index, slot] = residual
    return np.einsum("pr,prk->pk", grad, block), hess


def preference(ratings_a, ratings_b):
    """P(A beats B) from Elo-scale ratings (ties half), elementwise. A difference too large for a
    float gives 10**x = inf and so exactly 0, the limit: the overflow is expected, not warned of."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + 10.0 ** ((np.asarray(ratings_b) - np.asarray(ratings_a)) / 400.0))
