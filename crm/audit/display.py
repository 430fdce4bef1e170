"""How audit entries read: translated names of actions, record types and fields, and the stored
old/new text shown in the reader's language (dates, amounts, yes/no, kinds and statuses)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask_babel import format_date, format_datetime, format_decimal
from flask_babel import lazy_gettext as _l

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
    label = ENTITY_FIELD_NAMES.get((entity, field)) or FIELD_NAMES.get(field)
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
