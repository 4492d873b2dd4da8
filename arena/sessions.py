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
from django.contrib.sessions.models import Session
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from arena.db import hot_cursor, is_postgres

_SESSION_SQL = f"SELECT session_data FROM {Session._meta.db_table} WHERE session_key = %s AND expire_date > %s"
_User = get_user_model()
_USER_FIELDS = [f.attname for f in _User._meta.concrete_fields]
_USER_SQL = (
    f"SELECT {', '.join(f.column for f in _User._meta.concrete_fields)} FROM {_User._meta.db_table} "
    f"WHERE {_User._meta.pk.column} = %s"
)


class SessionStore(db_sessions.SessionStore):
    """Django's database session store; on PostgreSQL `load()` reads the row on a prepared statement."""

    def load(self):
        if not is_postgres():
            return super().load()
        with hot_cursor() as cursor:
            cursor.execute(_SESSION_SQL, [self.session_key, timezone.now()])
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
        with hot_cursor() as cursor:
            cursor.execute(_USER_SQL, [user_id])
            row = cursor.fetchone()
        if row is None:
            return None
        user = _User.from_db(DEFAULT_DB_ALIAS, _USER_FIELDS, row)
        return user if self.user_can_authenticate(user) else None
