"""Generation's life cycle: one Response per (prompt, contestant), fetched exactly once, within limits.

* `generation_start` freezes the campaign's settings, creates every pending Response row
  (the unique (prompt, contestant) constraint makes a second call a no-op) and, on commit,
  enqueues one task per contestant. That task runs the engine
  (`services/generation_engine.py`), which claims the rows and calls the model.
* `generation_retry_failed` puts failed rows back to pending and enqueues them again.
* Each contestant has at most one live drain, known from the database alone: the drain lease
  on the contestant row (a token and a heartbeat the drain renews every
  GENERATION_HEARTBEAT_SECONDS, as it renews the heartbeat of every row it has claimed, calls in
  flight or not). A worker killed mid-call leaves rows `running` and the lease held, and its
  task is not redelivered (acks_late tasks of a dead worker wait for the broker's visibility
  timeout). `generation_sweep_stuck` (beat every GENERATION_SWEEP_SECONDS, and at every worker
  start) takes back rows whose heartbeat is older than GENERATION_STUCK_AFTER_SECONDS and
  enqueues a drain for every contestant with pending rows and no live drain. A call the dead
  worker had in flight may have been paid; its answer is lost and the row is fetched again:
  that is the only way a call is paid twice.
* The campaign moves generating -> ready by itself (`generation_finish_if_complete`) when
  nothing is pending or running, and pauses (`generation_pause_if_over_budget`, paused_reason)
  when the actual cost, summed from `done` rows only, reaches its budget.

The reads (estimate, progress, failures, flagged) are in `selectors/generation.py`; what is
sent to a model and what it costs, in `generation_requests.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from ..errors import Conflict, ValidationFailed
from ..generation_requests import settings_freeze
from ..models import Campaign, Contestant, Response
from ..selectors.generation import generation_actual_cost
from .prerender import html_prerender_later

logger = logging.getLogger(__name__)

ACTIVE = (Response.Status.PENDING, Response.Status.RUNNING)
# The campaign's generation fields, in the order the admin and the API list them: the settings
# frozen when generation starts (generation_requests.settings_freeze), the output length the
# cost estimate assumes, the budget, and why generation paused.
GENERATION_FIELDS = [
    "system_prompt",
    "temperature",
    "max_tokens",
    "seed",
    "extra_params",
    "expected_output_tokens",
    "budget_usd",
    "paused_reason",
]


def heartbeat_dead_before():
    """The instant before which a claim's or a drain's heartbeat means its worker is gone."""
    return timezone.now() - timedelta(seconds=settings.GENERATION_STUCK_AFTER_SECONDS)


def drain_lease_free() -> Q:
    """Rows (contestants, judges) whose drain lease nobody holds: never taken, released, or its
    heartbeat dead."""
    return Q(drain_heartbeat_at__isnull=True) | Q(drain_heartbeat_at__lt=heartbeat_dead_before())


def _drain_promise(contestant_id: int) -> bool:
    """Mark a drain as queued for this contestant unless a live one holds its lease.

    The mark (no token, a fresh heartbeat) lets the first drain that starts take the lease, and
    keeps the next sweeps from queueing more while it waits in the queue; if it never starts
    (lost with a dead worker), the mark dies like any heartbeat and the sweep queues another.
    """
    return bool(
        Contestant.objects.filter(pk=contestant_id)
        .filter(drain_lease_free())
        .update(drain_token="", drain_heartbeat_at=timezone.now())
    )


def _enqueue_drains(campaign_id: int, *, only_without_live_drain: bool = False) -> None:
    """A drain task for every contestant of the campaign with pending rows.

    The sweep passes `only_without_live_drain`: a contestant whose drain is alive (or queued in
    the last GENERATION_STUCK_AFTER_SECONDS) gets none. A start or a retry enqueues regardless;
    a drain that finds the lease held by a live one leaves at once, and that one claims the new
    rows as well.
    """
    from ..tasks import generation_run_contestant

    contestant_ids = (
        Response.objects.filter(campaign_id=campaign_id, status=Response.Status.PENDING)
        .values_list("contestant_id", flat=True)
        .distinct()
    )
    for contestant_id in sorted(set(contestant_ids)):
        if _drain_promise(contestant_id) or not only_without_live_drain:
            generation_run_contestant.delay(contestant_id)


def generation_start(*, campaign: Campaign) -> None:
    """Freeze settings, create the pending rows, move to generating, enqueue. Idempotent.

    Allowed from draft, from generating (a no-op that re-enqueues, or a resume after a budget
    pause once the budget was raised), and from ready (rows for contestants added since).
    """
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        allowed = (Campaign.Status.DRAFT, Campaign.Status.GENERATING, Campaign.Status.READY)
        if locked.status not in allowed:
            raise Conflict(f"responses can only be generated before review opens (this campaign is {locked.status})")
        contestants = list(locked.contestants.all())
        prompt_ids = list(locked.prompts.values_list("id", flat=True))
        if not prompt_ids:
            raise ValidationFailed("add prompts before generating", field="prompts")
        if len(contestants) < 2:
            raise ValidationFailed("a campaign needs at least two contestants", field="contestants")
        if locked.budget_usd is not None:
            spent = generation_actual_cost(campaign=locked)
            if spent >= locked.budget_usd:
                raise Conflict(
                    f"generation has already cost ${spent:.4f}, at or above the budget of ${locked.budget_usd:.4f}; "
                    "raise or clear the budget first"
                )
        Response.objects.bulk_create(
            [
                Response(campaign_id=locked.pk, prompt_id=prompt_id, contestant_id=c.pk)
                for prompt_id in prompt_ids
                for c in contestants
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )
        has_work = Response.objects.filter(campaign_id=locked.pk, status__in=ACTIVE).exists()
        fields = {
            "frozen_settings": settings_freeze(
                locked, contestants, locked.frozen_settings, frozen_at=timezone.now().isoformat()
            ),
            "paused_reason": "",
        }
        if locked.generation_started_at is None:
            fields["generation_started_at"] = timezone.now()
        if has_work:
            fields["status"] = Campaign.Status.GENERATING
        Campaign.objects.filter(pk=locked.pk, status__in=allowed).update(**fields)
        campaign_id = locked.pk
        transaction.on_commit(lambda: _enqueue_drains(campaign_id))
    campaign.refresh_from_db()


def generation_retry_failed(*, campaign: Campaign) -> int:
    """Put the failed responses back to pending and enqueue them; returns how many."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in (Campaign.Status.GENERATING, Campaign.Status.READY):
            raise Conflict(f"failed responses can be retried while generating or ready (this one is {locked.status})")
        # attempts and last_error stay: they are the history of what was tried and paid for.
        count = Response.objects.filter(campaign_id=locked.pk, status=Response.Status.FAILED).update(
            status=Response.Status.PENDING, claim_token="", claimed_at=None, completed_at=None
        )
        if count:
            Campaign.objects.filter(
                pk=locked.pk, status__in=(Campaign.Status.READY, Campaign.Status.GENERATING)
            ).update(status=Campaign.Status.GENERATING)
            campaign_id = locked.pk
            transaction.on_commit(lambda: _enqueue_drains(campaign_id))
    campaign.refresh_from_db()
    return count


def generation_finish_if_complete(*, campaign_id: int) -> bool:
    """generating -> ready when nothing is pending or running; one statement, so no race window."""
    active = Response.objects.filter(campaign_id=OuterRef("pk"), status__in=ACTIVE)
    finished = bool(
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.GENERATING)
        .filter(~Exists(active))
        .update(status=Campaign.Status.READY)
    )
    if finished:  # the texts' HTML, rendered by a worker before review opens
        html_prerender_later(campaign_id=campaign_id)
    return finished


def generation_pause_if_over_budget(*, campaign_id: int, budget: Decimal) -> bool:
    """Pause the campaign, saying why, once what its answers cost reaches the budget.

    Calls already in flight finish (and are charged); the drains claim nothing more while
    paused_reason is set, and `generation_start` clears it once the budget allows.
    """
    spent = generation_actual_cost(campaign=campaign_id)
    return pause_if_over_budget(
        spent=spent,
        budget=budget,
        pending=Response.objects.filter(campaign_id=campaign_id, status=Response.Status.PENDING),
        paused=Campaign.objects.filter(pk=campaign_id),
        reason=lambda pending: (
            f"Paused: generation has cost ${spent:.4f}, which reached the budget cap of ${budget:.4f}. "
            f"{pending} responses were not fetched. Raise or clear the budget, then generate again to continue."
        ),
    )


def pause_if_over_budget(
    *, spent: Decimal, budget: Decimal, pending: QuerySet, paused: QuerySet, reason: Callable[[int], str]
) -> bool:
    """Set `paused_reason` on the row the drains check (`paused`: the campaign, the judge) once
    `spent` reaches `budget`, saying why with `reason(how many of pending are left)`.

    Only a row not paused yet is written, so the first reason stays and two drains crossing the
    cap at once pause it once. Generation and judging both call this.
    """
    if spent < budget:
        return False
    return bool(paused.filter(paused_reason="").update(paused_reason=reason(pending.count())[:300]))


def generation_sweep_stuck() -> int:
    """Take back the rows of dead drains and give a drain to every contestant without a live one.

    Returns how many rows were taken back. Rows are reset before drains are enqueued, so the
    drain of a contestant whose worker died finds its rows pending. Only generating campaigns
    are looked at (through the (campaign, status) index, every GENERATION_SWEEP_SECONDS).
    """
    generating = list(Campaign.objects.filter(status=Campaign.Status.GENERATING).values_list("id", "paused_reason"))
    reset = Response.objects.filter(
        campaign_id__in=[campaign_id for campaign_id, _ in generating],
        status=Response.Status.RUNNING,
        claimed_at__lt=heartbeat_dead_before(),
    ).update(status=Response.Status.PENDING, claim_token="", claimed_at=None)
    if reset:
        logger.warning("generation sweep: %s responses of dead drains taken back", reset)
    for campaign_id, paused_reason in generating:
        if not generation_finish_if_complete(campaign_id=campaign_id) and not paused_reason:
            _enqueue_drains(campaign_id, only_without_live_drain=True)
    return reset
