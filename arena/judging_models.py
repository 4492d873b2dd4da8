"""The judges' data: a Judge is a model that judges a campaign's comparisons; a Judgement is
one of its verdicts on one comparison in one order (`ab`: A's answer shown first).

Kept apart from the human data on purpose: no judge row is ever read by the human report,
the review path or a reviewer-facing serializer. The invariants are the generation engine's:
one judgement per (judge, comparison, order), claimed with a token and a heartbeat, every
write conditional on that token (services/judging_engine.py).
"""

from django.db import models
from django.db.models import Q

from .models import ModelEndpoint, RecordedCall


class Judge(ModelEndpoint):
    campaign = models.ForeignKey("arena.Campaign", on_delete=models.CASCADE, related_name="judges")
    label = models.CharField(max_length=100)
    model = models.CharField(max_length=200, help_text="The API model id of the judge.")
    instructions = models.TextField(blank=True, help_text="Extra instructions added to the judge prompt.")
    temperature = models.FloatField(null=True, blank=True, default=0.0)
    max_tokens = models.PositiveIntegerField(null=True, blank=True, default=1024)
    expected_output_tokens = models.PositiveIntegerField(default=300, help_text="Used for the cost estimate.")
    budget_usd = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, help_text="Judging pauses when reached."
    )
    paused_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "label"], name="judge_label_unique_in_campaign")]


class Judgement(RecordedCall):
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
