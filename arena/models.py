"""The data model: campaign -> contestants + prompts -> responses -> comparisons -> assignments -> votes.

Invariants live in the database, not only in Python: one response per (prompt, contestant),
one comparison per (prompt, pair), one normal assignment per (comparison, reviewer), one vote
per assignment. Races between workers or reviewers are settled by these constraints and by
conditional updates in the services, never by a check-then-write in Python.
"""

import secrets
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from .conversations import last_user_text


def random_order_key() -> int:
    """A random rank per comparison: reviewers see items in a shuffled order, not the pair order."""
    return secrets.randbelow(2**31)


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        GENERATING = "generating"
        READY = "ready"
        OPEN = "open"
        CLOSED = "closed"

    class Pairing(models.TextChoices):
        ALL_PAIRS = "all_pairs"
        VS_BASELINE = "vs_baseline"

    name = models.CharField(max_length=200)
    guidelines = models.TextField(blank=True, help_text="Markdown shown to reviewers.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    votes_per_comparison = models.PositiveSmallIntegerField(default=3)
    pairing = models.CharField(max_length=16, choices=Pairing.choices, default=Pairing.ALL_PAIRS)

    # Generation settings, the same for every contestant. They are copied into
    # `frozen_settings` when generation starts and never read from here afterwards.
    system_prompt = models.TextField(blank=True)
    temperature = models.FloatField(null=True, blank=True, default=0.7)
    max_tokens = models.PositiveIntegerField(null=True, blank=True, default=1024)
    seed = models.BigIntegerField(null=True, blank=True)
    extra_params = models.JSONField(default=dict, blank=True)
    frozen_settings = models.JSONField(null=True, blank=True, editable=False)
    expected_output_tokens = models.PositiveIntegerField(
        default=400, help_text="Used for the cost estimate before launch."
    )
    budget_usd = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, help_text="Generation pauses when reached."
    )
    paused_reason = models.CharField(max_length=300, blank=True)

    class JudgeMode(models.TextChoices):
        OFF = "off"
        JUDGE_ONLY = "judge_only"  # no reviewers: the judge tables are the result
        HYBRID = "hybrid"  # reviewers get the judge's inconsistent comparisons, then a share of the rest

    judge_mode = models.CharField(max_length=16, choices=JudgeMode.choices, default=JudgeMode.OFF)
    hybrid_share = models.FloatField(
        default=0.2, help_text="Hybrid: share of the judge-consistent comparisons still given to reviewers."
    )

    min_seconds_per_vote = models.FloatField(default=3.0, help_text="Faster votes are marked as too fast.")

    # Stopping (arena/services/decisions.py, PRODUCT.md "Contract: adaptive stopping").
    class Stopping(models.TextChoices):
        FIXED = "fixed"
        ADAPTIVE = "adaptive"

    stopping = models.CharField(
        max_length=8,
        choices=Stopping.choices,
        default=Stopping.FIXED,
        help_text="adaptive: a pair gets no more votes once decided; k is each comparison's maximum.",
    )
    alpha = models.FloatField(default=0.05, help_text="Error over all pairs (split across pairs).")
    equivalence_margin = models.FloatField(default=0.05, help_text="Equivalent inside 0.5 ± this; 0: off.")
    power_share = models.FloatField(
        default=0.55, help_text="Smallest decisive share that matters, for the votes-needed figure."
    )
    reviewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="CampaignReviewer", related_name="review_campaigns", blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    generation_started_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(votes_per_comparison__gte=1), name="campaign_k_at_least_one"),
            models.CheckConstraint(condition=Q(alpha__gt=0, alpha__lt=1), name="campaign_alpha_in_range"),
            models.CheckConstraint(
                condition=Q(equivalence_margin__gte=0, equivalence_margin__lt=0.5), name="campaign_margin_in_range"
            ),
            models.CheckConstraint(condition=Q(power_share__gt=0.5, power_share__lt=1), name="campaign_power_share"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_simulated(self) -> bool:
        """True when a contestant talks to the local simulated endpoint instead of a real model."""
        return any(c.uses_simulator for c in self.contestants.all())


class CampaignReviewer(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    # A lead may exclude a reviewer: their votes stay stored but every report leaves them out.
    excluded = models.BooleanField(default=False)
    added_at = models.DateTimeField(auto_now_add=True)
    # Kept by the assignment service under this row's lock (which serialises one reviewer's own
    # requests): the prompt last handed out (never the same twice in a row) and how many normal
    # and repeat items were handed out (repeat checks are a share of the normal ones).
    # No index on last_prompt: none of the row's updated columns is indexed, so PostgreSQL
    # updates it in place (HOT) on every "next" instead of adding index entries that the
    # membership lookup has to walk past until VACUUM (the lookup slowed down during a run).
    last_prompt = models.ForeignKey(
        "Prompt", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    normal_served = models.PositiveIntegerField(default=0)
    repeats_served = models.PositiveIntegerField(default=0)
    # Counted votes cast here, moved by the vote service in the vote's transaction: the
    # reviewer's progress without counting their votes on every "next" (a count that grew with
    # their history: 1 ms at 300 votes, and a reviewer of a big campaign casts thousands).
    votes_cast = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "user"], name="one_membership_per_user")]

    def __str__(self) -> str:
        """The reviewer's name, as admin titles the membership (select_related("user") in lists)."""
        full_name = self.user.get_full_name()
        return f"{full_name} ({self.user.get_username()})" if full_name else self.user.get_username()


class Invite(models.Model):
    """A link that makes whoever opens it a reviewer of the campaign, up to `max_uses` people.

    Only a hash of the link's key is stored: the key itself is shown once, to the lead who made
    it, so a copy of the database cannot be turned into working links. A use is counted by a
    conditional UPDATE (uses < max_uses), so two sign-ups at once cannot pass the limit, and the
    check constraint holds it in the database as well.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="invites")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField(default=1)
    uses = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(max_uses__gte=1), name="invite_max_uses_at_least_one"),
            models.CheckConstraint(condition=Q(uses__lte=models.F("max_uses")), name="invite_uses_within_limit"),
        ]

    def __str__(self) -> str:
        return f"invite #{self.pk} to {self.campaign_id}"


class ModelEndpoint(models.Model):
    """What a contestant and a judge share: the endpoint and key variable a model is called at
    (arena/endpoints.py checks both), its prices, its concurrency and rate limits, and the drain
    lease of the worker calling it (services/generation_engine.py)."""

    base_url = models.CharField(max_length=500, blank=True, help_text="Empty: GLOBAL_API_BASE_URL.")
    api_key_env = models.CharField(
        max_length=100, blank=True, help_text="Name of the env var holding the API key. Empty: GLOBAL_API_KEY."
    )
    price_per_mtok_out = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    price_per_mtok_in = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    max_concurrency = models.PositiveSmallIntegerField(default=16)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)
    # The drain lease: the token of the drain that runs this endpoint's rows ("" while one is
    # only queued) and its heartbeat, renewed every few seconds. A heartbeat older than
    # GENERATION_STUCK_AFTER_SECONDS means no live drain.
    drain_token = models.CharField(max_length=32, blank=True, editable=False)
    drain_heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.label

    @property
    def effective_base_url(self) -> str:
        return (self.base_url or settings.GLOBAL_API_BASE_URL).rstrip("/")

    @property
    def effective_api_key_env(self) -> str:
        return self.api_key_env or settings.GLOBAL_API_KEY_ENV

    @property
    def uses_simulator(self) -> bool:
        return self.effective_base_url == settings.SIMULATED_API_BASE_URL.rstrip("/")


class Contestant(ModelEndpoint):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="contestants")
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in the campaign; A is listed first.")
    label = models.CharField(max_length=100)
    model = models.CharField(max_length=200, help_text="The API model id, e.g. deepseek-v4-flash.")
    extra_params = models.JSONField(default=dict, blank=True)
    is_baseline = models.BooleanField(default=False)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "label"], name="contestant_label_unique_in_campaign"),
        ]


class Prompt(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="prompts")
    position = models.PositiveIntegerField(default=0)
    external_id = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=100, blank=True)
    text = models.TextField(blank=True)
    messages = models.JSONField(null=True, blank=True, help_text="A list of chat messages instead of text.")
    metadata = models.JSONField(default=dict, blank=True)
    # Safe HTML of `display_text`, rendered once by arena.rendering on first view ("" = not yet),
    # so "next" does not run markdown on every request.
    html = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "external_id"],
                condition=~Q(external_id=""),
                name="prompt_external_id_unique_in_campaign",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id or f"prompt {self.pk}"

    @property
    def display_text(self) -> str:
        """The prompt's text: the plain text, or the text of a conversation's last user turn
        (the review page shows the whole conversation from `messages`)."""
        if self.messages:
            return last_user_text(self.messages)
        return self.text


class RecordedCall(models.Model):
    """What a Response and a Judgement share: the record of one model call made by a drain
    (services/generation_engine.py's `call_recorded`): the exact request, what the reply used,
    took and cost, the attempts and the last error, and the drain's claim on the row (the
    token and its heartbeat, services/drains.py) until it is completed."""

    request = models.JSONField(null=True, blank=True, help_text="The exact request sent (without the key).")
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Response(RecordedCall):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    contestant = models.ForeignKey(Contestant, on_delete=models.CASCADE, related_name="responses")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="responses")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    text = models.TextField(blank=True)
    # Safe HTML of `text`, rendered once by arena.rendering on first view ("" = not yet).
    html = models.TextField(blank=True, editable=False)
    # arena.style_features.style_counts(text), stored with the text (null: counted from the text when read).
    style = models.JSONField(null=True, blank=True, editable=False)
    served_model = models.CharField(max_length=200, blank=True)
    # Time to the first streamed token (null: a plain call, the provider refused streaming).
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    # Attempts answered 429 (they wait their Retry-After and do not use up an attempt).
    rate_limited = models.PositiveIntegerField(default=0)
    finish_reason = models.CharField(max_length=50, blank=True)
    # Flags for the lead: the API reported another model than asked, or the text names a
    # model or vendor (which would break the blind).
    model_mismatch = models.BooleanField(default=False)
    self_identifies = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prompt", "contestant"], name="one_response_per_prompt_and_contestant"),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"]),
            # The generation engine claims the next pending row of one contestant, in id order.
            models.Index(fields=["contestant", "status", "id"]),
        ]

    def __str__(self) -> str:
        return f"response {self.pk} ({self.status})"


class Comparison(models.Model):
    """A prompt and one pair of contestants' responses: the thing reviewers judge.

    `contestant_a` is the one listed first in the campaign (in vs_baseline, B is the baseline).
    """

    class Gold(models.TextChoices):
        A = "a"
        B = "b"
        TIE = "tie"
        BOTH_BAD = "both_bad"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="comparisons")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="comparisons")
    contestant_a = models.ForeignKey(Contestant, on_delete=models.CASCADE, related_name="+")
    contestant_b = models.ForeignKey(Contestant, on_delete=models.CASCADE, related_name="+")
    response_a = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    response_b = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    # Leases out or voted, for normal (counted) assignments: never more than k. Kept by the
    # assignment service inside the same transaction as the assignment row.
    active_assignments = models.PositiveSmallIntegerField(default=0)
    votes_count = models.PositiveSmallIntegerField(default=0)
    # How many normal assignments showed A on the left, for counterbalancing.
    a_left_count = models.PositiveSmallIntegerField(default=0)
    excluded = models.BooleanField(default=False, help_text="Left out of review (e.g. a response names its model).")
    gold = models.CharField(max_length=16, choices=Gold.choices, blank=True, help_text="Expected answer.")
    order_key = models.IntegerField(default=random_order_key, editable=False)
    # The pair's place in the queue, kept by services/decisions.py: 0 in fixed campaigns; in
    # adaptive ones lower for pairs further from a decision, and CLOSED_RANK once decided.
    pick_rank = models.IntegerField(default=0, editable=False)
    # Hybrid judging (services/judging_hybrid.py): a comparison the judge settled, held back from
    # reviewers. The pick's WHERE skips it; the index below has it before the walked columns.
    judge_held = models.BooleanField(default=False, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "contestant_a", "contestant_b"], name="one_comparison_per_prompt_and_pair"
            ),
            models.CheckConstraint(condition=~Q(contestant_a=models.F("contestant_b")), name="comparison_two_sides"),
        ]
        # The assignment engine walks this index in order (least-handed-out first, then a
        # random rank), so "next" reads a few index entries whatever the campaign's size.
        indexes = [
            models.Index(fields=["campaign", "excluded", "judge_held", "pick_rank", "active_assignments", "order_key"])
        ]

    def __str__(self) -> str:
        # Ids only: no contestant's label, and no query per row in a list.
        return f"comparison {self.pk} (prompt {self.prompt_id})"


def new_assignment_token() -> str:
    return secrets.token_urlsafe(18)


class Assignment(models.Model):
    """A comparison handed to one reviewer: a lease until voted, skipped or expired.

    `token` is the only id a reviewer ever sees: random, opaque, unrelated to any row id.
    """

    class Status(models.TextChoices):
        LEASED = "leased"
        VOTED = "voted"
        SKIPPED = "skipped"
        EXPIRED = "expired"
        FLAGGED = "flagged"

    class Kind(models.TextChoices):
        NORMAL = "normal"
        REPEAT = "repeat"  # re-shows a comparison the reviewer judged, sides swapped; not counted

    # Unique through Meta.constraints, not unique=True: on PostgreSQL that also built a second
    # (pattern-ops) index on the token, one more index to write on every lease.
    token = models.CharField(max_length=32, default=new_assignment_token, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="assignments")
    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="assignments")
    # Lookups by reviewer use the (reviewer, campaign, status) index; its own would only cost writes.
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.NORMAL)
    a_on_left = models.BooleanField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.LEASED)
    leased_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField()
    flag_reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["comparison", "reviewer"],
                condition=Q(kind="normal"),
                name="one_normal_assignment_per_comparison_and_reviewer",
            ),
            models.UniqueConstraint(
                fields=["comparison", "reviewer"],
                condition=Q(kind="repeat"),
                name="one_repeat_assignment_per_comparison_and_reviewer",
            ),
            models.UniqueConstraint(fields=["token"], name="assignment_token_unique"),
        ]
        indexes = [
            # leased_at last: the repeat-check pick walks a reviewer's voted items oldest first
            # and stops at the first not yet repeated, instead of sorting their whole history.
            models.Index(fields=["reviewer", "campaign", "status", "leased_at"], name="assignment_reviewer_history"),
            models.Index(fields=["status", "lease_expires_at"]),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} ({self.kind}, {self.status})"


class Vote(models.Model):
    class Choice(models.TextChoices):
        LEFT = "left"
        RIGHT = "right"
        TIE = "tie"
        BOTH_BAD = "both_bad"

    class Resolved(models.TextChoices):
        A = "a"
        B = "b"
        TIE = "tie"
        BOTH_BAD = "both_bad"

    # One vote per assignment, settled by the primary key itself.
    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, primary_key=True, related_name="vote")
    # Lookups by campaign use the (campaign, counted, resolved) index.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="votes", db_index=False)
    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="votes")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="votes")
    choice = models.CharField(max_length=8, choices=Choice.choices)
    resolved = models.CharField(max_length=8, choices=Resolved.choices)
    a_on_left = models.BooleanField()
    # Only normal assignments count in results; repeat checks are for reviewer quality only.
    counted = models.BooleanField(default=True)
    comment = models.TextField(blank=True)
    seconds_on_task = models.FloatField(null=True, blank=True)
    too_fast = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["campaign", "counted", "resolved"]),
            # A reviewer's progress ("12 of 60") counts their counted votes on every "next": an
            # index-only scan of their own entries, not a heap visit per vote they ever cast.
            models.Index(fields=["reviewer", "campaign"], condition=Q(counted=True), name="vote_counted_by_reviewer"),
        ]

    def __str__(self) -> str:
        return f"vote on assignment {self.assignment_id}: {self.choice}"


# The model catalog, prompt images, criteria, pair decisions, judges and the limiter's rows live
# in their own modules; imported here so that Django registers them and `from arena.models import ...` finds
# them.
from .catalog_models import ModelCatalogEntry  # noqa: E402, F401
from .criteria_models import Criterion, VoteCriterion  # noqa: E402, F401
from .decision_models import PairDecision  # noqa: E402, F401
from .image_models import PromptImage, StoredImage  # noqa: E402, F401
from .judging_models import Judge, Judgement  # noqa: E402, F401
from .ratelimit_models import RateLimitBucket, RateLimitEvent  # noqa: E402, F401
