"""The judging engine: one task drains one judge's pending judgements, as generation drains a
contestant's responses, with generation's parts (services/generation_engine.py): the same
feeding loop and call threads (`_run`), the same recorded call through llm.py and the shared
rate limiter (`call_recorded`: every attempt recorded before it is sent, every write
conditional on the claim token), the same drain lease and heartbeats (here on the Judge row).

What differs is the work: a judgement's request is the MT-Bench pairwise prompt
(arena/judge_prompts.py) over the comparison's two answers in the judgement's order, and a
reply without `[[A]]`, `[[B]]` or `[[C]]` is asked again, up to JUDGE_VERDICT_ATTEMPTS calls;
then it is stored as `unparsed` with the last reply kept. The tokens and cost of every reply,
verdict or not, are added to the row as they come, so what was paid is always on record.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import ExpressionWrapper, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .. import llm
from ..generation_requests import response_cost
from ..judge_prompts import judge_messages, judge_request, verdict_parse
from ..models import Campaign, Judge, Judgement
from ..ratelimit import endpoint_key
from ..selectors.judging import judge_actual_cost
from .generation import drain_lease_free
from .generation_engine import _run, call_recorded

logger = logging.getLogger(__name__)

# Calls per judgement while the replies hold no verdict (each one is paid and recorded).
JUDGE_VERDICT_ATTEMPTS = 3
JUDGING_STATUSES = (Campaign.Status.READY, Campaign.Status.OPEN, Campaign.Status.CLOSED)


@dataclass
class _JudgeDrain:
    judge_id: int
    campaign_id: int
    max_concurrency: int
    judge: dict
    guidelines: str
    criteria: list
    budget: Decimal | None
    policy: llm.RetryPolicy
    deadline: float
    limit: tuple
    lease_token: str
    out_of_time: bool = False
    lease_lost: bool = False
    done: int = 0
    unparsed: int = 0
    failed: int = 0
    live_claims: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class _JudgeClaim:
    judgement_id: int
    token: str
    body: dict


def _claim_batch(drain: _JudgeDrain, *, limit: int) -> list[_JudgeClaim] | None:
    """Up to `limit` pending judgements of this judge; [] when none is left or judging is paused
    or the campaign cannot be judged; None when max_concurrency is reached (generation's rule)."""
    with transaction.atomic():
        state = (
            Judge.objects.select_for_update(of=("self",))
            .filter(pk=drain.judge_id)
            .values("campaign__status", "paused_reason")
            .first()
        )
        if not state or state["campaign__status"] not in JUDGING_STATUSES or state["paused_reason"]:
            return []
        running = Judgement.objects.filter(judge_id=drain.judge_id, status=Judgement.Status.RUNNING).count()
        size = min(limit, drain.max_concurrency - running)
        if size <= 0:
            return None
        rows = list(
            Judgement.objects.filter(judge_id=drain.judge_id, status=Judgement.Status.PENDING)
            .order_by("id")
            .values(
                "id",
                "order",
                "comparison__prompt__text",
                "comparison__prompt__messages",
                "comparison__response_a__text",
                "comparison__response_b__text",
            )[:size]
        )
        if not rows:
            return []
        token = uuid.uuid4().hex
        ids = [row["id"] for row in rows]
        claimed = Judgement.objects.filter(pk__in=ids, status=Judgement.Status.PENDING).update(
            status=Judgement.Status.RUNNING, claim_token=token, claimed_at=timezone.now()
        )
        if claimed != len(ids):
            owned = set(Judgement.objects.filter(pk__in=ids, claim_token=token).values_list("id", flat=True))
            rows = [row for row in rows if row["id"] in owned]
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
        claims.append(_JudgeClaim(row["id"], token, judge_request(judge=drain.judge, messages=messages)))
    return claims


def _owned(claim: _JudgeClaim):
    return Judgement.objects.filter(pk=claim.judgement_id, claim_token=claim.token, status=Judgement.Status.RUNNING)


def _count(drain: _JudgeDrain, what: str, stored: int) -> None:
    with drain.lock:
        setattr(drain, what, getattr(drain, what) + stored)


def _process(drain: _JudgeDrain, claim: _JudgeClaim) -> None:
    for call in range(1, JUDGE_VERDICT_ATTEMPTS + 1):
        try:
            completion = call_recorded(
                owned=lambda: _owned(claim),
                endpoint=drain.judge,
                body=claim.body,
                policy=drain.policy,
                limit=drain.limit,
            )
        except llm.LLMError as error:
            failed = _owned(claim).update(
                status=Judgement.Status.FAILED,
                last_error=error.message[:2000],
                claim_token="",
                completed_at=timezone.now(),
            )
            _count(drain, "failed", failed)
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
            if not _owned(claim).update(**paid, last_error=f"call {call}: the reply holds no [[A]], [[B]] or [[C]]"):
                return
            continue
        finished = {"claim_token": "", "completed_at": timezone.now()}
        if verdict is None:
            stored = _owned(claim).update(
                **paid,
                **finished,
                status=Judgement.Status.UNPARSED,
                last_error=f"no [[A]], [[B]] or [[C]] in {call} replies",
            )
            _count(drain, "unparsed", stored)
        else:
            stored = _owned(claim).update(**paid, **finished, status=Judgement.Status.DONE, verdict=verdict)
            _count(drain, "done", stored)
        if not stored:
            logger.warning(
                "judgement %s was taken over while its call ran; the late reply is dropped", claim.judgement_id
            )
        elif drain.budget is not None:
            judging_pause_if_over_budget(judge_id=drain.judge_id, budget=drain.budget)
        return


def _added(column: str, amount):
    """`column + amount` in SQL, an empty column counting as zero (one UPDATE, no read first)."""
    column_field = Judgement._meta.get_field(column)
    zero = Decimal("0") if isinstance(amount, Decimal) else 0
    return ExpressionWrapper(
        Coalesce(F(column), Value(zero, output_field=column_field)) + Value(amount, output_field=column_field),
        output_field=column_field,
    )


def _process_or_fail(drain: _JudgeDrain, claim: _JudgeClaim) -> None:
    try:
        _process(drain, claim)
    except Exception:
        logger.exception("judgement %s failed unexpectedly", claim.judgement_id)
        _owned(claim).update(
            status=Judgement.Status.FAILED,
            last_error="internal error while judging (see the worker log)",
            claim_token="",
            completed_at=timezone.now(),
        )


def _heartbeat(drain: _JudgeDrain) -> None:
    now = timezone.now()
    renewed = Judge.objects.filter(pk=drain.judge_id, drain_token=drain.lease_token).update(drain_heartbeat_at=now)
    if not renewed and not drain.lease_lost:
        drain.lease_lost = True
        logger.warning("the drain of judge %s lost its lease; it claims nothing more", drain.judge_id)
    with drain.lock:
        tokens = list(drain.live_claims)
    if tokens:
        Judgement.objects.filter(claim_token__in=tokens, status=Judgement.Status.RUNNING).update(claimed_at=now)


def judging_pause_if_over_budget(*, judge_id: int, budget: Decimal) -> bool:
    spent = judge_actual_cost(judge_id=judge_id)
    if spent < budget:
        return False
    pending = Judgement.objects.filter(judge_id=judge_id, status=Judgement.Status.PENDING).count()
    return bool(
        Judge.objects.filter(pk=judge_id, paused_reason="").update(
            paused_reason=(
                f"Paused: judging has cost ${spent:.4f}, which reached this judge's budget cap of ${budget:.4f}. "
                f"{pending} judgements were not made. Raise or clear the budget, then judge again to continue."
            )[:300]
        )
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
    taken = (
        Judge.objects.filter(pk=judge.pk)
        .filter(Q(drain_token="") | drain_lease_free())
        .update(drain_token=lease_token, drain_heartbeat_at=timezone.now())
    )
    if not taken:
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
        judge_id=judge.pk,
        campaign_id=campaign.pk,
        max_concurrency=max(1, judge.max_concurrency),
        judge=endpoint,
        guidelines=campaign.guidelines,
        criteria=list(campaign.criteria.order_by("position").values("key", "question", "required")),
        budget=judge.budget_usd,
        policy=llm.RetryPolicy.from_settings(),
        deadline=time.monotonic() + settings.GENERATION_TASK_SECONDS,
        limit=(
            endpoint_key(base_url=endpoint["base_url"], api_key_env=endpoint["api_key_env"]),
            judge.requests_per_minute,
            judge.tokens_per_minute,
        ),
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
                beat=_heartbeat,
                name=f"judge-{judge.pk}",
            )
    finally:
        Judge.objects.filter(pk=judge.pk, drain_token=lease_token).update(drain_token="", drain_heartbeat_at=None)
    more = (
        not drain.lease_lost
        and pending.exists()
        and Judge.objects.filter(pk=judge.pk, paused_reason="", campaign__status__in=JUDGING_STATUSES).exists()
    )
    judging_finish_if_complete(campaign_id=campaign.pk)
    return {"done": drain.done, "unparsed": drain.unparsed, "failed": drain.failed, "more": more}
