"""arena/style.py: style features, the Bradley-Terry fit with style covariates, prompt-resampled
intervals and "not estimable" models, against scipy, hand-worked cases and simulations."""

import math

import numpy as np
import pytest
from scipy import optimize
from scipy.special import expit

from arena import stats, style

SCALE = 400 / math.log(10)


# ---------------------------------------------------------------------------------------------
# Features


def test_style_counts_follow_fastchats_patterns_and_skip_code_blocks():
    text = (
        "# Title\n"
        "Some **bold** and __also bold__ text, not ** this.\n"
        "## Section\n"
        "1. first\n"
        "2. second\n"
        "  - nested\n"
        "* star item\n"
        "+ plus item\n"
        "#not a header\n"
        "```\n# inside code\n- inside code\n**inside**\n```\n"
    )
    length, headers, lists, bold = style.style_counts(text)
    assert length == len(text)  # length counts the whole answer, code included
    assert headers == 2
    assert lists == 5
    assert bold == 2
    assert style.style_counts("") == (0, 0, 0, 0)
    assert style.style_counts(None) == (0, 0, 0, 0)


def test_style_covariates_are_normalised_differences_scaled_by_their_sd_and_not_centred():
    a = np.array([[300, 2, 0, 0], [100, 0, 0, 0], [200, 1, 0, 0]])
    b = np.array([[100, 0, 0, 0], [100, 0, 0, 0], [100, 3, 0, 0]])
    votes = np.array([2, 1, 1])
    z, sd = style.style_covariates(a, b, votes)
    ratio = np.array([200 / 401, 0.0, 100 / 301])
    weighted = np.repeat(ratio, votes)  # the sd is over votes, as Arena's is over battles
    assert sd[0] == pytest.approx(np.std(weighted))
    np.testing.assert_allclose(z[:, 0], ratio / np.std(weighted))
    # not centred: a comparison with equal lengths stays exactly 0
    assert z[1, 0] == 0.0
    headers = np.array([2 / 3, 0.0, -2 / 5])
    np.testing.assert_allclose(z[:, 1], headers / np.std(np.repeat(headers, votes)))
    # features nobody uses do not vary: zero column, sd 0
    assert sd[2] == sd[3] == 0.0 and not z[:, 2:].any()


# ---------------------------------------------------------------------------------------------
# Synthetic campaign: reviewers prefer the longer answer, model identity does not matter


def fit_rows(rows, n_models, **kw):
    """style.cluster_bt on vote rows (prompt, first, second, a_wins, b_wins, ties)."""
    rows = np.array(rows)
    return style.cluster_bt(
        n_models=n_models,
        prompt=rows[:, 0],
        first=rows[:, 1],
        second=rows[:, 2],
        a_wins=rows[:, 3],
        b_wins=rows[:, 4],
        ties=rows[:, 5],
        **kw,
    )


def length_only_votes(seed=3, prompts=300, beta=0.8, k=3):
    """Three models whose answers differ in length on average (Long > Mid > Short, overlapping);
    every vote follows P(A wins) = sigmoid(beta * z_length) only."""
    rng = np.random.default_rng(seed)
    ranges = {0: (600, 1400), 1: (400, 1000), 2: (200, 800)}
    lengths = np.array([[rng.integers(*ranges[m]) for m in range(3)] for _ in range(prompts)])
    pairs = [(0, 1), (0, 2), (1, 2)]
    prompt, first, second = (
        np.array(x) for x in zip(*[(p, i, j) for p in range(prompts) for i, j in pairs], strict=True)
    )
    a = np.zeros((len(first), 4))
    b = np.zeros((len(first), 4))
    a[:, 0], b[:, 0] = lengths[prompt, first], lengths[prompt, second]
    z, sd = style.style_covariates(a, b, np.full(len(first), k))
    a_wins = rng.binomial(k, expit(beta * z[:, 0]))
    return dict(prompt=prompt, first=first, second=second, a_wins=a_wins, b_wins=k - a_wins, ties=0 * a_wins), z


def test_length_only_preference_separates_raw_ratings_but_not_style_controlled_ones():
    data, z = length_only_votes()
    raw = style.cluster_bt(n_models=3, rounds=400, **data)
    ctl = style.cluster_bt(n_models=3, rounds=400, covariates=z, **data)
    # raw: Long is clearly above Short (intervals apart), by well over 100 points
    assert raw.ratings[0] - raw.ratings[2] > 100
    assert raw.ci_low[0] > raw.ci_high[2]
    # style-controlled: every interval holds the truth (1000) and, here, every other rating
    assert np.all((ctl.ci_low <= 1000) & (1000 <= ctl.ci_high))
    for i in range(3):
        for j in range(3):
            assert ctl.ci_low[i] <= ctl.ratings[j] <= ctl.ci_high[i], (i, j, ctl.ratings, ctl.ci_low, ctl.ci_high)
    assert np.abs(ctl.ratings - 1000).max() < 25
    # the length coefficient is recovered (true 0.8 per SD), the unused features are not estimable
    assert ctl.coef_low[0] <= 0.8 <= ctl.coef_high[0]
    assert ctl.coefficients[0] == pytest.approx(0.8, abs=0.15)
    assert np.isnan(ctl.coefficients[1:]).all()


def scipy_fit(data, z, n_models):
    """Independent fit: the same design matrix (+1 A, -1 B, covariates), the plain weighted
    logistic likelihood (ties half a win), scipy's BFGS; ratings mean-centred at 1000."""
    first, second = data["first"], data["second"]
    x = np.zeros((len(first), n_models + z.shape[1]))
    x[np.arange(len(first)), first] = 1.0
    x[np.arange(len(first)), second] = -1.0
    x[:, n_models:] = z
    wins = data["a_wins"] + 0.5 * data["ties"]
    losses = data["b_wins"] + 0.5 * data["ties"]

    def nll(beta):
        d = x @ beta
        return np.sum(wins * np.logaddexp(0, -d) + losses * np.logaddexp(0, d))

    def grad(beta):
        d = x @ beta
        return x.T @ (-(wins * expit(-d)) + losses * expit(d))

    beta = optimize.minimize(nll, np.zeros(x.shape[1]), jac=grad, method="BFGS", options={"gtol": 1e-9}).x
    ratings = SCALE * beta[:n_models]
    return ratings - ratings.mean() + 1000, beta[n_models:]


def test_style_controlled_fit_matches_an_independent_scipy_fit_within_one_rating_point():
    data, z = length_only_votes(seed=11)
    # give the models real differences too, and a second covariate, so both parts matter
    rng = np.random.default_rng(5)
    z = np.column_stack([z[:, 0], rng.normal(size=len(z))])
    strength = np.array([0.3, 0.0, -0.4])
    p = expit(strength[data["first"]] - strength[data["second"]] + 0.8 * z[:, 0] - 0.3 * z[:, 1])
    data["a_wins"] = rng.binomial(3, p)
    data["ties"] = rng.binomial(1, 0.3, size=len(p))
    data["b_wins"] = 3 - data["a_wins"]
    ours = style.cluster_bt(n_models=3, rounds=0, covariates=z, **data)
    ref_ratings, ref_beta = scipy_fit(data, z, 3)
    np.testing.assert_allclose(ours.ratings, ref_ratings, atol=1.0)
    np.testing.assert_allclose(ours.coefficients, ref_beta, atol=1e-3)
    # and without covariates, the plain Bradley-Terry fit of stats.py
    plain = style.cluster_bt(n_models=3, rounds=0, **data)
    rows = np.column_stack([data["first"], data["second"], data["a_wins"], data["b_wins"], data["ties"]])
    np.testing.assert_allclose(plain.ratings, stats.bradley_terry_ratings(n_models=3, pair_outcomes=rows), atol=1e-4)


# ---------------------------------------------------------------------------------------------
# Prompt-resampled intervals


def hand_bootstrap(data, z, n_models, rounds, seed):
    """Resample prompts by hand: each round repeats every comparison of a drawn prompt as often
    as the prompt is drawn (the draws of style.prompt_resamples), fits with scipy, and takes
    the 2.5% and 97.5% quantiles."""
    prompts, inverse = np.unique(data["prompt"], return_inverse=True)
    draws = np.concatenate(list(style.prompt_resamples(len(prompts), rounds, seed)))
    boot, coefs = [], []
    for multiplicity in draws:
        times = multiplicity[inverse]
        resampled = {key: np.repeat(value, times) for key, value in data.items()}
        r, c = scipy_fit(resampled, np.repeat(z, times, axis=0), n_models)
        boot.append(r)
        coefs.append(c)
    return np.quantile(boot, [0.025, 0.975], axis=0), np.quantile(coefs, [0.025, 0.975], axis=0)


def test_prompt_resampled_intervals_equal_resampling_prompts_by_hand():
    data, z = length_only_votes(seed=2, prompts=60)
    z = z[:, :1]
    (low, high), (c_low, c_high) = hand_bootstrap(data, z, 3, rounds=150, seed=9)
    ours = style.cluster_bt(n_models=3, rounds=150, seed=9, covariates=z, **data)
    assert ours.method == "exact refits"
    np.testing.assert_allclose(ours.ci_low, low, atol=0.5)
    np.testing.assert_allclose(ours.ci_high, high, atol=0.5)
    np.testing.assert_allclose(ours.coef_low, c_low, atol=2e-3)
    np.testing.assert_allclose(ours.coef_high, c_high, atol=2e-3)
    (low, high), _ = hand_bootstrap(data, np.zeros((len(z), 0)), 3, rounds=150, seed=9)
    plain = style.cluster_bt(n_models=3, rounds=150, seed=9, **data)
    np.testing.assert_allclose(plain.ci_low, low, atol=0.5)
    np.testing.assert_allclose(plain.ci_high, high, atol=0.5)


def test_one_step_rounds_agree_with_exact_refits():
    data, z = length_only_votes(seed=4, prompts=200)
    exact = style.cluster_bt(n_models=3, rounds=300, seed=1, covariates=z, **data)
    one_step = style.cluster_bt(n_models=3, rounds=300, seed=1, covariates=z, exact_budget=0, **data)
    assert (exact.method, one_step.method) == ("exact refits", "one-step Newton")
    np.testing.assert_array_equal(exact.ratings, one_step.ratings)
    width = exact.ci_high - exact.ci_low
    assert np.all(np.abs(one_step.ci_low - exact.ci_low) < 0.05 * width)
    assert np.all(np.abs(one_step.ci_high - exact.ci_high) < 0.05 * width)
    assert abs(one_step.coef_low[0] - exact.coef_low[0]) < 0.05 * (exact.coef_high[0] - exact.coef_low[0])


def test_prompt_resampling_widens_intervals_when_votes_on_a_prompt_agree():
    """Votes on one prompt share the prompt's answers; when reviewers agree on a prompt, the
    k votes are one observation, and resampling votes (stats.bradley_terry_bootstrap, the old
    leaderboard) understates the uncertainty by about sqrt(k); resampling prompts does not."""
    rng = np.random.default_rng(8)
    prompts, k = 150, 5
    pairs = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]
    rows = []
    for p in range(prompts):
        for i, j in pairs:
            winner_a = rng.random() < expit(0.2 * (j - i))  # one verdict per prompt, all k agree
            rows.append((p, i, j, k if winner_a else 0, 0 if winner_a else k, 0))
    rows = np.array(rows)
    clustered = fit_rows(rows, 4, rounds=600)
    _, low, high = stats.bradley_terry_bootstrap(n_models=4, pair_outcomes=rows[:, 1:], rounds=600)
    ratio = (clustered.ci_high - clustered.ci_low) / (high - low)
    assert np.all((ratio > 1.6) & (ratio < 2.9)), ratio  # sqrt(5) = 2.24
    # with one vote per prompt there is nothing to cluster: the two agree
    single = rows.copy()
    single[:, 3:5] //= k
    one = fit_rows(single, 4, rounds=600)
    _, low1, high1 = stats.bradley_terry_bootstrap(n_models=4, pair_outcomes=single[:, 1:], rounds=600)
    ratio1 = (one.ci_high - one.ci_low) / (high1 - low1)
    assert np.all((ratio1 > 0.8) & (ratio1 < 1.25)), ratio1


def test_an_anchor_is_exactly_1000_in_every_round():
    data, z = length_only_votes(seed=6, prompts=80)
    fit = style.cluster_bt(n_models=3, rounds=100, anchor=2, covariates=z, **data)
    assert fit.ratings[2] == fit.ci_low[2] == fit.ci_high[2] == 1000
    np.testing.assert_allclose(fit.boot[:, 2], 1000, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# Not estimable


def four_models(prompts=40, seed=0):
    rng = np.random.default_rng(seed)
    strength = np.array([0.4, 0.1, -0.1, -0.4])
    rows = []
    for p in range(prompts):
        for i in range(4):
            for j in range(i + 1, 4):
                w = rng.binomial(3, expit(strength[i] - strength[j]))
                rows.append((p, i, j, w, 3 - w, 0))
    return rows


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ([(p, 4, i, 0, 3, 0) for p in range(40) for i in range(4)], "never won"),
        ([(p, 4, i, 3, 0, 0) for p in range(40) for i in range(4)], "never lost"),
        ([(0, 4, 1, 1, 0, 0)], "only 1 votes (fewer than 10)"),
        ([], "no votes"),
    ],
)
def test_a_model_without_a_finite_rating_is_not_estimable_and_does_not_move_the_others(extra, reason):
    base = fit_rows(four_models(), 4, rounds=200)
    fit = fit_rows(four_models() + extra, 5, rounds=200)
    assert not fit.estimable[4] and fit.reasons[4] == reason
    assert math.isnan(fit.ratings[4]) and math.isnan(fit.ci_low[4]) and math.isnan(fit.ci_high[4])
    # fitted without it: the others are exactly where they are without its votes
    np.testing.assert_allclose(fit.ratings[:4], base.ratings, atol=1e-6)
    np.testing.assert_allclose(fit.ci_low[:4], base.ci_low, atol=1e-6)
    assert fit.estimable[:4].all()


def test_the_prior_driven_rating_would_have_moved_the_others_by_hundreds_of_points():
    """What the old leaderboard did with a model that never wins (mean-centred, prior-kept)."""
    rows = four_models() + [(p, 4, i, 0, 3, 0) for p in range(40) for i in range(4)]
    old = stats.bradley_terry_ratings(n_models=5, pair_outcomes=np.array(rows)[:, 1:])
    new = fit_rows(rows, 5, rounds=0)
    assert old[4] < -1000  # the prior's number, ~3000 points below the others
    assert np.min(old[:4] - new.ratings[:4]) > 400  # every other rating was pushed up by hundreds


def test_a_group_that_only_beats_the_rest_is_cut_off_at_the_largest_connected_set():
    rows = four_models()
    # models 4 and 5 play each other evenly and always beat models 0-3
    rows += [(p, 4, 5, 2, 1, 0) for p in range(10)] + [(p, 4 + p % 2, p % 4, 3, 0, 0) for p in range(10)]
    fit = fit_rows(rows, 6, rounds=50)
    assert list(fit.estimable) == [True, True, True, True, False, False]
    assert fit.reasons[4:] == ["never lost", "never lost"]


def test_a_bound_is_open_when_the_resamples_often_lose_every_vote():
    rows = four_models()
    # model 4: one win in 24 votes, on a single prompt: most resamples have it never winning
    rows += [(p, 4, p % 4, 1 if p == 0 else 0, 3 if p else 2, 0) for p in range(8)]
    fit = fit_rows(rows, 5, rounds=300)
    assert fit.estimable[4]
    assert fit.ratings[4] < np.nanmin(fit.ratings[:4])
    assert math.isnan(fit.ci_low[4]) and not math.isnan(fit.ci_high[4])
    # the others' intervals are not dragged by the rounds that could not place model 4
    base = fit_rows(four_models(), 4, rounds=300)
    assert np.all(np.abs((fit.ci_high[:4] - fit.ci_low[:4]) - (base.ci_high - base.ci_low)) < 5)
    # and their gaps are those of the fit without model 4 (the mean moves, the gaps do not)
    np.testing.assert_allclose(np.diff(fit.ratings[:4]), np.diff(base.ratings), atol=2.0)


def test_edges_no_votes_all_ties_and_a_covariate_fixed_by_the_pair():
    empty = fit_rows(np.zeros((0, 6), dtype=int), 3, rounds=10)
    assert not empty.estimable.any() and np.isnan(empty.ratings).all()
    ties = [(p, i, j, 0, 0, 2) for p in range(10) for i, j in [(0, 1), (0, 2), (1, 2)]]
    fit = fit_rows(ties, 3, rounds=50)
    np.testing.assert_allclose(fit.ratings, 1000, atol=1e-6)
    rows = np.array(four_models())
    # a covariate equal to "A is model 0" cannot be told apart from model 0's strength
    collinear = (rows[:, 1] == 0).astype(float)[:, None]
    fit = fit_rows(rows, 4, rounds=20, covariates=collinear)
    assert np.isnan(fit.coefficients[0])
    np.testing.assert_allclose(fit.ratings, fit_rows(rows, 4, rounds=0).ratings, atol=1e-6)


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        fit_rows([(0, 1, 1, 1, 0, 0)], 3)
    with pytest.raises(ValueError):
        fit_rows([(0, 0, 3, 1, 0, 0)], 3)
    with pytest.raises(ValueError):
        fit_rows([(0, 0, 1, -1, 0, 0)], 3)
    with pytest.raises(ValueError):
        fit_rows([(0, 0, 1, 1, 0, 0)], 3, confidence=1.5)


def test_style_controlled_intervals_cover_the_truth_about_95_percent_of_the_time():
    """Calibration over 40 simulated campaigns (length-only preference): each model's interval
    holds 1000 and the length interval holds the true coefficient in roughly 95% of them, and
    neither the ratings nor the coefficient are biased."""
    covered, beta_covered, departures, betas = 0, 0, [], []
    for seed in range(40):
        data, z = length_only_votes(seed=100 + seed, prompts=70)
        fit = style.cluster_bt(n_models=3, rounds=200, seed=seed, covariates=z[:, :1], **data)
        covered += int(np.sum((fit.ci_low <= 1000) & (1000 <= fit.ci_high)))
        beta_covered += int(fit.coef_low[0] <= 0.8 <= fit.coef_high[0])
        departures.append(fit.ratings - 1000)
        betas.append(fit.coefficients[0])
    assert covered / 120 > 0.85  # 0.89 measured: the percentile bootstrap runs a little narrow at 70 prompts
    assert beta_covered / 40 > 0.85
    assert np.all(np.abs(np.mean(departures, axis=0)) < 10)
    assert abs(np.mean(betas) - 0.8) < 0.05
