"""Admin actions for leads: the life-cycle actions, and "Generate responses" behind its estimate.

Every action calls a service, so admin, API and tests share one code path for each change,
and needs the change permission (a staff user who may only view campaigns gets no action).
Generating spends money, so that action first answers with a confirmation page showing the
cost estimate (arena/selectors/generation.py) and starts nothing; only the page's "Yes" (a
POST that carries the estimate it showed) calls `generation_start`. An estimate that changed
in between (prompts imported, a price edited) is shown again instead of being started.
"""

import hashlib
import json

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from .errors import ArenaError
from .selectors.generation import generation_estimate, jsonable
from .services.generation import generation_start


def campaign_action(description: str, done: str, run):
    """An admin action that runs `run(campaign)` on each selected campaign on its own.

    Each campaign gets its own message: what was done (with `run`'s result when it is a
    string), or the service's reason it could not be (an ArenaError), so one campaign in the
    wrong state does not stop the others.
    """

    @admin.action(description=description, permissions=["change"])
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

    @admin.action(description=description, permissions=["change"])
    def action(modeladmin, request, queryset):
        for row in queryset:
            run(row)
        modeladmin.message_user(request, f"{queryset.count()} {noun}(s) {done}.", messages.SUCCESS)

    return action


def estimate_fingerprint(estimate: dict) -> str:
    """A short digest of everything the confirmation page showed about one campaign's cost."""
    shown = json.dumps(jsonable(estimate), sort_keys=True)
    return hashlib.sha256(shown.encode()).hexdigest()[:32]


CONFIRM_FIELD = "confirm_generate"


@admin.action(description="Generate responses (shows the cost estimate first)", permissions=["change"])
def action_generate(modeladmin, request, queryset):
    """First call: the confirmation page with each campaign's estimate; nothing is started.

    The page's "Yes" posts the same action again with CONFIRM_FIELD and the fingerprint of each
    estimate it showed; generation starts only when every estimate is still the one shown.
    """
    campaigns = list(queryset.order_by("pk"))
    estimates = [(campaign, generation_estimate(campaign=campaign)) for campaign in campaigns]
    changed = []
    if request.POST.get(CONFIRM_FIELD) == "yes":
        changed = [
            campaign
            for campaign, estimate in estimates
            if request.POST.get(f"estimate_{campaign.pk}") != estimate_fingerprint(estimate)
        ]
        if not changed:
            for campaign, estimate in estimates:
                try:
                    generation_start(campaign=campaign)
                except ArenaError as exc:
                    modeladmin.message_user(request, f"{campaign}: {exc.message}", messages.ERROR)
                else:
                    modeladmin.message_user(
                        request,
                        f"{campaign}: generation started (estimated cost ${estimate['total_usd']}).",
                        messages.SUCCESS,
                    )
            return None  # back to the campaign list, with the messages
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Generate responses: check the estimated cost",
        "opts": opts,
        "items": [
            {
                "campaign": campaign,
                "estimate": estimate,
                "fingerprint": estimate_fingerprint(estimate),
                "over_budget": estimate["budget_usd"] is not None and estimate["total_usd"] > estimate["budget_usd"],
            }
            for campaign, estimate in estimates
        ],
        "total_usd": sum((estimate["total_usd"] for _, estimate in estimates), start=0),
        "changed": changed,
        "action_name": "action_generate",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "confirm_field": CONFIRM_FIELD,
    }
    return TemplateResponse(request, "admin/arena/generate_confirm.html", context)
