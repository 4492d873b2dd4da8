"""Django's `ModelBackend`, with the user read that every request of a logged-in session makes
compiled once (arena/prepared.py).

`AuthenticationMiddleware` reads the session's user on each request through the backend's
`get_user()`: `User._default_manager.get(pk=user_id)`. Building that query cost 15% of a web
worker's CPU on the browser's review path (py-spy, docs/BENCHMARKS.md); the statement is the
same, built by the ORM once. Everything else (authenticate, permissions, `user_can_authenticate`)
is Django's own.
"""

from django.contrib.auth import backends, get_user_model

from .prepared import PreparedSelect

User = get_user_model()
USER_FIELDS = [f.attname for f in User._meta.concrete_fields]
_USER = PreparedSelect(
    User, lambda s: User._default_manager.filter(pk=s("pk", User._meta.pk)).values_list(*USER_FIELDS)
)


def user_from_row(values) -> User:
    """A user instance from a row of `USER_FIELDS` (as the ORM builds one from its query)."""
    return User.from_db(User._default_manager.db, USER_FIELDS, values)


class ModelBackend(backends.ModelBackend):
    def get_user(self, user_id):
        rows = _USER.rows(pk=user_id)
        if not rows:
            return None
        user = user_from_row(rows[0])
        return user if self.user_can_authenticate(user) else None
