"""Writes the ORM compiles, sent as one statement: PostgreSQL runs data-modifying
common table expressions (``WITH a AS (UPDATE …), b AS (INSERT …) INSERT …``) in one
round trip and atomically without a transaction, where the ORM sends each write on
its own and wraps them in ``BEGIN``/``COMMIT``. The hot paths use these (a send's
writes, a wrong code's count and its check row); the SQL of each write is still the
ORM's, compiled from the models' named state changes, so the rules stay in one place.

Sub-statements of one statement run in no guaranteed order unless one reads another's
output: :func:`insert_select` makes an INSERT read from an earlier expression, so that,
for example, the pending code is canceled before the new one meets the unique index.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.db import connections, models
from django.db.models import sql
from django.db.models.expressions import DatabaseDefault

Statement = tuple[str, tuple]


def _stand_in(kind: str, index: int, which: int) -> object:
    """A value of ``kind`` unlike any constant of a statement, and unlike every other
    stand-in (``index``: the value's place in the shape; ``which``: the first or the
    second set)."""
    n = 2 * index + which
    if kind == "datetime":
        return datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC) + timedelta(days=n, microseconds=n + 1)
    if kind == "uuid":
        return uuid.UUID(int=0x5EED_0000 + n)
    if kind == "int":
        return -987_654_321 - n
    if kind == "str":
        return f"\x01stand-in-{n}"
    raise ValueError(f"no stand-in for {kind}")


class Shape:
    """A statement compiled once per process and then only filled in. Compiling with
    the ORM (resolving expressions, building the text) costs a hot path more CPU than
    the round trip itself, and the text depends only on the statement's shape.

    ``build(**values)`` returns the statement; ``kinds`` names each value's kind
    (``datetime``, ``uuid``, ``int`` or ``str``). The shape is compiled twice, with two
    sets of stand-ins: the parameters that differ are the values' slots. If the texts
    differ, or a parameter changed that no stand-in explains (a value the ORM
    transformed), the shape is not fixed and every call compiles: slower, never wrong.
    Every value must be given its own name (two names, two slots)."""

    def __init__(self, build: Callable[..., Statement], **kinds: str):
        self.build = build
        self.kinds = kinds
        self._fixed: tuple[str, list] | None = None
        self._tried = False

    def __call__(self, **values) -> Statement:
        if not self._tried:
            self._tried = True
            self._fixed = self._fix()
        if self._fixed is None:
            return self.build(**values)
        text, slots = self._fixed
        return text, tuple(values[slot[1]] if slot[0] else slot[1] for slot in slots)

    def _fix(self) -> tuple[str, list] | None:
        kinds = list(self.kinds.items())
        a = {name: _stand_in(kind, i, 0) for i, (name, kind) in enumerate(kinds)}
        b = {name: _stand_in(kind, i, 1) for i, (name, kind) in enumerate(kinds)}
        (text_a, params_a), (text_b, params_b) = self.build(**a), self.build(**b)
        if text_a != text_b or len(params_a) != len(params_b):
            return None
        slots: list = []
        for pa, pb in zip(params_a, params_b, strict=True):
            if pa == pb and type(pa) is type(pb):
                slots.append((False, pa))
                continue
            name = next((n for n in a if a[n] == pa and b[n] == pb), None)
            if name is None:
                return None
            slots.append((True, name))
        return text_a, slots


def update(queryset: models.QuerySet, values: dict) -> Statement:
    """``queryset.update(**values)`` as SQL, not run."""
    query = queryset.query.chain(sql.UpdateQuery)
    query.add_update_values(values)
    query.order_by = ()
    statement, params = query.get_compiler(queryset.db).as_sql()
    return statement, tuple(params)


def insert_select(obj: models.Model, *, source: str, using: str = "default") -> Statement:
    """``obj.save(force_insert=True)`` as ``INSERT … SELECT <its values> FROM source``:
    one row per row of ``source``, after ``source`` has run. Every field must hold a
    value (a database default would be the keyword ``DEFAULT``, not an expression).
    Each plain value is prepared as the ORM prepares it for saving; only expressions
    (a price looked up in the INSERT) go through the ORM's compiler."""
    meta = obj._meta
    connection = connections[using]
    fields = [
        f for f in meta.local_concrete_fields if not (f is meta.auto_field and obj.pk is None)
    ]
    placeholders, params = [], []
    compiler = None
    for field in fields:
        value = field.pre_save(obj, add=True)
        if isinstance(value, DatabaseDefault):
            raise ValueError(f"{meta.label}: no value for {field.name}")
        if hasattr(value, "resolve_expression"):
            if compiler is None:
                compiler = sql.InsertQuery(type(obj)).get_compiler(using)
            resolved = value.resolve_expression(compiler.query, allow_joins=False, for_save=True)
            text, more = compiler.compile(resolved)
            placeholders.append(text)
            params.extend(more)
        else:
            placeholders.append("%s")
            params.append(field.get_db_prep_save(value, connection=connection))
    head = _insert_head(type(obj), tuple(f.column for f in fields), using)
    return f"{head} SELECT {', '.join(placeholders)} FROM {source}", tuple(params)  # noqa: S608


_HEADS: dict[tuple, str] = {}


def _insert_head(model: type[models.Model], columns: tuple[str, ...], using: str) -> str:
    key = (model, columns, using)
    if key not in _HEADS:
        quote = connections[using].ops.quote_name
        _HEADS[key] = (
            f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)})"
        )
    return _HEADS[key]


def saved(obj: models.Model, using: str = "default") -> models.Model:
    """Mark ``obj``, inserted by a statement of this module, as a saved row."""
    obj._state.adding = False
    obj._state.db = using
    return obj
