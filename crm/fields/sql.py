"""The SQL of custom fields: the expression that reads a field's value out of a record's
`custom` column, per database, written once and used three ways: in the WHERE of a filter,
in the ORDER BY of a sort, and in the expression index an admin's "filterable" or "show in
list" creates, so that the index matches exactly what the queries emit.

Keys are [a-z][a-z0-9_]* (crm/fields/services.py refuses anything else), so they are written
into the SQL text; values always travel as bound parameters.

- SQLite: json_extract(custom, '$.key') (numbers as REAL via CAST for decimals and money);
  a multiple choice is matched with EXISTS over json_each.
- PostgreSQL (JSONB): (custom ->> 'key'), CAST(... AS NUMERIC) for numbers; a multiple choice
  with the ?| (any) and ?& (all) operators on (custom -> 'key'), GIN-indexed.
"""
from __future__ import annotations

import re

from sqlalchemy import REAL, Numeric, String, bindparam, cast, func, literal_column, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY

from crm.fields.types import TYPES

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
TABLES = {"customer": "customers", "contact": "contacts", "opportunity": "opportunities",
          "lead": "leads"}
_DIALECTS = {"postgresql": postgresql.dialect, "sqlite": sqlite.dialect}


def _safe(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise ValueError(f"not a custom field key: {key!r}")
    return key


def expression(dialect: str, table: str, field_type: str, key: str):
    """A field's comparable value (None when absent) as a column expression on `table`'s
    `custom` column: what filters, sorts and the expression index all use."""
    key = _safe(key)
    column = _custom_column(table)
    kind = TYPES[field_type].sql
    if dialect == "postgresql":
        if kind == "money":
            return cast(column.op("->")(literal_column(f"'{key}'")).op("->>")(
                literal_column("'amount'")), Numeric)
        if kind in ("number", "decimal", "user"):
            return cast(column.op("->>")(literal_column(f"'{key}'")), Numeric)
        if kind == "multi":
            return column.op("->")(literal_column(f"'{key}'"))
        return column.op("->>")(literal_column(f"'{key}'"))
    if kind == "money":
        return cast(func.json_extract(column, literal_column(f"'$.{key}.amount'")), REAL)
    if kind == "decimal":
        return cast(func.json_extract(column, literal_column(f"'$.{key}'")), REAL)
    return func.json_extract(column, literal_column(f"'$.{key}'"))


def currency_expression(dialect: str, table: str, key: str):
    """A money field's currency code (None when absent), for the list's currency filter."""
    key = _safe(key)
    column = _custom_column(table)
    if dialect == "postgresql":
        return column.op("->")(literal_column(f"'{key}'")).op("->>")(literal_column("'currency'"))
    return func.json_extract(column, literal_column(f"'$.{key}.currency'"))


def _custom_column(table: str):
    # cycle-free: the models are a leaf of crm.fields
    from crm.models import Contact, Customer, Opportunity
    return {"customers": Customer, "contacts": Contact, "opportunities": Opportunity}[table].__table__.c.custom


def value_sql(dialect: str, field_type: str, key: str, table: str) -> str:
    """The SQL text of expression(), unqualified, as CREATE INDEX takes it."""
    compiled = expression(dialect, table, field_type, key).compile(
        dialect=_DIALECTS[dialect](), compile_kwargs={"literal_binds": True})
    return str(compiled).replace(f"{table}.", "")


def index_name(record_type: str, key: str) -> str:
    return f"ix_cf_{TABLES[record_type]}_{_safe(key)}"[:61]


def create_index_sqls(dialect: str, record_type: str, field_type: str, key: str, *,
                      sorted_on: bool = False) -> list[str]:
    """The CREATE INDEX statements of a field lists filter on (and, `sorted_on`, sort by).

    Sorts put empty values last both ways (crm.fields.queries.sort_clauses). SQLite serves
    both from the one index; a PostgreSQL btree read backwards gives DESC NULLS FIRST, so a
    field shown (and sorted) in a list has a second index, DESC NULLS LAST."""
    table = TABLES[record_type]
    name = index_name(record_type, key)
    value = value_sql(dialect, field_type, key, table)
    if TYPES[field_type].sql == "multi":
        if dialect == "postgresql":
            return [f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING GIN (({value}))"]
        return []  # SQLite cannot index inside a JSON array: json_each reads the row
    found = [f"CREATE INDEX IF NOT EXISTS {name} ON {table} (({value}))"]
    if dialect == "postgresql" and sorted_on:
        found.append(f"CREATE INDEX IF NOT EXISTS {name}_d ON {table} (({value}) DESC NULLS LAST)")
    return found


def drop_index_sqls(record_type: str, key: str) -> list[str]:
    name = index_name(record_type, key)
    return [f"DROP INDEX IF EXISTS {name}", f"DROP INDEX IF EXISTS {name}_d"]


def is_custom_index(name: str | None) -> bool:
    """The indexes made here, which the models do not describe (Alembic leaves them alone)."""
    return bool(name) and name.startswith("ix_cf_")


def has_any(dialect: str, table: str, key: str, keys: list[str], param: str):
    """A multiple choice holding any of `keys`."""
    key = _safe(key)
    if dialect == "postgresql":
        return text(f"({table}.custom -> '{key}') ?| :{param}").bindparams(
            bindparam(param, list(keys), type_=ARRAY(String)))
    return text(f"EXISTS (SELECT 1 FROM json_each({table}.custom, '$.{key}') "
                f"WHERE json_each.value IN :{param})").bindparams(
        bindparam(param, list(keys), expanding=True))


def has_all(dialect: str, table: str, key: str, keys: list[str], param: str) -> list:
    key = _safe(key)
    if dialect == "postgresql":
        return [text(f"({table}.custom -> '{key}') ?& :{param}").bindparams(
            bindparam(param, list(keys), type_=ARRAY(String)))]
    return [has_any(dialect, table, key, [one], f"{param}_{i}") for i, one in enumerate(keys)]
