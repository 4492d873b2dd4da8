"""Database helpers for the review hot path (next, vote, token lookup, the item read).

`connection` (django.db) is a proxy: every attribute read goes through `connections[alias]`, an
asgiref Local lookup. The hot path made about forty such reads per request, about 8% of its
CPU, so these helpers look the wrapper up once and use it directly.
"""

import functools

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections


def db():
    """The default database's connection wrapper for this thread (not the proxy)."""
    return connections[DEFAULT_DB_ALIAS]


def is_postgres() -> bool:
    """The backend is fixed by the settings for the life of the process."""
    return settings.DB_IS_POSTGRES


def adapt_datetime(value):
    """A datetime as the backend's raw cursor takes it (SQLite: text; PostgreSQL: as is)."""
    return value if is_postgres() else db().ops.adapt_datetimefield_value(value)


def hot_cursor():
    """A cursor for the review hot path's SQL; on PostgreSQL its statements get prepared.

    Django's psycopg cursors bind parameters on the client, so PostgreSQL parses and plans each
    statement again on every call: planning the item read (six joins) took longer than running
    it, and planning was most of PostgreSQL's CPU per next + vote. This cursor binds on the
    server, so psycopg prepares a statement once it has run a few times on a connection
    (`prepare_threshold`) and PostgreSQL reuses its plan. Django's wrapper stays around it
    (query logging, execute wrappers, error translation); SQLite gets the ordinary cursor.
    """
    conn = db()
    if not is_postgres():
        return conn.cursor()
    # What `conn.cursor()` does, with this cursor class instead of the client-binding one.
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    conn.validate_thread_sharing()
    logged = conn.queries_logged
    raw = _server_binding_cursor(logged=logged)(conn.connection)
    return conn.make_debug_cursor(raw) if logged else conn.make_cursor(raw)


@functools.cache
def _server_binding_cursor(*, logged: bool):
    from django.db.backends.postgresql.base import ServerBindingCursor

    if not logged:
        return ServerBindingCursor

    class LoggedServerBindingCursor(ServerBindingCursor):
        """For query logging (DEBUG, CaptureQueriesContext): Django logs `cursor._query.query`,
        which psycopg leaves unset when it runs a prepared statement."""

        def execute(self, query, params=None, **kwargs):
            super().execute(query, params, **kwargs)
            if self._query is None:
                self._query = self._convert_query(query, params)
            return self

    return LoggedServerBindingCursor
