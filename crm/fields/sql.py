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

from sqlalchemy import String, bindparam, literal_column, text
from sqlalchemy.dialects.postgresql import ARRAY

from crm.fields.types import TYPES

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
TABLES = {"customer": "customers", "contact": "contacts", "opportunity": "opportunities"}


def _safe(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise ValueError(f"not a custom field key: {key!r}")
    return key


def value_sql(dialect: str, field_type: str, key: str, column: str = "custom") -> str:
    """The SQL text of a field's comparable value (None when absent)."""
    key = _safe(key)
    kind = TYPES[field_type].sql
    if dialect == "postgresql":
        if kind == "money":
            return f"CAST(({column} -> '{key}' ->> 'amount') AS NUMERIC)"
        if kind in ("number", "decimal", "user"):
            return f"CAST(({column} ->> '{key}') AS NUMERIC)"
        if kind == "multi":
            return f"({column} -> '{key}')"
        return f"({column} ->> '{key}')"
    if kind == "money":
        return f"CAST(json_extract({column}, '$.{key}.amount') AS REAL)"
    if kind == "decimal":
        return f"CAST(json_extract({column}, '$.{key}') AS REAL)"
    return f"json_extract({column}, '$.{key}')"


def expression(dialect: str, table: str, field_type: str, key: str):
    """The value as a column expression of a query on `table`."""
    return literal_column(value_sql(dialect, field_type, key, f"{table}.custom"))


def index_name(record_type: str, key: str) -> str:
    return f"ix_cf_{TABLES[record_type]}_{_safe(key)}"[:63]


def create_index_sql(dialect: str, record_type: str, field_type: str, key: str) -> str:
    table = TABLES[record_type]
    name = index_name(record_type, key)
    if TYPES[field_type].sql == "multi":
        if dialect == "postgresql":
            return f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING GIN (({value_sql(dialect, field_type, key)}))"
        return ""  # SQLite cannot index inside a JSON array: json_each reads the row
    return f"CREATE INDEX IF NOT EXISTS {name} ON {table} (({value_sql(dialect, field_type, key)}))" \
        if dialect == "postgresql" else \
        f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({value_sql(dialect, field_type, key)})"


def drop_index_sql(record_type: str, key: str) -> str:
    return f"DROP INDEX IF EXISTS {index_name(record_type, key)}"


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
