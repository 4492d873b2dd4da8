"""API token authentication without the ORM on the hot path.

Same header, same errors and the same rules as DRF's `TokenAuthentication` (it is a subclass,
so the OpenAPI schema still shows `tokenAuth`), but the lookup is one indexed statement written
as SQL: the ORM spent about 1.5 ms of CPU building `select_related("user").get(key=...)` on
every request, several times what the database needs to answer it. Nothing is cached: a deleted
token or a deactivated user is refused on the very next request.
"""

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connection, models
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from ..db import hot_cursor
from ..tokens import TokenReviewer

_User = get_user_model()
# Every column but the password hash and the timestamps, which no API view needs (Django loads a
# deferred field on access); timestamps would need the ORM's per-backend conversion.
_LOADED = [
    f for f in _User._meta.concrete_fields if f.attname != "password" and not isinstance(f, models.DateTimeField)
]
_USER_FIELDS = [f.attname for f in _LOADED]
_BOOLS = [i for i, f in enumerate(_LOADED) if isinstance(f, models.BooleanField)]
_SQL = (
    f"SELECT {', '.join(f'u.{connection.ops.quote_name(f)}' for f in _USER_FIELDS)} "
    f"FROM {Token._meta.db_table} t JOIN {_User._meta.db_table} u ON u.{_User._meta.pk.column} = t.user_id "
    "WHERE t.key = %s"
)
_ACTIVE = _USER_FIELDS.index("is_active")


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        with hot_cursor() as cursor:
            cursor.execute(_SQL, [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not row[_ACTIVE]:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        values = list(row)
        for i in _BOOLS:  # SQLite gives 0/1 to a raw cursor; keep the user typed like the ORM's
            values[i] = bool(values[i])
        user = _User.from_db(DEFAULT_DB_ALIAS, _USER_FIELDS, values)
        token = Token.from_db(DEFAULT_DB_ALIAS, ["key", "user_id"], [key, user.pk])
        token.user = user
        return user, token


class DeferredTokenAuthentication(TokenAuthentication):
    """For review's next and vote only: the header is parsed as DRF does, and the token is matched
    to its user by the service's first statement instead of a query of its own (`arena/tokens.py`).
    The views answer a bad token exactly as `TokenAuthentication` would (`TokenCheckedOnError`)."""

    def authenticate_credentials(self, key):
        return TokenReviewer(key), key


class TokenCheckedOnError:
    """View mixin: before answering any error, a token that no statement has matched yet is
    checked, so an invalid or inactive one is refused with DRF's own error, as it was when
    authentication ran first."""

    def handle_exception(self, exc):
        principal = getattr(self.request, "_user", None)
        unchecked = isinstance(principal, TokenReviewer) and principal.user_id is None
        # DRF negotiates the content type before it authenticates: a 406 stays a 406.
        answered_first = exceptions.AuthenticationFailed | exceptions.NotAuthenticated | exceptions.NotAcceptable
        if unchecked and not isinstance(exc, answered_first):
            try:
                user, _token = TokenAuthentication().authenticate_credentials(principal.key)
                principal.user_id = user.pk
            except exceptions.AuthenticationFailed as refused:
                exc = refused
        return super().handle_exception(exc)
