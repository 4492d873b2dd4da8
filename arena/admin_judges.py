"""Admin for judges: a Judge inline on the campaign (validated by `judge_check`, the API's
rules), a "Judge comparisons" action with the cost estimate, and the judgements read-only.

Attached to CampaignAdmin by `judges_into` (called at the end of arena/admin.py), so the
campaign admin itself only gains one line.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin

from .errors import ArenaError
from .models import Judge, Judgement
from .selectors.judging import judging_estimate
from .services import judging as judging_services

JUDGE_SPEC_FIELDS = list(judging_services.JudgeSpec.__dataclass_fields__)


class JudgeInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        for form in self.forms:
            if not form.cleaned_data or (self.can_delete and self._should_delete_form(form)):
                continue
            values = {name: form.cleaned_data.get(name) for name in JUDGE_SPEC_FIELDS if name in form.cleaned_data}
            values = {k: v for k, v in values.items() if v is not None or k == "budget_usd"}
            try:
                judging_services.judge_check(spec=judging_services.JudgeSpec(**values))
            except ArenaError as exc:
                if exc.field in form.fields:
                    form.add_error(exc.field, exc.message)
                else:
                    raise forms.ValidationError(exc.message) from None


class JudgeInline(admin.TabularInline):
    model = Judge
    formset = JudgeInlineFormSet
    extra = 0
    fields = [
        "label",
        "model",
        "base_url",
        "api_key_env",
        "price_per_mtok_out",
        "price_per_mtok_in",
        "instructions",
        "max_concurrency",
        "budget_usd",
        "paused_reason",
    ]
    readonly_fields = ["paused_reason"]


def _judge_with_estimate(campaign) -> str:
    estimate = judging_estimate(campaign=campaign)
    missing = judging_services.judging_start(campaign_id=campaign.pk)
    caps = [f"{j['label']} ${j['budget_usd']}" for j in estimate["judges"] if j["budget_usd"] is not None]
    cap = f"; budget caps: {', '.join(caps)}" if caps else ""
    return (
        f"{missing} judgements queued (2 per comparison per judge, {estimate['comparisons']} comparisons), "
        f"estimated cost ${estimate['total_usd']}{cap}"
    )


def judges_into(campaign_admin: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    """Add the Judge inline, the judging fields and the action to the campaign admin (a class
    decorator: arena/admin.py has defined `campaign_action` by the time it runs)."""
    from .admin import campaign_action

    campaign_admin.inlines = [*campaign_admin.inlines, JudgeInline]
    campaign_admin.fieldsets = [
        *campaign_admin.fieldsets,
        ("Judges", {"fields": ["judge_mode", "hybrid_share"]}),
    ]
    campaign_admin.action_judge = campaign_action(
        "Judge comparisons with the LLM judges (with cost estimate)", "judging started", _judge_with_estimate
    )
    campaign_admin.actions = [*campaign_admin.actions, "action_judge"]

    return campaign_admin


@admin.register(Judgement)
class JudgementAdmin(admin.ModelAdmin):
    """Judgements are written by the judging engine only: shown, never edited here."""

    list_display = ["id", "judge", "comparison", "order", "status", "verdict", "attempts", "cost_usd"]
    list_filter = ["status", "order", "judge__campaign"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
