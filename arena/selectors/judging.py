"""Judging reads: progress, cost, the estimate before judging, the rows of judgements.csv and
the per-comparison inputs of the calibration. Nothing here is read by the human report."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.db.models import Count, Q, Sum
from django.db.models.functions import Length

from ..generation_requests import output_cost_estimate, usd
from ..judge_prompts import winner_side
from ..models import Campaign, Comparison, Judge, Judgement
from .report import counted_votes

FINISHED = (Judgement.Status.DONE, Judgement.Status.UNPARSED)


def judging_progress_counts(*, campaign: Campaign) -> dict:
    """`judgements_done` (a verdict or an unparsed reply stored) of `judgements_total`: before
    judging starts, what it would make (2 per comparison per judge)."""
    rows = Judgement.objects.filter(campaign_id=campaign.pk).aggregate(
        total=Count("id"), done=Count("id", filter=Q(status__in=FINISHED))
    )
    total = rows["total"]
    if not total:
        judges = Judge.objects.filter(campaign_id=campaign.pk).count()
        total = 2 * judges * comparisons_to_judge(campaign=campaign) if judges else 0
    return {"judgements_done": rows["done"], "judgements_total": total}


def comparisons_to_judge(*, campaign: Campaign) -> int:
    """The comparisons judging covers: those built, or before review opened, those it would build."""
    n = Comparison.objects.filter(campaign_id=campaign.pk, excluded=False).count()
    if n or campaign.status not in (Campaign.Status.READY, Campaign.Status.OPEN, Campaign.Status.CLOSED):
        return n
    from ..services.pairing import contestant_pairs

    contestants = list(campaign.contestants.all())
    pairs = len(contestant_pairs(contestants=contestants, pairing=campaign.pairing)) if len(contestants) > 1 else 0
    return pairs * campaign.prompts.count()


def judge_actual_cost(*, judge_id: int) -> Decimal:
    """What this judge's replies cost, verdict or not (a failed call stores no cost)."""
    total = Judgement.objects.filter(judge_id=judge_id).aggregate(s=Sum("cost_usd"))
    return usd(total["s"])


def judging_estimate(*, campaign: Campaign) -> dict:
    """Before judging: 2 calls per comparison per judge, what is still missing, and its cost.

    Input tokens are estimated at four characters a token of the two answers and the prompt
    (the judge reads both answers every time), output tokens at the judge's expected reply.
    """
    comparisons = Comparison.objects.filter(campaign_id=campaign.pk, excluded=False)
    n = comparisons_to_judge(campaign=campaign)
    chars = comparisons.aggregate(
        a=Sum(Length("response_a__text")), b=Sum(Length("response_b__text")), p=Sum(Length("prompt__text"))
    )
    input_per_call = ((chars["a"] or 0) + (chars["b"] or 0) + (chars["p"] or 0)) // max(1, comparisons.count()) // 4
    rows, total = [], Decimal("0")
    for judge in campaign.judges.all():
        made = Judgement.objects.filter(judge_id=judge.pk, status__in=FINISHED).count()
        calls = max(0, 2 * n - made)
        cost = output_cost_estimate(
            output_tokens=calls * judge.expected_output_tokens, price_per_mtok_out=judge.price_per_mtok_out
        ) + output_cost_estimate(
            output_tokens=calls * (input_per_call + 400), price_per_mtok_out=judge.price_per_mtok_in
        )
        total += cost
        rows.append(
            {
                "judge_id": judge.pk,
                "label": judge.label,
                "model": judge.model,
                "calls": calls,
                "usd": cost,
                "budget_usd": judge.budget_usd,
                "spent_usd": judge_actual_cost(judge_id=judge.pk),
                "paused_reason": judge.paused_reason,
            }
        )
    return {"comparisons": n, "calls": sum(r["calls"] for r in rows), "judges": rows, "total_usd": total}


def judgements_rows(*, campaign: Campaign):
    """judgements.csv's rows: judge, prompt, model_a, model_b, order, verdict, winner (in id order)."""
    rows = (
        Judgement.objects.filter(campaign_id=campaign.pk)
        .order_by("judge_id", "comparison_id", "order")
        .values_list(
            "judge__label",
            "comparison__prompt__external_id",
            "comparison__prompt__position",
            "comparison__contestant_a__label",
            "comparison__contestant_b__label",
            "order",
            "status",
            "verdict",
        )
        .iterator(chunk_size=2000)
    )
    for judge, external_id, position, a, b, order, status, verdict in rows:
        if status == Judgement.Status.DONE:
            side = winner_side(order=order, verdict=verdict)
            winner = {"a": a, "b": b}.get(side, "tie")
            shown = verdict
        elif status == Judgement.Status.UNPARSED:
            shown, winner = "unparsed", ""
        else:
            continue  # not judged yet (pending, running, failed): no row until it is
        yield [judge, external_id or f"#{position}", a, b, order, shown, winner]


@dataclass
class CalibrationInputs:
    """Per comparison (non-excluded, in id order): who the pair is, its prompt and category,
    whether A is longer, the counted human votes (A, B, tie), and per judge the winners of
    its `ab` and `ba` verdicts (None when not parsed)."""

    comparison_id: np.ndarray
    prompt_id: np.ndarray
    contestant_a_id: np.ndarray
    contestant_b_id: np.ndarray
    category: list[str]
    a_longer: np.ndarray
    human: np.ndarray  # (n, 3)
    judges: list[tuple[int, str]]
    ab: dict[int, list[str | None]]
    ba: dict[int, list[str | None]]


def calibration_inputs(*, campaign: Campaign) -> CalibrationInputs:
    comparisons = list(
        Comparison.objects.filter(campaign_id=campaign.pk, excluded=False)
        .order_by("id")
        .annotate(len_a=Length("response_a__text"), len_b=Length("response_b__text"))
        .values_list("id", "prompt_id", "contestant_a_id", "contestant_b_id", "prompt__category", "len_a", "len_b")
    )
    index = {row[0]: i for i, row in enumerate(comparisons)}
    human = np.zeros((len(comparisons), 3), dtype=np.int64)
    votes = counted_votes(campaign=campaign).values_list("comparison_id", "resolved").annotate(n=Count("pk")).order_by()
    for comparison_id, resolved, n in votes:
        if comparison_id in index:
            human[index[comparison_id], {"a": 0, "b": 1}.get(resolved, 2)] += n
    judges = list(campaign.judges.order_by("id").values_list("id", "label"))
    ab = {j: [None] * len(comparisons) for j, _ in judges}
    ba = {j: [None] * len(comparisons) for j, _ in judges}
    done = Judgement.objects.filter(campaign_id=campaign.pk, status=Judgement.Status.DONE).values_list(
        "judge_id", "comparison_id", "order", "verdict"
    )
    for judge_id, comparison_id, order, verdict in done.iterator(chunk_size=5000):
        if comparison_id in index and judge_id in ab:
            target = ab if order == Judgement.Order.AB else ba
            target[judge_id][index[comparison_id]] = winner_side(order=order, verdict=verdict)
    return CalibrationInputs(
        comparison_id=np.array([r[0] for r in comparisons], dtype=np.int64),
        prompt_id=np.array([r[1] for r in comparisons], dtype=np.int64),
        contestant_a_id=np.array([r[2] for r in comparisons], dtype=np.int64),
        contestant_b_id=np.array([r[3] for r in comparisons], dtype=np.int64),
        category=[r[4] or "" for r in comparisons],
        a_longer=np.array([int(np.sign((r[5] or 0) - (r[6] or 0))) for r in comparisons], dtype=np.int64),
        human=human,
        judges=judges,
        ab=ab,
        ba=ba,
    )
