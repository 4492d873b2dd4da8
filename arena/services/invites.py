"""Invite links: a lead makes one with an expiry and a use limit; whoever opens it joins as a reviewer.

The link carries a random key (256 bits). Only its SHA-256 is stored, so the key is shown once,
when it is made, and a database copy holds no working link. Joining is `invite_accept`: one
transaction, a conditional UPDATE on the use counter (the database, not a check in Python,
decides who gets the last use), and one membership per user however often they open the link.
A lead revokes a link with `invite_revoke`; a revoked, expired or used-up link admits nobody.

The default is one use: a link sent to one person and forwarded, or posted where it should not
be, lets in at most one other person, and the lead notices when the intended reviewer cannot
join. A lead who shares one link with a team sets `max_uses` to the team's size.
"""

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ..errors import NotFound, ValidationFailed
from ..models import Campaign, CampaignReviewer, Invite

DEFAULT_DAYS = 7
MAX_DAYS = 90
DEFAULT_MAX_USES = 1
MAX_USES_LIMIT = 1000


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def invite_create(
    *, campaign: Campaign, created_by=None, days: int = DEFAULT_DAYS, max_uses: int = DEFAULT_MAX_USES
) -> tuple[Invite, str]:
    """A new invite and its key (the only time the key exists outside the link)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(f"days must be between 1 and {MAX_DAYS}", field="days")
    if not 1 <= max_uses <= MAX_USES_LIMIT:
        raise ValidationFailed(f"max_uses must be between 1 and {MAX_USES_LIMIT}", field="max_uses")
    key = secrets.token_urlsafe(32)
    invite = Invite.objects.create(
        campaign=campaign,
        created_by=created_by,
        key_hash=_key_hash(key),
        expires_at=timezone.now() + timedelta(days=days),
        max_uses=max_uses,
    )
    return invite, key


def _refusal(invite: Invite | None) -> str | None:
    """Why this invite admits nobody now, or None when it admits one more person."""
    if invite is None:
        return "this invite link is not valid"
    if invite.revoked_at is not None:
        return "this invite link has been revoked"
    if invite.expires_at <= timezone.now():
        return "this invite link has expired"
    if invite.uses >= invite.max_uses:
        return "this invite link has been used as many times as it allows"
    return None


def invite_for_key(*, key: str) -> Invite:
    """The invite a link's key opens, with its campaign; ValidationFailed saying why when it admits nobody."""
    invite = Invite.objects.select_related("campaign").filter(key_hash=_key_hash(key)).first()
    reason = _refusal(invite)
    if reason is not None:
        raise ValidationFailed(reason, field="key")
    return invite


@transaction.atomic
def invite_accept(*, key: str, user_id: int) -> Campaign:
    """Make the user a reviewer of the invite's campaign, using up one of its uses.

    A user who is already a member uses nothing up, so opening the link twice costs no one else
    their place.
    """
    invite = invite_for_key(key=key)
    if CampaignReviewer.objects.filter(campaign_id=invite.campaign_id, user_id=user_id).exists():
        return invite.campaign
    counted = Invite.objects.filter(
        pk=invite.pk, revoked_at__isnull=True, expires_at__gt=timezone.now(), uses__lt=F("max_uses")
    ).update(uses=F("uses") + 1)
    if not counted:
        # Another sign-up took the last use (or the lead revoked the link) since it was read.
        invite.refresh_from_db()
        raise ValidationFailed(_refusal(invite) or "this invite link is not valid", field="key")
    try:
        with transaction.atomic():
            CampaignReviewer.objects.create(campaign_id=invite.campaign_id, user_id=user_id)
    except IntegrityError:
        # The same user joined through another request in the meantime: give the use back. The
        # UPDATE above holds the invite's row lock, so nobody else changed `uses` since.
        Invite.objects.filter(pk=invite.pk).update(uses=F("uses") - 1)
    return invite.campaign


@transaction.atomic
def invite_sign_up(*, key: str, username: str, password: str):
    """Create a user with Django's password validators and make them a reviewer; all or nothing."""
    User = get_user_model()
    invite_for_key(key=key)  # refuse a dead link before saying anything about the username
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationFailed("a user with that username already exists", field="username")
    candidate = User(username=username)
    try:
        password_validation.validate_password(password, user=candidate)
    except ValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages), field="password") from None
    user = User.objects.create_user(username=username, password=password)
    invite_accept(key=key, user_id=user.pk)
    return user


def invite_revoke(*, campaign: Campaign, invite_id: int) -> Invite:
    """Revoke an invite of this campaign; revoking it again changes nothing."""
    invite = Invite.objects.filter(campaign=campaign, pk=invite_id).first()
    if invite is None:
        raise NotFound(f"campaign {campaign.pk} has no invite {invite_id}")
    Invite.objects.filter(pk=invite.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    invite.refresh_from_db()
    return invite
