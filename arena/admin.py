"""Django admin for leads: campaigns with contestants inline, prompt import, the life-cycle actions.

Every action calls a service, so admin, API and tests share one code path for each change.
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
from django.utils.safestring import mark_safe

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
from .services.invites import DEFAULT_DAYS, invite_create, invite_revoke
from .services.quality import comparison_set_excluded, comparison_set_gold, reviewer_exclude


def campaign_action(description: str, done: str, run):
    """An admin action that runs `run(campaign)` on each selected campaign on its own.

    Each campaign gets its own message: what was done (with `run`'s result when it is a
    string), or the service's reason it could not be (an ArenaError), so one campaign in the
    wrong state does not stop the others.
    """

    @admin.action(description=description)
    def action(modeladmin, request, queryset):
        for campaign in queryset:
            try:
                result = run(campaign)
            except ArenaError as exc:
                modeladmin.message_user(request, f"{campaign}: {exc.message}", messages.ERROR)
            else:
                extra = f" ({result})" if isinstance(result, str) else ""
                modeladmin.message_user(request, f"{campaign}: {done}{extra}.", messages.SUCCESS)

    return action


def each_action(description: str, noun: str, done: str, run):
    """An admin action that runs `run(row)` on each selected row, then says how many it did."""

    @admin.action(description=description)
    def action(modeladmin, request, queryset):
        for row in queryset:
            run(row)
        modeladmin.message_user(request, f"{queryset.count()} {noun}(s) {done}.", messages.SUCCESS)

    return action


def _generation_start_with_estimate(campaign: Campaign) -> str:
    estimate = generation_selectors.generation_estimate(campaign=campaign)
    generation_services.generation_start(campaign=campaign)
    return f"estimated cost ${estimate['total_usd']}"


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


class ContestantInline(admin.TabularInline):
    formfield_overrides = STORABLE_JSON
    model = Contestant
    formset = ContestantInlineFormSet
    extra = 2
    fields = [
        "position",
        "label",
        "model",
        "base_url",
        "api_key_env",
        "price_per_mtok_out",
        "price_per_mtok_in",
        "is_baseline",
        "max_concurrency",
        "requests_per_minute",
        "tokens_per_minute",
        "extra_params",
    ]


class ReviewerInline(admin.TabularInline):
    model = CampaignReviewer
    extra = 1
    fields = ["user", "excluded", "added_at"]
    # Excluding goes through the reviewer admin's action (reviewer_exclude), which also frees
    # the reviewer's slots; a plain checkbox here would skip that.
    readonly_fields = ["excluded", "added_at"]
    autocomplete_fields = ["user"]


class PromptImportForm(forms.Form):
    file = forms.FileField(help_text="CSV (columns text, external_id, category) or JSONL (one prompt per line).")


def _bar(done: int, total: int, failed: int = 0) -> str:
    # Drawn as SVG shapes, not styled <div>s: the Content-Security-Policy refuses inline style
    # attributes, and SVG sizes and colours are attributes of their own, which it allows.
    if not total:
        return mark_safe('<span class="quiet">–</span>')
    width = 140
    done_px = width * done / total
    failed_px = width * failed / total
    return format_html(
        '<svg width="{}" height="10" role="img" aria-label="{} / {}"><title>{} / {}</title>'
        '<rect width="{}" height="10" rx="5" fill="#e6e9f0"/><rect width="{}" height="10" fill="#2f8f4e"/>'
        '<rect x="{}" width="{}" height="10" fill="#c0392b"/></svg><br><small>{} / {}{}</small>',
        width,
        done,
        total,
        done,
        total,
        width,
        f"{done_px:.1f}",
        f"{done_px:.1f}",
        f"{failed_px:.1f}",
        done,
        total,
        f" ({failed} failed)" if failed else "",
    )


@admin.register(Campaign)
@judges_into
class CampaignAdmin(admin.ModelAdmin):
    formfield_overrides = STORABLE_JSON
    list_display = [
        "name",
        "status",
        "pairing",
        "votes_per_comparison",
        "responses_bar",
        "generation_speed",
        "votes_bar",
        "links",
    ]
    list_filter = ["status", "pairing"]
    search_fields = ["name"]
    inlines = [ContestantInline, ReviewerInline]
    readonly_fields = ["status", "frozen_settings", "paused_reason", "created_at", "opened_at", "closed_at"]
    actions = ["action_generate", "action_retry_failed", "action_open", "action_close", "action_invite"]
    fieldsets = [
        (None, {"fields": ["name", "guidelines", "status", "votes_per_comparison", "pairing", "min_seconds_per_vote"]}),
        (
            "Generation (the same for every model; frozen when generation starts)",
            {
                "fields": [
                    "system_prompt",
                    "temperature",
                    "max_tokens",
                    "seed",
                    "extra_params",
                    "expected_output_tokens",
                    "budget_usd",
                    "paused_reason",
                    "frozen_settings",
                ]
            },
        ),
        ("Dates", {"fields": ["created_at", "opened_at", "closed_at"]}),
    ]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="Responses")
    def responses_bar(self, obj):
        p = campaign_progress(campaign=obj)
        return _bar(p["responses_done"], p["responses_total"], p["responses_failed"])

    @admin.display(description="Generation")
    def generation_speed(self, obj):
        """Calls per second and ETA while generating; the paused reason when the budget stopped it."""
        if obj.paused_reason:
            return obj.paused_reason
        if obj.status != Campaign.Status.GENERATING:
            return "–"
        g = generation_selectors.generation_progress(campaign=obj)
        eta = "–" if g["eta_seconds"] is None else f"{g['eta_seconds']:.0f} s"
        return f"{g['calls_per_second']:.1f} calls/s, ETA {eta}"

    @admin.display(description="Votes")
    def votes_bar(self, obj):
        p = campaign_progress(campaign=obj)
        return _bar(p["votes"], p["votes_target"])

    @admin.display(description="")
    def links(self, obj):
        return format_html(
            '<a href="{}">Page</a> · <a href="{}">Import prompts</a> · <a href="{}">Report</a> · <a href="{}">CSV</a>',
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

    action_generate = campaign_action(
        "Generate responses (with cost estimate)", "generation started", _generation_start_with_estimate
    )
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

    @admin.action(description=f"Create a reviewer invite link (one use, {DEFAULT_DAYS} days)")
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
