"""Invite links: a signed `{"c": campaign id, "exp": unix time}` that makes its holder a reviewer.

Signed with Django's signing (SECRET_KEY and a salt of its own), so it cannot be forged or
extended; the expiry is inside the signed payload.
"""

import time

from django.core import signing

from ..models import Campaign

INVITE_SALT = "arena.invite"
DEFAULT_DAYS = 7
MAX_DAYS = 90


def invite_token_make(*, campaign: Campaign, days: int = DEFAULT_DAYS) -> tuple[str, int]:
    expires = int(time.time()) + days * 86400
    return signing.dumps({"c": campaign.pk, "exp": expires}, salt=INVITE_SALT, compress=True), expires


def invite_campaign(token: str) -> Campaign | None:
    """The campaign of a valid, unexpired invite, or None."""
    try:
        payload = signing.loads(token, salt=INVITE_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or payload.get("exp", 0) < time.time():
        return None
    return Campaign.objects.filter(pk=payload.get("c")).first()
