"""Writes of the trash (回收站): moving a record, and what hangs on it, to the trash as one
batch; restoring a batch; deleting batches for good. Nothing here commits: the caller does.

- `trash(obj, user)`: the record and its dependants get the same `deleted_at` and
  `deleted_batch` (crm.trash.queries.dependants says which rows). Rows already in the trash
  keep their own batch. Bulk UPDATEs: the cost does not grow with the number of rows.
- `restore(batch or obj, user)`: within RETENTION_DAYS the whole batch comes back, unless
  what it hangs on is itself in the trash (restore that first).
- `purge(batch, user)`: admins delete a batch for good; `purge_expired(now)` deletes every
  batch older than RETENTION_DAYS (the `crm purge-trash` command).

Who moved a batch to the trash is kept in the audit log (action "delete", field
"deleted_batch", new value the batch), with "restore" and "purge" entries after it. The reads
(batches, previews, expiry) are in crm.trash.queries; who may restore or purge, in
crm.permissions.
"""
import uuid
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import Integer, String, Text, and_, cast, delete, func, insert, literal, select, update

from crm.audit.services import is_paused
from crm.extensions import db
from crm.leads.services import note_changed
from crm.models import AuditEntry, Contact, Customer, Lead, Note, Opportunity, Task, UTCDateTime, utcnow
from crm.permissions import can_purge
from crm.rules import RuleError
from crm.trash.filters import INCLUDE_DELETED
from crm.trash.queries import (
    BATCH_FIELD,
    MODELS,
    RETENTION_DAYS,
    blocking_parent,
    cutoff,
    dependants,
    expired_batches,
    get_batch,
    kind_of,
    label_of,
)

# Children first: the order in which a batch's rows are deleted for good.
PURGE_ORDER = (Note, Task, Opportunity, Contact, Customer)
AUDITED = (Customer, Contact, Opportunity)  # the record types of the audit trail

class TrashError(RuleError):
    """A trash operation that the rules refuse; the message is for the user."""


@dataclass
class TrashResult:
    batch: str
    kind: str
    record_id: int
    label: str
    count: int  # rows moved (or restored), the record itself included


def _bulk_set(model, where, **values) -> int:
    result = db.session.execute(
        update(model).where(where).values(**values)
        .execution_options(synchronize_session=False, **{INCLUDE_DELETED: True}))
    return result.rowcount or 0


def _audit(action: str, *, kind: str, record_id: int, label: str, batch: str, user=None) -> None:
    """Audit entries for a batch: one for the record at its head (whatever its kind), and one
    for every other customer, contact and opportunity in it; `field` is "deleted_batch" and
    the batch id is the new value (delete) or the old one (restore, purge). INSERT ... SELECT:
    the cost does not grow with the batch. Call it while the rows still carry the batch."""
    if is_paused():
        return
    table = AuditEntry.__table__
    user_id = getattr(user, "id", None)
    now = utcnow()
    old, new = (None, batch) if action == "delete" else (batch, None)
    head = MODELS[kind]
    db.session.execute(insert(table).values(
        at=now, user_id=user_id, action=action, entity=head.__tablename__, entity_id=record_id,
        field=BATCH_FIELD, old_value=old, new_value=new, label=(label or "")[:200]))
    for model in AUDITED:
        name = model.title if model is Opportunity else model.name
        rows = select(
            literal(now, UTCDateTime), cast(literal(user_id), Integer), literal(action, String),
            literal(model.__tablename__, String), model.id, literal(BATCH_FIELD, String),
            cast(literal(old), Text), cast(literal(new), Text), func.substr(name, 1, 200),
        ).where(model.deleted_batch == batch)
        if model is head:
            rows = rows.where(model.id != record_id)
        db.session.execute(insert(table).from_select(
            ["at", "user_id", "action", "entity", "entity_id", "field", "old_value", "new_value",
             "label"], rows).execution_options(**{INCLUDE_DELETED: True}))


# --- Moving to the trash ------------------------------------------------------------------------

def trash(obj, user, now: datetime | None = None) -> TrashResult:
    """Move `obj` and what hangs on it to the trash, as one batch (the caller commits).

    Rules: a record already in the trash is refused (TrashError); the rows that go with it
    (crm.trash.queries.dependants) and are not in the trash yet share its batch; a contact
    leaving hands the primary role to the next contact of its customer.
    """
    kind = kind_of(obj)
    if obj.deleted_at is not None:
        raise TrashError(_("This record is in the trash already."))
    now = now or utcnow()
    batch = uuid.uuid4().hex
    label = label_of(obj)
    customer = obj.customer if kind == "contact" else None
    db.session.flush()
    count = 0
    for model, where in dependants(obj):
        count += _bulk_set(model, and_(where, model.deleted_at.is_(None)),
                           deleted_at=now, deleted_batch=batch)
    _audit("delete", kind=kind, record_id=obj.id, label=label, batch=batch, user=user)
    # The session's objects still hold the old values: read them again when next used.
    db.session.expire_all()
    if customer is not None:
        _contacts_changed(customer)
    return TrashResult(batch, kind, obj.id, label, count)


def _contacts_changed(customer: Customer, returning_id: int | None = None) -> None:
    """A contact left or came back: one primary contact (the next one when the primary
    left; a returning primary yields to the one named since), and search keys that know the
    contact names."""
    contacts = customer.contacts  # reloaded: only those not in the trash
    primaries = [c for c in contacts if c.is_primary]
    if not primaries and contacts:
        contacts[0].is_primary = True
    if len(primaries) > 1:
        keep = next((c for c in primaries if c.id != returning_id), primaries[0])
        for extra in primaries:
            extra.is_primary = extra is keep
    customer.rebuild_search_index()
    customer.updated_at = utcnow()


# --- Restoring --------------------------------------------------------------------------------

def restore(batch_or_obj, user=None, now: datetime | None = None) -> TrashResult:
    """Bring a whole batch back (the caller commits).

    Rules (else TrashError): the batch must still be in the trash; not after RETENTION_DAYS;
    not while the customer or opportunity it hangs on is itself in the trash. A returning
    contact that was primary yields to the primary named since. A lead whose notes come back
    (a note's batch, or the lead's own) gets its last contact and score again at once, in
    this transaction (crm.leads.services.note_changed), as when a note is added.
    """
    batch = batch_or_obj if isinstance(batch_or_obj, str) else getattr(
        batch_or_obj, "deleted_batch", None)
    item = get_batch(batch) if batch else None
    if item is None:
        raise TrashError(_("This is not in the trash (any more)."))
    if item.expired(now):
        raise TrashError(_("%(name)s was deleted more than %(days)d days ago and can no longer "
                           "be restored.", name=item.label, days=RETENTION_DAYS))
    blocking = blocking_parent(item)
    if blocking is not None:
        parent_kind, parent_name = blocking
        if parent_kind == "customer":
            raise TrashError(_("The customer %(name)s is in the trash: restore it first.",
                               name=parent_name))
        raise TrashError(_("The opportunity %(name)s is in the trash: restore it first.",
                           name=parent_name))
    db.session.flush()
    _audit("restore", kind=item.kind, record_id=item.record_id, label=item.label, batch=batch,
           user=user)
    lead_ids = _leads_of_notes(batch)
    count = 0
    for model in MODELS.values():
        count += _bulk_set(model, model.deleted_batch == batch, deleted_at=None, deleted_batch=None)
    db.session.expire_all()
    _notes_came_back(lead_ids)
    if item.kind == "contact":
        customer = db.session.get(Customer, item.customer_id)
        if customer is not None:
            _contacts_changed(customer, returning_id=item.record_id)
    return TrashResult(batch, item.kind, item.record_id, item.label, count)


def _leads_of_notes(batch: str) -> list[int]:
    """The leads (not converted: a converted lead's notes are its customer's) whose notes are
    in `batch`: one query. A batch holds one note, or one lead with its notes, so one lead."""
    return list(db.session.execute(
        select(Note.lead_id).where(Note.deleted_batch == batch, Note.lead_id.is_not(None),
                                   Note.customer_id.is_(None)).distinct()
        .execution_options(**{INCLUDE_DELETED: True})).scalars())


def _notes_came_back(lead_ids: list[int]) -> None:
    """Rescore the leads (outside the trash) whose notes were restored."""
    if not lead_ids:
        return
    leads = db.session.execute(select(Lead).where(Lead.id.in_(lead_ids))).scalars().all()
    for lead in leads:  # one lead a batch (see _leads_of_notes)
        note_changed(lead)


# --- Purging ----------------------------------------------------------------------------------

def _delete_batches(where_of) -> int:
    """Delete for good the rows `where_of(model)` selects, children first. The database
    cascades the rest (shares, tags, competitors, stage history)."""
    deleted = 0
    for model in PURGE_ORDER:
        result = db.session.execute(
            delete(model).where(where_of(model))
            .execution_options(synchronize_session=False, **{INCLUDE_DELETED: True}))
        deleted += result.rowcount or 0
    return deleted


def purge(batch: str, user) -> int:
    """Delete a batch for good (the caller commits). Returns the rows deleted.

    Rules (else TrashError): only admins (crm.permissions.can_purge); the batch must be in
    the trash."""
    if not can_purge(user):
        raise TrashError(_("Only admins can delete for good."))
    item = get_batch(batch)
    if item is None:
        raise TrashError(_("This is not in the trash (any more)."))
    db.session.flush()
    _audit("purge", kind=item.kind, record_id=item.record_id, label=item.label, batch=batch,
           user=user)
    deleted = _delete_batches(lambda model: model.deleted_batch == batch)
    db.session.expire_all()
    return deleted


def purge_expired(now: datetime | None = None, user=None) -> tuple[int, int]:
    """Delete for good every batch moved to the trash more than RETENTION_DAYS ago (the
    caller commits). Returns (batches, rows) deleted."""
    limit = cutoff(now)
    expired = expired_batches(now)
    db.session.flush()
    for item in expired:
        _audit("purge", kind=item.kind, record_id=item.record_id, label=item.label,
               batch=item.batch, user=user)
    deleted = _delete_batches(lambda model: and_(model.deleted_at.is_not(None),
                                                 model.deleted_at < limit))
    db.session.expire_all()
    return len(expired), deleted
