"""What generation's and judging's drains share: the drain lease on the endpoint row and the
claims on the work rows, written once for both pairs of models.

A contestant's drain works on its Responses and a judge's on its Judgements; Contestant and
Judge are both a ModelEndpoint (the lease: `drain_token`, `drain_heartbeat_at`), and Response
and Judgement both carry the claim (`status` pending/running, `claim_token`, `claimed_at`).
`DrainRows` names the two models and the foreign key between them, and does on them what
services/generation_engine.py describes: take, renew and release the lease, claim a batch of
pending rows under the endpoint row's lock, and write only to rows still owned.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from ..models import ModelEndpoint
from .generation import drain_lease_free

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class DrainState:
    """A running drain as the shared parts see it (each engine adds its own fields)."""

    endpoint_id: int
    max_concurrency: int
    deadline: float
    lease_token: str
    out_of_time: bool = False
    lease_lost: bool = False
    # Claim tokens with rows still being processed, and how many: the rows whose heartbeat the
    # feeding thread renews.
    live_claims: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class Claim:
    row_id: int
    token: str
    body: dict


@dataclass(frozen=True)
class DrainRows:
    """The endpoint model holding the lease, the row model holding the claims, and the name of
    the row's foreign key to the endpoint (`contestant`, `judge`, also used in log lines)."""

    endpoint: type[ModelEndpoint]
    rows: type[models.Model]
    endpoint_field: str

    def lease_take(self, *, endpoint_id: int, token: str) -> bool:
        """Take the endpoint's drain lease unless a live drain holds it (a queued mark is no holder)."""
        return bool(
            self.endpoint.objects.filter(pk=endpoint_id)
            .filter(Q(drain_token="") | drain_lease_free())
            .update(drain_token=token, drain_heartbeat_at=timezone.now())
        )

    def lease_release(self, drain: DrainState) -> None:
        self.endpoint.objects.filter(pk=drain.endpoint_id, drain_token=drain.lease_token).update(
            drain_token="", drain_heartbeat_at=None
        )

    def heartbeat(self, drain: DrainState) -> None:
        """Renew the lease and the heartbeat of every row this drain is still processing."""
        now = timezone.now()
        renewed = self.endpoint.objects.filter(pk=drain.endpoint_id, drain_token=drain.lease_token).update(
            drain_heartbeat_at=now
        )
        if not renewed and not drain.lease_lost:
            drain.lease_lost = True
            logger.warning(
                "the drain of %s %s lost its lease; it claims nothing more", self.endpoint_field, drain.endpoint_id
            )
        with drain.lock:
            tokens = list(drain.live_claims)
        if tokens:
            self.rows.objects.filter(claim_token__in=tokens, status=self.rows.Status.RUNNING).update(claimed_at=now)

    def claim(
        self,
        drain: DrainState,
        *,
        limit: int,
        state_fields: tuple[str, ...],
        may_claim: Callable[[dict], bool],
        row_fields: tuple[str, ...],
    ) -> tuple[str, list[dict]] | None:
        """Claim up to `limit` of the endpoint's pending rows: (the batch's token, the rows'
        `row_fields`); no rows when nothing is left or `may_claim(state)` says no (the endpoint
        row's `state_fields`: the campaign paused or stopped); None when max_concurrency rows
        are running (calls of another drain for the same endpoint fill the bound).

        One short transaction per batch, not per row: the endpoint row lock serialises claims
        across processes, and on PostgreSQL, with 16 threads each taking it for every row, the
        queue on that lock (each holder waiting for its round trips and for the GIL) averaged
        80 ms per claim and stretched the run by half.
        """
        mine = {f"{self.endpoint_field}_id": drain.endpoint_id}
        with transaction.atomic():
            # The lock makes the running count below exact, so the bound holds across every
            # process and machine. The count is a separate, later statement on purpose: in READ
            # COMMITTED a statement that waited for a lock still reads with the snapshot it
            # started with.
            state = (
                self.endpoint.objects.select_for_update(of=("self",))
                .filter(pk=drain.endpoint_id)
                .values(*state_fields)
                .first()
            )
            if not state or not may_claim(state):
                return "", []
            running = self.rows.objects.filter(**mine, status=self.rows.Status.RUNNING).count()
            size = min(limit, drain.max_concurrency - running)
            if size <= 0:
                return None
            rows = list(
                self.rows.objects.filter(**mine, status=self.rows.Status.PENDING)
                .order_by("id")
                .values("id", *row_fields)[:size]
            )
            if not rows:
                return "", []
            # One token for the batch: ownership is (row id, token, running), and the sweep
            # clears the token of a row it takes over, so a late answer still cannot overwrite it.
            token = uuid.uuid4().hex
            ids = [row["id"] for row in rows]
            claimed = self.rows.objects.filter(pk__in=ids, status=self.rows.Status.PENDING).update(
                status=self.rows.Status.RUNNING, claim_token=token, claimed_at=timezone.now()
            )
            if claimed != len(ids):  # only if something outside the lock changed a row meanwhile
                owned = set(self.rows.objects.filter(pk__in=ids, claim_token=token).values_list("id", flat=True))
                rows = [row for row in rows if row["id"] in owned]
        return token, rows

    def owned(self, claim: Claim) -> QuerySet:
        """The claimed row while this drain still owns it: every write goes through this."""
        return self.rows.objects.filter(pk=claim.row_id, claim_token=claim.token, status=self.rows.Status.RUNNING)

    def fail(self, claim: Claim, *, error: str) -> int:
        """Mark the claimed row failed, if still owned; returns 1 if it was."""
        return self.owned(claim).update(
            status=self.rows.Status.FAILED, last_error=error[:2000], claim_token="", completed_at=timezone.now()
        )

    def process_or_fail(
        self, process: Callable[[DrainState, Claim], None], drain: DrainState, claim: Claim, *, activity: str
    ) -> None:
        """`process(drain, claim)`, failing the row if it raises (`activity`: "generating").

        A bug or a lost database must not leave the row running forever: the sweep would reset
        it, but failing it here tells the lead at once.
        """
        try:
            process(drain, claim)
        except Exception:
            logger.exception("%s %s failed unexpectedly while %s", self.rows._meta.model_name, claim.row_id, activity)
            self.fail(claim, error=f"internal error while {activity} (see the worker log)")
