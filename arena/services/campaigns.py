"""Campaign life cycle: create, import prompts, add reviewers, open and close.

Status moves draft -> generating -> ready -> open -> closed. Each move is a conditional
UPDATE on the expected status, so two leads pressing the same button do it once.
"""

import re
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..endpoints import check_model_access
from ..errors import Conflict, NotFound, ValidationFailed
from ..imports import PromptRow
from ..models import Campaign, CampaignReviewer, Contestant, Prompt
from .criteria import CriterionSpec, criteria_check, criteria_create
from .decisions import pair_decisions_refresh
from .images import prompt_images_link, prompt_images_prepare
from .pairing import baseline_of, comparisons_build
from .prerender import html_prerender_later


@dataclass(frozen=True)
class EndpointSpec:
    """What the lead gives for a contestant or a judge alike (arena/models.py's ModelEndpoint):
    a label, the model id, where it is called and its prices."""

    label: str
    model: str
    base_url: str = ""
    api_key_env: str = ""
    price_per_mtok_out: Decimal = Decimal("0")
    price_per_mtok_in: Decimal = Decimal("0")


def endpoint_check(*, spec: EndpointSpec, where: str = "") -> None:
    """A contestant's or a judge's prices and endpoint (arena/endpoints.py's allow-lists);
    `where` prefixes the fields (`contestants[1]`, `judges[0]`)."""
    prefix = f"{where}." if where else ""
    for price in ("price_per_mtok_out", "price_per_mtok_in"):
        if getattr(spec, price) < 0:
            raise ValidationFailed(f"{price} must not be negative", field=f"{prefix}{price}")
    check_model_access(base_url=spec.base_url, api_key_env=spec.api_key_env, where=where)


@dataclass(frozen=True)
class ContestantSpec(EndpointSpec):
    extra_params: dict | None = None
    is_baseline: bool = False
    max_concurrency: int = 16
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    def contestant_fields(self) -> dict:
        """This spec as the Contestant's fields (each name is the model's field), an empty
        extra_params stored as {}."""
        return {**vars(self), "extra_params": self.extra_params or {}}


# The ranges a contestant's numbers must fall in, whoever writes them (API or admin).
MAX_CONCURRENCY_LIMIT = 256
VOTES_PER_COMPARISON_LIMIT = 50


def campaign_check(
    *,
    name: str,
    guidelines: str = "",
    pairing: str = Campaign.Pairing.ALL_PAIRS,
    votes_per_comparison: int | None = None,
    contestants: list[ContestantSpec],
    stopping: str = Campaign.Stopping.FIXED,
    alpha: float = 0.05,
    equivalence_margin: float = 0.05,
    power_share: float = 0.55,
    criteria: list[CriterionSpec] = (),
) -> None:
    """Every rule a campaign, its contestants and its criteria must meet before they are stored.

    The API's create and admin's add and change forms call this same function, so a rule added
    here holds for both. Raises ValidationFailed naming the field (`contestants[1].base_url`).
    """
    if not name.strip():
        raise ValidationFailed("name must not be empty", field="name")
    if votes_per_comparison is not None and not 1 <= votes_per_comparison <= VOTES_PER_COMPARISON_LIMIT:
        raise ValidationFailed(
            f"votes_per_comparison must be between 1 and {VOTES_PER_COMPARISON_LIMIT}", field="votes_per_comparison"
        )
    check_stopping(stopping=stopping, alpha=alpha, equivalence_margin=equivalence_margin, power_share=power_share)
    if len(contestants) < 2:
        raise ValidationFailed("a campaign needs at least two contestants", field="contestants")
    labels = [c.label for c in contestants]
    if len(set(labels)) != len(labels):
        raise ValidationFailed("contestant labels must be unique", field="contestants")
    for i, spec in enumerate(contestants):
        where = f"contestants[{i}]"
        if not 1 <= spec.max_concurrency <= MAX_CONCURRENCY_LIMIT:
            raise ValidationFailed(
                f"max_concurrency must be between 1 and {MAX_CONCURRENCY_LIMIT}", field=f"{where}.max_concurrency"
            )
        for limit in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(spec, limit)
            if value is not None and value < 1:
                raise ValidationFailed(f"{limit} must be at least 1 (or empty)", field=f"{where}.{limit}")
        endpoint_check(spec=spec, where=where)
    if pairing == Campaign.Pairing.VS_BASELINE:
        baseline_of(contestants)  # fails now, not at open time, on two baselines
    criteria_check(criteria=list(criteria))
    # Reviewers read the criteria's questions too.
    questions = {f"criteria[{i}].question": c.question for i, c in enumerate(criteria)}
    leak = blind_text_leak(texts={"name": name, "guidelines": guidelines, **questions}, contestants=contestants)
    if leak is not None:
        field, word = leak
        raise ValidationFailed(
            f"the campaign's {field} contains {word!r}, which reviewers would see (the blind must not leak)",
            field=field,
        )


def check_stopping(*, stopping: str, alpha: float, equivalence_margin: float, power_share: float) -> None:
    """The stopping settings' ranges (PRODUCT.md, "Contract: adaptive stopping")."""
    if stopping not in Campaign.Stopping.values:
        raise ValidationFailed(f"stopping must be one of {', '.join(Campaign.Stopping.values)}", field="stopping")
    if not 0 < alpha < 1:
        raise ValidationFailed("alpha must be between 0 and 1 (exclusive)", field="alpha")
    if not 0 <= equivalence_margin < 0.5:
        raise ValidationFailed("equivalence_margin must be at least 0 and below 0.5", field="equivalence_margin")
    if not 0.5 < power_share < 1:
        raise ValidationFailed("power_share must be above 0.5 and below 1", field="power_share")


@transaction.atomic
def campaign_create(
    *, name: str, contestants: list[ContestantSpec], criteria: list[CriterionSpec] = (), created_by=None, **fields
) -> Campaign:
    campaign_check(
        criteria=criteria,
        name=name,
        guidelines=fields.get("guidelines", ""),
        pairing=fields.get("pairing", Campaign.Pairing.ALL_PAIRS),
        votes_per_comparison=fields.get("votes_per_comparison"),
        contestants=contestants,
        **{key: fields[key] for key in ("stopping", "alpha", "equivalence_margin", "power_share") if key in fields},
    )
    campaign = Campaign.objects.create(name=name.strip(), created_by=created_by, **fields)
    Contestant.objects.bulk_create(
        Contestant(campaign=campaign, position=i, **spec.contestant_fields()) for i, spec in enumerate(contestants)
    )
    criteria_create(campaign=campaign, criteria=list(criteria))
    return campaign


def prompts_import(*, campaign: Campaign, rows: list[PromptRow]) -> int:
    """Add prompts to a draft campaign, all or nothing."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status != Campaign.Status.DRAFT:
            raise Conflict(f"prompts can only be added to a draft campaign (this one is {locked.status})")
        existing = set(
            Prompt.objects.filter(campaign=locked).exclude(external_id="").values_list("external_id", flat=True)
        )
        for i, row in enumerate(rows):
            if row.external_id and row.external_id in existing:
                where = f"line {row.line}" if row.line is not None else f"item {i}"
                raise ValidationFailed(
                    f"{where}: external_id {row.external_id!r} is already in this campaign",
                    field="external_id",
                    line=row.line,
                )
        start = (
            Prompt.objects.filter(campaign=locked).order_by("-position").values_list("position", flat=True).first() or 0
        ) + 1
        # Images are written last, once every check has passed (arena/services/images.py).
        images = prompt_images_prepare(rows=rows)
        try:
            prompts = Prompt.objects.bulk_create(
                [
                    Prompt(
                        campaign=locked,
                        position=start + i,
                        text=row.text,
                        messages=images.messages[i],
                        external_id=row.external_id,
                        category=row.category,
                        metadata=row.metadata,
                    )
                    for i, row in enumerate(rows)
                ],
                batch_size=1000,
            )
            prompt_images_link(campaign_id=locked.pk, prompts=prompts, prepared=images)
        except IntegrityError:
            raise Conflict("another upload added the same external_id at the same time; try again") from None
    return len(rows)


def reviewers_add(*, campaign: Campaign, usernames: list[str]) -> list[str]:
    User = get_user_model()
    if not isinstance(usernames, list) or not all(isinstance(u, str) for u in usernames):
        raise ValidationFailed("usernames must be a list of strings", field="usernames")
    users = {u.username: u for u in User.objects.filter(username__in=usernames, is_active=True)}
    missing = [u for u in usernames if u not in users]
    if missing:
        raise NotFound(f"no such user(s): {', '.join(missing)}", field="usernames")
    with transaction.atomic():
        for user in users.values():
            CampaignReviewer.objects.get_or_create(campaign=campaign, user=user)
    return sorted(users)


def reviewer_set_excluded(*, campaign: Campaign, user, excluded: bool) -> None:
    updated = CampaignReviewer.objects.filter(campaign=campaign, user=user).update(excluded=excluded)
    if not updated:
        raise NotFound(f"{user} is not a reviewer of this campaign")


def _move(campaign: Campaign, *, expected: tuple[str, ...], to: str, **fields) -> None:
    """Conditional status change: only one caller wins when two race."""
    updated = Campaign.objects.filter(pk=campaign.pk, status__in=expected).update(status=to, **fields)
    if not updated:
        current = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
        raise Conflict(f"cannot move the campaign to {to} from {current} (allowed from: {', '.join(expected)})")
    campaign.status = to
    for key, value in fields.items():
        setattr(campaign, key, value)


def blind_text_leak(*, texts: dict[str, str], contestants) -> tuple[str, str] | None:
    """The first (field, word) where a text reviewers see names a contestant's label or model."""
    for contestant in contestants:
        for word in {contestant.label, contestant.model}:
            # Whole words only: a model labelled "Pro" must not trip on "problem".
            pattern = re.compile(rf"(?<!\w){re.escape(word.strip())}(?!\w)", re.IGNORECASE)
            for field, text in texts.items():
                if word.strip() and pattern.search(text or ""):
                    return field, word
    return None


def check_blind_texts(*, campaign: Campaign) -> None:
    """Reviewers see the campaign's name, guidelines and criteria: none may name a contestant."""
    questions = {f"criteria.{c.key}": c.question for c in campaign.criteria.all()}
    leak = blind_text_leak(
        texts={"name": campaign.name, "guidelines": campaign.guidelines, **questions},
        contestants=campaign.contestants.all(),
    )
    if leak is not None:
        field, word = leak
        raise Conflict(
            f"the campaign's {field} contains {word!r}, which reviewers would see: "
            "rename it before opening review (the blind must not leak)",
            field=field,
        )


@transaction.atomic
def campaign_open(*, campaign: Campaign) -> int:
    """Open review: build the comparisons of every prompt whose responses are done."""
    check_blind_texts(campaign=campaign)
    _move(
        campaign,
        expected=(Campaign.Status.READY, Campaign.Status.CLOSED),
        to=Campaign.Status.OPEN,
        opened_at=timezone.now(),
    )
    created = comparisons_build(campaign=campaign)
    pair_decisions_refresh(campaign_id=campaign.pk)
    html_prerender_later(campaign_id=campaign.pk)
    if not campaign.comparisons.exists():
        raise Conflict("no comparison can be built: no prompt has done responses from both sides of a pair")
    return created


def campaign_close(*, campaign: Campaign) -> None:
    _move(campaign, expected=(Campaign.Status.OPEN,), to=Campaign.Status.CLOSED, closed_at=timezone.now())
