"""What an export is made of: a list's columns and where its rows come from (ExportSource),
the hook through which other record data (custom fields) adds columns, and how each value
becomes a cell (money as Decimal, times in the user's zone, the formula-injection guard).

Column order and keys are part of the file format: the import maps the header row back to
fields (docs/exports.md lists them). Append new columns at the end of a list, never in the
middle, and never rename a key."""
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable

from flask_babel import gettext as _

from crm.fields.queries import context_for, definitions, locale_id
from crm.fields.types import type_of

# A text cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice
# and Google Sheets: it is written with a leading single quote (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """One column: `key` the machine name (the form field's name, stable: the import reads
    it), `label` the header in the user's language (a lazy string), `value(record)` the raw
    value, `kind` how it is written: text, money (Decimal), number, date, datetime (in the
    user's zone), bool (Yes / No in the user's language). `prefetch(records)` loads what
    `value` reads for a chunk of records in one query (custom fields, say), or None."""
    key: str
    label: Any
    value: Callable[[Any], Any]
    kind: str = "text"
    prefetch: Callable[[list], None] | None = None


@dataclass(frozen=True)
class ExportSource:
    """A list that exports (customers, opportunities, tasks; leads, products... as they come).

    - `name`: the list's URL segment, /<name>/export.csv and .xlsx;
    - `record_type`: what extra_columns adds columns for ("customer");
    - `label`: the list's name (the job page's title);
    - `columns()`: its columns, for the signed-in user;
    - `ids(args)`: the list's own filtered, permission-checked, sorted SELECT of ids for its
      query string (a MultiDict), the one the list page runs (it may abort 403/404 as the
      list does);
    - `load(ids)`: the records of one chunk with what the columns read (a fixed number of
      queries per chunk), in the order of `ids`."""
    name: str
    record_type: str
    label: Any
    columns: Callable[[], list]
    ids: Callable[[Any], Any]
    load: Callable[[list], list]


def extra_columns(record_type: str) -> list[Column]:
    """The columns other parts of the app add to a record type's export, after its own: its
    custom fields the signed-in user may see (crm.fields.queries.definitions: a restricted
    field is left out for salespeople), in the admin's order, keyed `cf_<key>` as the forms
    name them. A value is written as the field's plain text, the form its input takes back
    (crm/fields/types.py `plain`); the values are in the rows, so no prefetch is needed."""
    columns = []
    for field in definitions(record_type):
        kind = type_of(field.type)
        ctx = context_for(field)

        def value(record, key=field.key, kind=kind, ctx=ctx):
            stored = (getattr(record, "custom", None) or {}).get(key)
            return None if stored is None else kind.plain(stored, ctx)

        columns.append(Column(f"cf_{field.key}", field.label(locale_id()), value))
    return columns


def columns_of(source: ExportSource) -> list[Column]:
    """The export's columns: the list's own, then the extra ones."""
    return [*source.columns(), *extra_columns(source.record_type)]


def guard(text: str) -> str:
    """A text cell as written: prefixed with ' when it would start a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(column: Column, record, zone) -> Any:
    """The value of `column` for `record` as a writer takes it: None, Decimal, int, date, a
    naive datetime in the user's zone `zone`, or guarded text."""
    value = column.value(record)
    if value is None or value == "":
        return None
    kind = column.kind
    if kind == "money":
        return value if isinstance(value, Decimal) else Decimal(str(value))
    if kind == "number":
        return int(value)
    if kind == "datetime" and isinstance(value, datetime):
        return value.astimezone(zone).replace(tzinfo=None, microsecond=0)
    if kind == "date" and isinstance(value, date):
        return value
    if kind == "bool":
        return _("Yes") if value else _("No")
    return guard(str(value))


def converters(columns: list[Column], zone) -> list[Callable[[Any], Any]]:
    """One function per column, record -> what `cell` answers, with the column's kind chosen
    once rather than for every cell (a text column, most of them, takes the short way)."""
    made = []
    for column in columns:
        if column.kind == "text":
            def convert(record, value=column.value):
                text = value(record)
                if text is None or text == "":
                    return None
                if text.__class__ is not str:
                    text = str(text)
                return "'" + text if text.startswith(FORMULA_STARTS) else text
        else:
            def convert(record, column=column):
                return cell(column, record, zone)
        made.append(convert)
    return made
