"""How a page finds its campaign: through the selector that decides who may see it."""

from collections.abc import Callable

from django.http import Http404

from ..errors import NotFound
from ..models import Campaign


def campaign_for_page(access: Callable[..., Campaign], *, user, campaign_id: int) -> Campaign:
    """The campaign `access(user=..., campaign_id=...)` lets this user see.

    A campaign the user may not see gets the same plain 404 page as one that does not exist,
    so a page never tells an outsider which campaign ids are real.
    """
    try:
        return access(user=user, campaign_id=campaign_id)
    except NotFound:
        raise Http404("no such campaign") from None
