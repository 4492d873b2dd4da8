"""arena/sequential.py against independent implementations (scipy, statsmodels), the papers'
formulas worked by hand, and simulation."""

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from arena import sequential

# --- The confidence sequence ----------------------------------------------------------------


@pytest.mark.parametrize("successes,n,p,c", [(0, 0, 0.5, 4), (7, 10, 0.5, 4), (3, 40, 0.3, 1), (90, 100, 0.6, 16)])
def test_the_mixture_martingale_is_the_beta_binomial_over_the_binomial_likelihood(successes, n, p, c):
    # B(c + S, c + n - S) / B(c, c) = betabinom.pmf(S; n, c, c) / C(n, S), so
    # M_n(p) = betabinom.pmf / binom.pmf: scipy's two distributions, not our formula.
    expected = sps.betabinom.logpmf(successes, n, c, c) - sps.binom.logpmf(successes, n, p)
    assert sequential.log_mixture_martingale(successes, n, p, prior_c=c) == pytest.approx(expected, abs=1e-9)


def test_ten_wins_of_ten_under_a_uniform_prior_match_the_hand_worked_values():
    # Uniform prior (c = 1): M_10(0.5) = B(11, 1) / B(1, 1) * 2^10 = 1024 / 11 = 93.09 >= 1/0.05.
    assert math.exp(sequential.log_mixture_martingale(10, 10, 0.5, prior_c=1)) == pytest.approx(1024 / 11)
    # The lower end solves 1 / (11 p^10) = 20, so p = (1/220)^(1/10) = 0.58296; the upper end is 1.
    low, high = sequential.confidence_sequence(10, 10, alpha=0.05, prior_c=1)
    assert low == pytest.approx((1 / 220) ** 0.1, abs=1e-9) and high == 1.0
    decision = sequential.sequential_decision(a_wins=10, b_wins=0, alpha=0.05, margin=0.05, prior_c=1)
    assert decision.decision == "a_better" and decision.e_value == pytest.approx(1024 / 11)


@pytest.mark.parametrize("n,expected", [(20, 0.48978), (100, 0.159232), (400, 0.075945)])
def test_the_normal_mixture_reference_matches_the_worked_values_of_howard_et_al(n, expected):
    assert sequential.normal_mixture_half_width(n, alpha=0.05, rho=10) == pytest.approx(expected, abs=5e-6)


def test_the_interval_ends_are_where_the_martingale_crosses_one_over_alpha():
    low, high = sequential.confidence_sequence(37, 60, alpha=0.05)
    for end in (low, high):
        assert sequential.log_mixture_martingale(37, 60, end) == pytest.approx(math.log(20), abs=1e-6)
    assert low < 37 / 60 < high
    inside = np.linspace(low + 1e-6, high - 1e-6, 50)
    assert np.all(sequential.log_mixture_martingale(37, 60, inside) < math.log(20))


@pytest.mark.parametrize("true_share", [0.5, 0.7])
def test_at_least_one_minus_alpha_of_simulated_paths_never_leave_the_sequence(true_share):
    # A path leaves the sequence at some n exactly when M_n(true share) >= 1/alpha at that n.
    rng = np.random.default_rng(20260)
    paths, steps, alpha = 1000, 400, 0.05
    wins = np.cumsum(rng.random((paths, steps)) < true_share, axis=1)
    n = np.broadcast_to(np.arange(1, steps + 1), wins.shape)
    log_m = sequential.log_mixture_martingale(wins.ravel(), n.ravel(), true_share).reshape(paths, steps)
    left = np.mean(np.any(log_m >= math.log(1 / alpha), axis=1))
    assert left <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / paths), left


def test_naive_peeking_at_a_fixed_n_interval_leaves_far_more_often():
    # The contrast the sequence exists for: the 95% Wilson interval checked after every vote
    # excludes the true 0.5 on far more than 5% of paths.
    rng = np.random.default_rng(7)
    paths, steps = 1000, 400
    wins = np.cumsum(rng.random((paths, steps)) < 0.5, axis=1)
    n = np.arange(1, steps + 1)
    z = sps.norm.ppf(0.975)
    p_hat = wins / n
    centre = (p_hat + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p_hat * (1 - p_hat) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert np.mean(np.any((centre - half > 0.5) | (centre + half < 0.5), axis=1)) > 0.2


def test_no_votes_and_all_ties_are_undecided_with_no_interval():
    decision = sequential.sequential_decision(a_wins=0, b_wins=0)
    assert (decision.decision, decision.cs_low, decision.cs_high, decision.e_value) == ("undecided", None, None, 1.0)
    assert sequential.confidence_sequence(0, 0) == (0.0, 1.0)


def test_a_side_that_never_wins_is_decided_against_once_the_evidence_suffices():
    threshold = math.log(20)
    # The first n at which n straight B wins reach 1/alpha, from scipy's beta-binomial.
    first = next(
        n
        for n in range(1, 100)
        if sps.betabinom.logpmf(0, n, sequential.PRIOR_C, sequential.PRIOR_C) - n * math.log(0.5) >= threshold
    )
    assert sequential.sequential_decision(a_wins=0, b_wins=first - 1).decision == "undecided"
    decided = sequential.sequential_decision(a_wins=0, b_wins=first)
    assert decided.decision == "b_better" and decided.cs_low == 0.0 and decided.cs_high < 0.5


def test_a_close_pair_with_many_votes_is_equivalent_and_margin_zero_turns_it_off():
    decided = sequential.sequential_decision(a_wins=2500, b_wins=2500, margin=0.05)
    assert decided.decision == "equivalent" and 0.45 <= decided.cs_low < decided.cs_high <= 0.55
    assert sequential.sequential_decision(a_wins=2500, b_wins=2500, margin=0).decision == "undecided"


def test_the_alpha_split_is_bonferroni_over_the_campaigns_pairs():
    assert sequential.pair_alpha(0.05, 1) == 0.05
    assert sequential.pair_alpha(0.05, 45) == pytest.approx(0.05 / 45)


def test_a_pair_further_from_a_decision_has_a_larger_distance():
    near = sequential.sequential_decision(a_wins=40, b_wins=20)
    far = sequential.sequential_decision(a_wins=31, b_wins=29)
    d_near = sequential.distance_to_decision(
        a_wins=40, b_wins=20, margin=0.05, cs_low=near.cs_low, cs_high=near.cs_high
    )
    d_far = sequential.distance_to_decision(a_wins=31, b_wins=29, margin=0.05, cs_low=far.cs_low, cs_high=far.cs_high)
    assert d_far > d_near > 0
    assert sequential.distance_to_decision(a_wins=0, b_wins=0, margin=0, cs_low=None, cs_high=None) == math.inf


# --- Many pairs -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_holm_and_benjamini_hochberg_equal_statsmodels_multipletests(seed):
    rng = np.random.default_rng(seed)
    p = [rng.random(30) ** 3, np.round(rng.random(12), 2), np.array([0.01, 0.01, 0.04, 0.5])][seed % 3]
    for kind, method in ((sequential.holm_adjust, "holm"), (sequential.bh_adjust, "fdr_bh")):
        expected = multipletests(p, method=method)[1]
        assert np.allclose(kind(list(p)), expected, atol=1e-12)


def test_holm_by_hand_leaves_pairs_without_a_p_value_out_of_the_family():
    # Pairs without decisive votes (None) stay None and are left out of the family.
    p = [0.001, None, 0.02, 0.04, 0.3]
    holm = sequential.holm_adjust(p)
    assert holm[1] is None
    assert holm[0] == pytest.approx(0.004) and holm[2] == pytest.approx(0.06) and holm[3] == pytest.approx(0.08)
    assert sequential.holm_adjust([]) == [] and sequential.bh_adjust([None]) == [None]


# --- Power ----------------------------------------------------------------------------------


def _power_by_scipy(n: int, share: float, alpha: float = 0.05) -> float:
    reject = [k for k in range(n + 1) if sps.binomtest(k, n, 0.5).pvalue <= alpha]
    return float(sum(sps.binom.pmf(k, n, share) for k in reject))


@pytest.mark.parametrize("n", [1, 2, 5, 6, 7, 10, 17, 30, 61])
@pytest.mark.parametrize("share", [0.55, 0.7, 0.9])
def test_exact_power_equals_summing_binomial_probabilities_over_scipys_rejection_region(n, share):
    assert sequential.sign_test_power(n, share) == pytest.approx(_power_by_scipy(n, share), abs=1e-12)


def test_the_exact_test_has_no_power_below_six_decisive_votes():
    assert sequential.sign_test_power(5, 0.99) == 0.0
    assert sequential.sign_test_power(6, 0.55) == pytest.approx(0.55**6 + 0.45**6)


@pytest.mark.parametrize("share", [0.55, 0.7, 0.9])
def test_votes_for_power_is_the_first_n_whose_exact_power_reaches_eighty_percent(share):
    n = sequential.decisive_votes_for_power(share)
    # Independent: scipy's binomial cdf gives each n's rejection region k <= c or k >= n - c.
    ns = np.arange(1, n + 1)
    power = []
    for m in ns:
        cdf = sps.binom.cdf(np.arange(m + 1), m, 0.5)
        c = np.nonzero(2 * cdf <= 0.05 * (1 + 1e-12))[0]
        if len(c) == 0:
            power.append(0.0)
            continue
        c = c.max()
        power.append(sps.binom.cdf(c, m, share) + sps.binom.sf(m - c - 1, m, share))
    power = np.array(power)
    assert power[-1] >= 0.8 and np.all(power[:-1] < 0.8)
    if share == 0.9:
        assert n < 20
