"""API tokens that expire, and that a password change revokes.

DRF's stock tokens live for ever and survive a password change, so a token copied from a script
or a laptop stays a way in after the user has changed the password that leaked. Here:

- a token is valid for `API_TOKEN_TTL_HOURS` after it was issued (DRF's `Token.created`); an
  expired one is refused with DRF's 401 and deleted, and the token endpoint then issues a new key;
- saving a user whose password hash changed deletes that user's token, whichever path changed it
  (the password-change form, admin, `manage.py changepassword`, `set_password()` in a script).

The revocation is a `pre_save` receiver that compares the hash being saved with the stored one.
Django offers no signal for a password change (`password_validation.password_changed()` is a
plain call made from `AbstractBaseUser.save()` after `set_password()`), and comparing hashes
also catches a hash written directly, where hooking `set_password` would not. It is the rule
Django already applies to sessions, whose auth hash is derived from the password hash; the cost
is one primary-key read on the rare saves that include the password field (`update_last_login`
saves `last_login` only and is skipped). `QuerySet.update(password=...)` sends no signal and is
not caught; nothing in this project does that.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from ..auth_backends import USER_FIELDS, user_from_row
from ..prepared import PreparedSelect


def token_is_expired(token: Token) -> bool:
    return token.created + timedelta(hours=settings.API_TOKEN_TTL_HOURS) <= timezone.now()


def token_issue(*, user) -> Token:
    """The user's current token, or a new one when there is none or it has expired."""
    token, created = Token.objects.get_or_create(user=user)
    if not created and token_is_expired(token):
        token.delete()
        # get_or_create again, not create: a second request replacing the same expired token at
        # the same moment then gets the new token instead of a unique-constraint error.
        token, _ = Token.objects.get_or_create(user=user)
    return token


# DRF's `Token.objects.select_related("user").get(key=key)`, compiled once (arena/prepared.py):
# building that query cost more CPU than the rest of the authentication, twice per next + vote.
_TOKEN_WITH_USER = PreparedSelect(
    Token,
    lambda s: Token.objects.filter(key=s("key", Token._meta.get_field("key"))).values_list(
        "created", *(f"user__{name}" for name in USER_FIELDS)
    ),
)


def _token_with_user(key: str) -> Token | None:
    rows = _TOKEN_WITH_USER.rows(key=key)
    if not rows:
        return None
    created, *values = rows[0]
    user = user_from_row(values)
    token = Token.from_db(Token.objects.db, ["key", "user_id", "created"], [key, user.pk, created])
    token.user = user
    return token


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication (same header, same 401s, `tokenAuth` in the schema) that also
    refuses, and deletes, a token older than `API_TOKEN_TTL_HOURS`.

    DRF's own `authenticate_credentials`, with its query compiled once."""

    def authenticate_credentials(self, key):
        token = _token_with_user(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        user = token.user
        if token_is_expired(token):
            token.delete()
            raise exceptions.AuthenticationFailed("Token has expired; obtain a new one.")
        return user, token


@receiver(pre_save, sender=get_user_model(), dispatch_uid="arena.api.token_auth.revoke_on_password_change")
def token_revoke_on_password_change(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw or instance.pk is None:  # fixtures load as they are; a new user has no token yet
        return
    if update_fields is not None and "password" not in update_fields:
        return
    stored = sender._default_manager.filter(pk=instance.pk).values_list("password", flat=True).first()
    if stored is not None and stored != instance.password:
        Token.objects.filter(user_id=instance.pk).delete()
