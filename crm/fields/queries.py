"""Reads of custom fields: the definitions (all record types, with their options, in one
query per request), what a record's panel shows, the list's columns, filters and sort
(parsed from `cf_<key>`, `cf_<key>_min`, `cf_<key>_max`, `cf_<key>_match`), and the admin's
list with how many records hold each field."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from dataclasses import field as dc_field

from flask import current_app, g, has_app_context, has_request_context
from flask_babel import get_timezone
from sqlalchemy import func
from sqlalchemy.orm import joinedload, selectinload

from crm.extensions import db
from crm.fields import sql
from crm.fields.types import CURRENCIES, TEXT_TYPES, Context, type_of
from crm.models import Contact, CustomField, Customer, Lead, Opportunity, User, utcnow
from crm.models.custom_field import Labelled
from crm.permissions import current_viewer, visible_fields_of
from crm.trash.filters import INCLUDE_DELETED
from crm.trash.queries import RETENTION_DAYS

MODELS = {"customer": Customer, "contact": Contact, "opportunity": Opportunity, "lead": Lead}
CACHE_KEY = "_crm_custom_fields"
RANGE_SQL = ("number", "decimal", "money", "date", "datetime")
EMPTY, NOT_EMPTY = "__empty__", "__any__"  # the value of cf_<key> that asks for (not) empty


# The definitions as last read by this process, with the stamp they were read at: (the
# database, the number of fields, their latest updated_at). Every request reads the stamp
# with its user (stamp_columns, in crm/__init__.py's user statement), so the definitions cost
# no statement of their own until an admin changes one (then one query, in the next request).
_PROCESS_CACHE: dict = {}
STAMP_KEY = "_crm_custom_fields_stamp"
DIRTY_KEY = "_crm_custom_fields_dirty"


def stamp_columns() -> list:
    """Columns of the per-request user statement: what says whether the definitions changed."""
    return [db.select(func.count(CustomField.id)).scalar_subquery(),
            db.select(func.max(CustomField.updated_at)).scalar_subquery()]


def remember_stamp(count, latest) -> None:
    """The stamp read with this request's user (load_user)."""
    if has_app_context():
        setattr(g, STAMP_KEY, (str(db.engine.url), count, str(latest)))


@dataclass
class OptionDef(Labelled):
    """An option as lists and forms read it (a copy: definitions are shared by requests)."""

    id: int
    key: str
    label_zh: str
    label_en: str
    colour: str
    position: int
    retired: bool


@dataclass
class FieldDef(Labelled):
    """A field's definition as lists, forms and pages read it (a copy of CustomField)."""

    id: int
    record_type: str
    key: str
    label_zh: str
    label_en: str
    type: str
    required: bool
    help_zh: str
    help_en: str
    group_zh: str
    group_en: str
    position: int
    show_in_list: bool
    filterable: bool
    restricted: bool
    options: list = dc_field(default_factory=list)


FIELD_COLUMNS = ("id", "record_type", "key", "label_zh", "label_en", "type", "required", "help_zh",
                 "help_en", "group_zh", "group_en", "position", "show_in_list", "filterable", "restricted")
OPTION_COLUMNS = ("id", "key", "label_zh", "label_en", "colour", "position", "retired")


def definition_of(field: CustomField) -> FieldDef:
    return FieldDef(**{name: getattr(field, name) for name in FIELD_COLUMNS},
                    options=[OptionDef(**{name: getattr(o, name) for name in OPTION_COLUMNS})
                             for o in field.options])


def _load() -> dict[str, list[FieldDef]]:
    """One statement: the live fields with their options (a LEFT JOIN), in admin order."""
    rows = db.session.execute(
        db.select(CustomField).where(CustomField.deleted_at.is_(None))
        .options(joinedload(CustomField.options))
        .order_by(CustomField.record_type, CustomField.position, CustomField.id)
    ).unique().scalars().all()
    found: dict[str, list[FieldDef]] = {kind: [] for kind in MODELS}
    for field in rows:
        found.setdefault(field.record_type, []).append(definition_of(field))
    return {kind: grouped(fields) for kind, fields in found.items()}


def grouped(fields: list) -> list:
    """The fields in admin order with each group's fields together, where the group's first
    field is (a stable sort: the order inside a group is the admin's). Fields are one group
    when their group_key is (Labelled.group_key); fields without one form a group too."""
    first: dict[str, int] = {}
    for index, field in enumerate(fields):
        first.setdefault(field.group_key, index)
    return sorted(fields, key=lambda field: first[field.group_key])


def all_definitions() -> dict[str, list[CustomField]]:
    """Every live field by record type, in admin order: read at most once per request
    (flask.g), and not at all while the stamp read with the user is the process cache's.
    They are copies (FieldDef): a change is made on the CustomField rows (admin_fields)."""
    if not has_app_context():
        return {kind: [] for kind in MODELS}
    cached = g.get(CACHE_KEY)
    if cached is not None:
        return cached
    stamp = g.get(STAMP_KEY)
    if stamp is not None and not g.get(DIRTY_KEY) and _PROCESS_CACHE.get("stamp") == stamp:
        cached = _PROCESS_CACHE["definitions"]
    else:
        cached = _load()
        if stamp is not None and not g.get(DIRTY_KEY):
            _PROCESS_CACHE.update(stamp=stamp, definitions=cached)
    setattr(g, CACHE_KEY, cached)
    return cached


def forget_definitions() -> None:
    """After a definition changed in this request: read them again (from the database)."""
    if has_app_context():
        g.pop(CACHE_KEY, None)
        setattr(g, DIRTY_KEY, True)
    _PROCESS_CACHE.clear()


def definitions(record_type: str, user=None, *, everyone: bool = False) -> list[CustomField]:
    """The record type's fields `user` (default: the signed-in one) may see, in admin order."""
    fields = all_definitions().get(record_type, [])
    if everyone:
        return list(fields)
    return visible_fields_of(user if user is not None else current_viewer(), fields)


def dialect() -> str:
    return db.session.get_bind().dialect.name


def context_for(field: CustomField, users: dict | None = None) -> Context:
    """The parse/format context of a field in this request."""
    tz = str(get_timezone()) if has_request_context() else "UTC"
    currency = current_app.config.get("DEFAULT_CURRENCY", "CNY") if has_app_context() else "CNY"
    if users is None:
        users = user_names() if field.type == "user" else {}
    return Context(options=list(field.options), users=users, tz=tz, currency=currency)


def user_names() -> dict[int, str]:
    """Every user's name by id (a user field's choices and how its values read), once per request."""
    if has_app_context() and "_crm_cf_users" in g:
        return g._crm_cf_users
    names = dict(db.session.execute(db.select(User.id, User.name).order_by(User.name)).all())
    if has_app_context():
        g._crm_cf_users = names
    return names


def active_user_choices() -> list[tuple[int, str]]:
    return list(db.session.execute(
        db.select(User.id, User.name).where(User.active.is_(True)).order_by(User.name)).all())


@dataclass
class Shown:
    """One field of a record as a page shows it."""

    field: CustomField
    label: str
    value: object
    text: str
    help: str = ""


def locale_id() -> str:
    # cycle-free: crm.l10n is a leaf
    from crm.l10n import request_locale_id
    return request_locale_id() if has_request_context() else "en"


def shown_values(record_type: str, record, user=None) -> list[Shown]:
    """The record's custom fields `user` may see, formatted, in admin order (empty ones too)."""
    locale = locale_id()
    fields = definitions(record_type, user)
    users = user_names() if any(f.type == "user" for f in fields) else {}
    values = record.custom or {}
    shown = []
    for field in fields:
        value = values.get(field.key)
        ctx = context_for(field, users)
        shown.append(Shown(field, field.label(locale), value,
                           type_of(field.type).format(value, locale, ctx), field.help(locale)))
    return shown


def list_columns(record_type: str, user=None) -> list[CustomField]:
    """The fields shown as columns of the list."""
    return [field for field in definitions(record_type, user) if field.show_in_list]


def list_cells(record_type: str, records, columns) -> dict[int, list[str]]:
    """Each record's column texts, by record id (no query: values are in the rows)."""
    if not columns:
        return {}
    locale = locale_id()
    users = user_names() if any(f.type == "user" for f in columns) else {}
    contexts = [context_for(field, users) for field in columns]
    return {record.id: [type_of(field.type).format((record.custom or {}).get(field.key), locale, ctx)
                        for field, ctx in zip(columns, contexts)] for record in records}


def search_texts(record_type: str, custom: dict | None) -> list[str]:
    """The text custom values search as you type finds (fields not restricted: the search
    keys are shared by everyone who searches)."""
    if not custom:
        return []
    return [str(custom[field.key]) for field in definitions(record_type, everyone=True)
            if field.type in TEXT_TYPES and not field.restricted and custom.get(field.key)]


# --- list filters and sort ----------------------------------------------------------------------

def filter_pairs(record_type: str, args, user=None) -> list[tuple[str, str]]:
    """The list's custom-field parameters in args, for the fields `user` may see and filter
    on (a salesperson's filter on a restricted field is dropped), in a stable order."""
    pairs: list[tuple[str, str]] = []
    for field in definitions(record_type, user):
        if not field.filterable:
            continue
        name = field.input_name
        if field.type == "multi_choice":
            values = [v for v in args.getlist(name) if v][:20]
            pairs += [(name, v[:80]) for v in values]
            if values and args.get(f"{name}_match") == "all":
                pairs.append((f"{name}_match", "all"))
            continue
        value = (args.get(name) or "").strip()[:200]
        if value:
            pairs.append((name, value))
        if type_of(field.type).sql in RANGE_SQL:
            for end in ("min", "max"):
                bound = (args.get(f"{name}_{end}") or "").strip()[:40]
                if bound:
                    pairs.append((f"{name}_{end}", bound))
        if field.type == "money" and args.get(f"{name}_currency") in CURRENCIES:
            pairs.append((f"{name}_currency", args[f"{name}_currency"]))
    return pairs


def sort_field(record_type: str, sort: str, user=None) -> tuple[CustomField, bool] | None:
    """The field a sort value `cf_<key>` or `-cf_<key>` names (one shown in the list), and
    whether it is descending; None for any other sort."""
    descending = sort.startswith("-")
    name = sort[1:] if descending else sort
    if not name.startswith("cf_"):
        return None
    for field in list_columns(record_type, user):
        if field.input_name == name:
            return field, descending
    return None


def _bound(field, raw: str, ctx: Context):
    """A range bound parsed as the field's type (None when it does not parse: ignored)."""
    try:
        value = type_of(field.type).parse(raw, ctx)
    except ValueError:
        return None
    if field.type == "money":
        return float(value["amount"]) if value else None
    if field.type == "decimal":
        return float(value) if value is not None else None
    return value


def conditions(record_type: str, pairs: list[tuple[str, str]], user=None) -> list:
    """WHERE conditions of the list for the custom filters in `pairs` (filter_pairs); broken
    values are ignored quietly, as the built-in filters do."""
    if not pairs:
        return []
    table = sql.TABLES[record_type]
    db_dialect = dialect()
    given: dict[str, list[str]] = {}
    for name, value in pairs:
        given.setdefault(name, []).append(value)
    found = []
    for number, field in enumerate(definitions(record_type, user)):
        name = field.input_name
        if not field.filterable or not any(key == name or key.startswith(name + "_") for key in given):
            continue
        expr = sql.expression(db_dialect, table, field.type, field.key)
        values = given.get(name, [])
        kind = type_of(field.type).sql
        ctx = context_for(field)
        if values and values[0] in (EMPTY, NOT_EMPTY):
            found.append(expr.is_(None) if values[0] == EMPTY else expr.is_not(None))
            continue
        if field.type == "multi_choice" and values:
            keys = [v for v in values if ctx.option(v) is not None]
            if keys:
                param = f"cf{number}"
                found += (sql.has_all(db_dialect, table, field.key, keys, param)
                          if given.get(f"{name}_match") == ["all"]
                          else [sql.has_any(db_dialect, table, field.key, keys, param)])
            continue
        if field.type == "money" and given.get(f"{name}_currency"):
            # Amounts compare within one currency: the range applies to this one only.
            found.append(sql.currency_expression(db_dialect, table, field.key)
                         == given[f"{name}_currency"][0])
        if kind in RANGE_SQL:
            low = _bound(field, given.get(f"{name}_min", [""])[0], ctx)
            high = _bound(field, given.get(f"{name}_max", [""])[0], ctx)
            if kind == "datetime":
                # A range of days in the user's zone: from the start of min to the end of max.
                low = _bound(field, given.get(f"{name}_min", [""])[0] + "T00:00", ctx) if low is None else low
                high_raw = given.get(f"{name}_max", [""])[0]
                high = _bound(field, high_raw + "T23:59:59", ctx) if high_raw and len(high_raw) <= 10 else high
            if low is not None:
                found.append(expr >= low)
            if high is not None:
                found.append(expr <= high)
            continue
        if not values:
            continue
        if kind == "boolean":
            wanted = values[0] == "yes"
            if db_dialect == "postgresql":
                found.append(expr == ("true" if wanted else "false"))
            else:
                found.append(expr == (1 if wanted else 0))
            continue
        if kind in ("choice", "user"):
            try:
                value = type_of(field.type).parse(values[0], ctx if kind == "choice" else
                                                  Context(users=user_names()))
            except ValueError:
                continue
            found.append(expr == (str(value) if db_dialect == "postgresql" and kind == "choice"
                                  else value))
            continue
        # Text kinds: contains, case-insensitive.
        term = values[0].lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        found.append(func.lower(expr).like(f"%{term}%", escape="\\"))
    return found


def sort_clauses(record_type: str, sort: str, user=None) -> list | None:
    """ORDER BY of a custom-field sort (empty values last), the id breaking ties; None when
    `sort` names no custom field."""
    named = sort_field(record_type, sort, user)
    if named is None:
        return None
    field, descending = named
    model = MODELS[record_type]
    expr = sql.expression(dialect(), sql.TABLES[record_type], field.type, field.key)
    if field.type == "multi_choice":
        return None
    order = expr.desc() if descending else expr.asc()
    return [order.nulls_last(), model.id.desc() if descending else model.id]


def filter_widgets(record_type: str, pairs: list[tuple[str, str]], user=None) -> list[dict]:
    """What the list's filter form shows for each filterable field: its kind and the values
    given (templates/fields/_filters.html)."""
    locale = locale_id()
    given: dict[str, list[str]] = {}
    for name, value in pairs:
        given.setdefault(name, []).append(value)
    widgets = []
    for field in definitions(record_type, user):
        if not field.filterable:
            continue
        name = field.input_name
        kind = type_of(field.type).sql
        widgets.append({
            "field": field, "name": name, "label": field.label(locale), "kind": kind,
            "value": (given.get(name) or [""])[0], "chosen": given.get(name, []),
            "min": (given.get(f"{name}_min") or [""])[0], "max": (given.get(f"{name}_max") or [""])[0],
            "match": (given.get(f"{name}_match") or ["any"])[0],
            "currency": (given.get(f"{name}_currency") or [""])[0],
            "currencies": CURRENCIES if field.type == "money" else (),
            "options": [(o.key, o.label(locale)) for o in field.options if not o.retired
                        or o.key in given.get(name, [])],
            "users": active_user_choices() if field.type == "user" else [],
            "input_type": {"date": "date", "datetime": "date"}.get(kind, "text"),
        })
    return widgets


# --- the admin's pages --------------------------------------------------------------------------

def admin_fields(record_type: str) -> list[CustomField]:
    """Every live field of the record type, for the admin (restricted ones included), read
    now and attached to the session (the admin's changes write them)."""
    return list(db.session.execute(
        db.select(CustomField).where(CustomField.deleted_at.is_(None),
                                     CustomField.record_type == record_type)
        .options(selectinload(CustomField.options))
        .order_by(CustomField.position, CustomField.id)).scalars())


def trashed_fields(record_type: str | None = None) -> list[CustomField]:
    stmt = db.select(CustomField).where(CustomField.deleted_at.is_not(None)).order_by(
        CustomField.deleted_at.desc())
    if record_type:
        stmt = stmt.where(CustomField.record_type == record_type)
    return list(db.session.execute(stmt.execution_options(**{INCLUDE_DELETED: True})).scalars())


def days_left(field: CustomField, now=None) -> int:
    """Whole days a trashed field can still be restored (0 once its 30 days are over)."""
    end = field.deleted_at + timedelta(days=RETENTION_DAYS)
    return max(0, math.ceil((end - (now or utcnow())).total_seconds() / 86400))


def field_or_none(field_id: int, *, deleted: bool = False) -> CustomField | None:
    field = db.session.get(CustomField, field_id)
    if field is None or (field.deleted_at is not None) != deleted:
        return None
    return field


def _present(field: CustomField):
    """The records holding a value of the field (any type: the JSON key is there)."""
    return sql.expression(dialect(), sql.TABLES[field.record_type], "text", field.key).is_not(None)


def value_count(field: CustomField) -> int:
    """How many records (trash included) hold a value of the field."""
    model = MODELS[field.record_type]
    return db.session.execute(db.select(func.count()).select_from(model).where(
        _present(field)).execution_options(**{INCLUDE_DELETED: True})).scalar_one()


def stored_customs(field: CustomField) -> list[tuple[int, dict]]:
    """(record id, its custom dict) of every record holding the field, the trash included."""
    model = MODELS[field.record_type]
    rows = db.session.execute(db.select(model.id, model.custom).where(_present(field))
                              .execution_options(**{INCLUDE_DELETED: True})).all()
    return [(record_id, custom) for record_id, custom in rows
            if custom and custom.get(field.key) is not None]


def stored_values(field: CustomField) -> list[tuple[int, object]]:
    """(record id, value) of every record holding the field (type changes read them)."""
    return [(record_id, custom[field.key]) for record_id, custom in stored_customs(field)]


def option_in_use(field: CustomField, key: str) -> bool:
    return any(value == key or (isinstance(value, list) and key in value)
               for _id, value in stored_values(field))


def key_taken(record_type: str, key: str, exclude_id: int | None = None) -> bool:
    stmt = db.select(CustomField.id).where(CustomField.record_type == record_type,
                                           CustomField.key == key)
    if exclude_id is not None:
        stmt = stmt.where(CustomField.id != exclude_id)
    return db.session.execute(stmt.execution_options(**{INCLUDE_DELETED: True})).first() is not None



def panel_context(record_type: str, record, can_edit: bool, user=None) -> dict:
    """The record page's panel of custom fields (templates/fields/_panel.html)."""
    return {"record_type": record_type, "record": record, "can_edit": can_edit,
            "shown": shown_values(record_type, record, user)}


ENTITIES = {"customers": "customer", "contacts": "contact", "opportunities": "opportunity",
            "leads": "lead"}


def audit_changes(entity: str, old: dict | None, new: dict | None) -> list[tuple[str, str | None, str | None]]:
    """A `custom` column's change as the audit trail records it: one (field, old text, new
    text) per field whose value changed (crm/audit/listeners.py); the entry's field is
    "cf_<key>:<label at the time>" (AUDIT_PREFIX), read back by audit_label."""
    record_type = ENTITIES.get(entity)
    old, new = old or {}, new or {}
    if record_type is None or old == new:
        return []
    locale = locale_id()
    fields = {f.key: f for f in definitions(record_type, everyone=True)}
    changes = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) == new.get(key):
            continue
        field = fields.get(key)
        name = f"cf_{key}:{field.label(locale) if field is not None else key}"[:64]
        if field is None:
            changes.append((name, _json_text(old.get(key)), _json_text(new.get(key))))
            continue
        ctx = context_for(field)
        kind = type_of(field.type)
        changes.append((name, kind.format(old.get(key), locale, ctx) or None,
                        kind.format(new.get(key), locale, ctx) or None))
    return changes


def _json_text(value) -> str | None:
    return None if value is None else str(value)


def audit_label(field: str) -> str | None:
    """The label at the time of an audit entry's custom field ("cf_<key>:<label>"), or None."""
    if field.startswith("cf_") and ":" in field:
        return field.split(":", 1)[1]
    return None


def restricted_keys(entity: str) -> list[str]:
    """The keys of the restricted fields of an audited table's record type (for the history's
    clause: crm.permissions.hidden_field_entries_clause)."""
    record_type = ENTITIES.get(entity)
    return [f.key for f in definitions(record_type, everyone=True) if f.restricted] if record_type else []


def filled_values(record_type: str, record) -> list[Shown]:
    """The record's custom fields the signed-in user may see that hold a value (a contact's
    line in its customer's list: the Jinja global custom_values_of)."""
    if not record.custom:
        return []
    return [item for item in shown_values(record_type, record) if item.text]
