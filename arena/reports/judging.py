"""The judges' tables, apart from the human ones: per judge, the per-pair table and the
leaderboard with the report's statistics (reports/build.py's `_slice`, fed the judge's
verdicts instead of votes: one verdict per comparison judged in both orders, an inconsistent
pair a tie), and the calibration against the campaign's reviewers (arena/calibration.py).

Nothing here feeds report.csv, leaderboard.csv or any human figure.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .. import calibration
from ..models import Campaign, Judge
from ..selectors import judging as judging_selectors
from ..selectors import report as report_selectors
from .build import BOOTSTRAP_ROUNDS, Slice, SliceSetup, _slice, campaign_report
from .csv import LEADERBOARD_HEADER, WINRATE_HEADER, board_cells, pair_cells, stream_csv

JUDGEMENTS_HEADER = ["judge", "prompt", "model_a", "model_b", "order", "verdict", "winner"]


def _judge_counts(inputs: judging_selectors.CalibrationInputs, judge_id: int, mask: np.ndarray | None):
    """The judge's verdicts as the report's per-comparison counts (one 'vote' per comparison)."""
    verdicts = [
        calibration.combined_verdict(x, y) for x, y in zip(inputs.ab[judge_id], inputs.ba[judge_id], strict=True)
    ]
    keep = np.array([v is not None for v in verdicts], dtype=bool)
    if mask is not None:
        keep &= mask
    counts = np.zeros((len(verdicts), 4), dtype=np.int64)
    for i, v in enumerate(verdicts):
        if v is not None:
            counts[i, calibration.SIDES.index(v)] = 1
    zeros = np.zeros(int(keep.sum()), dtype=np.int64)
    return report_selectors.ComparisonCounts(
        comparison_id=inputs.comparison_id[keep],
        prompt_id=inputs.prompt_id[keep],
        contestant_a_id=inputs.contestant_a_id[keep],
        contestant_b_id=inputs.contestant_b_id[keep],
        category=[c for c, k in zip(inputs.category, keep, strict=True) if k],
        counts=counts[keep],
        left_wins=zeros,
        right_wins=zeros,
        too_fast=zeros,
        a_longer=inputs.a_longer[keep],
    )


def judge_slice(
    *, campaign: Campaign, judge_id: int, inputs=None, mask=None, name="All prompts", rounds: int = BOOTSTRAP_ROUNDS
) -> Slice:
    """The judge's per-pair table and leaderboard, as the report's for the reviewers."""
    inputs = inputs or judging_selectors.calibration_inputs(campaign=campaign)
    return _slice(SliceSetup.of(campaign, rounds=rounds), name, _judge_counts(inputs, judge_id, mask))


def _calibration_of(inputs, judge_id: int, mask: np.ndarray, *, rounds: int) -> calibration.Calibration:
    picked = np.flatnonzero(mask)
    return calibration.calibrate(
        ab=[inputs.ab[judge_id][i] for i in picked],
        ba=[inputs.ba[judge_id][i] for i in picked],
        human=inputs.human[picked],
        prompt_ids=inputs.prompt_id[picked],
        a_longer=inputs.a_longer[picked],
        rounds=rounds,
    )


def _details(c: calibration.Calibration, label: str) -> dict:
    return {
        **c.contract(),
        "agreement_ci": list(c.agreement_ci),
        "agreement_decisive_ci": list(c.agreement_decisive_ci),
        "human_agreement_ci": list(c.human_agreement_ci),
        "votes": c.votes,
        "human_pairs": c.human_pairs,
        "kappa": c.kappa,
        "kappa_comparisons": c.kappa_comparisons,
        "position_bias": {"first_wins": c.first_wins, "second_wins": c.second_wins, **c.position_bias._asdict()},
        "length_bias": {"longer_wins": c.longer_wins, "shorter_wins": c.shorter_wins, **c.length_bias._asdict()},
        "verdict": calibration.calibration_verdict(c, judge=label),
    }


def calibration_payload(*, campaign: Campaign, full: bool = False, rounds: int = BOOTSTRAP_ROUNDS) -> dict:
    """`calibration/`: the contract's fields per judge; `full` adds intervals, kappa, biases,
    Kendall's tau against the reviewers' leaderboard, the plain verdict and every category."""
    inputs = judging_selectors.calibration_inputs(campaign=campaign)
    everything = np.ones(len(inputs.comparison_id), dtype=bool)
    out = []
    human_board = None
    for judge_id, label in inputs.judges:
        c = _calibration_of(inputs, judge_id, everything, rounds=rounds)
        if not full:
            out.append({"judge": label, **c.contract()})
            continue
        if human_board is None:
            report = campaign_report(campaign=campaign)
            human_board = (
                {r.contestant_id: r.rating for r in report.overall.leaderboard if r.rating is not None}
                if report.votes
                else {}
            )
        board = judge_slice(campaign=campaign, judge_id=judge_id, inputs=inputs, rounds=rounds).leaderboard
        # Models rated on both boards: a "not estimable" one has no rating to rank.
        shared = [r for r in board if r.contestant_id in human_board and r.rating is not None]
        tau = (
            calibration.kendall_tau_b([r.rating for r in shared], [human_board[r.contestant_id] for r in shared])
            if human_board and any(r.votes for r in board)
            else None
        )
        categories = []
        names = sorted(set(inputs.category))
        if len(names) > 1:
            for name in names:
                mask = np.array([cat == name for cat in inputs.category], dtype=bool)
                categories.append(
                    {
                        "category": name or "(no category)",
                        **_details(_calibration_of(inputs, judge_id, mask, rounds=rounds), label),
                    }
                )
        out.append({"judge": label, **_details(c, label), "kendall_tau": tau, "categories": categories})
    return {"judges": out}


def judgements_csv(*, campaign: Campaign) -> Iterator[str]:
    return stream_csv(JUDGEMENTS_HEADER, judging_selectors.judgements_rows(campaign=campaign))


def judge_of(*, campaign: Campaign, label: str | None) -> Judge | None:
    judges = campaign.judges.order_by("id")
    return judges.filter(label=label).first() if label else judges.first()


def judge_leaderboard_csv(*, campaign: Campaign, judge_id: int | None) -> Iterator[str]:
    board = judge_slice(campaign=campaign, judge_id=judge_id).leaderboard if judge_id else []
    return stream_csv(LEADERBOARD_HEADER, (board_cells(r) for r in board))


def judge_report_csv(*, campaign: Campaign, judge_id: int | None) -> Iterator[str]:
    """The judge's per-pair table with the win-rate CSV's columns (`campaign` is the campaign's name)."""
    pairs = judge_slice(campaign=campaign, judge_id=judge_id).pairs if judge_id else []
    return stream_csv(WINRATE_HEADER, ([campaign.name, *pair_cells(r)] for r in pairs))
