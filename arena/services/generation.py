"""Generation: one Response per (prompt, contestant), fetched exactly once, within limits.

How work flows:

* `generation_start` freezes the campaign's settings, creates every pending Response row
  (the unique (prompt, contestant) constraint makes a second call a no-op) and, on commit,
  enqueues one task per contestant.
* That task (`generation_drain`) runs up to `max_concurrency` call threads in one worker
  process, fed by the task's own thread: whenever threads are idle it claims that many of the
  contestant's pending rows in one transaction (status running, a claim token, `claimed_at`),
  under a lock on the contestant row so that the number of running rows never exceeds
  `max_concurrency` across every process and machine. Each call thread calls the model through
  `llm.py`, waiting on the shared rate limiter before every attempt. Threads, not processes or
  asyncio: the work is I/O bound, the sync `openai` client and the ORM are used as they are.
  Claiming in batches, not one row per thread, keeps the contestant lock from becoming a queue
  (docs/BENCHMARKS.md, "Generation").
* Every attempt is recorded before it is sent (attempts + 1, `claimed_at` refreshed as a
  heartbeat, the exact request) and every outcome after, each as an UPDATE conditional on the
  claim token: when a row was taken over (by the stuck sweep) a late answer cannot overwrite
  it, so a row is stored and charged once. Cost is summed from `done` rows only.
* A worker killed mid-call leaves rows `running`; `generation_sweep_stuck` (beat, and at every
  worker start) resets rows whose heartbeat is older than GENERATION_STUCK_AFTER_SECONDS and
  re-enqueues. A call the dead worker had in flight may have been paid; its answer is lost and
  the row is fetched again: that is the only way a call is paid twice.
* The campaign moves generating -> ready by itself when nothing is pending or running; it
  pauses (paused_reason) when the actual cost reaches its budget.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from .. import llm
from ..errors import Conflict, ValidationFailed
from ..models import Campaign, Contestant, Response
from ..ratelimit import endpoint_key, limiter
from .catalog import identity_leak_pattern
from .prerender import html_prerender_later

logger = logging.getLogger(__name__)

MILLION = Decimal(1_000_000)
COST_QUANTUM = Decimal("0.000001")
ACTIVE = (Response.Status.PENDING, Response.Status.RUNNING)


# --------------------------------------------------------------------------- requests


def settings_freeze(campaign: Campaign, contestants: list[Contestant], previous: dict | None) -> dict:
    """The settings every response of the campaign is generated with; never changed once set.

    Contestants added later (in a campaign that is ready) are added to the frozen set; the
    ones already there keep what they were frozen with.
    """
    frozen = previous or {
        "system_prompt": campaign.system_prompt,
        "temperature": campaign.temperature,
        "max_tokens": campaign.max_tokens,
        "seed": campaign.seed,
        "extra_params": campaign.extra_params or {},
        "frozen_at": timezone.now().isoformat(),
        "contestants": {},
    }
    frozen = {**frozen, "contestants": dict(frozen.get("contestants") or {})}
    for c in contestants:
        frozen["contestants"].setdefault(
            str(c.pk),
            {
                "label": c.label,
                "model": c.model,
                "base_url": c.effective_base_url,
                "api_key_env": c.effective_api_key_env,
                "simulated": c.uses_simulator,
                "extra_params": c.extra_params or {},
                "price_per_mtok_out": str(c.price_per_mtok_out),
                "price_per_mtok_in": str(c.price_per_mtok_in),
            },
        )
    return frozen


def request_build(*, frozen: dict, contestant: dict, prompt_text: str, prompt_messages: list | None) -> dict:
    """The exact chat-completions body: the campaign's system prompt first, then the prompt."""
    messages: list[dict] = []
    if frozen.get("system_prompt"):
        messages.append({"role": "system", "content": frozen["system_prompt"]})
    if prompt_messages:
        messages.extend({"role": m.get("role", "user"), "content": m.get("content", "")} for m in prompt_messages)
    else:
        messages.append({"role": "user", "content": prompt_text})
    body: dict = {"model": contestant["model"], "messages": messages}
    for name in ("temperature", "max_tokens", "seed"):
        if frozen.get(name) is not None:
            body[name] = frozen[name]
    # Campaign extras first, the contestant's own override them. Streaming is not supported:
    # the stored text is the whole answer.
    extras = {**(frozen.get("extra_params") or {}), **(contestant.get("extra_params") or {})}
    extras.pop("stream", None)
    body.update({k: v for k, v in extras.items() if k not in ("model", "messages")})
    return body


def served_model_matches(asked: str, served: str) -> bool:
    """Same model, allowing a dated snapshot suffix (gpt-4o -> gpt-4o-2024-08-06)."""
    if not served:
        return True  # nothing reported: nothing to compare
    a, s = asked.strip().lower(), served.strip().lower()
    return a == s or bool(re.fullmatch(re.escape(a) + r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})", s))


def response_cost(*, input_tokens: int, output_tokens: int, contestant: dict) -> Decimal:
    out = Decimal(output_tokens) * Decimal(contestant["price_per_mtok_out"]) / MILLION
    inp = Decimal(input_tokens) * Decimal(contestant.get("price_per_mtok_in") or "0") / MILLION
    return (out + inp).quantize(COST_QUANTUM)


# --------------------------------------------------------------------------- start / retry


def _enqueue_drains(campaign_id: int) -> None:
    from ..tasks import generation_run_contestant

    contestant_ids = (
        Response.objects.filter(campaign_id=campaign_id, status=Response.Status.PENDING)
        .values_list("contestant_id", flat=True)
        .distinct()
    )
    for contestant_id in sorted(set(contestant_ids)):
        generation_run_contestant.delay(contestant_id)


def usd(value) -> Decimal:
    """A sum of costs at the stored precision: SQLite sums decimals as floats (0.0092049999...)."""
    return Decimal(value or 0).quantize(Decimal("0.000001"))


def generation_actual_cost(*, campaign: Campaign | int) -> Decimal:
    campaign_id = campaign if isinstance(campaign, int) else campaign.pk
    total = Response.objects.filter(campaign_id=campaign_id, status=Response.Status.DONE).aggregate(s=Sum("cost_usd"))
    return usd(total["s"])


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
            "frozen_settings": settings_freeze(locked, contestants, locked.frozen_settings),
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


def generation_sweep_stuck() -> int:
    """Reset rows whose worker died (heartbeat too old) to pending and re-enqueue; returns how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.GENERATION_STUCK_AFTER_SECONDS)
    reset = Response.objects.filter(status=Response.Status.RUNNING, claimed_at__lt=cutoff).update(
        status=Response.Status.PENDING, claim_token="", claimed_at=None
    )
    if reset:
        logger.warning("generation sweep: %s stuck responses reset to pending", reset)
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.GENERATING).values_list("id", flat=True):
        if not generation_finish_if_complete(campaign_id=campaign_id):
            if not Campaign.objects.filter(pk=campaign_id).exclude(paused_reason="").exists():
                _enqueue_drains(campaign_id)
    return reset


# --------------------------------------------------------------------------- the drain


@dataclass
class _Drain:
    contestant_id: int
    campaign_id: int
    max_concurrency: int
    frozen: dict
    contestant: dict
    budget: Decimal | None
    leak_pattern: re.Pattern
    policy: llm.RetryPolicy
    deadline: float
    rpm: int | None
    tpm: int | None
    limiter_key: str
    out_of_time: bool = False
    done: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class _Claim:
    response_id: int
    token: str
    body: dict


def _claim_batch(drain: _Drain, *, limit: int) -> list[_Claim] | None:
    """Claim up to `limit` of this contestant's pending rows; [] when nothing is left or the
    campaign is paused or stopped; None when the bound is reached (calls of another task for
    the same contestant fill it).

    One short transaction per batch, not per row: the contestant row lock serialises claims
    across processes, and on PostgreSQL, with 16 threads each taking it for every row, the
    queue on that lock (each holder waiting for its round trips and for the GIL) averaged
    80 ms per claim and stretched the run by half.
    """
    with transaction.atomic():
        # The lock makes the running count below exact, so the bound holds across every process
        # and machine. The count is a separate, later statement on purpose: in READ COMMITTED a
        # statement that waited for a lock still reads with the snapshot it started with.
        state = (
            Contestant.objects.select_for_update(of=("self",))
            .filter(pk=drain.contestant_id)
            .values("campaign__status", "campaign__paused_reason")
            .first()
        )
        if not state or state["campaign__status"] != Campaign.Status.GENERATING or state["campaign__paused_reason"]:
            return []
        running = Response.objects.filter(contestant_id=drain.contestant_id, status=Response.Status.RUNNING).count()
        size = min(limit, drain.max_concurrency - running)
        if size <= 0:
            return None
        rows = list(
            Response.objects.filter(contestant_id=drain.contestant_id, status=Response.Status.PENDING)
            .order_by("id")
            .values("id", "prompt__text", "prompt__messages")[:size]
        )
        if not rows:
            return []
        # One token for the batch: ownership is (row id, token, running), and the sweep clears
        # the token of a row it takes over, so a late answer still cannot overwrite it.
        token = uuid.uuid4().hex
        ids = [row["id"] for row in rows]
        claimed = Response.objects.filter(pk__in=ids, status=Response.Status.PENDING).update(
            status=Response.Status.RUNNING, claim_token=token, claimed_at=timezone.now()
        )
        if claimed != len(ids):  # only if something outside the lock changed a row meanwhile
            owned = set(Response.objects.filter(pk__in=ids, claim_token=token).values_list("id", flat=True))
            rows = [row for row in rows if row["id"] in owned]
    return [
        _Claim(
            row["id"],
            token,
            request_build(
                frozen=drain.frozen,
                contestant=drain.contestant,
                prompt_text=row["prompt__text"],
                prompt_messages=row["prompt__messages"],
            ),
        )
        for row in rows
    ]


def _owned(claim: _Claim):
    return Response.objects.filter(pk=claim.response_id, claim_token=claim.token, status=Response.Status.RUNNING)


def _estimate_tokens(body: dict) -> int:
    chars = len(json.dumps(body.get("messages", []), ensure_ascii=False))
    return chars // 4 + int(body.get("max_tokens") or 1024)


def _process(drain: _Drain, claim: _Claim) -> None:
    body = claim.body
    stored_request = {"url": drain.contestant["base_url"] + "/chat/completions", "body": body}
    reserved = _estimate_tokens(body)
    permit = None

    def heartbeat():
        _owned(claim).update(claimed_at=timezone.now())

    def before_attempt(n: int) -> bool:
        nonlocal permit
        permit = limiter().acquire(
            key=drain.limiter_key, rpm=drain.rpm, tpm=drain.tpm, tokens=reserved, heartbeat=heartbeat
        )
        fields = {"attempts": F("attempts") + 1, "claimed_at": timezone.now()}
        if n == 1:
            fields["request"] = stored_request
        return bool(_owned(claim).update(**fields))

    def after_failure(n: int, error: llm.LLMError) -> bool:
        return bool(_owned(claim).update(last_error=f"attempt {n}: {error.message}"[:2000]))

    try:
        api_key = llm.api_key_for(
            api_key_env=drain.contestant["api_key_env"],
            base_url=drain.contestant["base_url"],
            simulated=drain.contestant.get("simulated", False),
        )
        client = llm.client_for(base_url=drain.contestant["base_url"], api_key=api_key, timeout=drain.policy.timeout)
        completion = llm.chat_completion_with_retries(
            client=client,
            request=body,
            policy=drain.policy,
            before_attempt=before_attempt,
            after_failure=after_failure,
        )
    except llm.LLMError as error:
        failed = _owned(claim).update(
            status=Response.Status.FAILED,
            last_error=error.message[:2000],
            claim_token="",
            completed_at=timezone.now(),
        )
        with drain.lock:
            drain.failed += failed
        return
    if permit is not None:
        limiter().settle(permit, tokens=completion.input_tokens + completion.output_tokens)
    cost = response_cost(
        input_tokens=completion.input_tokens, output_tokens=completion.output_tokens, contestant=drain.contestant
    )
    stored = _owned(claim).update(
        status=Response.Status.DONE,
        text=completion.text,
        served_model=completion.served_model,
        input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens,
        latency_ms=completion.latency_ms,
        cost_usd=cost,
        finish_reason=completion.finish_reason,
        model_mismatch=not served_model_matches(drain.contestant["model"], completion.served_model),
        self_identifies=bool(drain.leak_pattern.search(completion.text)),
        claim_token="",
        completed_at=timezone.now(),
    )
    if not stored:
        logger.warning("response %s was taken over while its call ran; the late answer is dropped", claim.response_id)
        return
    with drain.lock:
        drain.done += 1
    if drain.budget is not None:
        _pause_if_over_budget(drain)


def _pause_if_over_budget(drain: _Drain) -> None:
    spent = generation_actual_cost(campaign=drain.campaign_id)
    if spent < drain.budget:
        return
    pending = Response.objects.filter(campaign_id=drain.campaign_id, status=Response.Status.PENDING).count()
    Campaign.objects.filter(pk=drain.campaign_id, paused_reason="").update(
        paused_reason=(
            f"Paused: generation has cost ${spent:.4f}, which reached the budget cap of ${drain.budget:.4f}. "
            f"{pending} responses were not fetched. Raise or clear the budget, then generate again to continue."
        )[:300]
    )


def _process_or_fail(drain: _Drain, claim: _Claim) -> None:
    try:
        _process(drain, claim)
    except Exception:
        # A bug or a lost database must not leave the row running forever: the sweep would
        # reset it, but failing it here tells the lead at once.
        logger.exception("generation of response %s failed unexpectedly", claim.response_id)
        _owned(claim).update(
            status=Response.Status.FAILED,
            last_error="internal error while generating (see the worker log)",
            claim_token="",
            completed_at=timezone.now(),
        )


def _run(drain: _Drain, *, threads: int) -> None:
    """`threads` call threads fed by this thread, which claims rows in batches as they go idle."""
    work: queue.SimpleQueue[_Claim | None] = queue.SimpleQueue()
    idle_changed = threading.Condition()
    idle = threads

    def call_thread() -> None:
        nonlocal idle
        try:
            while (claim := work.get()) is not None:
                _process_or_fail(drain, claim)
                with idle_changed:
                    idle += 1
                    idle_changed.notify()
        finally:
            connection.close()  # each thread kept its own connection for its whole life

    pool = [
        threading.Thread(target=call_thread, name=f"gen-{drain.contestant_id}-{i}", daemon=True) for i in range(threads)
    ]
    for thread in pool:
        thread.start()
    wanted = 1  # idle threads to wait for before claiming
    try:
        while True:
            with idle_changed:
                while idle < wanted:
                    idle_changed.wait()
                free = idle
            if time.monotonic() > drain.deadline:
                drain.out_of_time = True
                return
            claims = _claim_batch(drain, limit=free)
            if claims is None and free < threads:
                # The bound is full with another task's calls as well as ours: wait for one more
                # of ours to finish and try again, rather than leave the rest to that task alone
                # (which may be finishing as well).
                wanted = free + 1
                continue
            if not claims:
                return  # the calls in flight finish; nothing new starts
            wanted = 1
            with idle_changed:
                idle -= len(claims)
            for claim in claims:
                work.put(claim)
    finally:
        for _ in pool:
            work.put(None)
        for thread in pool:
            thread.join()


def generation_drain(*, contestant_id: int) -> dict:
    """Fetch this contestant's pending responses with up to max_concurrency calls in flight."""
    contestant = Contestant.objects.select_related("campaign").filter(pk=contestant_id).first()
    if contestant is None:
        return {"done": 0, "failed": 0}
    campaign = contestant.campaign
    frozen = campaign.frozen_settings or {}
    frozen_contestant = (frozen.get("contestants") or {}).get(str(contestant.pk))
    if campaign.status != Campaign.Status.GENERATING or frozen_contestant is None:
        return {"done": 0, "failed": 0}
    models = list(campaign.contestants.values_list("model", flat=True))
    drain = _Drain(
        contestant_id=contestant.pk,
        campaign_id=campaign.pk,
        max_concurrency=max(1, contestant.max_concurrency),
        frozen=frozen,
        contestant=frozen_contestant,
        budget=campaign.budget_usd,
        leak_pattern=identity_leak_pattern(extra=models),
        policy=llm.RetryPolicy.from_settings(),
        deadline=time.monotonic() + settings.GENERATION_TASK_SECONDS,
        rpm=contestant.requests_per_minute,
        tpm=contestant.tokens_per_minute,
        limiter_key=endpoint_key(base_url=frozen_contestant["base_url"], api_key_env=frozen_contestant["api_key_env"]),
    )
    # No more threads than rows to fetch (a retry of 3 failed rows needs 3, not 16).
    pending = Response.objects.filter(contestant_id=contestant.pk, status=Response.Status.PENDING).count()
    if pending:
        _run(drain, threads=min(drain.max_concurrency, pending))
    if drain.out_of_time and Response.objects.filter(contestant_id=contestant.pk, status="pending").exists():
        # Hand over to a fresh task instead of running into Celery's time limits.
        from ..tasks import generation_run_contestant

        generation_run_contestant.delay(contestant.pk)
    generation_finish_if_complete(campaign_id=campaign.pk)
    return {"done": drain.done, "failed": drain.failed}


# --------------------------------------------------------------------------- reads


def generation_estimate(*, campaign: Campaign) -> dict:
    """Before launch: prompts x expected output tokens x output price, per contestant and total.

    Input tokens are not estimated (the catalog gives output prices); the actual cost after
    generation counts both when the contestant has an input price.
    """
    prompts = campaign.prompts.count()
    tokens = campaign.expected_output_tokens
    rows = []
    total = Decimal("0")
    for c in campaign.contestants.all():
        usd = (Decimal(prompts * tokens) * c.price_per_mtok_out / MILLION).quantize(COST_QUANTUM)
        total += usd
        rows.append(
            {
                "contestant_id": c.pk,
                "label": c.label,
                "model": c.model,
                "calls": prompts,
                "output_tokens": prompts * tokens,
                "price_per_mtok_out": c.price_per_mtok_out,
                "usd": usd,
            }
        )
    return {
        "prompts": prompts,
        "contestants": rows,
        "calls": prompts * len(rows),
        "expected_output_tokens": tokens,
        "total_usd": total,
        "budget_usd": campaign.budget_usd,
    }


def generation_progress(*, campaign: Campaign) -> dict:
    """Done/failed/pending/running per contestant, calls per second over the last minute, ETA, cost."""
    now = timezone.now()
    counts = {
        (row["contestant_id"], row["status"]): row
        for row in Response.objects.filter(campaign_id=campaign.pk)
        .values("contestant_id", "status")
        .annotate(
            n=Count("id"),
            cost=Sum("cost_usd"),
            attempts=Sum("attempts"),
            mismatch=Count("id", filter=Q(model_mismatch=True)),
            leaks=Count("id", filter=Q(self_identifies=True)),
        )
    }
    per = []
    totals = {"done": 0, "failed": 0, "pending": 0, "running": 0, "attempts": 0}
    total_cost = Decimal("0")
    for c in campaign.contestants.all():
        row = {s: counts.get((c.pk, s), {}).get("n", 0) for s in ("done", "failed", "pending", "running")}
        done = counts.get((c.pk, "done"), {})
        cost = usd(done.get("cost"))
        attempts = sum((counts.get((c.pk, s), {}).get("attempts") or 0) for s in Response.Status.values)
        per.append(
            {
                "contestant_id": c.pk,
                "label": c.label,
                "model": c.model,
                **row,
                "total": sum(row.values()),
                "attempts": attempts,
                "cost_usd": cost,
                "model_mismatch": done.get("mismatch", 0),
                "self_identifies": done.get("leaks", 0),
            }
        )
        for key in row:
            totals[key] += row[key]
        totals["attempts"] += attempts
        total_cost += cost
    # Calls finished per second over the last minute (or since the start, if more recent).
    window = 60.0
    if campaign.generation_started_at:
        window = max(1.0, min(window, (now - campaign.generation_started_at).total_seconds()))
    recent = Response.objects.filter(
        campaign_id=campaign.pk,
        completed_at__gte=now - timedelta(seconds=window),
        status__in=(Response.Status.DONE, Response.Status.FAILED),
    ).count()
    rate = recent / window
    remaining = totals["pending"] + totals["running"]
    eta = round(remaining / rate, 1) if rate > 0 and remaining else (0.0 if not remaining else None)
    return {
        "status": campaign.status,
        "paused_reason": campaign.paused_reason,
        "is_simulated": campaign.is_simulated,
        "contestants": per,
        **totals,
        "total": sum(totals[s] for s in ("done", "failed", "pending", "running")),
        "calls_per_second": round(rate, 3),
        "eta_seconds": eta,
        "cost_usd": total_cost,
        "budget_usd": campaign.budget_usd,
    }


def generation_failures(*, campaign: Campaign, limit: int = 100) -> list[dict]:
    """The failed responses with their errors, for the lead."""
    rows = (
        Response.objects.filter(campaign_id=campaign.pk, status=Response.Status.FAILED)
        .select_related("prompt", "contestant")
        .order_by("id")[:limit]
    )
    return [
        {
            "response_id": r.pk,
            "prompt": r.prompt.external_id or f"#{r.prompt.position}",
            "contestant": r.contestant.label,
            "attempts": r.attempts,
            "last_error": r.last_error,
        }
        for r in rows
    ]


def generation_flagged(*, campaign: Campaign, limit: int = 100) -> list[dict]:
    """Done responses flagged for the lead: another model served, or the text names a model."""
    rows = (
        Response.objects.filter(campaign_id=campaign.pk, status=Response.Status.DONE)
        .filter(Q(model_mismatch=True) | Q(self_identifies=True))
        .select_related("prompt", "contestant")
        .order_by("id")[:limit]
    )
    return [
        {
            "response_id": r.pk,
            "prompt": r.prompt.external_id or f"#{r.prompt.position}",
            "contestant": r.contestant.label,
            "asked_model": r.contestant.model,
            "served_model": r.served_model,
            "model_mismatch": r.model_mismatch,
            "self_identifies": r.self_identifies,
            "excerpt": r.text[:200],
        }
        for r in rows
    ]
