"""The judging engine: one task drains one judge's pending judgements, as generation drains a
contestant's responses, with generation's parts (services/generation_engine.py): the same
feeding loop and call threads (`_run`), the same recorded call through llm.py and the shared
rate limiter (`call_recorded`: every attempt recorded before it is sent, every write
conditional on the claim token), the same drain lease, heartbeats and batch claims
(services/drains.py, here on the Judge and Judgement rows).

What differs is the work: a judgement's request is the MT-Bench pairwise prompt
(arena/judge_prompts.py) over the comparison's two answers in the judgement's order, and a
reply without `[[A]]`, `[[B]]` or `[[C]]` is asked again, up to JUDGE_VERDICT_ATTEMPTS calls;
then it is stored as `unparsed` with the last reply kept. The tokens and cost of every reply,
verdict or not, are added to the row as they come, so what was paid is always on record.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import ExpressionWrapper, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .. import llm
from ..generation_requests import response_cost
from ..judge_prompts import judge_messages, judge_request, verdict_parse
from ..models import Campaign, Judge, Judgement
from ..selectors.judging import judge_actual_cost
from .drains import Claim, DrainRows, DrainState
from .generation import pause_if_over_budget
from .generation_engine import _run, call_limit, call_recorded

logger = logging.getLogger(__name__)

# Calls per judgement while the replies hold no verdict (each one is paid and recorded).
JUDGE_VERDICT_ATTEMPTS = 3
JUDGING_STATUSES = (Campaign.Status.READY, Campaign.Status.OPEN, Campaign.Status.CLOSED)


@dataclass(kw_only=True)
class _JudgeDrain(DrainState):
    campaign_id: int
    judge: dict
    guidelines: str
    criteria: list
    budget: Decimal | None
    policy: llm.RetryPolicy
    limit: tuple
    done: int = 0
    unparsed: int = 0
    failed: int = 0


# A judge's drain: the lease on the Judge row, the claims on its Judgements.
JUDGEMENTS = DrainRows(endpoint=Judge, rows=Judgement, endpoint_field="judge")


def _claim_batch(drain: _JudgeDrain, *, limit: int) -> list[Claim] | None:
    """Up to `limit` pending judgements of this judge; [] when none is left or judging is paused
    or the campaign cannot be judged; None when max_concurrency is reached (generation's rule)."""
    batch = JUDGEMENTS.claim(
        drain,
        limit=limit,
        state_fields=("campaign__status", "paused_reason"),
        may_claim=lambda state: state["campaign__status"] in JUDGING_STATUSES and not state["paused_reason"],
        row_fields=(
            "order",
            "comparison__prompt__text",
            "comparison__prompt__messages",
            "comparison__response_a__text",
            "comparison__response_b__text",
        ),
    )
    if batch is None:
        return None
    token, rows = batch
    claims = []
    for row in rows:
        a, b = row["comparison__response_a__text"], row["comparison__response_b__text"]
        first, second = (a, b) if row["order"] == Judgement.Order.AB else (b, a)
        messages = judge_messages(
            prompt_text=row["comparison__prompt__text"],
            prompt_messages=row["comparison__prompt__messages"],
            first=first,
            second=second,
            guidelines=drain.guidelines,
            criteria=drain.criteria,
            instructions=drain.judge["instructions"],
        )
        claims.append(Claim(row["id"], token, judge_request(judge=drain.judge, messages=messages)))
    return claims


def _count(drain: _JudgeDrain, what: str, stored: int) -> None:
    with drain.lock:
        setattr(drain, what, getattr(drain, what) + stored)


def _process(drain: _JudgeDrain, claim: Claim) -> None:
    for call in range(1, JUDGE_VERDICT_ATTEMPTS + 1):
        try:
            completion = call_recorded(JUDGEMENTS, claim, endpoint=drain.judge, policy=drain.policy, limit=drain.limit)
        except llm.LLMError as error:
            _count(drain, "failed", JUDGEMENTS.fail(claim, error=error.message))
            return
        cost = response_cost(
            input_tokens=completion.input_tokens, output_tokens=completion.output_tokens, contestant=drain.judge
        )
        verdict = verdict_parse(completion.text)
        paid = {"reply": completion.text, "latency_ms": completion.latency_ms}
        paid_now = {
            "input_tokens": completion.input_tokens,
            "output_tokens": completion.output_tokens,
            "cost_usd": cost,
        }
        # The first reply sets the counts (the common case: one plain UPDATE); a later one adds
        # to what the replies without a verdict already cost.
        paid.update(paid_now if call == 1 else {name: _added(name, value) for name, value in paid_now.items()})
        if verdict is None and call < JUDGE_VERDICT_ATTEMPTS:
            if not JUDGEMENTS.owned(claim).update(
                **paid, last_error=f"call {call}: the reply holds no [[A]], [[B]] or [[C]]"
            ):
                return
            continue
        finished = {"claim_token": "", "completed_at": timezone.now()}
        if verdict is None:
            stored = JUDGEMENTS.owned(claim).update(
                **paid,
                **finished,
                status=Judgement.Status.UNPARSED,
                last_error=f"no [[A]], [[B]] or [[C]] in {call} replies",
            )
            _count(drain, "unparsed", stored)
        else:
            stored = JUDGEMENTS.owned(claim).update(**paid, **finished, status=Judgement.Status.DONE, verdict=verdict)
            _count(drain, "done", stored)
        if not stored:
            logger.warning("judgement %s was taken over while its call ran; the late reply is dropped", claim.row_id)
        elif drain.budget is not None:
            judging_pause_if_over_budget(judge_id=drain.endpoint_id, budget=drain.budget)
        return


def _added(column: str, amount):
    """`column + amount` in SQL, an empty column counting as zero (one UPDATE, no read first)."""
    column_field = Judgement._meta.get_field(column)
    zero = Decimal("0") if isinstance(amount, Decimal) else 0
    return ExpressionWrapper(
        Coalesce(F(column), Value(zero, output_field=column_field)) + Value(amount, output_field=column_field),
        output_field=column_field,
    )


def _process_or_fail(drain: _JudgeDrain, claim: Claim) -> None:
    JUDGEMENTS.process_or_fail(_process, drain, claim, activity="judging")


def judging_pause_if_over_budget(*, judge_id: int, budget: Decimal) -> bool:
    spent = judge_actual_cost(judge_id=judge_id)
    return pause_if_over_budget(
        spent=spent,
        budget=budget,
        pending=Judgement.objects.filter(judge_id=judge_id, status=Judgement.Status.PENDING),
        paused=Judge.objects.filter(pk=judge_id),
        reason=lambda pending: (
            f"Paused: judging has cost ${spent:.4f}, which reached this judge's budget cap of ${budget:.4f}. "
            f"{pending} judgements were not made. Raise or clear the budget, then judge again to continue."
        ),
    )


def judging_drain(*, judge_id: int) -> dict:
    """Make this judge's pending judgements with up to max_concurrency calls in flight.

    Returns how many were stored, unparsed and failed, and `more` (rows left for a fresh task),
    as generation_drain does.
    """
    from .judging import judging_finish_if_complete

    nothing = {"done": 0, "unparsed": 0, "failed": 0, "more": False}
    judge = Judge.objects.select_related("campaign").filter(pk=judge_id).first()
    if judge is None or judge.campaign.status not in JUDGING_STATUSES:
        return nothing
    lease_token = uuid.uuid4().hex
    if not JUDGEMENTS.lease_take(endpoint_id=judge.pk, token=lease_token):
        return nothing
    endpoint = {
        "model": judge.model,
        "base_url": judge.effective_base_url,
        "api_key_env": judge.effective_api_key_env,
        "simulated": judge.uses_simulator,
        "temperature": judge.temperature,
        "max_tokens": judge.max_tokens,
        "instructions": judge.instructions,
        "price_per_mtok_out": str(judge.price_per_mtok_out),
        "price_per_mtok_in": str(judge.price_per_mtok_in),
    }
    campaign = judge.campaign
    drain = _JudgeDrain(
        endpoint_id=judge.pk,
        campaign_id=campaign.pk,
        max_concurrency=max(1, judge.max_concurrency),
        judge=endpoint,
        guidelines=campaign.guidelines,
        criteria=list(campaign.criteria.order_by("position").values("key", "question", "required")),
        budget=judge.budget_usd,
        policy=llm.RetryPolicy.from_settings(),
        deadline=time.monotonic() + settings.GENERATION_TASK_SECONDS,
        limit=call_limit(endpoint, judge),
        lease_token=lease_token,
    )
    pending = Judgement.objects.filter(judge_id=judge.pk, status=Judgement.Status.PENDING)
    try:
        if count := pending.count():
            _run(
                drain,
                threads=min(drain.max_concurrency, count),
                claim_batch=_claim_batch,
                process=_process_or_fail,
                beat=JUDGEMENTS.heartbeat,
                name=f"judge-{judge.pk}",
            )
    finally:
        JUDGEMENTS.lease_release(drain)
    more = (
        not drain.lease_lost
        and pending.exists()
        and Judge.objects.filter(pk=judge.pk, paused_reason="", campaign__status__in=JUDGING_STATUSES).exists()
    )
    judging_finish_if_complete(campaign_id=campaign.pk)
    return {"done": drain.done, "unparsed": drain.unparsed, "failed": drain.failed, "more": more}
