"""What the few hand-written statements of the review path are built from.

Each of them is the one copy of its rule, run on SQLite and PostgreSQL alike; they are SQL only
because the ORM cost more CPU building them than the database spends running them (the figure
is in docs/BENCHMARKS.md). Table and column names come from the models' `_meta`, so a renamed
field breaks at import, not in production; enum values are passed as parameters.
"""

import json
from datetime import UTC

from django.db import connection, models
from django.utils import timezone


class Names:
    """A model's table and columns for a SQL template: `"{A}"` is the table, `"{A.status}"` the
    column of the field `status` (`"{A.campaign}"` of a foreign key is its `_id` column)."""

    def __init__(self, model: type[models.Model]):
        self._model = model

    def __format__(self, spec: str) -> str:
        return self._model._meta.db_table

    def __getattr__(self, field: str) -> str:
        return self._model._meta.get_field(field).column


def row_lock(*, of: str, skip_locked: bool = False) -> str:
    """The backend's `FOR UPDATE OF <alias>` clause, or nothing where rows are not locked one by
    one (SQLite serialises writers at BEGIN IMMEDIATE instead: see settings.DATABASES)."""
    if not connection.features.has_select_for_update:
        return ""
    return connection.ops.for_update_sql(of=(of,), skip_locked=skip_locked)


def fetch_one(sql: str, params: list) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def db_datetime(value):
    """A datetime as the backend takes it as a parameter of a hand-written statement."""
    return connection.ops.adapt_datetimefield_value(value)


def from_db(model: type[models.Model], field: str, value):
    """A value a hand-written statement read, as the ORM would give it: SQLite returns JSON as
    text and datetimes without their time zone to a plain cursor."""
    model_field = model._meta.get_field(field)
    if isinstance(model_field, models.DateTimeField):
        if isinstance(value, str):
            value = model_field.to_python(value)
        return value if value is None or timezone.is_aware(value) else timezone.make_aware(value, UTC)
    if isinstance(model_field, models.JSONField) and isinstance(value, str):
        return json.loads(value)
    return value
