"""Factories in one place: build campaigns in any state straight in the database.

They write rows directly (no HTTP, no worker) so that tests of one stage do not depend on the
stages before it. End-to-end tests go through the API instead.
"""

import contextlib
import itertools
import os
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from arena.models import (
    Assignment,
    Campaign,
    CampaignReviewer,
    Comparison,
    Contestant,
    Criterion,
    Prompt,
    Response,
    Vote,
    VoteCriterion,
)
from arena.services.criteria import CriterionSpec, criteria_check, criteria_create
from arena.services.pairing import comparisons_build

_counter = itertools.count(1)


@contextlib.contextmanager
def llm_host_listed(listed: str):
    """`host:port` added to the endpoint allow-list (arena/endpoints.py refuses loopback
    otherwise), in the settings and in the environment the worker processes inherit, for the
    duration of the block."""
    before_setting, before_env = settings.LLM_ALLOWED_HOSTS, os.environ.get("LLM_ALLOWED_HOSTS")
    settings.LLM_ALLOWED_HOSTS = [*before_setting, listed]
    os.environ["LLM_ALLOWED_HOSTS"] = ",".join(settings.LLM_ALLOWED_HOSTS)
    try:
        yield
    finally:
        settings.LLM_ALLOWED_HOSTS = before_setting
        if before_env is None:
            os.environ.pop("LLM_ALLOWED_HOSTS", None)
        else:
            os.environ["LLM_ALLOWED_HOSTS"] = before_env


def make_campaign(
    *,
    name=None,
    labels=("Model A", "Model B"),
    models=None,
    prompts=0,
    k=3,
    pairing="all_pairs",
    status=Campaign.Status.DRAFT,
    base_url="",
    categories=None,
    criteria=(),
    **fields,
) -> Campaign:
    """A campaign with contestants (labels) and `prompts` prompts; nothing generated.

    `criteria`: dicts `{key, question?, required?}` (or plain keys), stored in order through
    the service (so its rules hold)."""
    n = next(_counter)
    campaign = Campaign.objects.create(
        name=name or f"Campaign {n}", votes_per_comparison=k, pairing=pairing, status=status, **fields
    )
    models = models or [f"model-{label.lower().replace(' ', '-')}-{n}" for label in labels]
    for i, (label, model) in enumerate(zip(labels, models, strict=True)):
        Contestant.objects.create(
            campaign=campaign,
            position=i,
            label=label,
            model=model,
            base_url=base_url,
            price_per_mtok_out=Decimal("1.00"),
        )
    categories = categories or ["general"]
    Prompt.objects.bulk_create(
        Prompt(
            campaign=campaign,
            position=i + 1,
            external_id=f"p{i + 1}",
            category=categories[i % len(categories)],
            text=f"Customer question number {i + 1}: where is my order?",
        )
        for i in range(prompts)
    )
    specs = [{"key": c} if isinstance(c, str) else c for c in criteria]
    specs = [CriterionSpec(**{"question": f"Which answer is better on {c['key']}?", **c}) for c in specs]
    criteria_check(criteria=specs)
    criteria_create(campaign=campaign, criteria=specs)
    return campaign


def generate_done(campaign: Campaign, *, text_for=None) -> None:
    """Mark every (prompt, contestant) as generated, with made-up text, tokens and cost."""
    text_for = text_for or (
        lambda prompt, contestant: f"Answer to {prompt.external_id} ({prompt.pk}) #{contestant.position}"
    )
    now = timezone.now()
    rows = []
    for prompt in campaign.prompts.all():
        for contestant in campaign.contestants.all():
            rows.append(
                Response(
                    campaign=campaign,
                    prompt=prompt,
                    contestant=contestant,
                    status=Response.Status.DONE,
                    text=text_for(prompt, contestant),
                    served_model=contestant.model,
                    input_tokens=20,
                    output_tokens=100,
                    latency_ms=5,
                    cost_usd=Decimal("0.0001"),
                    finish_reason="stop",
                    attempts=1,
                    completed_at=now,
                )
            )
    Response.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.READY)
    campaign.status = Campaign.Status.READY


def open_campaign(campaign: Campaign) -> list[Comparison]:
    """Generate (if needed), build comparisons and open review."""
    if not Response.objects.filter(campaign=campaign).exists():
        generate_done(campaign)
    comparisons_build(campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.OPEN, opened_at=timezone.now())
    campaign.status = Campaign.Status.OPEN
    return list(campaign.comparisons.order_by("id"))


def make_open_campaign(**fields) -> Campaign:
    """A campaign (make_campaign's arguments) already generated and open for review."""
    campaign = make_campaign(**fields)
    open_campaign(campaign)
    return campaign


def campaign_of_two_models(sim, *, prompts: int, **contestant_fields) -> Campaign:
    """A campaign on the loopback API between two models, with these fields set on both contestants."""
    campaign = make_campaign(prompts=prompts, base_url=sim.base_url, models=["deepseek-v4-flash", "Qwen/Qwen3-32B"])
    if contestant_fields:
        Contestant.objects.filter(campaign=campaign).update(**contestant_fields)
    return campaign


def status_of(campaign: Campaign) -> str:
    """The campaign's status as stored now (another process may have moved it)."""
    return Campaign.objects.values_list("status", flat=True).get(pk=campaign.pk)


def api_client(user=None) -> APIClient:
    """An API client authenticated as `user`, or anonymous when None."""
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def add_reviewers(campaign: Campaign, *usernames: str) -> list:
    User = get_user_model()
    users = []
    for username in usernames:
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_password(f"{username}-pass-123")
            user.save()
        CampaignReviewer.objects.get_or_create(campaign=campaign, user=user)
        users.append(user)
    return users


def shown_choice(resolved: str, *, a_on_left: bool) -> str:
    """What a reviewer pressed (left/right/tie/both_bad) to mean `resolved` (a/b/tie/both_bad)."""
    if resolved in ("tie", "both_bad"):
        return resolved
    return "left" if (resolved == "a") == a_on_left else "right"


def new_assignment(comparison: Comparison, reviewer, *, kind="normal", a_on_left=True, at=None, **fields) -> Assignment:
    """An unsaved assignment of `comparison` to `reviewer`, leased at `at` (now) with a lease
    that ends then too; `fields` set more (its status, ...), the others keep the model's defaults."""
    at = at or timezone.now()
    return Assignment(
        campaign=comparison.campaign,
        comparison=comparison,
        reviewer=reviewer,
        kind=kind,
        a_on_left=a_on_left,
        leased_at=at,
        lease_expires_at=at,
        **fields,
    )


def new_vote(assignment: Assignment, resolved: str, *, counted=True, **fields) -> Vote:
    """The unsaved vote on `assignment` (its campaign, comparison, reviewer and sides) meaning
    `resolved` (a, b, tie or both_bad); `fields` set more (comment, seconds_on_task, ...)."""
    return Vote(
        assignment=assignment,
        campaign=assignment.campaign,
        comparison=assignment.comparison,
        reviewer=assignment.reviewer,
        choice=shown_choice(resolved, a_on_left=assignment.a_on_left),
        resolved=resolved,
        a_on_left=assignment.a_on_left,
        counted=counted,
        **fields,
    )


def cast_vote(
    comparison: Comparison,
    reviewer,
    resolved: str,
    *,
    a_on_left=True,
    kind="normal",
    seconds=10.0,
    comment="",
    criteria=None,
) -> Vote:
    """A vote stored directly: `resolved` is a, b, tie or both_bad; the shown side follows a_on_left.
    `criteria` maps criterion keys to resolved answers (a, b, tie, both_bad)."""
    assignment = new_assignment(comparison, reviewer, kind=kind, a_on_left=a_on_left, status=Assignment.Status.VOTED)
    assignment.save(force_insert=True)
    counted = kind == "normal"
    if counted:
        Comparison.objects.filter(pk=comparison.pk).update(
            votes_count=comparison.votes_count + 1, active_assignments=comparison.active_assignments + 1
        )
        comparison.refresh_from_db()
    vote = new_vote(assignment, resolved, counted=counted, comment=comment, seconds_on_task=seconds)
    vote.save(force_insert=True)
    keys = dict(Criterion.objects.filter(campaign_id=comparison.campaign_id).values_list("key", "pk"))
    VoteCriterion.objects.bulk_create(
        VoteCriterion(vote=vote, criterion_id=keys[key], choice=shown_choice(r, a_on_left=a_on_left), resolved=r)
        for key, r in (criteria or {}).items()
    )
    return vote


# --- Conversations and images (arena/conversations.py, arena/services/images.py) -------------


def png_bytes(width: int = 48, height: int = 32, *, seed: int = 0) -> bytes:
    """A real PNG (RGB, a colour gradient that depends on `seed`), built with zlib alone."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in ((x * 5 + seed) % 256, (y * 7) % 256, (seed * 31) % 256))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def data_url(data: bytes, media_type: str = "image/png") -> str:
    import base64

    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


THREE_TURNS = [
    {"role": "system", "content": "You answer for the Parcelpoint help desk."},
    {"role": "user", "content": "My parcel 4471 says delivered but it is not here."},
    {"role": "assistant", "content": "Sorry to hear that. Did you check with your neighbours?"},
    {"role": "user", "content": "Yes, nobody has it. What now?"},
]


def media_prompts(png: bytes) -> list[dict]:
    """A JSON list of two prompts: a three-turn conversation (plus its system turn) and a
    question about an image (`png`), as a lead uploads them."""
    return [
        {"external_id": "chat", "category": "conversation", "messages": THREE_TURNS},
        {
            "external_id": "photo",
            "category": "image",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "The box arrived like this. Can I get a refund?"},
                        {"type": "image_url", "image_url": {"url": data_url(png)}},
                    ],
                }
            ],
        },
    ]


def import_media_prompts(campaign: Campaign, png: bytes) -> list[Prompt]:
    """Import `media_prompts(png)` into a draft campaign through the import service."""
    from arena.imports import parse_json_list
    from arena.services.campaigns import prompts_import

    prompts_import(campaign=campaign, rows=parse_json_list(media_prompts(png)))
    return list(campaign.prompts.filter(external_id__in=["chat", "photo"]).order_by("position"))
