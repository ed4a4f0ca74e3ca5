"""Hot-path statements, compiled once per connection from the ORM's own compiler.

The ORM rebuilds and compiles the same query on every call, which costs more
than the query itself on the paths that run for every visitor. Here each
statement is built as an ordinary queryset with stand-in values, compiled by
Django's compiler for the connection, and kept with the positions of its
parameters. Later calls only fill in the values (prepared by the fields, as
the ORM does), run the SQL through ``connection.cursor()`` (so query counting
and ``CaptureQueriesContext`` see every statement) and build rows with
``Model.from_db`` after the fields' own converters.

Nothing is hand-written: a new field, a custom ``db_table`` or another
backend changes what the compiler produces, and the cache key includes the
model's table and columns. A statement whose parameters cannot all be traced
back to its inputs is not precompiled: the caller runs the ORM instead.
"""

from __future__ import annotations

import datetime
import random
import threading
import uuid
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections
from django.db.models import QuerySet, sql

# Inputs of a statement: a name and the field whose preparation it needs.
Inputs = dict[str, Any]
Builder = Callable[[Any, Inputs], Any]

_cache: weakref.WeakKeyDictionary[Any, dict[Any, Statement | None]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _stand_in(value: Any) -> Any:
    """A value of the same type as ``value`` that nothing else in a query equals."""
    rng = random.SystemRandom()
    if isinstance(value, uuid.UUID):
        return uuid.UUID(int=rng.getrandbits(128), version=4)
    if isinstance(value, datetime.datetime):
        return value.replace(year=2001, microsecond=rng.randrange(1, 999_999))
    if isinstance(value, bool):
        raise TypeError("Booleans cannot be traced to a parameter.")
    if isinstance(value, int):
        return rng.randrange(2**40, 2**52)
    if isinstance(value, str):
        return f"stand-in-{rng.getrandbits(64):016x}"
    raise TypeError(f"No stand-in for {type(value).__name__}.")


class Statement:
    """One compiled statement: SQL, where each input goes, and how rows come back."""

    def __init__(
        self,
        sql_text: str,
        params: Sequence[Any],
        slots: dict[int, tuple[str, Callable[[Any], Any]]],
        model: Any,
        columns: Sequence[Any],
        converters: dict[int, tuple[list[Any], Any]],
    ) -> None:
        self.sql = sql_text
        self.params = list(params)
        self.slots = slots
        self.model = model
        self.attnames = [column.target.attname for column in columns]
        self.converters = list(converters.items())

    def run(self, connection: Any, inputs: Inputs) -> tuple[int, list[Any]]:
        """Execute with ``inputs``; return the row count and the model rows (if any)."""
        params = list(self.params)
        for position, (name, prepare) in self.slots.items():
            params[position] = prepare(inputs[name])
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall() if self.attnames else []
            count = cursor.rowcount
        return count, [self._build(connection, row) for row in rows]

    def _build(self, connection: Any, row: Sequence[Any]) -> Any:
        values = list(row)
        for position, (convs, expression) in self.converters:
            value = values[position]
            for converter in convs:
                value = converter(value, expression, connection)
            values[position] = value
        return self.model.from_db(connection.alias, self.attnames, values)


def _compile(
    connection: Any, model: Any, build: Builder, inputs: Inputs, returning: bool
) -> Statement | None:
    """Compile the query ``build`` makes, tracing each parameter to an input."""
    stand_ins = {name: _stand_in(value) for name, value in inputs.items()}
    built = build(model, stand_ins)
    if isinstance(built, QuerySet):  # a SELECT
        compiler = built.query.get_compiler(connection=connection)
        sql_text, params = compiler.as_sql()
        columns = [column for column, _, _ in compiler.select]
    else:  # (queryset, {field name: value}): an UPDATE
        queryset, values = built
        query = queryset.query.chain(sql.UpdateQuery)
        query.add_update_values(values)
        compiler = query.get_compiler(connection=connection)
        sql_text, params = compiler.as_sql()
        columns = []
        if returning:
            fields = model._meta.concrete_fields
            ops = connection.ops
            returning_sql = getattr(ops, "returning_columns", None) or ops.return_insert_columns
            fragment, extra = returning_sql(fields)
            sql_text, params = f"{sql_text} {fragment}", (*params, *extra)
            columns = [field.get_col(model._meta.db_table) for field in fields]
    slots = _trace(connection, model, stand_ins, params)
    if slots is None:
        return None
    converters = compiler.get_converters(columns) if columns else {}
    return Statement(sql_text, params, slots, model, columns, converters)


def _trace(
    connection: Any, model: Any, stand_ins: Inputs, params: Sequence[Any]
) -> dict[int, tuple[str, Callable[[Any], Any]]] | None:
    """Map each parameter equal to a prepared stand-in to that input and its preparation."""
    prepared: dict[Any, tuple[str, Callable[[Any], Any]]] = {}
    for name, value in stand_ins.items():
        for field in model._meta.concrete_fields:
            for prepare in _preparations(field, connection):
                try:
                    key = prepare(value)
                except Exception:  # noqa: S112 - not a preparation of this value
                    continue
                if _hashable(key):
                    prepared.setdefault(key, (name, prepare))
    slots = {}
    for position, param in enumerate(params):
        if _hashable(param) and param in prepared:
            slots[position] = prepared[param]
    traced = {name for name, _ in slots.values()}
    if traced != set(stand_ins):
        return None  # an input did not reach the SQL as expected
    return slots


def _preparations(field: Any, connection: Any) -> list[Callable[[Any], Any]]:
    """How the ORM prepares a value of ``field``: in a lookup, and in an UPDATE's SET."""

    def lookup(value: Any) -> Any:
        return field.get_db_prep_value(value, connection, prepared=False)

    def save(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)

    return [lookup, save]


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def run(
    model: Any,
    build: Builder,
    alias: str,
    inputs: Inputs,
    *,
    returning: bool = False,
) -> tuple[int, list[Any]] | None:
    """Run the statement ``build`` makes from ``inputs`` on ``alias``, compiled once.

    ``build(model, inputs)`` returns a queryset of ``model`` (a SELECT) or
    ``(queryset, update values)`` (an UPDATE, with ``RETURNING`` every
    column when ``returning``); the function itself names the statement.
    Returns ``(row count, model rows)``, or None when the statement cannot
    be precompiled: then run the ORM.
    """
    connection = connections[alias]
    per_connection = _cache.get(connection)
    if per_connection is None:
        with _lock:
            per_connection = _cache.setdefault(connection, {})
    # The table and columns are part of the key: a changed model compiles anew.
    full_key = (build, returning, model, model._meta.db_table, _columns(model))
    if full_key not in per_connection:
        try:
            per_connection[full_key] = _compile(connection, model, build, inputs, returning)
        except TypeError:
            per_connection[full_key] = None
    statement = per_connection[full_key]
    if statement is None:
        return None
    return statement.run(connection, inputs)


# model -> (its concrete fields, their columns): recomputed when the fields change.
_column_names: dict[Any, tuple[Any, tuple[str, ...]]] = {}


def _columns(model: Any) -> tuple[str, ...]:
    # Django rebuilds ``concrete_fields`` whenever a field is added or removed,
    # so its identity tells whether the columns need reading again.
    fields = model._meta.concrete_fields
    known = _column_names.get(model)
    if known is None or known[0] is not fields:
        known = _column_names[model] = (fields, tuple(field.column for field in fields))
    return known[1]


def select_first(model: Any, build: Builder, alias: str, inputs: Inputs) -> Any:
    """The first row of the SELECT ``build`` makes, or None."""
    result = run(model, build, alias, inputs)
    if result is None:
        return next(iter(build(model, inputs).using(alias)), None)
    rows = result[1]
    return rows[0] if rows else None


def update(model: Any, build: Builder, alias: str, inputs: Inputs) -> int:
    """Run the UPDATE ``build`` makes; return the number of rows it changed."""
    result = run(model, build, alias, inputs)
    if result is None:
        queryset, values = build(model, inputs)
        return int(queryset.using(alias).update(**values))
    return result[0]


def update_returning(
    model: Any, build: Builder, alias: str, inputs: Inputs, *, fetch: Builder, fetch_inputs: Inputs
) -> Any:
    """Run the UPDATE ``build`` makes and return the changed row, or None.

    One ``UPDATE ... RETURNING`` where :func:`can_return_rows`. Elsewhere
    (MySQL, MariaDB) the UPDATE, then, if it changed a row, the SELECT that
    ``fetch`` makes from ``fetch_inputs``.
    """
    result = None
    if can_return_rows(alias):
        result = run(model, build, alias, inputs, returning=True)
    if result is None:
        if not update(model, build, alias, inputs):
            return None
        return select_first(model, fetch, alias, fetch_inputs)
    rows = result[1]
    return rows[0] if rows else None


def can_return_rows(alias: str) -> bool:
    """True where ``UPDATE ... RETURNING`` gives rows back (PostgreSQL, SQLite >= 3.35)."""
    connection = connections[alias]
    if connection.vendor == "sqlite":
        import sqlite3

        return sqlite3.sqlite_version_info >= (3, 35)
    return connection.vendor == "postgresql"
