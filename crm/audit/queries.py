"""Reads of the audit trail: a record's history, the admins' global log with its filters, and
how entries read on those pages (translated names of actions, record types and fields, the
stored old/new text in the reader's language: dates, amounts, yes/no, kinds and statuses).
The writing is in crm.audit.services."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation

from flask import url_for
from flask_babel import format_date, format_datetime, format_decimal, get_timezone
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from crm.extensions import db
from crm.fields.queries import audit_label, restricted_keys
from crm.permissions import current_viewer, hidden_field_entries_clause
from crm.models import AuditEntry, Contact
from crm.search import like_escape

PER_PAGE = 20       # a record's history, a page
LOG_PER_PAGE = 50   # the global log, a page


# --- A record's history -----------------------------------------------------------------------

def history_condition(entity: str, entity_id: int):
    """The entries of one record's history. A customer's history includes its contacts'."""
    condition = (AuditEntry.entity == entity) & (AuditEntry.entity_id == entity_id)
    if entity == "customers":
        # The table, not the model: a trashed contact's history stays in its customer's (the
        # trash hides trashed rows from ORM queries, and the pager's count is a new query).
        contacts = Contact.__table__
        contact_ids = select(contacts.c.id).where(contacts.c.customer_id == entity_id)
        condition = condition | ((AuditEntry.entity == "contacts")
                                 & AuditEntry.entity_id.in_(contact_ids))
    return condition


def history_page(entity: str, entity_id: int, page: int = 1, per_page: int = PER_PAGE):
    """One page of a record's history, newest first, with who made each change: one query for
    the entries (their users joined) and one count, whatever the history's length."""
    # Restricted custom fields' entries: only for managers and admins (crm.permissions).
    hidden = hidden_field_entries_clause(current_viewer(), {
        name: restricted_keys(name) for name in ({entity, "contacts"} if entity == "customers" else {entity})})
    stmt = (select(AuditEntry).where(history_condition(entity, entity_id), hidden)
            .options(joinedload(AuditEntry.user))
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()))
    return db.paginate(stmt, page=max(page, 1), per_page=per_page, error_out=False, count=True)


# --- The global log ---------------------------------------------------------------------------

def _local_day_start(day) -> datetime:
    """Midnight of `day` in the user's time zone, in UTC."""
    return datetime.combine(day, time.min).replace(tzinfo=get_timezone()).astimezone(timezone.utc)


def log_select(form):
    """The entries the filters of `form` (a crm.audit.forms.LogFilterForm) let through, newest
    first, with their users."""
    stmt = select(AuditEntry).options(joinedload(AuditEntry.user))
    if form.user.data:
        stmt = stmt.where(AuditEntry.user_id == form.user.data)
    if form.entity.data:
        stmt = stmt.where(AuditEntry.entity == form.entity.data)
    if form.action.data:
        stmt = stmt.where(AuditEntry.action == form.action.data)
    if form.date_from.data:
        stmt = stmt.where(AuditEntry.at >= _local_day_start(form.date_from.data))
    if form.date_to.data:
        stmt = stmt.where(AuditEntry.at < _local_day_start(form.date_to.data + timedelta(days=1)))
    q = (form.q.data or "").strip()
    if q:
        text = func.lower(AuditEntry.label).like(f"%{like_escape(q.lower())}%", escape="\\")
        number = q.lstrip("#")
        if number.isdigit() and len(number) < 10:
            text = or_(text, AuditEntry.entity_id == int(number))
        stmt = stmt.where(text)
    return stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def log_page(form, page: int = 1, per_page: int = LOG_PER_PAGE):
    """One page of the global log, as filtered by `form`."""
    return db.paginate(log_select(form), page=page, per_page=per_page, error_out=False,
                       count=True)


# --- How entries read -------------------------------------------------------------------------

ACTION_NAMES = {
    "create": _l("Created"),
    "update": _l("Changed"),
    "delete": _l("Deleted"),
    "restore": _l("Restored"),
    "purge": _l("Purged"),
}

ENTITY_NAMES = {
    "customers": _l("Customer"),
    "contacts": _l("Contact"),
    "opportunities": _l("Opportunity"),
}

# The same words the forms use, so the labels read as on the record's page.
FIELD_NAMES = {
    "kind": _l("Type"),
    "name": _l("Name"),
    "industry": _l("Industry"),
    "region": _l("Region"),
    "city": _l("City"),
    "size": _l("Size (employees)"),
    "source": _l("Source"),
    "phone": _l("Phone"),
    "email": _l("Email"),
    "website": _l("Website"),
    "address": _l("Address"),
    "description": _l("Description"),
    "owner_id": _l("Owner"),
    "created_by_id": _l("Created by"),
    "tags": _l("Tags"),
    "shared_with": _l("Shared with"),
    "title": _l("Title"),
    "customer_id": _l("Customer"),
    "contact_id": _l("Contact"),
    "pipeline_id": _l("Pipeline"),
    "stage_id": _l("Stage"),
    "amount": _l("Amount"),
    "currency": _l("Currency"),
    "expected_close": _l("Expected close date"),
    "probability_override": _l("Win probability (%)"),
    "needs": _l("Needs"),
    "budget": _l("Budget"),
    "status": _l("Status"),
    "closed_at": _l("Closed"),
    "lost_reason_id": _l("Lost reason"),
    "lost_note": _l("About the loss"),
    "competitors": _l("Competitors"),
    "related": _l("Related opportunities"),
    "is_primary": _l("Primary contact"),
    "deleted_at": _l("Deleted"),
}
# Per record type, where a field means something else (a contact's title is a job title).
ENTITY_FIELD_NAMES = {
    ("contacts", "title"): _l("Job title"),
}

VALUE_NAMES = {
    "kind": {"company": _l("Company"), "individual": _l("Individual")},
    "status": {"open": _l("Open"), "won": _l("Won"), "lost": _l("Lost")},
}
BOOLEAN_NAMES = {"true": _l("Yes"), "false": _l("No")}
MONEY_FIELDS = {"amount", "budget"}
DATE_FIELDS = {"expected_close"}
DATETIME_FIELDS = {"closed_at", "deleted_at"}
LONG_TEXT = 400


def action_name(action: str) -> str:
    return str(ACTION_NAMES.get(action, action))


def entity_name(entity: str) -> str:
    return str(ENTITY_NAMES.get(entity, entity))


def field_name(entity: str, field: str | None) -> str:
    if not field:
        return ""
    label = ENTITY_FIELD_NAMES.get((entity, field)) or FIELD_NAMES.get(field) or audit_label(field)
    return str(label) if label is not None else field.replace("_", " ")


def value_text(field: str | None, value: str | None) -> str:
    """A stored value as the reader expects it; unknown shapes are shown as stored."""
    if value is None or value == "":
        return ""
    try:
        if field in MONEY_FIELDS:
            return format_decimal(Decimal(value), format="#,##0.00")
        if field in DATE_FIELDS:
            return format_date(date.fromisoformat(value), "medium")
        if field in DATETIME_FIELDS:
            return format_datetime(datetime.fromisoformat(value), "short")
    except (InvalidOperation, ValueError):
        return value
    names = VALUE_NAMES.get(field or "")
    if names and value in names:
        return str(names[value])
    if value in BOOLEAN_NAMES and field == "is_primary":
        return str(BOOLEAN_NAMES[value])
    if len(value) > LONG_TEXT:
        return value[: LONG_TEXT - 1] + "…"
    return value


def record_url(entity: str, entity_id: int) -> str | None:
    """The page of an audited record, when it has one."""
    if entity == "customers":
        return url_for("customers.show", customer_id=entity_id)
    if entity == "opportunities":
        return url_for("opportunities.show", opportunity_id=entity_id)
    return None


def entry_helpers() -> dict:
    """What the audit templates call to print entries."""
    return {"action_name": action_name, "entity_name": entity_name, "field_name": field_name,
            "value_text": value_text, "record_url": record_url}
