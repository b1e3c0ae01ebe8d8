"""Statements built once per process for the hottest paths (one notification dispatched).

Django compiles every ORM query afresh. For the dispatch of one message that compilation cost far
more CPU than PostgreSQL took to answer: the row with its order, brand, customer, preferences and
shipment (select_related) took 2.7 ms of CPU against 0.4 ms for the same row here, and a
one-column UPDATE 0.5 ms against 0.1 ms (bench/notifications_profile.py). These helpers build
their SQL from the models' metadata on first use and afterwards only execute it, with the same
value conversions as the ORM (field `get_db_prep_save` going in, backend and field converters
coming out), so they behave the same on PostgreSQL and SQLite.

Use them only where a profile shows the compile cost; everywhere else the ORM is clearer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, router
from django.db.models import Field, Model


@dataclass
class _Part:
    model: type[Model]
    alias: str
    fields: list[Field]
    parent: int | None = None
    # (parent, child) -> None: fills the relation caches as select_related does.
    link: Any = None
    # (column index, converter functions, the column expression they expect)
    converters: list[tuple] = field(default_factory=list)


def _converters(connection, fields: Iterable[Field], alias: str) -> list[tuple]:
    found = []
    for i, f in enumerate(fields):
        col = f.get_col(alias)
        chain = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if chain:
            found.append((i, chain, col))
    return found


class JoinedLoader:
    """One row of `model` found by `by`, with the to-one relations in `related` already attached.

    `related` uses select_related's spelling ("order__customer__notification_preferences"): forward
    foreign keys and one-to-ones, and reverse one-to-ones. Reading a loaded relation makes no
    query; a missing optional relation is None (forward) or raises DoesNotExist (reverse), as
    with select_related.
    """

    def __init__(self, model: type[Model], *related: str, by: str = "pk") -> None:
        self.model = model
        self.related = related
        self.by = by
        self._built: dict[str, tuple[str, list[_Part]]] = {}
        self._by_field = model._meta.pk if by == "pk" else model._meta.get_field(by)

    def _build(self, connection) -> tuple[str, list[_Part]]:
        qn = connection.ops.quote_name
        root = _Part(self.model, "t0", list(self.model._meta.concrete_fields))
        parts, joins, index = [root], [], {"": 0}
        for path in self.related:
            prefix = ""
            for name in path.split("__"):
                key = f"{prefix}__{name}" if prefix else name
                if key not in index:
                    parent_i = index[prefix]
                    parent = parts[parent_i]
                    rel = parent.model._meta.get_field(name)
                    alias = f"t{len(parts)}"
                    target = rel.related_model
                    if rel.concrete and (rel.many_to_one or rel.one_to_one):  # forward FK / one-to-one
                        on = f"{alias}.{qn(rel.target_field.column)} = {parent.alias}.{qn(rel.column)}"
                        remote = rel.remote_field.set_cached_value if rel.unique else None
                        local = rel.set_cached_value
                    elif rel.one_to_one:  # reverse one-to-one
                        forward = rel.remote_field
                        on = f"{alias}.{qn(forward.column)} = {parent.alias}.{qn(forward.target_field.column)}"
                        local, remote = rel.set_cached_value, forward.set_cached_value
                    else:
                        raise ValueError(f"{self.model.__name__}: {key} is not a to-one relation")

                    def link(parent_obj, child, local=local, remote=remote):
                        local(parent_obj, child)
                        if child is not None and remote is not None:
                            remote(child, parent_obj)

                    parts.append(_Part(target, alias, list(target._meta.concrete_fields), parent_i, link))
                    joins.append(f"LEFT OUTER JOIN {qn(target._meta.db_table)} {alias} ON {on}")
                    index[key] = len(parts) - 1
                prefix = key
        columns = []
        for part in parts:
            part.converters = _converters(connection, part.fields, part.alias)
            columns += [f"{part.alias}.{qn(f.column)}" for f in part.fields]
        by = self._by_field
        sql = (
            f"SELECT {', '.join(columns)} FROM {qn(self.model._meta.db_table)} t0 {' '.join(joins)} "
            f"WHERE t0.{qn(by.column)} = %s"
        )
        return sql, parts

    def first(self, value, *, using: str | None = None) -> Model | None:
        alias = using or router.db_for_read(self.model)
        connection = connections[alias]
        built = self._built.get(connection.vendor)
        if built is None:
            built = self._built[connection.vendor] = self._build(connection)
        sql, parts = built
        with connection.cursor() as cursor:
            cursor.execute(sql, [self._by_field.get_db_prep_value(value, connection)])
            row = cursor.fetchone()
        if row is None:
            return None
        objects: list[Model | None] = []
        start = 0
        for part in parts:
            values = list(row[start : start + len(part.fields)])
            start += len(part.fields)
            parent = objects[part.parent] if part.parent is not None else None
            if part.parent is not None and parent is None:
                objects.append(None)  # under a missing relation: nothing to attach to
                continue
            if values[part.fields.index(part.model._meta.pk)] is None:
                obj = None
            else:
                for i, chain, col in part.converters:
                    for convert in chain:
                        values[i] = convert(values[i], col, connection)
                obj = part.model.from_db(alias, [f.attname for f in part.fields], values)
            if part.link is not None:
                part.link(parent, obj)
            objects.append(obj)
        return objects[0]


_update_sql: dict[tuple, str] = {}


def update_row(model: type[Model], pk, *, increment: dict[str, int] | None = None, **values) -> int:
    """UPDATE one row by primary key (no signals, like QuerySet.update). Returns the rows changed."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    increment = increment or {}
    key = (model, connection.vendor, tuple(values), tuple(increment))
    sql = _update_sql.get(key)
    meta = model._meta
    if sql is None:
        qn = connection.ops.quote_name
        sets = [f"{qn(meta.get_field(name).column)} = %s" for name in values]
        sets += [f"{qn(meta.get_field(name).column)} = {qn(meta.get_field(name).column)} + %s" for name in increment]
        sql = _update_sql[key] = f"UPDATE {qn(meta.db_table)} SET {', '.join(sets)} WHERE {qn(meta.pk.column)} = %s"
    params = [meta.get_field(name).get_db_prep_save(value, connection) for name, value in values.items()]
    params += list(increment.values())
    params.append(meta.pk.get_db_prep_value(pk, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


_insert_sql: dict[tuple, tuple[str, list[Field]]] = {}


def insert_row(instance: Model) -> None:
    """INSERT a new instance with its defaults and auto_now fields (no signals, no pk read back)."""
    model = type(instance)
    alias = router.db_for_write(model)
    connection = connections[alias]
    key = (model, connection.vendor)
    built = _insert_sql.get(key)
    if built is None:
        qn = connection.ops.quote_name
        fields = [f for f in model._meta.concrete_fields if not f.generated and f is not model._meta.auto_field]
        columns = ", ".join(qn(f.column) for f in fields)
        built = _insert_sql[key] = (
            f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})",
            fields,
        )
    sql, fields = built
    params = [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
