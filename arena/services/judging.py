"""Judging's life cycle: judges added to a campaign, every comparison judged twice (orders `ab`
and `ba`) by every judge, exactly once, within the judge's limits and budget.

* `judge_add` validates a judge like a contestant (arena/endpoints.py's allow-lists, through
  `check_model_access`) and stores it.
* `judging_start` (from ready, open or closed) builds the comparisons if review never opened,
  creates the missing pending Judgement rows (the unique (judge, comparison, order) constraint
  makes a second start a no-op for what exists), puts failed ones back to pending, and, on
  commit, enqueues one drain per judge (services/judging_engine.py). `unparsed` rows are kept:
  they were answered and paid; the lead sees their replies.
* `judging_sweep_stuck` is generation's sweep for judgements: claims whose heartbeat is older
  than GENERATION_STUCK_AFTER_SECONDS go back to pending, and judges with pending rows and no
  live drain get one (the generation sweep task runs it, on beat and at every worker start).
* When nothing is pending or running any more, a hybrid campaign holds back from reviewers
  what the judges settled (services/judging_hybrid.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..errors import Conflict, ValidationFailed
from ..models import Campaign, Comparison, Judge, Judgement
from ..selectors.judging import judge_actual_cost
from .campaigns import EndpointSpec, endpoint_check
from .generation import drain_lease_free, heartbeat_dead_before
from .judging_engine import JUDGING_STATUSES
from .pairing import comparisons_build

logger = logging.getLogger(__name__)

ACTIVE = (Judgement.Status.PENDING, Judgement.Status.RUNNING)


@dataclass(frozen=True)
class JudgeSpec(EndpointSpec):
    instructions: str = ""
    max_concurrency: int = 16
    budget_usd: Decimal | None = None


def judge_check(*, spec: JudgeSpec, where: str = "") -> None:
    """Every rule a judge must meet before it is stored (API and admin). `where` prefixes the
    fields (`judges[0]`), as `campaign_check` does for contestants."""
    prefix = f"{where}." if where else ""
    if not spec.label.strip():
        raise ValidationFailed("label must not be empty", field=f"{prefix}label")
    if not spec.model.strip():
        raise ValidationFailed("model must not be empty", field=f"{prefix}model")
    endpoint_check(spec=spec, where=where)


def judges_add(*, campaign_id: int, specs: list[JudgeSpec], where_prefix: str | None = None) -> list[Judge]:
    """Store judges, all or nothing; a label already used in the campaign is a 400 naming it."""
    for i, spec in enumerate(specs):
        judge_check(spec=spec, where=f"{where_prefix}[{i}]" if where_prefix else "")
    try:
        with transaction.atomic():
            return [Judge.objects.create(campaign_id=campaign_id, **spec.__dict__) for spec in specs]
    except IntegrityError:
        field = f"{where_prefix}" if where_prefix else "label"
        raise ValidationFailed("a judge with this label exists in the campaign", field=field) from None


def _enqueue_drains(campaign_id: int, *, only_without_live_drain: bool = False) -> None:
    from ..tasks import judging_run_judge

    judge_ids = sorted(
        set(
            Judgement.objects.filter(campaign_id=campaign_id, status=Judgement.Status.PENDING).values_list(
                "judge_id", flat=True
            )
        )
    )
    for judge_id in judge_ids:
        # As generation's _drain_promise: mark a drain as queued unless a live one holds the lease.
        promised = (
            Judge.objects.filter(pk=judge_id, paused_reason="")
            .filter(drain_lease_free())
            .update(drain_token="", drain_heartbeat_at=timezone.now())
        )
        if promised or not only_without_live_drain:
            judging_run_judge.delay(judge_id)


def judging_start(*, campaign_id: int) -> int:
    """Create what is missing and enqueue the judges; returns how many judgements are to be made."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status not in JUDGING_STATUSES:
            raise Conflict(f"comparisons can be judged once responses are ready (this campaign is {campaign.status})")
        judges = list(campaign.judges.values_list("id", flat=True))
        if not judges:
            raise ValidationFailed("add a judge first", field="judges")
        if campaign.status == Campaign.Status.READY:  # review opening builds them otherwise
            comparisons_build(campaign=campaign)
        comparison_ids = list(
            Comparison.objects.filter(campaign_id=campaign_id, excluded=False).values_list("id", flat=True)
        )
        if not comparison_ids:
            raise Conflict("no comparison to judge: no prompt has done responses from both sides of a pair")
        Judgement.objects.bulk_create(
            [
                Judgement(judge_id=j, comparison_id=c, campaign_id=campaign_id, order=order)
                for j in judges
                for c in comparison_ids
                for order in Judgement.Order.values
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )
        # attempts, last_error and the reply stay: the history of what was tried and paid for.
        Judgement.objects.filter(campaign_id=campaign_id, status=Judgement.Status.FAILED).update(
            status=Judgement.Status.PENDING, claim_token="", claimed_at=None, completed_at=None
        )
        # A judge whose spend reached its cap stays paused (as generation refuses to start then).
        for judge in Judge.objects.filter(campaign_id=campaign_id).exclude(paused_reason=""):
            if judge.budget_usd is None or judge_actual_cost(judge_id=judge.pk) < judge.budget_usd:
                Judge.objects.filter(pk=judge.pk).update(paused_reason="")
        missing = Judgement.objects.filter(campaign_id=campaign_id, status__in=ACTIVE).count()
        transaction.on_commit(lambda: _enqueue_drains(campaign_id))
    return missing


def judging_finish_if_complete(*, campaign_id: int) -> bool:
    """Once nothing is pending or running, a hybrid campaign holds back what the judges settled."""
    if Judgement.objects.filter(campaign_id=campaign_id, status__in=ACTIVE).exists():
        return False
    from .judging_hybrid import hybrid_hold

    if Campaign.objects.filter(pk=campaign_id, judge_mode=Campaign.JudgeMode.HYBRID).exists():
        hybrid_hold(campaign_id=campaign_id)
    return True


def judging_sweep_stuck() -> int:
    """Take back the judgements of dead drains and give a drain to every judge without a live one."""
    campaign_ids = list(
        Judgement.objects.filter(status__in=ACTIVE).values_list("campaign_id", flat=True).distinct().order_by()
    )
    reset = Judgement.objects.filter(
        campaign_id__in=campaign_ids, status=Judgement.Status.RUNNING, claimed_at__lt=heartbeat_dead_before()
    ).update(status=Judgement.Status.PENDING, claim_token="", claimed_at=None)
    if reset:
        logger.warning("judging sweep: %s judgements of dead drains taken back", reset)
    for campaign_id in campaign_ids:
        if Campaign.objects.filter(pk=campaign_id, status__in=JUDGING_STATUSES).exists():
            _enqueue_drains(campaign_id, only_without_live_drain=True)
    return reset
