"""The judges' data: a Judge is a model that judges a campaign's comparisons; a Judgement is
one of its verdicts on one comparison in one order (`ab`: A's answer shown first).

Kept apart from the human data on purpose: no judge row is ever read by the human report,
the review path or a reviewer-facing serializer. The invariants are the generation engine's:
one judgement per (judge, comparison, order), claimed with a token and a heartbeat, every
write conditional on that token (services/judging_engine.py).
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q


class Judge(models.Model):
    campaign = models.ForeignKey("arena.Campaign", on_delete=models.CASCADE, related_name="judges")
    label = models.CharField(max_length=100)
    model = models.CharField(max_length=200, help_text="The API model id of the judge.")
    base_url = models.CharField(max_length=500, blank=True, help_text="Empty: GLOBAL_API_BASE_URL.")
    api_key_env = models.CharField(
        max_length=100, blank=True, help_text="Name of the env var holding the API key. Empty: GLOBAL_API_KEY."
    )
    price_per_mtok_out = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    price_per_mtok_in = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    instructions = models.TextField(blank=True, help_text="Extra instructions added to the judge prompt.")
    temperature = models.FloatField(null=True, blank=True, default=0.0)
    max_tokens = models.PositiveIntegerField(null=True, blank=True, default=1024)
    expected_output_tokens = models.PositiveIntegerField(default=300, help_text="Used for the cost estimate.")
    max_concurrency = models.PositiveSmallIntegerField(default=16)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)
    budget_usd = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, help_text="Judging pauses when reached."
    )
    paused_reason = models.CharField(max_length=300, blank=True)
    # The drain lease, as Contestant.drain_token / drain_heartbeat_at for generation.
    drain_token = models.CharField(max_length=32, blank=True, editable=False)
    drain_heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "label"], name="judge_label_unique_in_campaign")]

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


class Judgement(models.Model):
    class Order(models.TextChoices):
        AB = "ab"  # A's answer shown first
        BA = "ba"  # B's answer shown first

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        UNPARSED = "unparsed"  # answered, but no [[A]]/[[B]]/[[C]] after the verdict retries
        FAILED = "failed"

    class Verdict(models.TextChoices):
        FIRST = "first"
        SECOND = "second"
        TIE = "tie"

    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="judgements")
    comparison = models.ForeignKey("arena.Comparison", on_delete=models.CASCADE, related_name="judgements")
    campaign = models.ForeignKey("arena.Campaign", on_delete=models.CASCADE, related_name="judgements")
    order = models.CharField(max_length=2, choices=Order.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    verdict = models.CharField(max_length=8, choices=Verdict.choices, blank=True)
    reply = models.TextField(blank=True)
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
        constraints = [
            models.UniqueConstraint(
                fields=["judge", "comparison", "order"], name="one_judgement_per_judge_comparison_and_order"
            ),
            models.CheckConstraint(condition=~Q(status="done") | ~Q(verdict=""), name="judgement_done_has_a_verdict"),
        ]
        indexes = [
            models.Index(fields=["judge", "status", "id"]),
            models.Index(fields=["campaign", "status"]),
        ]

    def __str__(self) -> str:
        return f"judgement {self.pk} ({self.status})"
