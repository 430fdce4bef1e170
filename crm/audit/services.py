"""Writing the audit trail (who changed which field of which record, old → new). Reading it
(a record's history, the global log) is crm.audit.queries.

The ORM listener (crm.audit.listeners) records every change made through the session. Bulk
Core statements (UPDATE/INSERT/DELETE on many rows at once) bypass it: their callers record
what they did with `record`, `record_many` or `record_select` (INSERT ... SELECT, one
statement whatever the number of rows). Every writer here joins the caller's transaction and
never commits.

Auditing is skipped while `db.session.info["audit_paused"]` is true (see `paused()`): the demo
loader sets it, because made-up records have no history worth keeping.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Iterable

from flask import g, has_request_context
from flask import session as flask_session
from sqlalchemy import Integer, String, Text, cast, func, inspect, literal, select

from crm.auth.sessions import parse_cookie_id
from crm.extensions import db
from crm.models import AuditEntry, Customer, Tag, UTCDateTime, customer_tags, utcnow

ACTIONS = ("create", "update", "delete", "restore", "purge")
PAUSE_KEY = "audit_paused"
LABEL_LENGTH = 200


# --- when and by whom -------------------------------------------------------------------------


def is_paused(session=None) -> bool:
    session = session if session is not None else db.session
    return bool(session.info.get(PAUSE_KEY))


@contextmanager
def paused(session=None):
    """Write no audit entries inside the block (bulk loads of made-up data: demo, benchmark)."""
    session = session if session is not None else db.session()
    before = session.info.get(PAUSE_KEY)
    session.info[PAUSE_KEY] = True
    try:
        yield session
    finally:
        if before is None:
            session.info.pop(PAUSE_KEY, None)
        else:
            session.info[PAUSE_KEY] = before


def current_user_id() -> int | None:
    """The logged-in user inside a request; None in the CLI, the demo loader or a script.

    Reads the id from the instance's identity, so an expired user object is not reloaded
    (this runs inside a flush)."""
    if not has_request_context():
        return None
    if "_login_user" in g:  # loaded by the login guard at the start of the request
        return user_id_of(g._login_user)
    # Not loaded (yet): read the id Flask-Login keeps in the session rather than loading
    # the user here, inside a flush, and caching it for the rest of the request.
    # ("<id>:<login session token>", crm.auth.sessions; the loader checks the token.)
    parsed = parse_cookie_id(flask_session.get("_user_id") or "")
    return parsed[0] if parsed else None


def user_id_of(user) -> int | None:
    if user is None or isinstance(user, int):
        return user
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        identity = inspect(user).identity
    except Exception:  # not a mapped instance
        identity = None
    if identity:
        return identity[0]
    return getattr(user, "id", None)


# --- values as text -----------------------------------------------------------------------------


def as_text(value, scale: int | None = None) -> str | None:
    """A column value as the audit stores it: Decimals with the column's decimals, dates and
    times as ISO strings (times in UTC), booleans as true/false; empty text counts as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        if scale is not None:
            value = value.quantize(Decimal(1).scaleb(-scale))
        return format(value, "f")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return text if text != "" else None


def clip(text: str | None, length: int = LABEL_LENGTH) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= length else text[: length - 1] + "…"


def row(entity: str, entity_id: int, action: str, field: str | None = None, old=None, new=None,
        label: str | None = None, user_id: int | None = None, at: datetime | None = None) -> dict:
    """One audit_log row as a dict, ready for an INSERT."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    return {
        "at": at or utcnow(),
        "user_id": user_id,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "field": field,
        "old_value": old if old is None or isinstance(old, str) else as_text(old),
        "new_value": new if new is None or isinstance(new, str) else as_text(new),
        "label": clip(label),
    }


def insert_rows(rows: list[dict], connection=None) -> None:
    """One INSERT (executemany) for all the rows."""
    if not rows:
        return
    target = connection if connection is not None else db.session.connection()
    target.execute(AuditEntry.__table__.insert(), rows)


_UNSET = object()


def _resolve_user(user) -> int | None:
    return current_user_id() if user is _UNSET or user is None else user_id_of(user)


# --- the helpers for bulk statements -------------------------------------------------------------


def record(entity: str, entity_id: int, action: str, field: str | None = None, old=None, new=None,
           label: str | None = None, user=None) -> None:
    """Record one change made outside the ORM (a Core statement). `entity` is the table name;
    `user` a User or an id, by default the logged-in user."""
    if is_paused():
        return
    insert_rows([row(entity, entity_id, action, field, old, new, label, _resolve_user(user))])


def record_many(entity: str, changes: Iterable, action: str = "update", field: str | None = None,
                user=None, insert=None) -> int:
    """Record many changes in one statement. Each change is a dict with entity_id and any of
    field, old, new, label (or a tuple (entity_id, label, old, new)). Returns how many.
    `insert`: what writes the rows (default `insert_rows`; the import passes its COPY)."""
    if is_paused():
        return 0
    user_id = _resolve_user(user)
    now = utcnow()
    rows = []
    for change in changes:
        if not isinstance(change, dict):
            entity_id, label, old, new = (tuple(change) + (None, None, None))[:4]
            change = {"entity_id": entity_id, "label": label, "old": old, "new": new}
        rows.append(row(entity, change["entity_id"], change.get("action", action),
                        change.get("field", field), change.get("old"), change.get("new"),
                        change.get("label"), user_id, now))
    if rows:
        (insert or insert_rows)(rows)
    return len(rows)


def record_select(entity: str, rows_select, *, action: str = "update", field: str | None = None,
                  old=None, new=None, user=None) -> None:
    """Record the same change for every row of `rows_select` (a SELECT of id and label), in one
    INSERT ... SELECT: a stage removal moving 100,000 opportunities costs one statement."""
    if is_paused():
        return
    user_id = _resolve_user(user)
    source = rows_select.subquery()
    id_column, label_column = list(source.c)[:2]
    table = AuditEntry.__table__
    db.session.execute(table.insert().from_select(
        ["at", "user_id", "action", "entity", "entity_id", "field", "old_value", "new_value", "label"],
        select(literal(utcnow(), UTCDateTime), cast(literal(user_id), Integer),
               literal(action, String), literal(entity, String), id_column,
               cast(literal(field), String), cast(literal(as_text(old)), Text),
               cast(literal(as_text(new)), Text), func.substr(label_column, 1, LABEL_LENGTH))))


# --- tags changed by bulk statements (merge, delete) ---------------------------------------------


def customer_tags_snapshot(customer_ids_select) -> dict[int, tuple[str, list[str]]]:
    """The customers of `customer_ids_select` with their tag names, in one query, to compare
    after a bulk change of customer_tags (see `record_customer_tag_changes`)."""
    ids = select(customer_ids_select.subquery().c[0])
    snapshot: dict[int, tuple[str, list[str]]] = {}
    for customer_id, name in db.session.execute(
            select(Customer.id, Customer.name).where(Customer.id.in_(ids))
            .execution_options(include_deleted=True)):
        snapshot[customer_id] = (name, [])
    if snapshot:
        for customer_id, tag_name in db.session.execute(
                select(customer_tags.c.customer_id, Tag.name)
                .join(Tag, Tag.id == customer_tags.c.tag_id)
                .where(customer_tags.c.customer_id.in_(ids))):
            snapshot[customer_id][1].append(tag_name)
    return snapshot


def record_customer_tag_changes(snapshot: dict[int, tuple[str, list[str]]], user=None) -> int:
    """After the bulk statements: record field "tags" old → new for each customer of the
    snapshot whose tags changed (one query to read them again, one INSERT)."""
    if not snapshot or is_paused():
        return 0
    now: dict[int, list[str]] = {customer_id: [] for customer_id in snapshot}
    for customer_id, tag_name in db.session.execute(
            select(customer_tags.c.customer_id, Tag.name)
            .join(Tag, Tag.id == customer_tags.c.tag_id)
            .where(customer_tags.c.customer_id.in_(list(snapshot)))):
        now[customer_id].append(tag_name)
    changes = []
    for customer_id, (label, before) in snapshot.items():
        old, new = tag_list_text(before), tag_list_text(now[customer_id])
        if old != new:
            changes.append({"entity_id": customer_id, "label": label, "old": old, "new": new})
    return record_many("customers", changes, action="update", field="tags", user=user)


def tag_list_text(names: Iterable[str]) -> str | None:
    """A list of names as stored in the audit: sorted, comma-separated; None when empty."""
    names = sorted({name for name in names if name}, key=lambda n: (n.lower(), n))
    return ", ".join(names) if names else None

