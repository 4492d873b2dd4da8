"""Each contestant pair's sequential decision (arena/services/decisions.py).

Imported by arena/models.py (Django finds the app's models there); kept apart so that the data
model of adaptive stopping reads in one place.
"""

from django.db import models

from .models import Campaign, Contestant


class PairDecision(models.Model):
    """One contestant pair's sequential decision (services/decisions.py): its counted votes as
    the votes came in, the confidence sequence now, and when it was decided.

    `closed` is true for a decided pair of an adaptive campaign: its comparisons are handed to
    no one (the pick checks this row). Kept under this row's lock by the vote that moves it.
    """

    class Decision(models.TextChoices):
        A_BETTER = "a_better"
        B_BETTER = "b_better"
        EQUIVALENT = "equivalent"
        UNDECIDED = "undecided"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="pair_decisions")
    contestant_a = models.ForeignKey(Contestant, on_delete=models.CASCADE, related_name="+")
    contestant_b = models.ForeignKey(Contestant, on_delete=models.CASCADE, related_name="+")
    votes = models.PositiveIntegerField(default=0)
    decisive = models.PositiveIntegerField(default=0)
    a_wins = models.PositiveIntegerField(default=0)
    decision = models.CharField(max_length=12, choices=Decision.choices, default=Decision.UNDECIDED)
    decided_at_votes = models.PositiveIntegerField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    cs_low = models.FloatField(null=True, blank=True)
    cs_high = models.FloatField(null=True, blank=True)
    closed = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contestant_a", "contestant_b"], name="one_decision_per_pair"),
        ]
