"""The browser's login session: the session read and the user read of every page and API call.

A reviewer in the browser authenticates with Django's session cookie, so each "next" and each
vote first reads their session row and then their user row. Through the ORM each read cost
about 0.3 ms of CPU to build its SQL (more than PostgreSQL spends running it), and the two made
the session path of next + vote three times as costly as the API token's (in process, 2.6 vs
0.85 ms per pair). On PostgreSQL both are fixed statements on `arena.db.hot_cursor`, prepared
once per connection; the rules are Django's own (an expired or unknown session is an empty one,
an inactive user is no user). SQLite keeps Django's code. Settings: SESSION_ENGINE and
AUTHENTICATION_BACKENDS.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.backends import db as db_sessions
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from arena.db import hot_cursor, is_postgres


class SessionStore(db_sessions.SessionStore):
    """Django's database session store; on PostgreSQL `load()` reads the row on a prepared statement."""

    def load(self):
        if not is_postgres():
            return super().load()
        table = self.model._meta.db_table
        with hot_cursor() as cursor:
            cursor.execute(
                f"SELECT session_data FROM {table} WHERE session_key = %s AND expire_date > %s",
                [self.session_key, timezone.now()],
            )
            row = cursor.fetchone()
        if row is None:  # unknown or expired: an empty session with a new key, as Django does
            self._session_key = None
            return {}
        return self.decode(row[0])


class UserBackend(ModelBackend):
    """Django's ModelBackend; on PostgreSQL the user of a session is read on a prepared statement."""

    def get_user(self, user_id):
        if not is_postgres():
            return super().get_user(user_id)
        User = get_user_model()
        fields = User._meta.concrete_fields
        columns = ", ".join(f.column for f in fields)
        with hot_cursor() as cursor:
            cursor.execute(f"SELECT {columns} FROM {User._meta.db_table} WHERE {User._meta.pk.column} = %s", [user_id])
            row = cursor.fetchone()
        if row is None:
            return None
        user = User.from_db(DEFAULT_DB_ALIAS, [f.attname for f in fields], row)
        return user if self.user_can_authenticate(user) else None
