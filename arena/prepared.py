"""ORM statements built once and run many times: the review path's writes and hot reads.

Building `Comparison.objects.filter(...).update(...)` or `Vote.objects.create(...)` costs about
1 ms of CPU per call (cloning the query, resolving expressions, compiling the SQL), against
0.1 ms to send the finished statement: on the review path, whose next + vote makes seven such
writes, that was most of the server's CPU (docs/BENCHMARKS.md). Here the ORM compiles each
statement once per database alias, with a `Slot` standing for every value that changes from
call to call, and later calls only fill in the values. The statement is still written once, as
ORM filters and expressions; nothing here is hand-written SQL, and table and column names, casts
and the RETURNING clause are the ORM's own.

- `PreparedUpdate(model, where=lambda s: Q(...), values=lambda s: {...}).run(**values)` is
  `model.objects.filter(where).update(**values)`; it returns the row count.
- `PreparedInsert(model).insert(model(**values))` is `model.objects.create(**values)` (field
  defaults and `auto_now_add` applied as `save()` applies them) without signals. No receiver
  listens to the models it is used on (a test checks).
- `PreparedSelect(model, lambda s: model.objects.filter(...).values_list(...)).rows(**values)` is
  `list(queryset)` of that `values_list` query (the backend's converters applied as the ORM
  applies them); `select_for_update()`, joins and subqueries compile as they always do.

`with batched():` sends the statements run inside without waiting for each reply: on PostgreSQL
they go out in psycopg's pipeline mode, and their replies come back together when one of them is
read (a fetch, or the row count `run()` returns) or when the block ends; on other databases they
run one by one as always. The vote's last writes and its pair's read are one round trip instead
of four (docs/BENCHMARKS.md: a web thread spends most of its time waiting for replies). Inside,
use `send()` for a write whose row count nobody reads (an ORM `update()` there would return -1);
a row `insert()`ed there gets its primary key when the block ends.
"""

from contextlib import contextmanager

from django.db import connections, router
from django.db.models import Expression, IntegerField, Q
from django.db.models import sql as orm_sql


class Slot(Expression):
    """A value given when the statement runs: compiles to one placeholder whose parameter is the
    slot itself, replaced by the call's value (prepared for its field by `prepare`)."""

    def __init__(self, name: str, output_field=None):
        super().__init__(output_field=output_field or IntegerField())
        self.name = name

    def as_sql(self, compiler, connection):
        return "%s", [self]

    def __repr__(self):
        return f"Slot({self.name!r})"


class _Slots:
    """`s.comparison_id` in a statement's builder is `Slot("comparison_id")`; `s("at", field)`
    gives one of another type."""

    def __getattr__(self, name: str) -> Slot:
        return Slot(name)

    def __call__(self, name: str, output_field) -> Slot:
        return Slot(name, output_field)


def _bind(params, values: dict, connection) -> list:
    bound = []
    for param in params:
        if isinstance(param, Slot):
            value = values[param.name]
            field = param.output_field
            bound.append(field.get_db_prep_value(value, connection, prepared=False))
        else:
            bound.append(param)
    return bound


class _Prepared:
    """A statement on `model`, compiled by `_compile(alias)` the first time it runs on an alias."""

    def __init__(self, model):
        self.model = model
        self._compiled: dict[str, tuple] = {}

    def _compile(self, alias: str) -> tuple:
        raise NotImplementedError

    def _statement(self) -> tuple:
        """(connection, compiled) for the alias the model writes to (the review path reads what
        it then writes)."""
        alias = router.db_for_write(self.model)
        compiled = self._compiled.get(alias) or self._compiled.setdefault(alias, self._compile(alias))
        return connections[alias], compiled


class _Batch:
    """The psycopg pipeline of a `batched()` block, and what is to be done once its replies are in
    (an inserted row's primary key, read from its reply)."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.when_replied: list = []


@contextmanager
def batched(using: str = "default"):
    """The statements run inside go out together on PostgreSQL (see the module docstring); an
    error of any of them is raised, as Django's own error class, when the block ends (or at the
    first read after it). A row inserted inside gets its primary key when the block ends."""
    connection = connections[using]
    if connection.vendor != "postgresql" or _batch_of(connection):
        yield
        return
    import psycopg  # only here: the embedded default (SQLite) needs no PostgreSQL driver

    if not psycopg.Pipeline.is_supported():
        yield
        return
    connection.ensure_connection()
    batch = None
    try:
        with connection.wrap_database_errors, connection.connection.pipeline() as pipeline:
            batch = connection.arena_batch = _Batch(pipeline)
            try:
                yield
            finally:
                connection.arena_batch = None
        for then in batch.when_replied:
            then()
    finally:
        if batch is not None:
            for then in batch.when_replied:
                then.cursor.close()


def _batch_of(connection) -> _Batch | None:
    return getattr(connection, "arena_batch", None)


class PreparedUpdate(_Prepared):
    def __init__(self, model, *, where, values):
        super().__init__(model)
        self._where, self._values = where, values

    def _compile(self, alias: str) -> tuple[str, tuple]:
        slots = _Slots()
        query = self.model._base_manager.filter(self._where(slots)).query.chain(orm_sql.UpdateQuery)
        query.add_update_values(self._values(slots))
        query.clear_select_clause()
        if query.related_updates:
            raise ValueError(f"{self.model.__name__}: a prepared update must touch one table")
        return query.get_compiler(alias).as_sql()

    def run(self, **values) -> int:
        """Run the update and return its row count (inside `batched()`, after every reply
        pending before it)."""
        connection, (sql, params) = self._statement()
        with connection.cursor() as cursor:
            cursor.execute(sql, _bind(params, values, connection))
            if batch := _batch_of(connection):
                with connection.wrap_database_errors:
                    batch.pipeline.sync()
            return cursor.rowcount

    def send(self, **values) -> None:
        """Run the update, its row count unread: inside `batched()` it does not wait for the
        reply."""
        connection, (sql, params) = self._statement()
        with connection.cursor() as cursor:
            cursor.execute(sql, _bind(params, values, connection))


class PreparedInsert(_Prepared):
    def __init__(self, model):
        super().__init__(model)
        opts = model._meta
        self._fields = [f for f in opts.concrete_fields if not f.generated and f is not opts.auto_field]
        if any(getattr(f, "get_placeholder", None) for f in self._fields):
            raise ValueError(f"{model.__name__}: a field needs its own placeholder; use create()")

    def _compile(self, alias: str) -> tuple[str, bool]:
        connection = connections[alias]
        obj = self.model(**{f.attname: Slot(f.attname, f) for f in self._fields})
        query = orm_sql.InsertQuery(self.model)
        # raw: the slots themselves, not what pre_save() (auto_now_add) would put in their place
        query.insert_values(self._fields, [obj], raw=True)
        compiler = query.get_compiler(alias)
        returning = bool(self.model._meta.auto_field) and connection.features.can_return_columns_from_insert
        compiler.returning_fields = [self.model._meta.auto_field] if returning else None
        [(sql, params)] = compiler.as_sql()
        slots = [p for p in params if isinstance(p, Slot)]
        if len(slots) != len(params) or [s.name for s in slots] != [f.attname for f in self._fields]:
            raise ValueError(f"{self.model.__name__}: unexpected insert shape")
        return sql, returning

    def insert(self, obj):
        """Insert the unsaved instance `obj` (built as `Model(**values)`, so its field defaults
        are set) as `save()` would, and return it with its primary key (inside `batched()`, the
        key is set when the block ends: nothing waits for it)."""
        connection, (sql, returning) = self._statement()
        params = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in self._fields]
        cursor = connection.cursor()
        try:
            cursor.execute(sql, params)
            if self.model._meta.auto_field:
                if returning and (batch := _batch_of(connection)):
                    batch.when_replied.append(_KeyOf(obj, cursor))
                    cursor = None  # closed by the batch
                else:
                    obj.pk = cursor.fetchone()[0] if returning else cursor.lastrowid
        finally:
            if cursor is not None:
                cursor.close()
        obj._state.adding, obj._state.db = False, connection.alias
        return obj


class _KeyOf:
    """Sets `obj`'s primary key from its insert's reply (RETURNING); `batched()` closes the cursor."""

    def __init__(self, obj, cursor):
        self.obj, self.cursor = obj, cursor

    def __call__(self):
        self.obj.pk = self.cursor.fetchone()[0]


class PreparedSelect(_Prepared):
    def __init__(self, model, build):
        super().__init__(model)
        self._build = build

    def _compile(self, alias: str) -> tuple[str, tuple, dict]:
        queryset = self._build(_Slots())
        compiler = queryset.query.get_compiler(alias)
        sql, params = compiler.as_sql()
        if not compiler.query.values_select and not compiler.query.annotation_select:
            raise ValueError("a prepared select reads a values_list() query")
        columns = [expression for expression, _sql, _alias in compiler.select[: compiler.col_count]]
        return sql, params, compiler.get_converters(columns)

    def rows(self, **values) -> list[tuple]:
        connection, (sql, params, converters) = self._statement()
        with connection.cursor() as cursor:
            cursor.execute(sql, _bind(params, values, connection))
            rows = cursor.fetchall()
        if not converters:
            return [tuple(row) for row in rows]
        converted = []
        for row in rows:
            row = list(row)
            for position, (functions, expression) in converters.items():
                value = row[position]
                for function in functions:
                    value = function(value, expression, connection)
                row[position] = value
            converted.append(tuple(row))
        return converted


__all__ = ["PreparedInsert", "PreparedSelect", "PreparedUpdate", "Q", "Slot", "batched"]
