"""The rules and writes of custom fields. Nothing here commits: the route ends the unit of
work; a refusal is a crm.rules.RuleError naming its form field.

- `save_field(record_type, field, values)`: define or change a field. Its key comes from
  the label (pinyin for Chinese) unless given, is [a-z][a-z0-9_]*, unique per record type
  (trash included), never a built-in column's name nor an SQL word, and is editable only
  while no record holds a value of the field. A type change goes through `change_type`.
- `change_type(field, new_type)`: allowed only when every stored value converts
  (crm.fields.types.convert); otherwise a RuleError on `type` says how many would not, and
  nothing changes. Converted values are written back in the same transaction.
- `save_options(field, rows)`: the options of a choice field (labels, colour, order); an
  option in use is retired, never deleted.
- `move(field, step)`: reorder within the record type.
- `trash_field` / `restore_field` / `purge_field`: deleting a field puts it in the trash
  (values stay in the records, hidden); restoring within 30 days brings it back with them;
  purging (or `purge_expired_fields`) removes the values from every record and drops the
  index.
- `sync_index(field)`: the expression index of a field that lists filter or sort on
  (crm/fields/sql.py), created when it becomes filterable or shown in the list and dropped
  when neither, or when the field is purged.
- `apply_values(record, record_type, values, user)`: the values a form or an inline edit
  set on a record (a new dict each time, so the audit trail sees old → new); restricted
  fields a user may not see are never touched.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, inspect, text, update
from sqlalchemy.orm import selectinload
from pypinyin import lazy_pinyin

from crm.extensions import db
from crm.fields import queries, sql
from crm.fields.types import CHOICE_TYPES, TYPES, convert
from crm.models import CustomField, CustomFieldOption, FIELD_TYPES, RECORD_TYPES, utcnow
from crm.permissions import can_see_field
from crm.rules import RuleError
from crm.trash.filters import INCLUDE_DELETED
from crm.trash.queries import RETENTION_DAYS

# Words no key may be: SQL's reserved words (SQLite's and PostgreSQL's) and words our URLs use.
SQL_WORDS = frozenset("""
abort action add all alter always analyze and as asc attach autoincrement before begin between
by cascade case cast check collate column commit conflict constraint create cross current
current_date current_time current_timestamp database default deferrable deferred delete desc
detach distinct do drop each else end escape except exclude exclusive exists explain fail
filter first following for foreign from full generated glob group groups having if ignore
immediate in index indexed initially inner insert instead intersect into is isnull join key
last left like limit match materialized natural no not nothing notnull null nulls of offset
on or order others outer over partition plan pragma preceding primary query raise range
recursive references regexp reindex release rename replace restrict returning right rollback
row rows savepoint select set table temp temporary then ties to transaction trigger unbounded
union unique update using vacuum values view virtual when where window with without user
analyse array asymmetric both current_catalog current_role current_user fetch grant leading
localtime localtimestamp only placing session_user some symmetric trailing variadic verbose
authorization binary concurrently freeze ilike lateral overlaps similar tablesample true false
min max match page sort tag owner q
""".split())
KEY_MAX = 40


# --- keys ---------------------------------------------------------------------------------------

def key_from_label(label: str) -> str:
    """A key for a label: its pinyin for Chinese, lower-case ASCII words joined by '_'."""
    label = (label or "").strip()
    if re.search(r"[\u3400-\u9fff]", label):
        label = " ".join(lazy_pinyin(label, errors="ignore"))
    key = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    if key and not key[0].isalpha():
        key = "f_" + key
    return key[:KEY_MAX].rstrip("_") or "field"


def _built_in_names(record_type: str) -> set[str]:
    model = queries.MODELS[record_type]
    names = {attr.key for attr in inspect(model).attrs}
    names |= {column.name for column in model.__table__.columns}
    return names


def check_key(record_type: str, key: str, exclude_id: int | None = None) -> None:
    if not sql.KEY_PATTERN.match(key or ""):
        raise RuleError(_l("Use lower-case letters, digits and _ only, starting with a letter "
                           "(at most 40)."), field="key")
    if key in _built_in_names(record_type) or key in SQL_WORDS:
        raise RuleError(_l("“%(key)s” is a built-in field or a reserved word: choose another key.",
                           key=key), field="key")
    if queries.key_taken(record_type, key, exclude_id):
        raise RuleError(_l("Another field already has the key “%(key)s”.", key=key), field="key")


def _free_key(record_type: str, base: str) -> str:
    """`base`, or base_2, base_3... the first that passes check_key."""
    candidates = [base] + [f"{base[:KEY_MAX - 4]}_{n}" for n in range(2, 100)]
    if base in SQL_WORDS or base in _built_in_names(record_type):
        candidates = candidates[1:]
    for candidate in candidates:
        try:
            check_key(record_type, candidate)
        except RuleError:
            continue
        return candidate
    raise RuleError(_l("Choose a key for this field."), field="key")


# --- definitions --------------------------------------------------------------------------------

DEFINITION_FIELDS = ("label_zh", "label_en", "required", "help_zh", "help_en", "group_zh", "group_en", "show_in_list",
                     "filterable", "restricted")


def save_field(record_type: str, field: CustomField | None, values: dict) -> CustomField:
    """Create (`field` None) or change a field from `values` (DEFINITION_FIELDS, `key`,
    `type`). Rules: see the module's docstring. Added to the session, not committed."""
    if record_type not in RECORD_TYPES:
        raise RuleError(_l("Choose a record type."), field="record_type")
    if not (values.get("label_zh") or values.get("label_en")):
        raise RuleError(_l("Give the field a label in Chinese or English."), field="label_zh")
    new_type = values.get("type") or (field.type if field else "text")
    if new_type not in FIELD_TYPES:
        raise RuleError(_l("Choose a type from the list."), field="type")
    key = (values.get("key") or "").strip()
    searched_before = None  # (type, restricted) of a field changed: its search keys may move
    if field is None:
        key = key or _free_key(record_type, key_from_label(values.get("label_en") or values.get("label_zh")))
        check_key(record_type, key)
        position = max((f.position for f in queries.admin_fields(record_type)), default=-1) + 1
        field = CustomField(record_type=record_type, key=key, type=new_type, position=position)
        db.session.add(field)
    else:
        searched_before = (field.type, field.restricted)
        if key and key != field.key:
            if queries.value_count(field):
                raise RuleError(_l("The key cannot change: records hold values of this field."),
                                field="key")
            check_key(record_type, key, exclude_id=field.id)
            old_key = field.key
            drop_indexes(record_type, old_key)
            field.key = key
        if new_type != field.type:
            change_type(field, new_type)
    for name in DEFINITION_FIELDS:
        if name in values:
            setattr(field, name, values[name] if values[name] is not None else "")
    db.session.flush()
    sync_index(field)
    queries.forget_definitions()
    if searched_before is not None and searched_before != (field.type, field.restricted):
        refresh_search_keys(field)
    return field


def refresh_search_keys(field: CustomField, record_ids: list[int] | None = None) -> int:
    """Rebuild the search keys of the customers holding values of `field` (theirs or their
    contacts'), after the field's type, restriction or life changed: a restricted, deleted
    or no longer textual field's values leave the keys, a restored one's come back. How many
    customers were rebuilt."""
    # cycle-free: crm.models is a leaf of crm.fields
    from crm.models import Contact, Customer
    if field.record_type not in ("customer", "contact"):
        return 0
    ids = record_ids if record_ids is not None else [i for i, _v in queries.stored_values(field)]
    if field.record_type == "contact" and ids:
        ids = list(db.session.execute(db.select(Contact.customer_id).where(Contact.id.in_(ids))
                                      .execution_options(**{INCLUDE_DELETED: True})).scalars())
    rebuilt = 0
    for start in range(0, len(ids), 1000):
        customers = db.session.execute(
            db.select(Customer).where(Customer.id.in_(ids[start:start + 1000]))
            .options(selectinload(Customer.contacts))
            .execution_options(**{INCLUDE_DELETED: True})).scalars().all()
        for customer in customers:
            customer.rebuild_search_index()
            rebuilt += 1
    return rebuilt


def change_type(field: CustomField, new_type: str) -> int:
    """Change the field's type, converting every stored value; a RuleError on `type` with the
    count of values that would not convert leaves everything as it was. How many changed."""
    if new_type not in TYPES:
        raise RuleError(_l("Choose a type from the list."), field="type")
    if new_type == field.type:
        return 0
    from_ctx = queries.context_for(field, queries.user_names())
    to_ctx = queries.context_for(field, queries.user_names())
    if new_type not in CHOICE_TYPES:
        to_ctx.options = []
    from_ctx.tz = to_ctx.tz = "UTC"
    converted, failed = [], 0
    for record_id, value in queries.stored_values(field):
        try:
            converted.append((record_id, convert(value, field.type, new_type, from_ctx, to_ctx)))
        except ValueError:
            failed += 1
    if failed:
        raise RuleError(_l("%(num)d stored values would not convert to the new type: nothing "
                           "was changed.", num=failed), field="type")
    model = queries.MODELS[field.record_type]
    for record_id, value in converted:
        record = db.session.execute(db.select(model).where(model.id == record_id)
                                    .execution_options(**{INCLUDE_DELETED: True})).scalar_one()
        custom = dict(record.custom or {})
        if value is None:
            custom.pop(field.key, None)
        else:
            custom[field.key] = value
        record.custom = custom
    drop_indexes(field.record_type, field.key)
    field.type = new_type
    return len(converted)


def save_options(field: CustomField, rows: list[dict]) -> None:
    """Make the options exactly `rows` (dicts: id (None for a new one), label_zh, label_en,
    colour, retired), in that order. A new option's key comes from its label. An option left
    out while records hold it is kept, retired (never deleted)."""
    if field.type not in CHOICE_TYPES:
        return
    existing = {option.id: option for option in field.options}
    kept = []
    for position, row in enumerate(rows):
        if not (row.get("label_zh") or row.get("label_en")):
            continue
        option = existing.get(row.get("id")) if row.get("id") else None
        if option is None:
            used = {o.key for o in field.options}
            base = key_from_label(row.get("label_en") or row.get("label_zh"))
            key = base if base not in used else next(
                f"{base[:36]}_{n}" for n in range(2, 1000) if f"{base[:36]}_{n}" not in used)
            option = CustomFieldOption(key=key)
            field.options.append(option)
        option.label_zh = (row.get("label_zh") or "")[:100]
        option.label_en = (row.get("label_en") or "")[:100]
        colour = row.get("colour") or "#64748b"
        option.colour = colour if re.fullmatch(r"#[0-9a-fA-F]{6}", colour) else "#64748b"
        option.retired = bool(row.get("retired"))
        option.position = position
        kept.append(option)
    for option in list(field.options):
        if option in kept:
            continue
        if option.id is not None and queries.option_in_use(field, option.key):
            option.retired = True
            option.position = len(kept)
            kept.append(option)
        else:
            field.options.remove(option)
    # The definitions' stamp (crm.fields.queries.stamp_columns) moves: every process reads them again.
    field.updated_at = utcnow()
    queries.forget_definitions()


def move(field: CustomField, step: int) -> None:
    """Move the field one place up (step -1) or down (+1) among its record type's fields."""
    fields = queries.admin_fields(field.record_type)
    index = next((i for i, f in enumerate(fields) if f.id == field.id), None)
    if index is None:
        return
    other = index + step
    if 0 <= other < len(fields):
        fields[index], fields[other] = fields[other], fields[index]
    for position, each in enumerate(fields):
        each.position = position
    queries.forget_definitions()


def sync_index(field: CustomField) -> None:
    """Create the field's expression index when lists filter or sort on it, else drop it."""
    dialect = queries.dialect()
    wanted = (field.filterable or field.show_in_list) and field.deleted_at is None
    if wanted:
        if not field.show_in_list:  # no longer sorted on: its sort index goes
            drop_indexes(field.record_type, field.key, sort_only=True)
        for ddl in sql.create_index_sqls(dialect, field.record_type, field.type, field.key,
                                         sorted_on=field.show_in_list):
            db.session.execute(text(ddl))
    else:
        drop_indexes(field.record_type, field.key)


def drop_indexes(record_type: str, key: str, *, sort_only: bool = False) -> None:
    for ddl in sql.drop_index_sqls(record_type, key)[1 if sort_only else 0:]:
        db.session.execute(text(ddl))


# --- the trash ----------------------------------------------------------------------------------

def trash_field(field: CustomField) -> int:
    """Put the field in the trash (its values stay in the records, hidden); how many records
    hold a value (what the confirmation said)."""
    count = queries.value_count(field)
    field.deleted_at = utcnow()
    db.session.flush()
    sync_index(field)
    queries.forget_definitions()
    refresh_search_keys(field)
    return count


def restore_field(field: CustomField, now: datetime | None = None) -> None:
    if field.deleted_at is None:
        return
    if field.deleted_at < (now or utcnow()) - timedelta(days=RETENTION_DAYS):
        raise RuleError(_l("This field was deleted more than 30 days ago and cannot be restored."))
    if queries.key_taken(field.record_type, field.key, exclude_id=field.id):
        raise RuleError(_l("Another field has this key now."), field="key")
    field.deleted_at = None
    db.session.flush()
    sync_index(field)
    queries.forget_definitions()
    refresh_search_keys(field)


def purge_field(field: CustomField) -> int:
    """Delete the field for good: its values leave every record (trash included), its index
    goes. How many records changed."""
    model = queries.MODELS[field.record_type]
    rows = queries.stored_customs(field)
    if rows:
        # One executemany: the values of a deleted field are no change of the records' own
        # (no audit entry, no version).
        table = model.__table__
        db.session.execute(
            update(table).where(table.c.id == bindparam("b_id")).values(custom=bindparam("b_custom")),
            [{"b_id": record_id, "b_custom": {k: v for k, v in custom.items() if k != field.key}}
             for record_id, custom in rows])
        db.session.expire_all()
    drop_indexes(field.record_type, field.key)
    db.session.delete(field)
    queries.forget_definitions()
    return len(rows)


def purge_expired_fields(now: datetime | None = None) -> int:
    """Purge every field in the trash for longer than RETENTION_DAYS (crm purge-trash)."""
    limit = (now or utcnow()) - timedelta(days=RETENTION_DAYS)
    expired = [f for f in queries.trashed_fields() if f.deleted_at < limit]
    for field in expired:
        purge_field(field)
    return len(expired)


# --- values -------------------------------------------------------------------------------------

def apply_values(record, record_type: str, values: dict, user=None) -> bool:
    """Set the custom values `values` ({key: stored value or None}) on `record`, only for the
    record type's live fields `user` may see; True when anything changed. A new dict is
    assigned (the JSON column is not mutated in place), so the audit trail sees the change;
    a customer's search keys follow its text fields."""
    fields = {f.key: f for f in queries.definitions(record_type, user)
              if user is None or can_see_field(user, f)}
    custom = dict(record.custom or {})
    for key, value in values.items():
        if key not in fields:
            continue
        if value is None or value == [] or value == "":
            custom.pop(key, None)
        else:
            custom[key] = value
    if custom == (record.custom or {}):
        return False
    record.custom = custom
    if hasattr(record, "rebuild_search_index"):
        record.rebuild_search_index()
    elif getattr(record, "customer", None) is not None and hasattr(record.customer, "rebuild_search_index"):
        record.customer.rebuild_search_index()
    return True
