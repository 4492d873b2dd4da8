"""The generation engine: one task drains one contestant's pending responses, within its limits.

The task (`generation_drain`) runs up to `max_concurrency` call threads in one worker process,
fed by the task's own thread: whenever threads are idle it claims that many of the
contestant's pending rows in one transaction (status running, a claim token, `claimed_at`),
under a lock on the contestant row so that the number of running rows never exceeds
`max_concurrency` across every process and machine. Each call thread calls the model through
`llm.py`, waiting on the shared rate limiter before every attempt. Threads, not processes or
asyncio: the work is I/O bound, the sync `openai` client and the ORM are used as they are.
Claiming in batches, not one row per thread, keeps the contestant lock from becoming a queue
(docs/BENCHMARKS.md, "Generation").

Every attempt is recorded before it is sent (attempts + 1, the exact request) and every
outcome after, each as an UPDATE conditional on the claim token: when a row was taken back (by
the sweep) a late answer cannot overwrite it, so a row is stored and charged once. After each
stored answer the budget is checked (`generation_pause_if_over_budget`).

A drain first takes its contestant's drain lease (`Contestant.drain_token`), and leaves at once
when a live drain holds it. While it runs, the feeding thread renews, every
GENERATION_HEARTBEAT_SECONDS, the lease and `claimed_at` of every row it has claimed, whether
the row's call is in flight, backing off or waiting for the rate limiter: a call thread blocked
in a two-minute request cannot renew anything itself. A worker that dies stops renewing both,
and `generation_sweep_stuck` takes them back GENERATION_STUCK_AFTER_SECONDS later. A drain
that finds its lease taken (it was too slow to renew) claims nothing more and lets its calls
in flight finish, which are stored only if their rows are still theirs.

The lease, the heartbeats and the batch claims are written once for generation and judging, in
services/drains.py (`DrainRows`); this module holds the feeding loop and the recorded call that
they also share.

A drain stops claiming after GENERATION_TASK_SECONDS and says whether rows are left; the task
then enqueues a fresh one, so no task runs into Celery's time limits.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from .. import llm
from ..generation_requests import (
    request_build,
    request_streams,
    request_tokens_estimate,
    response_cost,
    served_model_matches,
)
from ..models import Campaign, Contestant, ModelEndpoint, Response
from ..ratelimit import endpoint_key, limiter
from ..style_features import style_counts
from .catalog import identity_leak_pattern
from .drains import Claim, DrainRows, DrainState
from .generation import generation_finish_if_complete, generation_pause_if_over_budget
from .images import request_with_image_bytes

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class _Drain(DrainState):
    campaign_id: int
    frozen: dict
    contestant: dict
    budget: Decimal | None
    leak_pattern: re.Pattern
    policy: llm.RetryPolicy
    limit: tuple  # the shared limiter's (key, rpm, tpm)
    stream: bool = True
    done: int = 0
    failed: int = 0


# A contestant's drain: the lease on the Contestant row, the claims on its Responses.
RESPONSES = DrainRows(endpoint=Contestant, rows=Response, endpoint_field="contestant")


def _claim_batch(drain: _Drain, *, limit: int) -> list[Claim] | None:
    """Claim up to `limit` of this contestant's pending rows (`DrainRows.claim`); [] when nothing
    is left or the campaign is paused or stopped; None when the bound is reached."""
    batch = RESPONSES.claim(
        drain,
        limit=limit,
        state_fields=("campaign__status", "campaign__paused_reason"),
        may_claim=lambda state: (
            state["campaign__status"] == Campaign.Status.GENERATING and not state["campaign__paused_reason"]
        ),
        row_fields=("prompt__text", "prompt__messages"),
    )
    if batch is None:
        return None
    token, rows = batch
    return [
        Claim(
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


def call_limit(endpoint: dict, row: ModelEndpoint) -> tuple:
    """`call_recorded`'s `limit`: the shared limiter's key for where `endpoint` is called (its
    base_url and api_key_env) and the endpoint row's requests and tokens per minute."""
    return (
        endpoint_key(base_url=endpoint["base_url"], api_key_env=endpoint["api_key_env"]),
        row.requests_per_minute,
        row.tokens_per_minute,
    )


def call_recorded(
    rows: DrainRows,
    claim: Claim,
    *,
    endpoint: dict,
    policy: llm.RetryPolicy,
    limit: tuple,
    stream: bool = False,
    count_rate_limited: bool = False,
) -> llm.Completion:
    """The claim's model call (its `body`) through llm.py, every attempt recorded on the row
    before it is sent.

    Every write goes to the row only while this drain still owns it (`rows.owned(claim)`,
    filtered on the claim token); `endpoint` holds base_url, api_key_env and simulated; `limit`
    is the shared limiter's (key, rpm, tpm); `stream` streams the call (time to first token);
    `count_rate_limited` counts 429s on the row's `rate_limited`. The stored request keeps
    image references, the sent one their bytes (services/images.py). Raises llm.LLMError.
    Generation and judging both call this.
    """
    limiter_key, rpm, tpm = limit
    body = claim.body
    stored_request = {"url": endpoint["base_url"] + "/chat/completions", "body": body}
    reserved = request_tokens_estimate(body)
    permit = None

    def before_attempt(n: int) -> bool:
        nonlocal permit
        # While this waits, the feeding thread keeps the row's heartbeat fresh.
        permit = limiter().acquire(key=limiter_key, rpm=rpm, tpm=tpm, tokens=reserved)
        fields = {"attempts": F("attempts") + 1, "claimed_at": timezone.now()}
        if n == 1:
            fields["request"] = stored_request
        return bool(rows.owned(claim).update(**fields))

    def after_failure(n: int, error: llm.LLMError) -> bool:
        fields = {"last_error": f"attempt {n}: {error.message}"[:2000]}
        if error.status == 429 and count_rate_limited:
            fields["rate_limited"] = F("rate_limited") + 1
        return bool(rows.owned(claim).update(**fields))

    api_key = llm.api_key_for(
        api_key_env=endpoint["api_key_env"], base_url=endpoint["base_url"], simulated=endpoint.get("simulated", False)
    )
    client = llm.client_for(base_url=endpoint["base_url"], api_key=api_key, timeout=policy.timeout)
    completion = llm.chat_completion_with_retries(
        client=client,
        request=request_with_image_bytes(body),
        policy=policy,
        before_attempt=before_attempt,
        after_failure=after_failure,
        stream=stream,
    )
    if permit is not None:
        limiter().settle(permit, tokens=completion.input_tokens + completion.output_tokens)
    return completion


def _process(drain: _Drain, claim: Claim) -> None:
    try:
        completion = call_recorded(
            RESPONSES,
            claim,
            endpoint=drain.contestant,
            policy=drain.policy,
            limit=drain.limit,
            stream=drain.stream,
            count_rate_limited=True,
        )
    except llm.LLMError as error:
        failed = RESPONSES.fail(claim, error=error.message)
        with drain.lock:
            drain.failed += failed
        return
    cost = response_cost(
        input_tokens=completion.input_tokens, output_tokens=completion.output_tokens, contestant=drain.contestant
    )
    stored = RESPONSES.owned(claim).update(
        status=Response.Status.DONE,
        text=completion.text,
        style=list(style_counts(completion.text)),
        served_model=completion.served_model,
        input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens,
        latency_ms=completion.latency_ms,
        ttft_ms=completion.ttft_ms,
        cost_usd=cost,
        finish_reason=completion.finish_reason,
        model_mismatch=not served_model_matches(drain.contestant["model"], completion.served_model),
        self_identifies=bool(drain.leak_pattern.search(completion.text)),
        claim_token="",
        completed_at=timezone.now(),
    )
    if not stored:
        logger.warning("response %s was taken over while its call ran; the late answer is dropped", claim.row_id)
        return
    with drain.lock:
        drain.done += 1
    if drain.budget is not None:
        generation_pause_if_over_budget(campaign_id=drain.campaign_id, budget=drain.budget)


def _process_or_fail(drain: _Drain, claim: Claim) -> None:
    RESPONSES.process_or_fail(_process, drain, claim, activity="generating")


def _run(
    drain,
    *,
    threads: int,
    claim_batch: Callable = _claim_batch,
    process: Callable = _process_or_fail,
    beat: Callable = RESPONSES.heartbeat,
    name: str = "gen",
) -> None:
    """`threads` call threads fed by this thread, which claims rows in batches as they go idle
    and renews the heartbeats every GENERATION_HEARTBEAT_SECONDS until the last call is done.

    `claim_batch(drain, limit=n)`, `process(drain, claim)` and `beat(drain)` are generation's by
    default; judging (services/judging_engine.py) runs the same loop with its own three. The
    drain needs `deadline`, `out_of_time`, `lease_lost`, `live_claims` and `lock`."""
    work: queue.SimpleQueue[Claim | None] = queue.SimpleQueue()
    idle_changed = threading.Condition()
    idle = threads
    beat_every = settings.GENERATION_HEARTBEAT_SECONDS

    def call_thread() -> None:
        nonlocal idle
        try:
            while (claim := work.get()) is not None:
                process(drain, claim)
                with drain.lock:
                    drain.live_claims[claim.token] -= 1
                    if drain.live_claims[claim.token] <= 0:
                        del drain.live_claims[claim.token]
                with idle_changed:
                    idle += 1
                    idle_changed.notify()
        finally:
            connection.close()  # each thread kept its own connection for its whole life

    pool = [threading.Thread(target=call_thread, name=f"{name}-{i}", daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    wanted = 1  # idle threads to wait for before claiming
    claim_again_at = 0.0  # when the bound was full with other drains' rows: try again at this time
    claiming = True  # until nothing is left to claim, time is up or the lease was lost
    next_beat = time.monotonic() + beat_every
    try:
        while True:
            with idle_changed:
                # Wake for an idle thread, or to beat; never wait past the next heartbeat.
                while (idle < wanted if claiming else idle < threads) and time.monotonic() < next_beat:
                    idle_changed.wait(timeout=max(0.0, next_beat - time.monotonic()))
                free = idle
            now = time.monotonic()
            if now >= next_beat:
                beat(drain)
                next_beat = now + beat_every
                if drain.lease_lost:
                    claiming = False
            if not claiming:
                if free == threads:
                    return
                continue
            if free < wanted or now < claim_again_at:
                if now < claim_again_at:
                    with idle_changed:
                        idle_changed.wait(timeout=min(claim_again_at, next_beat) - now)
                continue
            if now > drain.deadline:
                drain.out_of_time = True
                claiming = False
                continue
            claims = claim_batch(drain, limit=free)
            if claims is None:
                # The bound is full with rows of another drain (one that lost its lease and is
                # finishing its calls, or a dead one whose rows the sweep has not taken back
                # yet): wait for one of ours to finish, or try again in a moment if none runs.
                if free < threads:
                    wanted = free + 1
                else:
                    claim_again_at = now + min(1.0, beat_every)
                continue
            if not claims:
                claiming = False  # the calls in flight finish; nothing new starts
                continue
            wanted = 1
            with drain.lock:
                drain.live_claims[claims[0].token] += len(claims)
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
    """Fetch this contestant's pending responses with up to max_concurrency calls in flight.

    Returns how many were stored and failed, and `more`: true when rows are still pending and
    nobody else will fetch them (the drain stopped for time, or rows became pending after its
    last claim), so that its caller (the task) hands over to a fresh task. A drain that finds a
    live drain on the contestant returns at once: that one fetches everything.
    """
    nothing = {"done": 0, "failed": 0, "more": False}
    contestant = Contestant.objects.select_related("campaign").filter(pk=contestant_id).first()
    if contestant is None:
        return nothing
    campaign = contestant.campaign
    frozen = campaign.frozen_settings or {}
    frozen_contestant = (frozen.get("contestants") or {}).get(str(contestant.pk))
    if campaign.status != Campaign.Status.GENERATING or frozen_contestant is None:
        return nothing
    lease_token = uuid.uuid4().hex
    if not RESPONSES.lease_take(endpoint_id=contestant.pk, token=lease_token):
        return nothing
    models = list(campaign.contestants.values_list("model", flat=True))
    drain = _Drain(
        endpoint_id=contestant.pk,
        campaign_id=campaign.pk,
        max_concurrency=max(1, contestant.max_concurrency),
        frozen=frozen,
        contestant=frozen_contestant,
        budget=campaign.budget_usd,
        leak_pattern=identity_leak_pattern(extra=models),
        policy=llm.RetryPolicy.from_settings(),
        deadline=time.monotonic() + settings.GENERATION_TASK_SECONDS,
        limit=call_limit(frozen_contestant, contestant),
        lease_token=lease_token,
        stream=request_streams(frozen=frozen, contestant=frozen_contestant),
    )
    pending = Response.objects.filter(contestant_id=contestant.pk, status=Response.Status.PENDING)
    try:
        # No more threads than rows to fetch (a retry of 3 failed rows needs 3, not 16).
        if count := pending.count():
            _run(drain, threads=min(drain.max_concurrency, count), name=f"gen-{contestant.pk}")
    finally:
        RESPONSES.lease_release(drain)
    # A drain that lost its lease leaves the rest to the one that took it. Otherwise, rows left
    # pending (time ran out, or a retry or a resume added rows after the last claim, whose own
    # drain saw this one alive and left) are handed over, unless the campaign cannot go on.
    more = (
        not drain.lease_lost
        and pending.exists()
        and Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.GENERATING, paused_reason="").exists()
    )
    generation_finish_if_complete(campaign_id=campaign.pk)
    return {"done": drain.done, "failed": drain.failed, "more": more}
