"""Tests for arena/stats.py: against scipy (an independent implementation) and worked examples."""

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import optimize, special
from scipy import stats as sps

from arena import stats

Z95 = 1.959963984540054

# ---------------------------------------------------------------------------------------------
# Normal quantile and Wilson interval
# ---------------------------------------------------------------------------------------------


def test_normal_quantile_matches_scipy_ndtri_across_the_range():
    for p in [1e-300, 1e-20, 1e-8, 0.001, 0.025, 0.1, 0.3, 0.5, 0.7, 0.975, 0.999, 1 - 1e-12]:
        assert stats.normal_quantile(p) == pytest.approx(special.ndtri(p), rel=1e-12, abs=1e-15)


def test_normal_quantile_rejects_levels_outside_zero_one():
    for p in [0.0, 1.0, -0.1, 1.5]:
        with pytest.raises(ValueError):
            stats.normal_quantile(p)


def test_wilson_interval_matches_scipy_for_many_counts():
    cases = [(k, n) for n in [1, 2, 3, 5, 10, 37, 100, 1000] for k in sorted({0, 1, n // 3, n // 2, n - 1, n})]
    cases += [(3000, 100_000), (97_000, 100_000), (1, 100_000), (500_123, 1_000_000)]
    checked = 0
    for confidence in [0.8, 0.9, 0.95, 0.99]:
        for k, n in cases:
            low, high = stats.wilson_interval(k, n, confidence)
            ref = sps.binomtest(k, n, 0.5).proportion_ci(confidence_level=confidence, method="wilson")
            assert low == pytest.approx(ref.low, rel=1e-9, abs=1e-15), (k, n, confidence)
            assert high == pytest.approx(ref.high, rel=1e-9, abs=1e-15), (k, n, confidence)
            checked += 1
    assert checked == 4 * len(cases)


def test_wilson_interval_written_out_for_47_of_69():
    # p = 47/69, z = 1.95996...: center = (2*47 + z^2) / (2*(69 + z^2)),
    # half-width = z * sqrt(4*69*p*(1-p) + z^2) / (2*(69 + z^2))
    p = 47 / 69
    denom = 2 * (69 + Z95**2)
    center = (2 * 47 + Z95**2) / denom
    half = Z95 * math.sqrt(4 * 69 * p * (1 - p) + Z95**2) / denom
    low, high = stats.wilson_interval(47, 69)
    assert low == pytest.approx(center - half, rel=1e-12)
    assert high == pytest.approx(center + half, rel=1e-12)
    assert (round(low, 4), round(high, 4)) == (0.5642, 0.7791)


def test_wilson_interval_is_exactly_zero_or_one_at_the_extremes():
    assert stats.wilson_interval(0, 12) == (0.0, pytest.approx(Z95**2 / (12 + Z95**2), rel=1e-12))
    assert stats.wilson_interval(12, 12) == (pytest.approx(12 / (12 + Z95**2), rel=1e-12), 1.0)


def test_wilson_interval_bounds_are_exact_for_every_n_when_one_side_never_wins():
    for n in range(1, 400):
        assert stats.wilson_interval(0, n)[0] == 0.0
        assert stats.wilson_interval(n, n)[1] == 1.0


def test_wilson_interval_is_none_without_observations():
    assert stats.wilson_interval(0, 0) == (None, None)


def test_wilson_interval_rejects_impossible_counts():
    with pytest.raises(ValueError):
        stats.wilson_interval(5, 3)
    with pytest.raises(ValueError):
        stats.wilson_interval(-1, 3)


# ---------------------------------------------------------------------------------------------
# Sign test
# ---------------------------------------------------------------------------------------------


def test_sign_test_matches_scipy_binomtest_on_a_grid():
    cases = [
        (a, n - a)
        for n in [1, 2, 3, 7, 20, 69, 100, 500, 1999, 2000, 2001, 5000]
        for a in range(0, n + 1, max(1, n // 13))
    ]
    cases += [(48_800, 51_200), (51_000, 49_000), (49_999, 50_001), (47_000, 53_000)]
    for a, b in cases:
        ref = sps.binomtest(a, a + b, 0.5).pvalue
        assert stats.sign_test_p_value(a, b) == pytest.approx(ref, rel=1e-9, abs=1e-300), (a, b)
    assert len(cases) == 141


def test_sign_test_is_exact_and_stable_for_a_million_votes():
    for a in [400_000, 497_000, 498_500, 499_000, 499_500, 499_999, 500_000, 500_001, 502_000]:
        b = 1_000_000 - a
        ref = sps.binomtest(a, 1_000_000, 0.5).pvalue
        assert stats.sign_test_p_value(a, b) == pytest.approx(ref, rel=1e-9, abs=1e-300), a
    assert stats.sign_test_p_value(500_000, 500_000) == 1.0
    assert stats.sign_test_p_value(400_000, 600_000) == 0.0  # ~1e-8700 underflows, as in scipy


def test_sign_test_saddlepoint_path_agrees_with_exact_integer_arithmetic():
    # the two code paths meet at n = 2000; check the large-n one where exact sums are cheap
    for n in [17, 250, 1001, 2000, 4001, 9000]:
        tails, comb, total = [], 1, 0
        for i in range(n // 2 + 1):  # C(n, i+1) = C(n, i) * (n - i) / (i + 1), exact in ints
            total += comb
            tails.append(total)
            comb = comb * (n - i) // (i + 1)
        for m in range(0, n // 2 + 1, max(1, n // 40)):
            exact = min(1.0, 2 * tails[m] / 2**n)  # int / int is correctly rounded
            assert stats._sign_test_saddlepoint(m, n) == pytest.approx(exact, rel=1e-11, abs=1e-300)


def test_sign_test_small_cases_worked_by_hand():
    assert stats.sign_test_p_value(5, 0) == 2 / 2**5  # only 5-0 and 0-5 are as extreme
    assert stats.sign_test_p_value(0, 10) == 2 / 1024
    assert stats.sign_test_p_value(1, 1) == 1.0
    assert stats.sign_test_p_value(1, 2) == 1.0
    assert stats.sign_test_p_value(8, 2) == pytest.approx(2 * (1 + 10 + 45) / 1024, rel=1e-15)
    assert stats.sign_test_p_value(47, 22) == pytest.approx(
        2 * sum(math.comb(69, i) for i in range(23)) / 2**69, rel=1e-15
    )


def test_sign_test_is_none_without_decisive_votes():
    assert stats.sign_test_p_value(0, 0) is None


# ---------------------------------------------------------------------------------------------
# Pair statistics
# ---------------------------------------------------------------------------------------------


def test_pair_stats_for_47_wins_31_ties_22_losses_out_of_100():
    s = stats.pair_stats(a_wins=47, b_wins=22, ties=25, both_bad=6)
    assert (s.votes, s.a_wins, s.b_wins, s.ties, s.both_bad) == (100, 47, 22, 25, 6)
    assert s.a_win_rate == 0.47
    assert s.b_win_rate == 0.22
    assert s.tie_rate == 0.31  # (25 + 6) / 100
    assert s.a_score == 0.625  # (47 + 0.5 * 31) / 100
    assert s.decisive_share == pytest.approx(47 / 69, rel=1e-15)
    assert s.ci_low == pytest.approx(0.5641587428411312, rel=1e-12)
    assert s.ci_high == pytest.approx(0.7790523954961688, rel=1e-12)
    assert s.p_value == pytest.approx(0.0035448128470210523, rel=1e-12)


def test_pair_stats_at_ten_times_the_votes_makes_the_lead_significant_below_0_001():
    s = stats.pair_stats(a_wins=470, b_wins=220, ties=250, both_bad=60)
    assert s.p_value < 1e-20
    assert s.p_value == pytest.approx(sps.binomtest(470, 690).pvalue, rel=1e-9)
    assert s.ci_high - s.ci_low < 0.075


def test_pair_stats_with_only_ties_and_both_bad():
    s = stats.pair_stats(a_wins=0, b_wins=0, ties=5, both_bad=3)
    assert (s.votes, s.a_win_rate, s.b_win_rate, s.tie_rate, s.a_score) == (8, 0.0, 0.0, 1.0, 0.5)
    assert (s.decisive_share, s.ci_low, s.ci_high, s.p_value) == (None, None, None, None)


def test_pair_stats_when_one_side_never_wins():
    s = stats.pair_stats(a_wins=0, b_wins=12, ties=3, both_bad=0)
    assert s.decisive_share == 0.0
    assert s.ci_low == 0.0
    assert s.ci_high == pytest.approx(Z95**2 / (12 + Z95**2), rel=1e-12)  # 0.2425
    assert s.p_value == 2 / 4096
    assert s.a_score == pytest.approx(0.1, rel=1e-15)  # 1.5 / 15


def test_pair_stats_without_votes_are_all_none():
    s = stats.pair_stats(a_wins=0, b_wins=0, ties=0, both_bad=0)
    assert s.votes == 0
    rates = [s.a_win_rate, s.b_win_rate, s.tie_rate, s.a_score, s.decisive_share, s.ci_low, s.ci_high, s.p_value]
    assert rates == [None] * 8


def test_pair_stats_fields_follow_the_csv_contract_and_are_frozen():
    header = (
        "votes,a_wins,b_wins,ties,both_bad,a_win_rate,b_win_rate,tie_rate,a_score,decisive_share,ci_low,ci_high,p_value"
    )
    assert [f.name for f in dataclasses.fields(stats.PairStats)] == header.split(",")
    s = stats.pair_stats(a_wins=1, b_wins=1, ties=0, both_bad=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.votes = 3


def test_pair_stats_turns_numpy_counts_into_plain_ints():
    s = stats.pair_stats(a_wins=np.int64(3), b_wins=np.int64(1), ties=np.int64(0), both_bad=np.int64(0))
    assert type(s.votes) is int and type(s.a_wins) is int
    assert s.decisive_share == 0.75


def test_pair_stats_rejects_negative_or_fractional_counts():
    with pytest.raises(ValueError):
        stats.pair_stats(a_wins=-1, b_wins=0, ties=0, both_bad=0)
    with pytest.raises(ValueError):
        stats.pair_stats(a_wins=1.5, b_wins=0, ties=0, both_bad=0)


# ---------------------------------------------------------------------------------------------
# Prompt bootstrap and power
# ---------------------------------------------------------------------------------------------


def _clustered_prompts(n_prompts=200, seed=3):
    # three votes per prompt, strongly correlated within a prompt
    rng = np.random.default_rng(seed)
    favoured = rng.random(n_prompts) < 0.6
    return np.array([[3, 0, 0, 0] if f else [0, 2, 1, 0] for f in favoured])


def test_prompt_bootstrap_interval_covers_the_score_and_is_reproducible():
    per_prompt = _clustered_prompts()
    totals = per_prompt.sum(axis=0)
    point = (totals[0] + 0.5 * (totals[2] + totals[3])) / totals.sum()
    low, high = stats.prompt_bootstrap_score_interval(per_prompt, rounds=2000, seed=7)
    assert low < point < high
    assert stats.prompt_bootstrap_score_interval(per_prompt, rounds=2000, seed=7) == (low, high)
    assert stats.prompt_bootstrap_score_interval(per_prompt, rounds=2000, seed=8) != (low, high)


def test_prompt_bootstrap_width_matches_the_cluster_standard_error():
    per_prompt = _clustered_prompts()
    scores = (per_prompt[:, 0] + 0.5 * per_prompt[:, 2]) / 3  # every prompt has 3 votes
    se = scores.std(ddof=0) / math.sqrt(len(scores))
    low, high = stats.prompt_bootstrap_score_interval(per_prompt, rounds=4000, seed=1)
    assert (high - low) == pytest.approx(2 * Z95 * se, rel=0.1)
    # treating the 600 votes as independent would understate the width by ~sqrt(3)
    vote_level_se = math.sqrt(scores.mean() * (1 - scores.mean()) / 600)
    assert high - low > 1.4 * 2 * Z95 * vote_level_se


def test_prompt_bootstrap_edge_cases():
    assert stats.prompt_bootstrap_score_interval(np.zeros((0, 4))) == (None, None)
    assert stats.prompt_bootstrap_score_interval(np.zeros((5, 4))) == (None, None)
    assert stats.prompt_bootstrap_score_interval(np.array([[2, 1, 1, 0]])) == (0.625, 0.625)
    same = np.array([[1, 0, 1, 0]] * 10 + [[0, 0, 0, 0]] * 3)
    assert stats.prompt_bootstrap_score_interval(same) == (0.75, 0.75)


def test_votes_needed_for_power_follows_the_normal_approximation_formula():
    z_a, z_b = sps.norm.ppf(0.975), sps.norm.ppf(0.80)
    decisive = ((z_a * 0.5 + z_b * math.sqrt(0.6 * 0.4)) / 0.1) ** 2  # 193.8...
    assert math.ceil(decisive) == 194
    assert stats.votes_needed_for_power(a_wins=60, b_wins=40, ties=0, both_bad=0) == 194
    # half the votes are ties or both-bad, so twice the total is needed
    assert stats.votes_needed_for_power(a_wins=60, b_wins=40, ties=75, both_bad=25) == math.ceil(2 * decisive)
    stricter = stats.votes_needed_for_power(a_wins=60, b_wins=40, ties=0, both_bad=0, alpha=0.01, power=0.9)
    assert stricter == math.ceil(((sps.norm.ppf(0.995) * 0.5 + sps.norm.ppf(0.9) * math.sqrt(0.24)) / 0.1) ** 2)


def test_votes_needed_for_power_gives_about_the_requested_power_for_the_exact_sign_test():
    n = stats.votes_needed_for_power(a_wins=60, b_wins=40, ties=0, both_bad=0)
    k = np.arange(n + 1)
    rejects = np.array([sps.binomtest(int(x), n, 0.5).pvalue < 0.05 for x in k])
    power = sps.binom.pmf(k, n, 0.6)[rejects].sum()
    assert 0.75 < power < 0.85


def test_votes_needed_for_power_is_none_without_an_effect():
    assert stats.votes_needed_for_power(a_wins=20, b_wins=20, ties=5, both_bad=0) is None
    assert stats.votes_needed_for_power(a_wins=0, b_wins=0, ties=5, both_bad=1) is None


# ---------------------------------------------------------------------------------------------
# Bradley-Terry
# ---------------------------------------------------------------------------------------------

FOUR_MODELS = np.array(
    [
        (0, 1, 30, 18, 12),
        (0, 2, 41, 10, 9),
        (0, 3, 25, 25, 10),
        (1, 2, 28, 20, 14),
        (1, 3, 15, 30, 5),
        (2, 3, 12, 35, 13),
        (3, 0, 6, 4, 2),  # reversed orientation and a repeated pair on purpose
    ]
)


def _scipy_bt(n_models, rows):
    # independent fit: plain logistic likelihood per (i, j) row, ties as half a win each
    i, j = rows[:, 0], rows[:, 1]
    score_i = rows[:, 2] + 0.5 * rows[:, 4]
    score_j = rows[:, 3] + 0.5 * rows[:, 4]

    def nll(theta):
        d = theta[i] - theta[j]
        return np.sum(score_i * np.logaddexp(0, -d) + score_j * np.logaddexp(0, d))

    theta = optimize.minimize(nll, np.zeros(n_models), method="BFGS", options={"gtol": 1e-10}).x
    ratings = 400 * theta / math.log(10)
    return ratings - ratings.mean() + 1000


def test_bradley_terry_matches_an_independent_scipy_fit_on_four_models():
    ours = stats.bradley_terry_ratings(n_models=4, pair_outcomes=FOUR_MODELS)
    ref = _scipy_bt(4, FOUR_MODELS)
    np.testing.assert_allclose(ours, ref, atol=0.5)
    assert ours.mean() == pytest.approx(1000, abs=1e-9)
    assert list(np.argsort(-ours)) == list(np.argsort(-ref))
    assert ours[3] - ours[2] > 100  # model 3 clearly beats model 2 (35 vs 12)


def test_bradley_terry_on_two_models_is_the_log_odds_of_the_score():
    # with two models the MLE gap is exactly 400*log10(score_a/score_b)
    r = stats.bradley_terry_ratings(n_models=2, pair_outcomes=[(0, 1, 30, 10, 0)])
    assert r[0] - r[1] == pytest.approx(400 * math.log10(3), abs=1e-4)  # 190.85
    assert r.mean() == pytest.approx(1000, abs=1e-9)
    r = stats.bradley_terry_ratings(n_models=2, pair_outcomes=[(0, 1, 30, 10, 20)])
    assert r[0] - r[1] == pytest.approx(400 * math.log10(40 / 20), abs=1e-4)  # ties are half wins


def test_bradley_terry_anchor_puts_that_model_at_1000_and_keeps_the_gaps():
    centred = stats.bradley_terry_ratings(n_models=4, pair_outcomes=FOUR_MODELS)
    anchored = stats.bradley_terry_ratings(n_models=4, pair_outcomes=FOUR_MODELS, anchor=2)
    assert anchored[2] == 1000
    np.testing.assert_allclose(anchored - anchored[2], centred - centred[2], atol=1e-9)
    with pytest.raises(ValueError):
        stats.bradley_terry_ratings(n_models=4, pair_outcomes=FOUR_MODELS, anchor=4)


def test_bradley_terry_of_balanced_results_puts_everyone_at_1000():
    rows = [(0, 1, 5, 5, 2), (1, 2, 3, 3, 0), (0, 2, 0, 0, 7)]
    np.testing.assert_allclose(stats.bradley_terry_ratings(n_models=3, pair_outcomes=rows), [1000] * 3, atol=1e-7)
    np.testing.assert_allclose(stats.bradley_terry_ratings(n_models=3, pair_outcomes=np.zeros((0, 5))), [1000] * 3)


def test_bradley_terry_model_without_votes_sits_at_the_mean_and_does_not_move_the_others():
    base = stats.bradley_terry_ratings(n_models=4, pair_outcomes=FOUR_MODELS)
    with_idle = stats.bradley_terry_ratings(n_models=5, pair_outcomes=FOUR_MODELS)
    assert with_idle[4] == pytest.approx(1000, abs=1e-6)
    np.testing.assert_allclose(with_idle[:4] - with_idle[0], base - base[0], atol=1e-6)


def test_bradley_terry_model_that_never_wins_stays_finite_and_last():
    rows = np.vstack([FOUR_MODELS, [(4, 0, 0, 400_000, 0), (4, 1, 0, 350_000, 0)]])
    r, low, high = stats.bradley_terry_bootstrap(n_models=5, pair_outcomes=rows, rounds=200)
    assert np.all(np.isfinite(r)) and np.all(np.isfinite(low)) and np.all(np.isfinite(high))
    assert r[4] < r[:4].min() - 1500
    assert low[4] <= r[4] <= high[4]
    # the others keep their gaps (their games against model 4 carry ~no information)
    base = stats.bradley_terry_ratings(n_models=4, pair_outcomes=FOUR_MODELS)
    np.testing.assert_allclose(r[:4] - r[0], base - base[0], atol=0.01)


def test_bradley_terry_rejects_malformed_rows():
    for rows in [[(0, 0, 1, 1, 0)], [(0, 3, 1, 1, 0)], [(0, 1, -1, 1, 0)], [(0, 1, 1.5, 1, 0)]]:
        with pytest.raises(ValueError):
            stats.bradley_terry_ratings(n_models=3, pair_outcomes=rows)


def test_bradley_terry_bootstrap_interval_covers_the_estimate_and_is_reproducible():
    r, low, high = stats.bradley_terry_bootstrap(n_models=4, pair_outcomes=FOUR_MODELS, rounds=500, seed=11)
    np.testing.assert_allclose(r, stats.bradley_terry_ratings(n_models=4, pair_outcomes=FOUR_MODELS))
    assert np.all(low < r) and np.all(r < high)
    assert np.all(high - low > 20) and np.all(high - low < 300)
    again = stats.bradley_terry_bootstrap(n_models=4, pair_outcomes=FOUR_MODELS, rounds=500, seed=11)
    np.testing.assert_array_equal(again[1], low)
    np.testing.assert_array_equal(again[2], high)
    other = stats.bradley_terry_bootstrap(n_models=4, pair_outcomes=FOUR_MODELS, rounds=500, seed=12)
    assert not np.array_equal(other[1], low)


def test_bradley_terry_bootstrap_narrows_like_one_over_root_n():
    _, low, high = stats.bradley_terry_bootstrap(n_models=4, pair_outcomes=FOUR_MODELS, rounds=400)
    many = FOUR_MODELS.copy()
    many[:, 2:] *= 100
    _, low100, high100 = stats.bradley_terry_bootstrap(n_models=4, pair_outcomes=many, rounds=400)
    ratio = (high - low) / (high100 - low100)
    assert np.all((ratio > 7) & (ratio < 13))


def test_bradley_terry_bootstrap_with_an_anchor_pins_that_model():
    r, low, high = stats.bradley_terry_bootstrap(n_models=4, pair_outcomes=FOUR_MODELS, rounds=100, anchor=0)
    assert (r[0], low[0], high[0]) == (1000, 1000, 1000)
    assert np.all(low[1:] < high[1:])


def test_ranks_from_intervals_follow_the_chatbot_arena_rule():
    low = [1100, 1050, 1060, 900]
    high = [1200, 1120, 1110, 1000]
    # nobody's low is above the highs of models 0-2 (1100 < 1110 < 1120), so they share rank
    # 1; model 3's high (1000) is below the three other lows, so it is 4th
    assert stats.ranks_from_intervals(low, high) == [1, 1, 1, 4]
    assert stats.ranks_from_intervals([10, 5, 1], [12, 8, 3]) == [1, 2, 3]
    # touching intervals (a low equal to another's high) are not a separation
    assert stats.ranks_from_intervals([10, 5], [12, 10]) == [1, 1]


def test_predicted_win_matrix_uses_the_elo_logistic():
    m = stats.predicted_win_matrix([1400, 1000, 1000])
    assert m[0, 1] == pytest.approx(10 / 11, rel=1e-12)
    assert m[1, 0] == pytest.approx(1 / 11, rel=1e-12)
    assert m[1, 2] == 0.5
    assert np.all(np.isnan(np.diag(m)))
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose((m + m.T)[off], 1.0)


# ---------------------------------------------------------------------------------------------
# Agreement
# ---------------------------------------------------------------------------------------------

# Fleiss (1971) as worked on Wikipedia: 10 items, 14 raters, 5 categories
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", nominal example with
# 4 observers, 12 units and missing values (None); rows are observers A-D.
_N = None
KRIPP_OBSERVERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _N, _N, _N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _N, 3],
    [_N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _N],
]


def test_fleiss_kappa_reproduces_the_worked_example():
    kappa = stats.fleiss_kappa(FLEISS_TABLE)
    assert round(kappa, 3) == 0.210
    # P_bar = mean of (sum n_ij^2 - 14) / (14 * 13) = 172/455 = 0.378; category shares
    # (20, 28, 39, 21, 32)/140 give P_e = 417/1960 = 0.213
    p_bar, p_e = Fraction(172, 455), Fraction(417, 1960)
    assert kappa == pytest.approx(float((p_bar - p_e) / (1 - p_e)), rel=1e-12)


def test_fleiss_kappa_requires_the_same_number_of_raters_per_item():
    table = [[1, 2], [2, 1], [1, 1], [3, 0]]
    with pytest.raises(ValueError, match="row 2"):
        stats.fleiss_kappa(table)


def test_fleiss_kappa_edge_cases():
    assert stats.fleiss_kappa([[1, 0], [0, 1]]) is None  # a single rater per item
    assert stats.fleiss_kappa([[3, 0], [3, 0]]) is None  # everyone always said the same
    assert stats.fleiss_kappa(np.zeros((0, 3))) is None
    assert stats.fleiss_kappa([[3, 0], [0, 3]]) == 1.0
    assert stats.fleiss_kappa([[1, 1], [1, 1]]) == -1.0  # two raters always disagree


def kripp_units():
    return [list(unit) for unit in zip(*KRIPP_OBSERVERS, strict=True)]


def test_krippendorff_alpha_nominal_reproduces_the_published_example():
    units = kripp_units()
    alpha = stats.krippendorff_alpha_nominal(units)
    assert round(alpha, 3) == 0.743
    # n = 40 pairable values, n_c = (9, 13, 10, 5, 3) for values 1..5, sum_c o_cc = 32, so
    # alpha = 1 - (n - 1) * (40 - 32) / (40^2 - sum n_c^2) = 1 - 39 * 8 / 1216 = 113/152
    assert alpha == pytest.approx(113 / 152, rel=1e-12)


def test_krippendorff_alpha_ignores_units_with_a_single_rating():
    units = kripp_units()
    extra = units + [["x"], [7], [None, 2]]
    assert stats.krippendorff_alpha_nominal(extra) == stats.krippendorff_alpha_nominal(units)


def test_krippendorff_alpha_edge_cases():
    assert stats.krippendorff_alpha_nominal([]) is None
    assert stats.krippendorff_alpha_nominal([["a"], ["b"]]) is None  # single reviewer
    assert stats.krippendorff_alpha_nominal([["a", "a"], ["a", "a", "a"]]) is None  # no variation
    assert stats.krippendorff_alpha_nominal([["a", "a"], ["b", "b", "b"]]) == 1.0
    assert stats.krippendorff_alpha_nominal([["a", "b"], ["b", "a"]]) == pytest.approx(-0.5)  # 1 - 3*4/8


def test_percent_agreement_counts_agreeing_pairs():
    assert stats.percent_agreement([["a", "a", "b"], ["a", "a"]]) == pytest.approx((1 / 3 + 1) / 2)
    units = kripp_units()
    # 11 pairable units: 8 unanimous, units 2 and 8 at 3/6, unit 6 at 0/6, units 10-11 at 1
    assert stats.percent_agreement(units) == pytest.approx((8 + 0.5 + 0.5 + 0) / 11)
    assert stats.percent_agreement([["a"], ["b"]]) is None
    assert stats.percent_agreement([]) is None


def test_majority_label_returns_none_on_a_tie():
    assert stats.majority_label(["left", "left", "tie"]) == "left"
    assert stats.majority_label(["left", "right"]) is None
    assert stats.majority_label(["a", "a", "b", "b", "c"]) is None
    assert stats.majority_label([]) is None
    assert stats.majority_label([None, "b"]) == "b"


# ---------------------------------------------------------------------------------------------
# Biases
# ---------------------------------------------------------------------------------------------


def test_position_bias_reports_left_share_with_wilson_and_sign_test():
    share, low, high, p = stats.position_bias(left_wins=60, right_wins=40)
    ref = sps.binomtest(60, 100)
    ci = ref.proportion_ci(method="wilson")
    assert share == 0.6
    assert (low, high) == (pytest.approx(ci.low, rel=1e-12), pytest.approx(ci.high, rel=1e-12))
    assert p == pytest.approx(ref.pvalue, rel=1e-12)
    assert stats.position_bias(left_wins=60, right_wins=40).share == 0.6


def test_length_bias_has_the_same_shape_and_handles_no_votes():
    result = stats.length_bias(longer_wins=30, shorter_wins=10)
    assert result.share == 0.75
    assert result.p_value == pytest.approx(sps.binomtest(30, 40).pvalue, rel=1e-12)
    assert tuple(stats.length_bias(longer_wins=0, shorter_wins=0)) == (None, None, None, None)


def _units_as_counts(units):
    labels = sorted({label for unit in units for label in unit if label is not None}, key=str)
    return np.array([[sum(1 for x in unit if x == label) for label in labels] for unit in units])


def test_agreement_from_count_tables_equals_the_unit_versions():
    units = kripp_units()
    table = _units_as_counts(units)
    assert stats.krippendorff_alpha_nominal_counts(table) == pytest.approx(113 / 152, rel=1e-12)
    assert stats.percent_agreement_counts(table) == pytest.approx(stats.percent_agreement(units), rel=1e-12)
    rng = np.random.default_rng(5)
    random_units = [list(rng.choice(["a", "b", "tie", "both_bad"], size=rng.integers(1, 5))) for _ in range(300)]
    random_table = _units_as_counts(random_units)
    assert stats.krippendorff_alpha_nominal_counts(random_table) == pytest.approx(
        stats.krippendorff_alpha_nominal(random_units), rel=1e-12
    )
    assert stats.percent_agreement_counts(random_table) == pytest.approx(
        stats.percent_agreement(random_units), rel=1e-12
    )


def test_agreement_from_count_tables_edge_cases():
    assert stats.krippendorff_alpha_nominal_counts(np.zeros((0, 4))) is None
    assert stats.krippendorff_alpha_nominal_counts([[1, 0, 0, 0], [0, 1, 0, 0]]) is None  # single reviewer
    assert stats.krippendorff_alpha_nominal_counts([[2, 0, 0, 0], [3, 0, 0, 0]]) is None  # no variation
    assert stats.percent_agreement_counts([[2, 0, 0, 0], [3, 0, 0, 0]]) == 1.0
    assert stats.percent_agreement_counts([[1, 0, 0, 0]]) is None


def test_prompt_bootstrap_over_distinct_rows_matches_resampling_prompts_one_by_one():
    # The interval from the grouped multinomial must match a plain prompt-by-prompt resampling.
    per_prompt = _clustered_prompts(n_prompts=400, seed=11)
    low, high = stats.prompt_bootstrap_score_interval(per_prompt, rounds=4000, seed=2)
    rng = np.random.default_rng(99)
    num = per_prompt[:, 0] + 0.5 * (per_prompt[:, 2] + per_prompt[:, 3])
    den = per_prompt.sum(axis=1)
    picks = rng.integers(0, len(per_prompt), size=(4000, len(per_prompt)))
    scores = num[picks].sum(axis=1) / den[picks].sum(axis=1)
    plain_low, plain_high = np.quantile(scores, [0.025, 0.975])
    assert low == pytest.approx(plain_low, abs=0.01)
    assert high == pytest.approx(plain_high, abs=0.01)


# ---------------------------------------------------------------------------------------------
# Vectorised helpers of the report (majority agreement, grouped medians)
# ---------------------------------------------------------------------------------------------


def test_unique_majority_agreement_matches_majority_label_vote_by_vote():
    rng = np.random.default_rng(3)
    others = rng.integers(0, 3, size=(500, 4))
    labels = rng.integers(0, 4, size=500)
    judged, agreed = stats.agrees_with_unique_majority(others, labels)
    for row, label, j, a in zip(others, labels, judged, agreed, strict=True):
        majority = stats.majority_label([k for k in range(4) for _ in range(row[k])])
        assert j == (majority is not None)
        assert a == (majority == label)


def test_unique_majority_agreement_of_no_votes_is_empty():
    judged, agreed = stats.agrees_with_unique_majority(np.zeros((0, 4)), np.zeros(0))
    assert len(judged) == len(agreed) == 0


def test_group_medians_match_the_median_of_each_group_and_leave_empty_groups_none():
    rng = np.random.default_rng(5)
    groups = rng.integers(0, 6, size=1001)
    groups[groups == 4] = 5  # group 4 stays empty
    values = rng.lognormal(3.0, 0.5, size=1001).round(3)
    medians = stats.group_medians(groups, values, groups_count=7)
    for g in range(7):
        mine = values[groups == g]
        assert medians[g] == (float(np.median(mine)) if len(mine) else None)
    assert medians[4] is None and medians[6] is None
    assert stats.group_medians([0, 0], [1.0, 4.0], groups_count=1) == [2.5]
    assert stats.median_or_none([]) is None
