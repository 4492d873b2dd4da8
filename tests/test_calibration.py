"""arena/calibration.py against hand-worked cases and independent implementations
(scikit-learn's cohen_kappa_score, scipy's kendalltau), with the edges the contract names."""

import numpy as np
import pytest
from scipy.stats import kendalltau
from sklearn.metrics import cohen_kappa_score

from arena import calibration
from arena.judge_prompts import judge_messages, verdict_parse, winner_side


def test_the_last_verdict_in_the_reply_counts():
    assert verdict_parse("At first [[A]], but on reflection [[B]]") == "second"
    assert verdict_parse("[[C]]") == "tie"
    assert verdict_parse("Final verdict: [A]") is None
    assert verdict_parse("[[D]]") is None


def test_a_verdict_in_each_order_names_the_pair_side():
    assert winner_side(order="ab", verdict="first") == "a"
    assert winner_side(order="ba", verdict="first") == "b"
    assert winner_side(order="ba", verdict="second") == "a"
    assert winner_side(order="ab", verdict="tie") == "tie"


def test_the_judge_prompt_holds_question_then_first_then_second():
    messages = judge_messages(prompt_text="Where is my parcel?", prompt_messages=None, first="ONE", second="TWO")
    user = messages[-1]["content"]
    assert user.index("Where is my parcel?") < user.index("ONE") < user.index("TWO")
    assert "[[A]]" in messages[0]["content"] and "[[C]]" in messages[0]["content"]


def test_combined_verdict_counts_an_inconsistent_pair_as_a_tie():
    assert calibration.combined_verdict("a", "a") == "a"
    assert calibration.combined_verdict("a", "b") == "tie"
    assert calibration.combined_verdict("tie", "tie") == "tie"
    assert calibration.combined_verdict("a", None) is None


def test_a_hand_worked_case():
    # Comparison 1: judge A/A -> A; votes A, A, B.  Comparison 2: judge A/B -> tie; votes tie, B.
    # Comparison 3: judge B/B -> B; votes B, B.
    c = calibration.calibrate(
        ab=["a", "a", "b"],
        ba=["a", "b", "b"],
        human=np.array([[2, 1, 0], [0, 1, 1], [0, 2, 0]]),
        prompt_ids=[1, 2, 3],
        a_longer=[1, 0, -1],
        rounds=200,
    )
    assert c.comparisons == 3
    assert c.consistency == pytest.approx(2 / 3)
    # Agreeing votes: 2 (A on c1) + 1 (tie on c2) + 2 (B on c3) of 7.
    assert c.agreement == pytest.approx(5 / 7)
    # Decisive verdicts are c1 (A) and c3 (B): their decisive votes 3 + 2, agreeing 2 + 2.
    assert c.agreement_decisive == pytest.approx(4 / 5)
    # Ordered reviewer pairs: c1 3*2=6 with 2 equal; c2 2 with 0; c3 2 with 2 -> 4/10.
    assert c.human_agreement == pytest.approx(4 / 10)
    # Decisive pairs: c1 6 (2 equal), c2 0, c3 2 (2 equal) -> 4/8.
    assert c.human_agreement_decisive == pytest.approx(4 / 8)
    # Majorities: c1 A, c2 none (tie 1 vs B 1), c3 B -> judge A,B vs majority A,B.
    assert c.kappa_comparisons == 2 and c.kappa == pytest.approx(1.0)
    # Single-order decisive verdicts: ab: a(first) a(first) b(second); ba: a(second) b(first) b(first).
    assert (c.first_wins, c.second_wins) == (4, 2)
    # Longer: c1 A longer: a, a -> 2 longer; c2 equal: not counted; c3 B longer: b, b -> 2 longer.
    assert (c.longer_wins, c.shorter_wins) == (4, 0)
    low, high = c.agreement_ci
    assert low <= c.agreement <= high


def test_kappa_matches_scikit_learn_on_random_labels():
    rng = np.random.default_rng(5)
    for _ in range(20):
        x = rng.choice(["a", "b", "tie"], size=40, p=[0.5, 0.3, 0.2]).tolist()
        y = [v if rng.random() < 0.6 else rng.choice(["a", "b", "tie"]) for v in x]
        assert calibration.cohen_kappa(x, y) == pytest.approx(cohen_kappa_score(x, y))


def test_kappa_hand_worked():
    # p_o = 3/4; judge marginals a 1/2 b 1/2, reviewers a 3/4 b 1/4: p_e = 3/8+1/8 = 1/2 -> 0.5
    assert calibration.cohen_kappa(["a", "a", "b", "b"], ["a", "a", "a", "b"]) == pytest.approx(0.5)
    assert calibration.cohen_kappa([], []) is None
    assert calibration.cohen_kappa(["a", "a"], ["a", "a"]) is None  # chance agreement 1


def test_kendall_tau_matches_scipy_with_ties():
    rng = np.random.default_rng(2)
    for _ in range(20):
        x = rng.integers(0, 5, size=7).astype(float)
        y = x + rng.integers(-2, 3, size=7)
        expected = kendalltau(x, y).statistic
        got = calibration.kendall_tau_b(list(x), list(y))
        if np.isnan(expected):
            assert got is None
        else:
            assert got == pytest.approx(expected)
    assert calibration.kendall_tau_b([1.0], [2.0]) is None


def test_no_human_votes_leaves_agreement_undefined():
    c = calibration.calibrate(ab=["a", "b"], ba=["a", "a"], human=np.zeros((2, 3)), prompt_ids=[1, 2], a_longer=[0, 0])
    assert c.comparisons == 2 and c.consistency == 0.5
    assert c.agreement is None and c.agreement_decisive is None and c.human_agreement is None
    assert c.agreement_ci == (None, None) and c.kappa is None
    assert "cannot be measured" in calibration.calibration_verdict(c)


def test_all_verdicts_unparsed_gives_no_comparison():
    c = calibration.calibrate(
        ab=[None, None], ba=[None, None], human=np.array([[1, 1, 0], [2, 0, 0]]), prompt_ids=[1, 2], a_longer=[1, 1]
    )
    assert c.comparisons == 0 and c.consistency is None and c.agreement is None and c.human_agreement is None
    assert (c.first_wins, c.second_wins) == (0, 0)
    assert "no comparison judged" in calibration.calibration_verdict(c)


def test_a_comparison_with_one_order_missing_is_not_judged():
    c = calibration.calibrate(
        ab=["a", "a"], ba=[None, "a"], human=np.array([[0, 3, 0], [2, 0, 0]]), prompt_ids=[1, 2], a_longer=[0, 0]
    )
    # Only the second comparison counts: its 2 votes both say A.
    assert c.comparisons == 1 and c.agreement == 1.0 and c.votes == 2
    # ...but the single order of the first still shows where the judge's verdicts go.
    assert c.first_wins == 2 and c.second_wins == 1


def test_a_judge_that_always_says_first_has_consistency_zero_and_the_verdict_says_so():
    c = calibration.calibrate(
        ab=["a", "a", "a"],
        ba=["b", "b", "b"],
        human=np.array([[3, 0, 0]] * 3),
        prompt_ids=[1, 2, 3],
        a_longer=[1, 1, 1],
    )
    assert c.consistency == 0.0 and c.agreement == 0.0
    text = calibration.calibration_verdict(c)
    assert "0%" in text and "follows the position" in text and "not a substitute" in text


def test_one_side_never_winning_and_all_ties():
    ties = calibration.calibrate(
        ab=["tie"] * 3, ba=["tie"] * 3, human=np.array([[0, 0, 2]] * 3), prompt_ids=[1, 1, 2], a_longer=[0, 0, 0]
    )
    assert ties.consistency == 1.0 and ties.agreement == 1.0 and ties.agreement_decisive is None
    assert ties.human_agreement == 1.0 and ties.human_agreement_decisive is None
