"""Who may read a prompt's image: that campaign's reviewers (while they may review it) and leads."""

from ..errors import NotFound
from ..image_models import PromptImage, StoredImage
from .campaigns import campaigns_for_reviewer, is_lead


def access_image_for_user(*, user, token: str) -> StoredImage:
    """The stored image behind `token`, or NotFound: for a token that does not exist and for
    anyone who may not see its campaign alike (anonymous included), so a URL reveals nothing."""
    if not (user and user.is_authenticated):
        raise NotFound("no such image")
    link = PromptImage.objects.select_related("image").filter(token=token).first()
    if link is None:
        raise NotFound("no such image")
    if not is_lead(user) and not campaigns_for_reviewer(user=user).filter(pk=link.campaign_id).exists():
        raise NotFound("no such image")
    return link.image
