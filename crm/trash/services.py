"""The trash (回收站): deleting moves a record, and what hangs on it, to the trash as one batch.

- `trash(obj, user)`: the record and its dependants get the same `deleted_at` and
  `deleted_batch` (a customer takes its contacts, notes, tasks and opportunities with their
  notes and tasks; an opportunity its notes and tasks; a contact, a note or a task only
  itself). Rows already in the trash keep their own batch. Bulk UPDATEs: the cost does not
  grow with the number of rows.
- `restore(batch or obj, user)`: within RETENTION_DAYS the whole batch comes back, unless
  what it hangs on is itself in the trash (restore that first).
- `purge(batch, user)`: admins delete a batch for good; `purge_expired(now)` deletes every
  batch older than RETENTION_DAYS (the `crm purge-trash` command).

Who moved a batch to the trash is kept in the audit log (action "delete", field
"deleted_batch", new value the batch), with "restore" and "purge" entries after it.
"""
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import (Integer, String, Text, and_, case, cast, delete, func, insert, literal,
                        literal_column, null, or_, select, true, union_all, update)
from sqlalchemy.orm import aliased

from crm.extensions import db
from crm.models import (AuditEntry, Contact, Customer, Note, Opportunity, Task, User, UTCDateTime,
                        utcnow)
from crm.trash.filters import INCLUDE_DELETED

RETENTION_DAYS = 30
BATCH_FIELD = "deleted_batch"

MODELS = {"customer": Customer, "contact": Contact, "opportunity": Opportunity, "note": Note,
          "task": Task}
KINDS = tuple(MODELS)
KIND_OF_MODEL = {model: kind for kind, model in MODELS.items()}
# Children first: the order in which a batch's rows are deleted for good.
PURGE_ORDER = (Note, Task, Opportunity, Contact, Customer)


class TrashError(Exception):
    """A trash operation that the rules refuse; the message is for the user."""


def kind_of(obj) -> str:
    for kind, model in MODELS.items():
        if isinstance(obj, model):
            return kind
    raise TypeError(f"{type(obj).__name__} cannot go to the trash")


def label_of(obj) -> str:
    """A readable name of a record, as the trash and the audit log show it."""
    if isinstance(obj, (Customer, Contact)):
        return obj.name or ""
    if isinstance(obj, (Opportunity, Task)):
        return obj.title or ""
    body = " ".join((obj.body or "").split())
    return body if len(body) <= 80 else body[:79] + "…"


def _including_deleted(stmt):
    return stmt.execution_options(**{INCLUDE_DELETED: True})


def cutoff(now: datetime | None = None) -> datetime:
    """Batches moved to the trash before this moment can no longer be restored."""
    return (now or utcnow()) - timedelta(days=RETENTION_DAYS)


# --- moving to the trash ------------------------------------------------------------------------

def _dependants(obj) -> list[tuple[type, object]]:
    """(model, WHERE) pairs: the rows that go to the trash with `obj`, `obj` included."""
    kind = kind_of(obj)
    model = MODELS[kind]
    rows = [(model, model.id == obj.id)]
    if kind == "customer":
        opportunity_ids = select(Opportunity.id).where(Opportunity.customer_id == obj.id)
        rows += [
            (Contact, Contact.customer_id == obj.id),
            (Opportunity, Opportunity.customer_id == obj.id),
            (Note, or_(Note.customer_id == obj.id, Note.opportunity_id.in_(opportunity_ids))),
            (Task, or_(Task.customer_id == obj.id, Task.opportunity_id.in_(opportunity_ids))),
        ]
    elif kind == "opportunity":
        rows += [(Note, Note.opportunity_id == obj.id), (Task, Task.opportunity_id == obj.id)]
    return rows


def preview(obj) -> dict[str, int]:
    """What would go to the trash with `obj`, by kind (itself left out): one count per kind."""
    counts = {}
    for model, where in _dependants(obj)[1:]:
        n = db.session.execute(select(func.count(model.id)).where(where)).scalar_one()
        if n:
            kind = KIND_OF_MODEL[model]
            counts[kind] = counts.get(kind, 0) + n
    return counts


def _bulk_set(model, where, **values) -> int:
    result = db.session.execute(
        update(model).where(where).values(**values)
        .execution_options(synchronize_session=False, **{INCLUDE_DELETED: True}))
    return result.rowcount or 0


AUDITED = (Customer, Contact, Opportunity)  # the record types of the audit trail


def _audit(action: str, *, kind: str, record_id: int, label: str, batch: str, user=None) -> None:
    """Audit entries for a batch: one for the record at its head (whatever its kind), and one
    for every other customer, contact and opportunity in it; `field` is "deleted_batch" and
    the batch id is the new value (delete) or the old one (restore, purge). INSERT ... SELECT:
    the cost does not grow with the batch. Call it while the rows still carry the batch."""
    if db.session.info.get("audit_paused"):
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


@dataclass
class TrashResult:
    batch: str
    kind: str
    record_id: int
    label: str
    count: int  # rows moved (or restored), the record itself included


def trash(obj, user, now: datetime | None = None) -> TrashResult:
    """Move `obj` and what hangs on it to the trash, as one batch (the caller commits)."""
    kind = kind_of(obj)
    if obj.deleted_at is not None:
        raise TrashError(_("This record is in the trash already."))
    now = now or utcnow()
    batch = uuid.uuid4().hex
    label = label_of(obj)
    customer = obj.customer if kind == "contact" else None
    db.session.flush()
    count = 0
    for model, where in _dependants(obj):
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


# --- batches -----------------------------------------------------------------------------------

def _kind(kind: str):
    """The kind as an SQL constant (typed, so PostgreSQL can match the UNION's columns)."""
    assert kind in MODELS
    return literal_column(f"'{kind}'", String)


def _distinct_batch(column, batch_column):
    return or_(column.is_(None), batch_column.is_(None), batch_column != column)


HEAD_COLUMNS = ("kind", "id", "label", "deleted_at", "batch", "customer_id", "opportunity_id",
                "owner_id", "parent_label")


def _head_select(*columns):
    return select(*(column.label(name) for column, name in zip(columns, HEAD_COLUMNS)))


def _heads(kinds=KINDS, batch: str | None = None):
    """A UNION ALL of the records at the head of each batch: for each, its kind, id, label,
    when, batch, its customer and opportunity, its owner (the person it belongs to) and the
    name of what it hangs on. A row heads its batch when what it hangs on is not in the same
    batch."""
    branches = []
    parent = aliased(Customer, name="parent_customer")
    parent_opp = aliased(Opportunity, name="parent_opportunity")

    def with_batch(stmt, model):
        stmt = stmt.where(model.deleted_batch.is_not(None))
        return stmt.where(model.deleted_batch == batch) if batch else stmt

    if "customer" in kinds:
        branches.append(with_batch(_head_select(
            _kind("customer"), Customer.id, Customer.name, Customer.deleted_at,
            Customer.deleted_batch, Customer.id, cast(null(), Integer),
            func.coalesce(Customer.owner_id, Customer.created_by_id), cast(null(), String)),
            Customer))
    if "contact" in kinds:
        branches.append(with_batch(_head_select(
            _kind("contact"), Contact.id, Contact.name, Contact.deleted_at, Contact.deleted_batch,
            Contact.customer_id, cast(null(), Integer),
            func.coalesce(parent.owner_id, parent.created_by_id), parent.name)
            .join(parent, parent.id == Contact.customer_id)
            .where(_distinct_batch(parent.deleted_batch, Contact.deleted_batch)), Contact))
    if "opportunity" in kinds:
        branches.append(with_batch(_head_select(
            _kind("opportunity"), Opportunity.id, Opportunity.title, Opportunity.deleted_at,
            Opportunity.deleted_batch, Opportunity.customer_id, Opportunity.id,
            func.coalesce(Opportunity.owner_id, Opportunity.created_by_id), parent.name)
            .join(parent, parent.id == Opportunity.customer_id)
            .where(_distinct_batch(parent.deleted_batch, Opportunity.deleted_batch)), Opportunity))
    for kind, model, label, owner in (
            ("note", Note, func.substr(Note.body, 1, 200), Note.author_id),
            ("task", Task, Task.title, func.coalesce(Task.assignee_id, Task.created_by_id))):
        if kind not in kinds:
            continue
        branches.append(with_batch(_head_select(
            _kind(kind), model.id, label, model.deleted_at, model.deleted_batch,
            model.customer_id, model.opportunity_id, owner,
            func.coalesce(parent_opp.title, parent.name))
            .outerjoin(parent, parent.id == model.customer_id)
            .outerjoin(parent_opp, parent_opp.id == model.opportunity_id)
            .where(_distinct_batch(parent.deleted_batch, model.deleted_batch),
                   _distinct_batch(parent_opp.deleted_batch, model.deleted_batch)), model))
    if not branches:
        return None
    return (union_all(*branches) if len(branches) > 1 else branches[0]).subquery("heads")


def _visible_heads(heads, user):
    """WHERE on the heads: the batches `user` may see in the trash. Managers and admins see
    all; others the batches they deleted, and those whose record they could see (the
    visibility rules of crm.permissions, applied to the record and its customer)."""
    from crm.permissions import (sees_everything, visible_customers_clause,
                                 visible_opportunities_clause)
    if sees_everything(user):
        return true()
    deleted_by_me = select(AuditEntry.id).where(
        AuditEntry.action == "delete", AuditEntry.field == BATCH_FIELD,
        AuditEntry.new_value == heads.c.batch, AuditEntry.user_id == user.id)
    visible_customer = select(Customer.id).where(
        Customer.id == heads.c.customer_id, visible_customers_clause(user))
    visible_opportunity = select(Opportunity.id).where(
        Opportunity.id == heads.c.opportunity_id, visible_opportunities_clause(user))
    return or_(heads.c.owner_id == user.id, deleted_by_me.exists(),
               and_(heads.c.kind != "opportunity", visible_customer.exists()),
               and_(heads.c.kind.in_(("opportunity", "note", "task")),
                    visible_opportunity.exists()))


@dataclass
class Batch:
    batch: str
    kind: str
    record_id: int
    label: str
    deleted_at: datetime
    customer_id: int | None
    opportunity_id: int | None
    owner_id: int | None
    parent_label: str
    deleted_by_id: int | None = None
    deleted_by_name: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values()) or 1

    @property
    def others(self) -> dict[str, int]:
        """What hangs on the record, by kind (the record itself left out)."""
        counts = dict(self.counts)
        counts[self.kind] = counts.get(self.kind, 1) - 1
        return {kind: n for kind, n in counts.items() if n > 0}

    def days_left(self, now: datetime | None = None) -> int:
        """Whole days (rounded up) before the batch can no longer be restored."""
        left = (self.deleted_at + timedelta(days=RETENTION_DAYS) - (now or utcnow())).total_seconds()
        return max(0, math.ceil(left / 86400))

    def expired(self, now: datetime | None = None) -> bool:
        return self.deleted_at < cutoff(now)


@dataclass
class BatchPage:
    items: list[Batch]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def _deleter():
    return aliased(AuditEntry, name="deletion")


def batches(user, *, kind: str | None = None, page: int = 1, per_page: int = 25) -> BatchPage:
    """The batches `user` may see, newest first, a page at a time (three queries)."""
    kinds = (kind,) if kind in KINDS else KINDS
    heads = _heads(kinds)
    visible = _visible_heads(heads, user)
    total = db.session.execute(_including_deleted(
        select(func.count()).select_from(heads).where(visible))).scalar_one()
    page = max(1, page)
    deletion = _deleter()
    rows = db.session.execute(_including_deleted(
        select(heads, deletion.user_id, User.name)
        .outerjoin(deletion, and_(
            deletion.entity == _table_of(heads.c.kind), deletion.entity_id == heads.c.id,
            deletion.action == "delete", deletion.field == BATCH_FIELD,
            deletion.new_value == heads.c.batch))
        .outerjoin(User, User.id == deletion.user_id)
        .where(visible)
        .order_by(heads.c.deleted_at.desc(), heads.c.batch)
        .limit(per_page).offset((page - 1) * per_page))).all()
    items = [_batch_of(row) for row in rows]
    _fill_counts(items)
    return BatchPage(items, page, per_page, total)


def _table_of(kind_column):
    return case({kind: model.__tablename__ for kind, model in MODELS.items()}, value=kind_column)


def _batch_of(row) -> Batch:
    (kind, record_id, label, deleted_at, batch, customer_id, opportunity_id, owner_id,
     parent_label, *rest) = row
    deleted_by_id, deleted_by_name = (rest + [None, None])[:2]
    if kind == "note":
        label = " ".join((label or "").split())
        label = label if len(label) <= 80 else label[:79] + "…"
    return Batch(batch=batch, kind=kind, record_id=record_id, label=label or "",
                 deleted_at=_aware(deleted_at), customer_id=customer_id,
                 opportunity_id=opportunity_id, owner_id=owner_id, parent_label=parent_label or "",
                 deleted_by_id=deleted_by_id, deleted_by_name=deleted_by_name)


def _aware(value):
    """Raw columns of a UNION come back without the UTCDateTime type on some databases."""
    from datetime import timezone
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def _fill_counts(items: list[Batch]) -> None:
    """How many rows of each kind every batch holds, in one query."""
    ids = [item.batch for item in items]
    if not ids:
        return
    counts = batch_counts(ids)
    for item in items:
        item.counts = counts.get(item.batch, {})


def batch_counts(batch_ids) -> dict[str, dict[str, int]]:
    ids = list(batch_ids)
    if not ids:
        return {}
    query = union_all(*(
        select(_kind(kind).label("kind"), model.deleted_batch.label("batch"),
               func.count().label("n"))
        .where(model.deleted_batch.in_(ids)).group_by(model.deleted_batch)
        for kind, model in MODELS.items()))
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for kind, batch, n in db.session.execute(_including_deleted(select(query.subquery()))):
        result[batch][kind] = n
    return dict(result)


def get_batch(batch: str) -> Batch | None:
    """One batch with its head record, counts and who deleted it, or None."""
    if not batch or len(batch) > 32:
        return None
    heads = _heads(batch=batch)
    deletion = _deleter()
    row = db.session.execute(_including_deleted(
        select(heads, deletion.user_id, User.name)
        .outerjoin(deletion, and_(
            deletion.entity == _table_of(heads.c.kind), deletion.entity_id == heads.c.id,
            deletion.action == "delete", deletion.field == BATCH_FIELD,
            deletion.new_value == heads.c.batch))
        .outerjoin(User, User.id == deletion.user_id)
        .limit(1))).first()
    if row is None:
        return None
    item = _batch_of(row)
    _fill_counts([item])
    return item


def record_of(item: Batch):
    """The head record of a batch, read although it is in the trash."""
    model = MODELS[item.kind]
    return db.session.execute(_including_deleted(
        select(model).where(model.id == item.record_id))).scalar_one_or_none()


# --- permissions -----------------------------------------------------------------------------

def can_see_batch(user, item: Batch) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    heads = _heads(kinds=(item.kind,), batch=item.batch)
    return bool(db.session.execute(_including_deleted(
        select(func.count()).select_from(heads).where(_visible_heads(heads, user)))).scalar_one())


def can_restore(user, item: Batch) -> bool:
    """The person who deleted it, the record's owner, managers and admins."""
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_manager or user.id in (item.deleted_by_id, item.owner_id))


def can_purge(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_admin)


# --- restoring --------------------------------------------------------------------------------

def _blocking_parent(item: Batch) -> tuple[str, str] | None:
    """(kind, name) of what the batch hangs on when that is itself in the trash."""
    parents = []
    if item.kind in ("contact", "opportunity", "note", "task") and item.customer_id:
        parents.append((Customer, item.customer_id))
    if item.kind in ("note", "task") and item.opportunity_id:
        parents.append((Opportunity, item.opportunity_id))
    for model, parent_id in parents:
        parent = db.session.execute(_including_deleted(
            select(model).where(model.id == parent_id))).scalar_one_or_none()
        if parent is not None and parent.deleted_at is not None:
            return kind_of(parent), label_of(parent)
    return None


def restore(batch_or_obj, user=None, now: datetime | None = None) -> TrashResult:
    """Bring a whole batch back (the caller commits). Refused after RETENTION_DAYS, and while
    the customer or opportunity it hangs on is still in the trash."""
    batch = batch_or_obj if isinstance(batch_or_obj, str) else getattr(
        batch_or_obj, "deleted_batch", None)
    item = get_batch(batch) if batch else None
    if item is None:
        raise TrashError(_("This is not in the trash (any more)."))
    if item.expired(now):
        raise TrashError(_("%(name)s was deleted more than %(days)d days ago and can no longer "
                           "be restored.", name=item.label, days=RETENTION_DAYS))
    blocking = _blocking_parent(item)
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
    count = 0
    for model in MODELS.values():
        count += _bulk_set(model, model.deleted_batch == batch, deleted_at=None, deleted_batch=None)
    db.session.expire_all()
    if item.kind == "contact":
        customer = db.session.get(Customer, item.customer_id)
        if customer is not None:
            _contacts_changed(customer, returning_id=item.record_id)
    return TrashResult(batch, item.kind, item.record_id, item.label, count)


# --- purging ----------------------------------------------------------------------------------

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
    """Delete a batch for good (admins only; the caller commits). Returns the rows deleted."""
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


def expired_batches(now: datetime | None = None) -> list[Batch]:
    heads = _heads()
    rows = db.session.execute(_including_deleted(
        select(heads).where(heads.c.deleted_at < cutoff(now)))).all()
    return [_batch_of(row) for row in rows]


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


def expired_count(now: datetime | None = None) -> int:
    heads = _heads()
    return db.session.execute(_including_deleted(
        select(func.count()).select_from(heads).where(heads.c.deleted_at < cutoff(now)))).scalar_one()


__all__ = [
    "RETENTION_DAYS", "KINDS", "MODELS", "TrashError", "TrashResult", "Batch", "BatchPage",
    "trash", "restore", "purge", "purge_expired", "batches", "get_batch", "batch_counts",
    "can_restore", "can_purge", "can_see_batch", "record_of", "expired_count", "cutoff",
    "kind_of", "label_of",
]
