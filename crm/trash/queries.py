"""Reads of the trash (回收站): what a record takes with it (preview), the batches and their
head records (the trash page), one batch, and what is past the retention period.

A batch is what one deletion moved: the rows share `deleted_at` and `deleted_batch`. Its head
is the record the user deleted: a row heads its batch when what it hangs on is not in the
same batch. Every statement here reads through the soft-delete filter
(crm.trash.filters.INCLUDE_DELETED); who sees which batch is
crm.permissions.visible_batches_clause.
"""
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import (Integer, String, and_, case, cast, func, literal_column, null, or_,
                        select, union_all)
from sqlalchemy.orm import aliased

from crm.extensions import db
from crm.models import AuditEntry, Contact, Customer, Lead, Note, Opportunity, Task, User, utcnow
from crm.permissions import visible_batches_clause
from crm.trash.filters import INCLUDE_DELETED

RETENTION_DAYS = 30
BATCH_FIELD = "deleted_batch"  # the audit entries of a batch: this field, the batch as value

MODELS = {"customer": Customer, "contact": Contact, "opportunity": Opportunity, "note": Note,
          "task": Task, "lead": Lead}
KINDS = tuple(MODELS)
KIND_OF_MODEL = {model: kind for kind, model in MODELS.items()}


def kind_of(obj) -> str:
    for kind, model in MODELS.items():
        if isinstance(obj, model):
            return kind
    raise TypeError(f"{type(obj).__name__} cannot go to the trash")


def label_of(obj) -> str:
    """A readable name of a record, as the trash and the audit log show it."""
    if isinstance(obj, (Customer, Contact, Lead)):
        return obj.name or ""
    if isinstance(obj, (Opportunity, Task)):
        return obj.title or ""
    return _short_note(obj.body)


def _short_note(body: str | None) -> str:
    body = " ".join((body or "").split())
    return body if len(body) <= 80 else body[:79] + "…"


def including_deleted(stmt):
    """`stmt` reading rows in the trash too."""
    return stmt.execution_options(**{INCLUDE_DELETED: True})


def cutoff(now: datetime | None = None) -> datetime:
    """Batches moved to the trash before this moment can no longer be restored."""
    return (now or utcnow()) - timedelta(days=RETENTION_DAYS)


# --- What goes with a record ------------------------------------------------------------------

def dependants(obj) -> list[tuple[type, object]]:
    """(model, WHERE) pairs: the rows that go to the trash with `obj`, `obj` included (a
    customer takes its contacts, opportunities, notes and tasks, its opportunities' too; an
    opportunity its notes and tasks; a contact, a note or a task only itself)."""
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
    elif kind == "lead":
        rows += [(Note, Note.lead_id == obj.id), (Task, Task.lead_id == obj.id)]
    return rows


def preview(obj) -> dict[str, int]:
    """What would go to the trash with `obj`, by kind (itself left out): one count per kind."""
    counts = {}
    for model, where in dependants(obj)[1:]:
        n = db.session.execute(select(func.count(model.id)).where(where)).scalar_one()
        if n:
            kind = KIND_OF_MODEL[model]
            counts[kind] = counts.get(kind, 0) + n
    return counts


# --- The heads of batches ---------------------------------------------------------------------

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


def batch_heads(kinds=KINDS, batch: str | None = None):
    """A UNION ALL of the records at the head of each batch (of `kinds`; of one `batch`): for
    each, its kind, id, label, when, batch, its customer and opportunity, its owner (the
    person it belongs to) and the name of what it hangs on."""
    branches = []
    parent = aliased(Customer, name="parent_customer")
    parent_opp = aliased(Opportunity, name="parent_opportunity")
    parent_lead = aliased(Lead, name="parent_lead")

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
            func.coalesce(parent_opp.title, parent.name, parent_lead.name))
            .outerjoin(parent, parent.id == model.customer_id)
            .outerjoin(parent_opp, parent_opp.id == model.opportunity_id)
            .outerjoin(parent_lead, parent_lead.id == model.lead_id)
            .where(_distinct_batch(parent.deleted_batch, model.deleted_batch),
                   _distinct_batch(parent_opp.deleted_batch, model.deleted_batch),
                   _distinct_batch(parent_lead.deleted_batch, model.deleted_batch)), model))
    if "lead" in kinds:
        branches.append(with_batch(_head_select(
            _kind("lead"), Lead.id, Lead.name, Lead.deleted_at, Lead.deleted_batch,
            cast(null(), Integer), cast(null(), Integer),
            func.coalesce(Lead.owner_id, Lead.created_by_id), cast(null(), String)), Lead))
    if not branches:
        return None
    return (union_all(*branches) if len(branches) > 1 else branches[0]).subquery("heads")


# --- Batches ----------------------------------------------------------------------------------

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
    merged_into: str | None = None  # the record it was merged into (crm/duplicates)

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


def _table_of(kind_column):
    return case({kind: model.__tablename__ for kind, model in MODELS.items()}, value=kind_column)


def _with_deleter(heads):
    """The heads with who moved each batch to the trash (the audit entry of its deletion)."""
    deletion = aliased(AuditEntry, name="deletion")
    return (select(heads, deletion.user_id, User.name)
            .outerjoin(deletion, and_(
                deletion.entity == _table_of(heads.c.kind), deletion.entity_id == heads.c.id,
                deletion.action == "delete", deletion.field == BATCH_FIELD,
                deletion.new_value == heads.c.batch))
            .outerjoin(User, User.id == deletion.user_id))


def batches(user, *, kind: str | None = None, page: int = 1, per_page: int = 25) -> BatchPage:
    """The batches `user` may see, newest first, a page at a time (three queries)."""
    kinds = (kind,) if kind in KINDS else KINDS
    heads = batch_heads(kinds)
    visible = visible_batches_clause(user, heads)
    total = db.session.execute(including_deleted(
        select(func.count()).select_from(heads).where(visible))).scalar_one()
    page = max(1, page)
    rows = db.session.execute(including_deleted(
        _with_deleter(heads).where(visible)
        .order_by(heads.c.deleted_at.desc(), heads.c.batch)
        .limit(per_page).offset((page - 1) * per_page))).all()
    items = [_batch_of(row) for row in rows]
    _fill_counts(items)
    _fill_merged_into(items)
    return BatchPage(items, page, per_page, total)


def _batch_of(row) -> Batch:
    (kind, record_id, label, deleted_at, batch, customer_id, opportunity_id, owner_id,
     parent_label, *rest) = row
    deleted_by_id, deleted_by_name = (rest + [None, None])[:2]
    if kind == "note":
        label = _short_note(label)
    return Batch(batch=batch, kind=kind, record_id=record_id, label=label or "",
                 deleted_at=_aware(deleted_at), customer_id=customer_id,
                 opportunity_id=opportunity_id, owner_id=owner_id, parent_label=parent_label or "",
                 deleted_by_id=deleted_by_id, deleted_by_name=deleted_by_name)


def _aware(value):
    """Raw columns of a UNION come back without the UTCDateTime type on some databases."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def _fill_merged_into(items: list[Batch]) -> None:
    """"Merged into …": the name of the record each merged customer or contact went into
    (the audit entry crm.duplicates.services.merge writes as it trashes it): one query, and
    one per kind that has merged records on the page."""
    heads = [item for item in items if item.kind in ("customer", "contact")]
    if not items:  # the same statements whatever kinds the page shows
        return
    entries = db.session.execute(select(AuditEntry.entity, AuditEntry.entity_id, AuditEntry.at,
                                        AuditEntry.new_value).where(
        AuditEntry.action == "merge", AuditEntry.field == "merged_into",
        AuditEntry.entity_id.in_([item.record_id for item in heads]))).all()
    found = {}
    for entity, entity_id, at, survivor in entries:
        found.setdefault((entity, entity_id), []).append((_aware(at), survivor))
    names = {}
    for kind in ("customer", "contact"):
        model = MODELS[kind]
        ids = {int(survivor) for (entity, _id), rows in found.items()
               if entity == model.__tablename__ for _at, survivor in rows if str(survivor).isdigit()}
        if ids:
            names[kind] = dict(db.session.execute(including_deleted(
                select(model.id, model.name).where(model.id.in_(ids)))).all())
    for item in heads:
        for at, survivor in found.get((MODELS[item.kind].__tablename__, item.record_id), []):
            if abs((at - item.deleted_at).total_seconds()) < 60 and str(survivor).isdigit():
                item.merged_into = names.get(item.kind, {}).get(int(survivor))


def _fill_counts(items: list[Batch]) -> None:
    """How many rows of each kind every batch holds, in one query."""
    ids = [item.batch for item in items]
    if not ids:
        return
    counts = batch_counts(ids)
    for item in items:
        item.counts = counts.get(item.batch, {})


def batch_counts(batch_ids) -> dict[str, dict[str, int]]:
    """{batch: {kind: rows}} for the batches `batch_ids`, in one query."""
    ids = list(batch_ids)
    if not ids:
        return {}
    query = union_all(*(
        select(_kind(kind).label("kind"), model.deleted_batch.label("batch"),
               func.count().label("n"))
        .where(model.deleted_batch.in_(ids)).group_by(model.deleted_batch)
        for kind, model in MODELS.items()))
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for kind, batch, n in db.session.execute(including_deleted(select(query.subquery()))):
        result[batch][kind] = n
    return dict(result)


def get_batch(batch: str) -> Batch | None:
    """One batch with its head record, counts and who deleted it, or None."""
    if not batch or len(batch) > 32:
        return None
    row = db.session.execute(including_deleted(
        _with_deleter(batch_heads(batch=batch)).limit(1))).first()
    if row is None:
        return None
    item = _batch_of(row)
    _fill_counts([item])
    return item


def record_of(item: Batch):
    """The head record of a batch, read although it is in the trash."""
    model = MODELS[item.kind]
    return db.session.execute(including_deleted(
        select(model).where(model.id == item.record_id))).scalar_one_or_none()


def blocking_parent(item: Batch) -> tuple[str, str] | None:
    """(kind, name) of what the batch hangs on when that is itself in the trash."""
    parents = []
    if item.kind in ("contact", "opportunity", "note", "task") and item.customer_id:
        parents.append((Customer, item.customer_id))
    if item.kind in ("note", "task") and item.opportunity_id:
        parents.append((Opportunity, item.opportunity_id))
    for model, parent_id in parents:
        parent = db.session.execute(including_deleted(
            select(model).where(model.id == parent_id))).scalar_one_or_none()
        if parent is not None and parent.deleted_at is not None:
            return kind_of(parent), label_of(parent)
    return None


# --- Past the retention period ----------------------------------------------------------------

def expired_batches(now: datetime | None = None) -> list[Batch]:
    """The batches moved to the trash more than RETENTION_DAYS ago."""
    heads = batch_heads()
    rows = db.session.execute(including_deleted(
        select(heads).where(heads.c.deleted_at < cutoff(now)))).all()
    return [_batch_of(row) for row in rows]


def expired_count(now: datetime | None = None) -> int:
    """How many batches are past the retention period (one count)."""
    heads = batch_heads()
    return db.session.execute(including_deleted(
        select(func.count()).select_from(heads).where(heads.c.deleted_at < cutoff(now)))).scalar_one()
