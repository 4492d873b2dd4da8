"""Django admin for leads: campaigns with contestants inline, prompt import, the life-cycle actions.

Every action calls a service, so admin, API and tests share one code path for each change.
Beside this module: the actions and Generate's estimate confirmation (admin_actions.py), the
contestant form with its catalog pick (admin_contestants.py), progress bars and the frozen
settings' display (admin_display.py).
"""

import dataclasses
import re

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, F, Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html

from .admin_actions import action_generate, campaign_action, each_action
from .admin_contestants import ContestantForm
from .admin_criteria import CriterionInline
from .admin_display import frozen_settings_html, progress_bar
from .admin_judges import judges_into
from .errors import ArenaError
from .forms import STORABLE_JSON
from .imports import parse_upload
from .models import (
    Assignment,
    Campaign,
    CampaignReviewer,
    Comparison,
    Contestant,
    Invite,
    ModelCatalogEntry,
    Prompt,
    Response,
    Vote,
)
from .selectors import generation as generation_selectors
from .selectors.campaigns import campaign_progress
from .services import campaigns as campaign_services
from .services import generation as generation_services
from .services.decisions import STOPPING_FIELDS, pair_decisions_refresh_on_commit
from .services.generation import GENERATION_FIELDS
from .services.invites import DEFAULT_DAYS, invite_create, invite_revoke
from .services.quality import comparison_set_excluded, comparison_set_gold, reviewer_exclude


class ContestantInlineFormSet(forms.BaseInlineFormSet):
    """Runs campaign_check, the API's rules, on the campaign and its contestants as submitted.

    Admin validates the campaign form and every inline formset before saving any of them, so a
    refusal here leaves the campaign and its contestants as they were. The inline formset is the
    one place that sees both the campaign's fields (its `instance`) and all of its contestants.
    """

    FIELD_AT = re.compile(r"^contestants\[(\d+)\]\.(\w+)$")

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [
            form
            for form in self.forms
            if form.cleaned_data and not (self.can_delete and self._should_delete_form(form))
        ]
        specs = [
            campaign_services.ContestantSpec(
                **{name: form.cleaned_data.get(name) for name in CONTESTANT_SPEC_FIELDS if name in form.cleaned_data}
            )
            for form in kept
        ]
        campaign = self.instance
        try:
            campaign_services.campaign_check(
                name=campaign.name or "",
                guidelines=campaign.guidelines or "",
                pairing=campaign.pairing,
                votes_per_comparison=campaign.votes_per_comparison,
                contestants=specs,
                **{name: getattr(campaign, name) for name in STOPPING_FIELDS},
            )
        except ArenaError as exc:
            at = self.FIELD_AT.match(exc.field or "")
            if at and int(at.group(1)) < len(kept) and at.group(2) in kept[int(at.group(1))].fields:
                # Shown beside the contestant's field; the formset is invalid with it.
                kept[int(at.group(1))].add_error(at.group(2), exc.message)
                return
            raise forms.ValidationError(exc.message) from None


# The inline's columns that make up a ContestantSpec (position is the row's order instead).
CONTESTANT_SPEC_FIELDS = [f.name for f in dataclasses.fields(campaign_services.ContestantSpec)]


class ContestantInline(admin.StackedInline):
    """One block per contestant, not a table row: twelve columns overflowed a laptop screen. The
    fields a lead sets for every model come first; endpoint, key and limits are folded away."""

    formfield_overrides = STORABLE_JSON
    model = Contestant
    form = ContestantForm
    formset = ContestantInlineFormSet
    extra = 2
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "catalog",
                    ("label", "position", "is_baseline"),
                    "model",
                    ("price_per_mtok_out", "price_per_mtok_in"),
                ]
            },
        ),
        (
            "Endpoint, key and limits",
            {
                "classes": ["collapse"],
                "fields": [
                    "base_url",
                    "api_key_env",
                    ("max_concurrency", "requests_per_minute", "tokens_per_minute"),
                    "extra_params",
                ],
            },
        ),
    ]

    class Media:
        js = ["arena/admin_catalog.js"]


class ReviewerInline(admin.TabularInline):
    model = CampaignReviewer
    extra = 1
    fields = ["user", "excluded", "added_at"]
    # Excluding goes through the reviewer admin's action (reviewer_exclude), which also frees
    # the reviewer's slots; a plain checkbox here would skip that.
    readonly_fields = ["excluded", "added_at"]
    autocomplete_fields = ["user"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")  # each row's title is its user


class PromptImportForm(forms.Form):
    file = forms.FileField(help_text="CSV (columns text, external_id, category) or JSONL (one prompt per line).")


@admin.register(Campaign)
@judges_into
class CampaignAdmin(admin.ModelAdmin):
    formfield_overrides = STORABLE_JSON
    # Five columns, so progress and links stay on screen at 1366 px beside admin's navigation and
    # the filters (eight overflowed): pairing, k and the generation speed sit under the status.
    list_display = ["name", "status_column", "responses_bar", "votes_bar", "links"]
    list_filter = ["status", "pairing", "stopping"]
    search_fields = ["name"]
    inlines = [ContestantInline, CriterionInline, ReviewerInline]
    readonly_fields = ["status", "frozen_settings", "paused_reason", "created_at", "opened_at", "closed_at"]
    actions = ["action_generate", "action_retry_failed", "action_open", "action_close", "action_invite"]
    fieldsets = [
        (None, {"fields": ["name", "guidelines", "status", "votes_per_comparison", "pairing", "min_seconds_per_vote"]}),
        (
            "Generation (the same for every model; frozen when generation starts)",
            {"fields": [*GENERATION_FIELDS, "frozen_settings_shown"]},
        ),
        ("Stopping (fixed or adaptive; switchable while open)", {"fields": STOPPING_FIELDS}),
        ("Dates", {"fields": ["created_at", "opened_at", "closed_at"]}),
    ]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if change and set(STOPPING_FIELDS) & set(form.changed_data):  # decided pairs close or open now
            pair_decisions_refresh_on_commit(campaign_id=obj.pk)

    def get_readonly_fields(self, request, obj=None):
        # The fieldsets show frozen_settings through frozen_settings_shown (indented, below).
        return [*super().get_readonly_fields(request, obj), "frozen_settings_shown"]

    @admin.display(description="Frozen settings")
    def frozen_settings_shown(self, obj):
        return frozen_settings_html(obj.frozen_settings)

    @admin.display(description="Responses")
    def responses_bar(self, obj):
        p = campaign_progress(campaign=obj)
        return progress_bar(p["responses_done"], p["responses_total"], p["responses_failed"])

    @admin.display(description="Status", ordering="status")
    def status_column(self, obj):
        speed = self.generation_speed(obj)
        return format_html(
            "<strong>{}</strong>{}<br><small>{}, {} vote{} per comparison</small>",
            obj.get_status_display(),
            format_html("<br><small>{}</small>", speed) if speed else "",
            obj.get_pairing_display(),
            obj.votes_per_comparison,
            "" if obj.votes_per_comparison == 1 else "s",
        )

    def generation_speed(self, obj) -> str:
        """Calls per second and ETA while generating; the paused reason when the budget stopped it."""
        if obj.paused_reason:
            return obj.paused_reason
        if obj.status != Campaign.Status.GENERATING:
            return ""
        g = generation_selectors.generation_progress(campaign=obj)
        eta = "–" if g["eta_seconds"] is None else f"{g['eta_seconds']:.0f} s"
        return f"{g['calls_per_second']:.1f} calls/s, ETA {eta}"

    @admin.display(description="Votes")
    def votes_bar(self, obj):
        p = campaign_progress(campaign=obj)
        return progress_bar(p["votes"], p["votes_target"])

    @admin.display(description="")
    def links(self, obj):
        return format_html(
            '<a href="{}">Page</a><br><a href="{}">Import prompts</a><br>'
            '<a href="{}">Report</a><br><a href="{}">CSV</a>',
            reverse("campaign-detail", args=[obj.pk]),
            reverse("admin:arena_campaign_import", args=[obj.pk]),
            reverse("campaign-report", args=[obj.pk]),
            f"/api/campaigns/{obj.pk}/report.csv",
        )

    def get_urls(self):
        return [
            path(
                "<int:campaign_id>/import/",
                self.admin_site.admin_view(self.import_prompts_view),
                name="arena_campaign_import",
            ),
        ] + super().get_urls()

    def import_prompts_view(self, request, campaign_id):
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        if not self.has_change_permission(request, campaign):
            return HttpResponseRedirect(reverse("admin:index"))
        form = PromptImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                rows = parse_upload(upload, filename=upload.name)
                created = campaign_services.prompts_import(campaign=campaign, rows=rows)
            except ArenaError as exc:
                form.add_error("file", exc.message)
            else:
                self.message_user(request, f"Imported {created} prompts into {campaign}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:arena_campaign_change", args=[campaign.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import prompts into {campaign}",
            "campaign": campaign,
            "form": form,
            "opts": self.model._meta,
            "prompt_count": campaign.prompts.count(),
        }
        return render(request, "admin/arena/import_prompts.html", context)

    action_generate = action_generate
    action_retry_failed = campaign_action(
        "Retry failed responses",
        "retrying failed responses",
        lambda c: f"{generation_services.generation_retry_failed(campaign=c)} queued",
    )
    action_open = campaign_action(
        "Open for review",
        "opened for review",
        lambda c: f"{campaign_services.campaign_open(campaign=c)} comparisons built",
    )
    action_close = campaign_action("Close review", "closed", lambda c: campaign_services.campaign_close(campaign=c))

    @admin.action(description=f"Create a reviewer invite link (one use, {DEFAULT_DAYS} days)", permissions=["change"])
    def action_invite(self, request, queryset):
        for campaign in queryset:
            invite, key = invite_create(campaign=campaign, created_by=request.user)
            link = request.build_absolute_uri(reverse("invite", args=[key]))
            # The key is shown here once: only its hash is stored.
            self.message_user(
                request,
                f"{campaign}: invite #{invite.pk} (one use, valid {DEFAULT_DAYS} days; copy it now, it is not "
                f"shown again): {link}",
                messages.SUCCESS,
            )


class WrittenByServicesAdmin(admin.ModelAdmin):
    """Rows only the services write (invites, responses, assignments, votes): shown with every
    field read-only and never added by hand, so admin cannot bypass the rules that made them."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Invite)
class InviteAdmin(WrittenByServicesAdmin):
    """Invites are made by the campaign action (which shows the link once) and revoked here."""

    list_display = ["id", "campaign", "created_by", "created_at", "expires_at", "uses", "max_uses", "revoked_at"]
    list_filter = ["campaign"]
    list_select_related = ["campaign", "created_by"]
    actions = ["action_revoke"]

    @admin.action(description="Revoke (the link admits nobody from now on)")
    def action_revoke(self, request, queryset):
        for invite in queryset.select_related("campaign"):
            invite_revoke(campaign=invite.campaign, invite_id=invite.pk)
        self.message_user(request, f"{queryset.count()} invite(s) revoked.", messages.SUCCESS)


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    formfield_overrides = STORABLE_JSON
    list_display = ["external_id", "campaign", "category", "short_text"]
    list_filter = ["campaign", "category"]
    search_fields = ["external_id", "text"]
    list_select_related = ["campaign"]

    @admin.display(description="Text")
    def short_text(self, obj):
        return (obj.display_text or "")[:100]


@admin.register(Response)
class ResponseAdmin(WrittenByServicesAdmin):
    list_display = [
        "id",
        "campaign",
        "contestant",
        "prompt",
        "status",
        "served_model",
        "output_tokens",
        "cost_usd",
        "attempts",
        "model_mismatch",
        "self_identifies",
    ]
    list_filter = ["status", "model_mismatch", "self_identifies", "campaign"]
    list_select_related = ["campaign", "contestant", "prompt"]
    search_fields = ["text", "last_error"]


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    list_display = ["id", "campaign", "prompt", "contestant_a", "contestant_b", "votes_count", "excluded", "gold"]
    list_filter = ["campaign", "excluded", "gold"]
    list_select_related = ["campaign", "prompt", "contestant_a", "contestant_b"]
    readonly_fields = [
        "campaign",
        "prompt",
        "contestant_a",
        "contestant_b",
        "response_a",
        "response_b",
        "votes_count",
        "excluded",
        "gold",
    ]
    actions = [
        "action_exclude",
        "action_include",
        "action_gold_a",
        "action_gold_b",
        "action_gold_tie",
        "action_gold_both_bad",
        "action_gold_clear",
    ]

    action_exclude = each_action(
        "Exclude from review", "comparison", "excluded", lambda c: comparison_set_excluded(comparison=c, excluded=True)
    )
    action_include = each_action(
        "Include in review", "comparison", "included", lambda c: comparison_set_excluded(comparison=c, excluded=False)
    )
    action_gold_a = each_action(
        "Gold: A is better", "comparison", "marked gold A", lambda c: comparison_set_gold(comparison=c, gold="a")
    )
    action_gold_b = each_action(
        "Gold: B is better", "comparison", "marked gold B", lambda c: comparison_set_gold(comparison=c, gold="b")
    )
    action_gold_tie = each_action(
        "Gold: tie", "comparison", "marked gold tie", lambda c: comparison_set_gold(comparison=c, gold="tie")
    )
    action_gold_both_bad = each_action(
        "Gold: both bad",
        "comparison",
        "marked gold both bad",
        lambda c: comparison_set_gold(comparison=c, gold="both_bad"),
    )
    action_gold_clear = each_action(
        "Clear gold", "comparison", "cleared of gold", lambda c: comparison_set_gold(comparison=c, gold="")
    )

    def has_add_permission(self, request):
        return False


@admin.register(CampaignReviewer)
class CampaignReviewerAdmin(admin.ModelAdmin):
    list_display = ["user", "campaign", "excluded", "votes", "added_at"]
    list_filter = ["campaign", "excluded"]
    list_select_related = ["user", "campaign"]
    readonly_fields = ["excluded"]
    actions = ["action_exclude", "action_include"]

    action_exclude = each_action(
        "Exclude from every report (frees their review slots)",
        "reviewer",
        "excluded",
        lambda m: reviewer_exclude(campaign=m.campaign, user=m.user, excluded=True),
    )
    action_include = each_action(
        "Include again",
        "reviewer",
        "included",
        lambda m: reviewer_exclude(campaign=m.campaign, user=m.user, excluded=False),
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(n_votes=Count("user__votes", filter=Q(user__votes__campaign=F("campaign")), distinct=True))
        )

    @admin.display(description="Votes", ordering="n_votes")
    def votes(self, obj):
        return obj.n_votes


@admin.register(Assignment)
class AssignmentAdmin(WrittenByServicesAdmin):
    list_display = ["id", "campaign", "reviewer", "kind", "status", "a_on_left", "leased_at", "lease_expires_at"]
    list_filter = ["campaign", "status", "kind"]
    list_select_related = ["campaign", "reviewer"]


@admin.register(Vote)
class VoteAdmin(WrittenByServicesAdmin):
    list_display = ["assignment_id", "campaign", "reviewer", "choice", "resolved", "counted", "too_fast", "created_at"]
    list_filter = ["campaign", "resolved", "counted", "too_fast"]
    list_select_related = ["campaign", "reviewer"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ModelCatalogEntry)
class ModelCatalogEntryAdmin(admin.ModelAdmin):
    formfield_overrides = STORABLE_JSON
    list_display = ["label", "model", "vendor", "price_per_mtok_out", "price_per_mtok_in"]
    list_editable = ["price_per_mtok_out", "price_per_mtok_in"]
    search_fields = ["label", "model", "vendor"]
