"""Criteria: the questions a campaign asks beside the overall choice, and each vote's answers.

Imported by arena/models.py (Django finds the app's models there); kept apart so that the data
model of criteria reads in one place (rules in arena/services/criteria.py).
"""

from django.db import models
from django.db.models import Q

from .models import Campaign, Vote


class Criterion(models.Model):
    """A question asked beside the overall choice (e.g. "Which is more accurate?"), answered
    left/right/tie/both_bad like it. At most 8 per campaign (services/criteria.py)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="criteria")
    position = models.PositiveSmallIntegerField(default=0)
    key = models.CharField(max_length=32, help_text="Lower case, digits and _, starting with a letter.")
    question = models.CharField(max_length=300)
    required = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = "criteria"
        constraints = [models.UniqueConstraint(fields=["campaign", "key"], name="criterion_key_unique_in_campaign")]

    def __str__(self) -> str:
        return self.key


class VoteCriterion(models.Model):
    """One criterion's answer within a vote, stored as shown and resolved to the pair, as the
    vote's own choice is. Written with the vote in one transaction (services/voting.py)."""

    vote = models.ForeignKey(Vote, on_delete=models.CASCADE, related_name="criteria")
    criterion = models.ForeignKey(Criterion, on_delete=models.CASCADE, related_name="answers")
    choice = models.CharField(max_length=8, choices=Vote.Choice.choices)
    resolved = models.CharField(max_length=8, choices=Vote.Resolved.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["vote", "criterion"], name="one_answer_per_vote_and_criterion"),
            models.CheckConstraint(condition=Q(choice__in=Vote.Choice.values), name="vote_criterion_choice_valid"),
            models.CheckConstraint(
                condition=Q(resolved__in=Vote.Resolved.values), name="vote_criterion_resolved_valid"
            ),
        ]
