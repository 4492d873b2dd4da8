"""How far a judge can be trusted on this campaign: pure functions, no Django.

Inputs are per comparison: the judge's winner in each order (`"a"`, `"b"`, `"tie"`, or None
when that order has no parsed verdict), the counted human votes resolved to A, B or tie
(both-bad counts as a tie), the comparison's prompt (the bootstrap's cluster), and whether A's
answer is the longer one. Definitions (PRODUCT.md, "Contract: judges"):

* the judge's verdict on a comparison is A when both orders say A, B when both say B, tie
  otherwise; an inconsistent pair counts as a tie (Zheng et al., "Judging LLM-as-a-judge with
  MT-Bench and Chatbot Arena", NeurIPS 2023, section 3.4: "we treat it as a tie" when the
  verdict changes with the order);
* `comparisons`: those with both orders parsed; `consistency`: the share of them whose two
  orders name the same winner (or both a tie), the paper's "consistency" (Table 2);
* `agreement`: the share of counted votes on those comparisons that equal the judge's verdict;
  `agreement_decisive` the same over votes where both the vote and the verdict are A or B (the
  paper's "without tie" agreement, Table 4: GPT-4 85% against experts, experts 81% together);
* `human_agreement`: the share of ordered pairs of votes by two different reviewers on the
  same comparison that are equal; `human_agreement_decisive` over pairs of decisive votes;
* intervals: percentile bootstrap resampling prompts with replacement (votes and verdicts on
  one prompt are correlated; Efron and Tibshirani 1993, ch. 13; the report's own intervals
  resample prompts for the same reason, METHODS.md);
* Cohen's kappa (Cohen 1960, "A coefficient of agreement for nominal scales"):
  `(p_o - p_e) / (1 - p_e)`, `p_e` from the two marginal distributions, judge against the
  reviewers' unique majority on each comparison (no majority: left out);
* position bias: decisive single-order verdicts for the answer shown first; length bias:
  decisive single-order verdicts for the longer answer (both as stats.position_bias /
  length_bias: a share with its Wilson interval and sign test);
* Kendall's tau-b (Kendall 1945, "The treatment of ties in ranking problems") between two
  rating lists (the judge's and the reviewers' Bradley-Terry leaderboards).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import stats

SIDES = ("a", "b", "tie")
BOOTSTRAP_ROUNDS = 1000


def combined_verdict(ab: str | None, ba: str | None) -> str | None:
    """The judge's verdict from its two orders' winners; None unless both are parsed."""
    if ab is None or ba is None:
        return None
    return ab if ab == ba else "tie"


def _share(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items; None without items or when
    chance agreement is 1 (both raters gave one and the same label throughout)."""
    if len(first) != len(second):
        raise ValueError("both raters must label the same items")
    n = len(first)
    if n == 0:
        return None
    labels = sorted(set(first) | set(second))
    p_o = sum(x == y for x, y in zip(first, second, strict=True)) / n
    p_e = sum((list(first).count(k) / n) * (list(second).count(k) / n) for k in labels)
    if p_e >= 1.0:
        return None
    return (p_o - p_e) / (1.0 - p_e)


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b of two paired lists; None with fewer than two pairs or when one list is constant."""
    if len(x) != len(y):
        raise ValueError("the lists must be paired")
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif dx == dy:
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denominator if denominator else None


@dataclass
class Calibration:
    comparisons: int
    consistency: float | None
    agreement: float | None
    agreement_decisive: float | None
    human_agreement: float | None
    human_agreement_decisive: float | None
    agreement_ci: tuple[float | None, float | None]
    agreement_decisive_ci: tuple[float | None, float | None]
    human_agreement_ci: tuple[float | None, float | None]
    votes: int  # counted votes on the judged comparisons
    human_pairs: int  # ordered pairs of votes by two reviewers on them
    kappa: float | None
    kappa_comparisons: int
    position_bias: stats.ShareTest
    first_wins: int
    second_wins: int
    length_bias: stats.ShareTest
    longer_wins: int
    shorter_wins: int

    def contract(self) -> dict:
        """The fields of `calibration/` (without the judge's name)."""
        return {
            "comparisons": self.comparisons,
            "consistency": self.consistency,
            "agreement": self.agreement,
            "agreement_decisive": self.agreement_decisive,
            "human_agreement": self.human_agreement,
            "human_agreement_decisive": self.human_agreement_decisive,
        }


def _sums(verdict: list[str | None], human: np.ndarray) -> np.ndarray:
    """Per comparison: the six numerators and denominators of the agreement shares.

    Columns: agreeing votes, votes, agreeing decisive votes, decisive votes (decisive verdicts
    only), equal ordered reviewer pairs, ordered pairs, equal decisive pairs, decisive pairs.
    """
    n = len(verdict)
    out = np.zeros((n, 8), dtype=np.float64)
    for i, v in enumerate(verdict):
        if v is None:
            continue
        a, b, t = (int(x) for x in human[i])
        votes = a + b + t
        out[i, 0] = human[i][SIDES.index(v)]
        out[i, 1] = votes
        if v in ("a", "b"):
            out[i, 2] = a if v == "a" else b
            out[i, 3] = a + b
        out[i, 4] = a * (a - 1) + b * (b - 1) + t * (t - 1)
        out[i, 5] = votes * (votes - 1)
        out[i, 6] = a * (a - 1) + b * (b - 1)
        out[i, 7] = (a + b) * (a + b - 1)
    return out


def _bootstrap_ratios(
    sums: np.ndarray, prompt_ids: np.ndarray, pairs: list[tuple[int, int]], *, rounds: int, seed: int
) -> list[tuple[float | None, float | None]]:
    """95% percentile intervals of sum(num)/sum(den) over prompts resampled with replacement."""
    if not len(sums) or rounds <= 0:
        return [(None, None)] * len(pairs)
    prompts, cluster = np.unique(prompt_ids, return_inverse=True)
    per_prompt = np.zeros((len(prompts), sums.shape[1]))
    np.add.at(per_prompt, cluster, sums)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(prompts), np.full(len(prompts), 1.0 / len(prompts)), size=rounds)
    totals = weights @ per_prompt  # (rounds, 8)
    intervals = []
    for num, den in pairs:
        if per_prompt[:, den].sum() == 0:
            intervals.append((None, None))
            continue
        ok = totals[:, den] > 0
        ratios = totals[ok, num] / totals[ok, den]
        low, high = np.quantile(ratios, [0.025, 0.975])
        intervals.append((float(low), float(high)))
    return intervals


def _majority(counts: Sequence[int]) -> str | None:
    top = max(counts)
    if top == 0 or list(counts).count(top) > 1:
        return None
    return SIDES[list(counts).index(top)]


def calibrate(
    *,
    ab: Sequence[str | None],
    ba: Sequence[str | None],
    human: np.ndarray,
    prompt_ids: Sequence[int],
    a_longer: Sequence[int],
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
) -> Calibration:
    """Every calibration figure of one judge over a set of comparisons (parallel sequences).

    `human[i]` holds comparison i's counted votes for A, B and tie (both-bad included);
    `a_longer[i]` is +1 when A's answer is longer, -1 when shorter, 0 when equal.
    """
    human = np.asarray(human, dtype=np.int64).reshape(-1, 3)
    verdict = [combined_verdict(x, y) for x, y in zip(ab, ba, strict=True)]
    judged = [v is not None for v in verdict]
    n_judged = sum(judged)
    consistent = sum(1 for x, y, j in zip(ab, ba, judged, strict=True) if j and x == y)
    sums = _sums(verdict, human)
    total = sums.sum(axis=0) if len(sums) else np.zeros(8)
    ci_agree, ci_decisive, ci_human = _bootstrap_ratios(
        sums[np.array(judged, dtype=bool)] if len(sums) else sums,
        np.asarray(prompt_ids)[np.array(judged, dtype=bool)] if len(sums) else np.zeros(0),
        [(0, 1), (2, 3), (4, 5)],
        rounds=rounds,
        seed=seed,
    )
    judge_labels, majority_labels = [], []
    for v, counts in zip(verdict, human, strict=True):
        majority = _majority(counts) if v is not None else None
        if majority is not None:
            judge_labels.append(v)
            majority_labels.append(majority)
    # Single-order verdicts: which position and which length a decisive verdict went to.
    first_wins = second_wins = longer_wins = shorter_wins = 0
    for x, y, longer in zip(ab, ba, a_longer, strict=True):
        for winner, a_first in ((x, True), (y, False)):
            if winner not in ("a", "b"):
                continue
            if (winner == "a") == a_first:
                first_wins += 1
            else:
                second_wins += 1
            if longer:
                if (winner == "a") == (longer > 0):
                    longer_wins += 1
                else:
                    shorter_wins += 1
    return Calibration(
        comparisons=n_judged,
        consistency=_share(consistent, n_judged),
        agreement=_share(total[0], total[1]),
        agreement_decisive=_share(total[2], total[3]),
        human_agreement=_share(total[4], total[5]),
        human_agreement_decisive=_share(total[6], total[7]),
        agreement_ci=ci_agree,
        agreement_decisive_ci=ci_decisive,
        human_agreement_ci=ci_human,
        votes=int(total[1]),
        human_pairs=int(total[5]),
        kappa=cohen_kappa(judge_labels, majority_labels),
        kappa_comparisons=len(judge_labels),
        position_bias=stats.position_bias(left_wins=first_wins, right_wins=second_wins),
        first_wins=first_wins,
        second_wins=second_wins,
        length_bias=stats.length_bias(longer_wins=longer_wins, shorter_wins=shorter_wins),
        longer_wins=longer_wins,
        shorter_wins=shorter_wins,
    )


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def calibration_verdict(c: Calibration, *, judge: str = "the judge") -> str:
    """One plain-language paragraph for the lead: can this judge stand in for a reviewer here?

    The rule: the judge is "about as reliable as one more reviewer" when the upper end of its
    agreement interval reaches the reviewers' agreement with each other (the two cannot be told
    apart on this evidence), otherwise "not a substitute for reviewers here". Its consistency
    under swapping is always said, since an inconsistent verdict counts as a tie.
    """
    if c.comparisons == 0:
        return f"{judge.capitalize()} has no comparison judged in both orders yet."
    consistency = f"Its verdict survived swapping the answers on {_pct(c.consistency)} of them" + (
        " (it never did: it follows the position, not the answers)." if c.consistency == 0 else "."
    )
    if c.votes == 0:
        return (
            f"On {c.comparisons} comparisons {judge} gave verdicts; no reviewer voted on them, "
            f"so its agreement cannot be measured. {consistency}"
        )
    low, high = c.agreement_ci
    ci = f" (95% CI {_pct(low)}-{_pct(high)})" if low is not None else ""
    head = f"On {c.comparisons} comparisons {judge} agreed with reviewers {_pct(c.agreement)} of the time{ci}"
    if c.human_agreement is None:
        nothing = "no two reviewers voted on the same comparison, so there is nothing to compare it with"
        return f"{head}; {nothing}. {consistency}"
    reliable = high is not None and high >= c.human_agreement
    conclusion = "about as reliable as one more reviewer" if reliable else "not a substitute for reviewers here"
    return f"{head}; reviewers agreed with each other {_pct(c.human_agreement)}: {conclusion}. {consistency}"
