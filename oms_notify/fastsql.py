"""Statements built once per process for the hottest paths: one carrier event, one message sent.

Django compiles every ORM query afresh. On these paths that compilation cost far more CPU than
PostgreSQL took to answer: the message row with its order, brand, customer, preferences and
shipment (select_related) took 2.7 ms of CPU against 0.4 ms for the same row here, a one-column
UPDATE 0.5 ms against 0.1 ms; one carrier event (two row locks, eight inserts) went from ~33 ms to
~11 ms with the rest of that work (bench/notifications_profile.py). These helpers build their SQL
from the models' metadata on first use and afterwards only execute it, with the same value
conversions as the ORM: `pre_save` and `get_db_prep_save` going in (auto_now and defaults behave
as with `save()`), the backend's and the fields' converters coming out. They behave the same on
PostgreSQL and SQLite. No signals are sent (like `bulk_create` and `QuerySet.update`).

Use them only where a profile shows the compile cost; everywhere else the ORM is clearer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.db import connections, models, router, transaction
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)


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

    def __init__(
        self, model: type[Model], *related: str, by: str = "pk", for_update: bool = False, skip_locked: bool = False
    ) -> None:
        if for_update and related:
            raise ValueError("a locked load reads one table: FOR UPDATE would lock the joined rows too")
        self.model = model
        self.related = related
        self.by = by
        self.for_update, self.skip_locked = for_update, skip_locked
        # vendor -> (the SELECT by `by`, its parts, "SELECT ... FROM {source} t0 <joins>")
        self._built: dict[str, tuple[str, list[_Part], str]] = {}
        self._updates: dict[tuple, str] = {}
        self._by_field = model._meta.pk if by == "pk" else model._meta.get_field(by)

    def _build(self, connection) -> tuple[str, list[_Part], str]:
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
        # "FROM <source> t0 <joins>": the table itself, or (`update`) the rows an UPDATE returned.
        select = f"SELECT {', '.join(columns)} FROM {{source}} t0 {' '.join(joins)}"
        sql = select.format(source=qn(self.model._meta.db_table)) + f" WHERE t0.{qn(self._by_field.column)} = %s"
        # Where the database has no row locks (SQLite, the demo) a locked load is a plain read, as
        # the ORM's select_for_update is.
        if self.for_update and connection.features.has_select_for_update:
            sql += " FOR UPDATE"
            if self.skip_locked and connection.features.has_select_for_update_skip_locked:
                sql += " SKIP LOCKED"
        return sql, parts, select

    def get(self, value) -> Model:
        """`first`, or the model's DoesNotExist when there is no such row."""
        found = self.first(value)
        if found is None:
            raise self.model.DoesNotExist(f"{self.model.__name__} {value} does not exist.")
        return found

    def _built_for(self, connection) -> tuple[str, list[_Part], str]:
        built = self._built.get(connection.vendor)
        if built is None:
            built = self._built[connection.vendor] = self._build(connection)
        return built

    def first(self, value, *, using: str | None = None) -> Model | None:
        alias = using or (router.db_for_write if self.for_update else router.db_for_read)(self.model)
        connection = connections[alias]
        sql, parts, _select = self._built_for(connection)
        with connection.cursor() as cursor:
            execute(cursor, sql, [self._by_field.get_db_prep_value(value, connection)])
            row = cursor.fetchone()
        return None if row is None else _materialise(row, parts, connection, alias)

    def update(
        self, value, *, where: str = "", where_params: Sequence = (), increment: dict[str, int] | None = None, **values
    ) -> Model | None:
        """UPDATE the row found by `by` if `where` (SQL on its columns) also holds, and load it as
        `first` does, with the new values; None when no row matched.

        One statement on PostgreSQL (`WITH u AS (UPDATE ... RETURNING *) SELECT ... FROM u t0 ...`),
        an UPDATE then a SELECT elsewhere.
        """
        if self.for_update:
            raise ValueError("an UPDATE locks its row already")
        alias = router.db_for_write(self.model)
        connection = connections[alias]
        _sql, parts, select = self._built_for(connection)
        meta = self.model._meta
        key = (connection.vendor, tuple(values), tuple(increment or ()), where)
        update = self._updates.get(key)
        if update is None:
            qn = connection.ops.quote_name
            condition = f"{qn(self._by_field.column)} = %s" + (f" AND ({where})" if where else "")
            sets = _assignments(connection, meta, values, increment)
            update = f"UPDATE {qn(meta.db_table)} SET {sets} WHERE {condition}"
            if connection.vendor == "postgresql":
                update = f"WITH u AS ({update} RETURNING *) " + select.format(source="u")
            self._updates[key] = update
        params = _assignment_params(connection, meta, values, increment)
        params += [self._by_field.get_db_prep_value(value, connection), *where_params]
        with connection.cursor() as cursor:
            execute(cursor, update, params)
            changed = cursor.rowcount
            row = cursor.fetchone() if connection.vendor == "postgresql" else None
        if connection.vendor != "postgresql":
            return self.first(value, using=alias) if changed else None
        return None if row is None else _materialise(row, parts, connection, alias)


_PLACEHOLDER = re.compile(r"%s")
# sql -> (statement name, its PREPARE); name -> sql, to read an EXECUTE back (tests, logs)
_prepares: dict[str, tuple[str, str]] = {}
_by_name: dict[str, str] = {}


def execute(cursor, sql: str, params: Sequence = ()) -> None:
    """Run a statement built once (this module's, or a caller's fixed SQL with `%s` placeholders).

    On PostgreSQL it is prepared once per server connection (PREPARE) and afterwards executed by
    name: planning the message row's six-table join cost the server more CPU than running it,
    and every statement of the hot paths was planned afresh each time (psycopg2 sends text).
    PREPARE is not transactional, so a rollback keeps it; a new connection prepares again.
    DATABASE_PREPARED_STATEMENTS=false turns it off (a pooler that moves sessions between server
    connections). Elsewhere (SQLite, the demo) the statement simply runs.
    """
    connection = cursor.db
    if connection.vendor != "postgresql" or not settings.DATABASE_PREPARED_STATEMENTS:
        cursor.execute(sql, params)
        return
    built = _prepares.get(sql)
    if built is None:
        name = "fastsql_" + hashlib.sha1(sql.encode()).hexdigest()[:16]
        numbers = iter(range(1, len(params) + 1))
        built = _prepares[sql] = (name, f"PREPARE {name} AS " + _PLACEHOLDER.sub(lambda _m: f"${next(numbers)}", sql))
        _by_name[name] = sql
    name, prepare = built
    raw = connection.connection
    state = connection.__dict__.get("_fastsql_prepared")
    if state is None or state[0] is not raw:  # a new server connection: nothing prepared on it yet
        state = connection.__dict__["_fastsql_prepared"] = (raw, set())
    if name not in state[1]:
        cursor.execute(prepare)
        state[1].add(name)
    cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(params))})" if params else f"EXECUTE {name}", params)


def statement_of(sql: str) -> str:
    """The statement an `EXECUTE fastsql_...(...)` ran (other SQL as it is): for reading captured queries."""
    if sql.startswith("EXECUTE fastsql_"):
        return _by_name.get(sql[len("EXECUTE ") :].split("(", 1)[0], sql)
    return sql


def _materialise(row: Sequence, parts: list[_Part], connection, alias: str) -> Model:
    """The objects of one joined row, linked as select_related links them; returns the root."""
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


def _assignments(connection, meta, values: dict, increment: dict[str, int] | None) -> str:
    """The SET list of an UPDATE: `col = %s` per value, `col = col + %s` per increment."""
    qn = connection.ops.quote_name
    sets = [f"{qn(meta.get_field(name).column)} = %s" for name in values]
    sets += [f"{qn(meta.get_field(name).column)} = {qn(meta.get_field(name).column)} + %s" for name in increment or ()]
    return ", ".join(sets)


def _assignment_params(connection, meta, values: dict, increment: dict[str, int] | None) -> list:
    params = [meta.get_field(name).get_db_prep_save(value, connection) for name, value in values.items()]
    return params + list((increment or {}).values())


_update_sql: dict[tuple, str] = {}


def update_row(model: type[Model], pk, *, increment: dict[str, int] | None = None, **values) -> int:
    """UPDATE one row by primary key (no signals, like QuerySet.update). Returns the rows changed."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    key = (model, connection.vendor, tuple(values), tuple(increment or ()))
    sql = _update_sql.get(key)
    if sql is None:
        qn = connection.ops.quote_name
        sql = _update_sql[key] = (
            f"UPDATE {qn(meta.db_table)} SET {_assignments(connection, meta, values, increment)} "
            f"WHERE {qn(meta.pk.column)} = %s"
        )
    params = _assignment_params(connection, meta, values, increment)
    params.append(meta.pk.get_db_prep_value(pk, connection))
    with connection.cursor() as cursor:
        execute(cursor, sql, params)
        return cursor.rowcount


_inserts: dict[tuple, tuple[str, list]] = {}


def _insertable(model: type[Model], connection, *, leave_out: Field | None = None) -> list[tuple[Field, Callable]]:
    """The fields an INSERT of a new `model` row writes, each with its value preparation."""
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.generated and f is not meta.auto_field and f is not leave_out]
    return [(f, _prep(f, connection)) for f in fields]


# Fields whose preparation of a value of one of these exact types returns it unchanged (text to
# text, bool to bool): the ORM's chain of calls is skipped for them, nothing else.
_PASS_THROUGH = (
    (models.CharField, (str,), models.CharField),
    (models.TextField, (str,), models.TextField),
    (models.BooleanField, (bool,), models.BooleanField),
)


def _prep(f: Field, connection) -> Callable[[Any], Any]:
    """`f.get_db_prep_save(value, connection)`, short-cut where it provably returns the value itself."""

    def full(value):
        return f.get_db_prep_save(value, connection)

    cls = type(f)
    # A foreign key or a timestamp left empty is NULL whatever the backend (most of a new row's are).
    if cls in (models.ForeignKey, models.DateTimeField):

        def unless_none(value):
            return None if value is None else full(value)

        return unless_none
    if cls.get_db_prep_save is not Field.get_db_prep_save or cls.get_db_prep_value is not Field.get_db_prep_value:
        return full
    for base, types, owner in _PASS_THROUGH:
        if isinstance(f, base) and cls.get_prep_value is owner.get_prep_value and cls.to_python is owner.to_python:

            def quick(value, types=types):
                return value if value is None or type(value) in types else full(value)

            return quick
    return full


_lockers: dict[tuple, JoinedLoader] = {}


def load_for_update(model: type[M], pk, *, skip_locked: bool = False) -> M | None:
    """The row with this primary key, locked (SELECT ... FOR UPDATE [SKIP LOCKED]), or None."""
    loader = _lockers.get((model, skip_locked))
    if loader is None:
        loader = _lockers[(model, skip_locked)] = JoinedLoader(model, for_update=True, skip_locked=skip_locked)
    return loader.first(pk)


def lock_row(model: type[M], pk) -> M:
    """`load_for_update`, or the model's DoesNotExist when there is no such row."""
    found = load_for_update(model, pk)
    if found is None:
        raise model.DoesNotExist(f"{model.__name__} {pk} does not exist.")
    return found


def insert_returning(instance: Model, *, skip_conflicts_on: Sequence[str] = ()) -> bool:
    """INSERT one new instance and set its primary key. With `skip_conflicts_on` (the fields of a
    unique constraint) an existing row makes it a no-op instead of an IntegrityError: False."""
    return bool(insert_many([instance], skip_conflicts_on=skip_conflicts_on))


def insert_many(instances: Sequence[M], *, skip_conflicts_on: Sequence[str] = ()) -> list[M]:
    """INSERT new instances in one statement; returns those written (their primary keys set).

    With `skip_conflicts_on` (the fields of a unique constraint) rows that would break it are left
    out (ON CONFLICT DO NOTHING) and not returned; the rest keep their order.
    """
    if not instances:
        return []
    model = type(instances[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    conflict = tuple(skip_conflicts_on)
    key = (model, alias, connection.vendor, len(instances), conflict)
    built = _inserts.get(key)
    if built is None:
        qn = connection.ops.quote_name
        fields = _insertable(model, connection)
        one = f"({', '.join(['%s'] * len(fields))})"
        sql = f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f, _prep in fields)}) VALUES "
        sql += ", ".join([one] * len(instances))
        if conflict:
            sql += f" ON CONFLICT ({', '.join(qn(meta.get_field(name).column) for name in conflict)}) DO NOTHING"
        # The conflict columns come back too: with rows skipped, they say which instance got which key.
        sql += f" RETURNING {', '.join(qn(c) for c in [meta.pk.column, *(meta.get_field(n).column for n in conflict)])}"
        built = _inserts[key] = (sql, fields)
    sql, fields = built
    params = []
    for instance in instances:
        params += [prep(f.pre_save(instance, add=True)) for f, prep in fields]
    with connection.cursor() as cursor:
        execute(cursor, sql, params)
        returned = cursor.fetchall()
    if not conflict:
        written = list(instances)
        pks = [r[0] for r in returned]
    else:
        by_key = {tuple(r[1:]): r[0] for r in returned}
        conflict_fields = [meta.get_field(name) for name in conflict]
        written, pks = [], []
        for instance in instances:
            value = tuple(f.get_db_prep_save(getattr(instance, f.attname), connection) for f in conflict_fields)
            pk = by_key.pop(value, None)  # a key twice in one batch: only its first row was written
            if pk is not None:
                written.append(instance)
                pks.append(pk)
    for instance, pk in zip(written, pks, strict=True):
        instance.pk = pk
        instance._state.adding, instance._state.db = False, alias
    return written


_pairs: dict[tuple, tuple[str, list, list]] = {}


def insert_pair(parent: Model, child: Model, *, link: str) -> None:
    """INSERT a new `parent` and a new `child` whose foreign key `link` points at it; sets both keys.

    One statement on PostgreSQL (a data-modifying WITH: the parent's key goes straight into the
    child row), two elsewhere. Used for an audit row and the domain event that names it.
    """
    alias = router.db_for_write(type(child))
    connection = connections[alias]
    fk = type(child)._meta.get_field(link)
    if connection.vendor != "postgresql":
        insert_returning(parent)
        setattr(child, link, parent)  # the key and the cached object, as assigning a saved parent does
        insert_returning(child)
        return
    key = (type(parent), type(child), link, alias)
    built = _pairs.get(key)
    if built is None:
        qn = connection.ops.quote_name
        pmeta, cmeta = parent._meta, child._meta
        pfields = _insertable(type(parent), connection)
        cfields = _insertable(type(child), connection, leave_out=fk)
        # Typed: in a SELECT list a parameter takes no type from the column it is inserted into.
        typed = [f"%s::{f.cast_db_type(connection)}" for f, _ in cfields]
        sql = (
            f"WITH p AS (INSERT INTO {qn(pmeta.db_table)} ({', '.join(qn(f.column) for f, _ in pfields)}) "
            f"VALUES ({', '.join(['%s'] * len(pfields))}) RETURNING {qn(pmeta.pk.column)}) "
            f"INSERT INTO {qn(cmeta.db_table)} ({', '.join(qn(f.column) for f, _ in cfields)}, {qn(fk.column)}) "
            f"SELECT {', '.join(typed)}, p.{qn(pmeta.pk.column)} FROM p "
            f"RETURNING {qn(cmeta.pk.column)}, {qn(fk.column)}"
        )
        built = _pairs[key] = (sql, pfields, cfields)
    sql, pfields, cfields = built
    params = [prep(f.pre_save(parent, add=True)) for f, prep in pfields]
    params += [prep(f.pre_save(child, add=True)) for f, prep in cfields]
    with connection.cursor() as cursor:
        execute(cursor, sql, params)
        child_pk, parent_pk = cursor.fetchone()
    parent.pk, child.pk = parent_pk, child_pk
    setattr(child, link, parent)  # the key and the cached object (setting only the key drops the object)
    for instance in (parent, child):
        instance._state.adding, instance._state.db = False, alias


_insert_updates: dict[tuple, tuple[str, list]] = {}


def insert_and_update(instance: Model, model: type[Model], pk, **values) -> int:
    """INSERT a new `instance` and UPDATE one row of `model` by primary key, together; returns the
    rows the UPDATE changed. The new row's key is not read back.

    One statement, so one transaction, on PostgreSQL (`WITH i AS (INSERT ...) UPDATE ...`): a
    record and the status it explains, without BEGIN and COMMIT round trips. Two statements
    elsewhere, in a transaction (the caller's, or their own).
    """
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        with transaction.atomic(using=alias, savepoint=False):
            insert_returning(instance)
            return update_row(model, pk, **values)
    meta, new = model._meta, type(instance)
    key = (new, model, alias, tuple(values))
    built = _insert_updates.get(key)
    if built is None:
        qn = connection.ops.quote_name
        fields = _insertable(new, connection)
        sql = (
            f"WITH i AS (INSERT INTO {qn(new._meta.db_table)} ({', '.join(qn(f.column) for f, _ in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})) "
            f"UPDATE {qn(meta.db_table)} SET {_assignments(connection, meta, values, None)} "
            f"WHERE {qn(meta.pk.column)} = %s"
        )
        built = _insert_updates[key] = (sql, fields)
    sql, fields = built
    params = [prep(f.pre_save(instance, add=True)) for f, prep in fields]
    params += _assignment_params(connection, meta, values, None)
    params.append(meta.pk.get_db_prep_value(pk, connection))
    with connection.cursor() as cursor:
        execute(cursor, sql, params)
        return cursor.rowcount
