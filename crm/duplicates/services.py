"""Merging duplicates (合并) and undoing a merge. Nothing here commits: the caller does.

A record type joins by registering a `MergeKind` in KINDS: its model, the fields the user
picks between, and its children (model, foreign key column) that move to the survivor.
Customers and contacts are registered here; leads register theirs from create_app
(crm/leads/merging.py), with their own see / edit rules and a rescore after each change.

- `merge(kind, survivor, others, choices, versions, user)`: the rule in its docstring.
- `undo(merge, user, now)`: within RETENTION_DAYS, once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, insert, select, update

from crm.concurrency import Conflict, claim
from crm.customers.services import CONTACT_FIELDS, CUSTOMER_FIELDS
from crm.extensions import db
from crm.models import (AuditEntry, Contact, Customer, Merge, Note, Opportunity, Task,
                        customer_shares, customer_tags, utcnow)
from crm.permissions import can_edit_customer, can_see_customer
from crm.rules import RuleError
from crm.trash.filters import INCLUDE_DELETED
from crm.trash.queries import RETENTION_DAYS
from crm.trash.services import restore, trash


@dataclass(frozen=True)
class MergeKind:
    name: str
    model: type
    fields: tuple[str, ...]
    children: tuple[tuple[str, type, str], ...]       # (label, model, foreign key attribute)
    links: tuple = ()                                 # (label, table, fk column, other column)
    custom_entity: str = ""                           # crm/fields record type
    see: Callable | None = None                       # (user, record) -> bool; default below
    edit: Callable | None = None                      # (user, record) -> bool; default below
    after: Callable | None = None                     # (record ids) after a merge or an undo

    def can_see(self, user, record) -> bool:
        if self.see is not None:
            return self.see(user, record)
        return can_see_customer(user, record.customer if self.model is Contact else record)

    def can_edit(self, user, record) -> bool:
        if self.edit is not None:
            return self.edit(user, record)
        if self.model is Contact:
            return can_edit_customer(user, record.customer)
        return can_edit_customer(user, record)

    def label(self, record) -> str:
        return record.name


KINDS: dict[str, MergeKind] = {
    "customer": MergeKind(
        "customer", Customer, CUSTOMER_FIELDS,
        children=(("contacts", Contact, "customer_id"), ("notes", Note, "customer_id"),
                  ("tasks", Task, "customer_id"), ("opportunities", Opportunity, "customer_id")),
        links=(("tags", customer_tags, "customer_id", "tag_id"),
               ("shares", customer_shares, "customer_id", "user_id")),
        custom_entity="customer"),
    "contact": MergeKind(
        "contact", Contact, CONTACT_FIELDS,
        children=(("notes", Note, "contact_id"), ("opportunities", Opportunity, "contact_id")),
        custom_entity="contact"),
}


LABELS = {"kind": _l("Type"), "name": _l("Name"), "industry": _l("Industry"),
          "region": _l("Region"), "city": _l("City"), "size": _l("Size (employees)"),
          "source": _l("Source"), "phone": _l("Phone"), "email": _l("Email"),
          "website": _l("Website"), "address": _l("Address"), "owner_id": _l("Owner"),
          "description": _l("Description"), "title": _l("Title"), "company": _l("Company"),
          "mobile": _l("Mobile"), "wechat": _l("WeChat"), "source_id": _l("Source")}


def shown(record, field):
    """A field's value as the merge view shows it."""
    if field == "owner_id":
        return record.owner.name if getattr(record, "owner", None) else None
    if field == "source_id":
        source = getattr(record, "source", None)
        return (source.name or source.key) if source is not None else None
    return getattr(record, field)


def kind_named(name: str) -> MergeKind | None:
    return KINDS.get(name)


def register(kind: MergeKind) -> None:
    """A new record type (leads) joins merging."""
    KINDS[kind.name] = kind


def _audit(action, entity, entity_id, field, old, new, label, user) -> None:
    db.session.add(AuditEntry(action=action, entity=entity, entity_id=entity_id, field=field,
                              old_value=old, new_value=new, label=(label or "")[:200],
                              user_id=getattr(user, "id", None)))


def merge(kind: MergeKind, survivor, others: list, choices: dict, versions: dict, user,
          custom_choices: dict | None = None) -> Merge:
    """Merge `others` into `survivor` (the caller commits).

    Rules (else RuleError): at least two distinct records, none in the trash; the user may
    edit every one; every record still has the version the merge view was drawn with
    (`versions`: id -> version), else the merge is refused and nothing changes. For each field,
    `choices[field]` names the record whose value the survivor keeps (default: the survivor);
    `custom_choices` the same for custom fields. The children of the others (KINDS) and their
    tags and shares move to the survivor; the others go to the trash, each one batch, and the
    audit trail records "merge" on every record. What moved is kept in a Merge row for `undo`.
    """
    records = [survivor, *others]
    ids = [r.id for r in records]
    if len(set(ids)) < 2 or len(set(ids)) != len(ids):
        raise RuleError(_("Choose two or more different records to merge."))
    for record in records:
        if record.deleted_at is not None:
            raise RuleError(_("%(name)s is in the trash.", name=kind.label(record)))
        if not kind.can_edit(user, record):
            raise RuleError(_("You may not change %(name)s.", name=kind.label(record)))
    by_id = {r.id: r for r in records}
    for record in records:
        try:
            claim(record, versions.get(record.id) if versions.get(record.id) is not None else -1)
        except Conflict:
            raise RuleError(_("%(name)s was changed by someone else after this page was drawn. "
                              "Nothing was merged: look at the records again.",
                              name=kind.label(record))) from None
    before = {f: _plain(getattr(survivor, f)) for f in kind.fields}
    before["custom"] = dict(survivor.custom or {})
    for name in kind.fields:
        source = by_id.get(_int(choices.get(name)), survivor)
        setattr(survivor, name, getattr(source, name))
    if custom_choices:
        custom = dict(survivor.custom or {})
        for key, chosen in custom_choices.items():
            source = by_id.get(_int(chosen), survivor)
            value = (source.custom or {}).get(key)
            if value in (None, "", []):
                custom.pop(key, None)
            else:
                custom[key] = value
        survivor.custom = custom
    db.session.flush()
    other_ids = [r.id for r in others]
    moved: dict[str, list] = {}
    for label, model, column in kind.children:
        fk = getattr(model, column)
        rows = db.session.execute(select(model.id, fk).where(fk.in_(other_ids))
                                  .execution_options(**{INCLUDE_DELETED: True})).all()
        moved[label] = [[row_id, from_id] for row_id, from_id in rows]
        if rows:
            values = {column: survivor.id}
            if model is Contact and kind.model is Customer:
                moved["primary"] = list(db.session.scalars(
                    select(Contact.id).where(Contact.id.in_([r[0] for r in rows]),
                                             Contact.is_primary.is_(True))))
                if survivor.primary_contact is not None:
                    values["is_primary"] = False
            db.session.execute(update(model).where(model.id.in_([r[0] for r in rows]))
                               .values(**values)
                               .execution_options(synchronize_session=False,
                                                  **{INCLUDE_DELETED: True}))
    for label, table, fk, other in kind.links:
        have = set(db.session.scalars(select(table.c[other]).where(table.c[fk] == survivor.id)))
        theirs = set(db.session.scalars(select(table.c[other]).where(table.c[fk].in_(other_ids))))
        added = sorted(theirs - have)
        if added:
            db.session.execute(insert(table), [{fk: survivor.id, other: v} for v in added])
        moved[label] = added
    db.session.expire_all()
    batches = []
    survivor = db.session.get(kind.model, survivor.id)
    for other in [db.session.get(kind.model, i) for i in other_ids]:
        _audit("merge", kind.model.__tablename__, other.id, "merged_into", None,
               str(survivor.id), kind.label(other), user)
        batches.append(trash(other, user).batch)
    survivor = db.session.get(kind.model, survivor.id)
    if hasattr(survivor, "rebuild_search_index"):
        survivor.rebuild_search_index()
    if kind.after is not None:
        db.session.flush()
        kind.after([survivor.id])
        survivor = db.session.get(kind.model, survivor.id)
    _audit("merge", kind.model.__tablename__, survivor.id, "merged",
           None, ",".join(map(str, other_ids)), kind.label(survivor), user)
    record = Merge(entity=kind.name, survivor_id=survivor.id, merged_ids=other_ids,
                   batches=batches, moved=moved, before=before, label=kind.label(survivor)[:200],
                   user_id=getattr(user, "id", None))
    db.session.add(record)
    db.session.flush()
    return record


def undo(record: Merge, user, now=None) -> None:
    """Undo a merge (the caller commits).

    Rules (else RuleError): not undone yet; within RETENTION_DAYS; the user may edit the
    survivor. The merged records come back from the trash, exactly what moved goes back to
    where it came from, the tags and shares added are taken off, and the survivor's fields
    get their values from before the merge.
    """
    now = now or utcnow()
    kind = KINDS[record.entity]
    if record.undone_at is not None:
        raise RuleError(_("This merge was undone already."))
    if record.created_at < now - timedelta(days=RETENTION_DAYS):
        raise RuleError(_("This merge is more than %(days)d days old and can no longer be undone.",
                          days=RETENTION_DAYS))
    survivor = db.session.get(kind.model, record.survivor_id)
    if survivor is None or survivor.deleted_at is not None:
        raise RuleError(_("The record merged into is in the trash: restore it first."))
    if not kind.can_edit(user, survivor):
        raise RuleError(_("You may not change %(name)s.", name=kind.label(survivor)))
    for batch in record.batches:
        restore(batch, user)
    for label, model, column in kind.children:
        for row_id, from_id in record.moved.get(label, []):
            db.session.execute(update(model).where(model.id == row_id).values({column: from_id})
                               .execution_options(synchronize_session=False,
                                                  **{INCLUDE_DELETED: True}))
    if kind.model is Customer:
        primaries = set(record.moved.get("primary", []))
        for row_id, _from in record.moved.get("contacts", []):
            if row_id in primaries:
                db.session.execute(update(Contact).where(Contact.id == row_id)
                                   .values(is_primary=True)
                                   .execution_options(synchronize_session=False,
                                                      **{INCLUDE_DELETED: True}))
    for label, table, fk, other in kind.links:
        added = record.moved.get(label, [])
        if added:
            db.session.execute(delete(table).where(table.c[fk] == survivor.id,
                                                   table.c[other].in_(added)))
    db.session.expire_all()
    survivor = db.session.get(kind.model, record.survivor_id)
    for name in kind.fields:
        setattr(survivor, name, record.before.get(name))
    survivor.custom = dict(record.before.get("custom") or {})
    survivor.version = (survivor.version or 1) + 1
    if hasattr(survivor, "rebuild_search_index"):
        survivor.rebuild_search_index()
        for other_id in record.merged_ids:
            other = db.session.get(kind.model, other_id)
            if other is not None:
                other.rebuild_search_index()
    if kind.after is not None:
        db.session.flush()
        kind.after([record.survivor_id, *record.merged_ids])
    record.undone_at = now
    _audit("unmerge", kind.model.__tablename__, survivor.id, "merged",
           ",".join(map(str, record.merged_ids)), None, kind.label(survivor), user)
    db.session.flush()


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _plain(value):
    return value
