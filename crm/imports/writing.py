"""Writing planned rows, a chunk (crm.imports.run.CHUNK rows) at a time, with bulk
statements: one insert per table (crm/imports/bulk.py), one UPDATE per set of changed
columns, tags, primary contacts, stage history, the import's record list, external ids and
the audit rows; new and changed leads rescored together (crm/leads/scoring.py, a few
statements per chunk); never a statement per row. Nothing here commits (crm/imports/run.py
does)."""
from __future__ import annotations

from datetime import datetime, time, timezone
from decimal import Decimal

from sqlalchemy import delete, insert, select, update

from crm.audit.services import as_text, record_many
from crm.extensions import db
from crm.fields.queries import audit_changes, search_texts
from crm.imports.bulk import insert_ids, insert_rows
from crm.imports.planning import Plan, Planner
from crm.leads import scoring
from crm.leads.services import ensure_defaults as ensure_lead_defaults
from crm.models import (AuditEntry, Contact, Customer, ExternalKey, ImportBatch, ImportRecord,
                        LeadSource, StageChange, Tag, TagGroup, customer_tags, utcnow)
from crm.search import search_keys

IMPORTED_TAG_GROUP = "导入 Imported"
AUDIT_FIELD = "import"


def _utc_day(day) -> datetime | None:
    return datetime.combine(day, time(12), tzinfo=timezone.utc) if day else None


class Writer:
    """Writes planned rows, a chunk at a time, with bulk statements."""

    def __init__(self, planner: Planner, imp: ImportBatch, user, dry: bool = False):
        self.p, self.imp, self.user, self.dry = planner, imp, user, dry
        self.user_id = getattr(user, "id", None)
        self.model = planner.kind.model
        self.entity = planner.kind.entity
        self.tag_group_id = None

    # --- compare with what is there

    def compare(self, plans: list[Plan]) -> None:
        """Updates whose mapped values are all equal become "unchanged"; the others keep
        only what differs (in plan.columns / extras), with the old values for the audit."""
        ids = [p.record_id for p in plans if p.action == "update"]
        if not ids:
            return
        records = {r.id: r for r in db.session.execute(
            select(self.model).where(self.model.id.in_(ids))).scalars()}
        tags_now, contacts_now = {}, {}
        if self.entity == "customers":
            for customer_id, tag_id in db.session.execute(select(
                    customer_tags.c.customer_id, customer_tags.c.tag_id).where(
                    customer_tags.c.customer_id.in_(ids))):
                tags_now.setdefault(customer_id, set()).add(tag_id)
            for contact in db.session.execute(select(Contact).where(
                    Contact.customer_id.in_(ids)).order_by(Contact.is_primary.desc(), Contact.id)).scalars():
                contacts_now.setdefault(contact.customer_id, contact)
        for plan in plans:
            if plan.action != "update":
                continue
            record = records.get(plan.record_id)
            if record is None:
                plan.action = "skip"
                continue
            plan.old = {}
            changed = {}
            for key, value in plan.columns.items():
                if key == "customer_id" and self.entity != "contacts":
                    continue
                current = getattr(record, key)
                if value is None and key in ("title", "name"):
                    continue
                if _same(current, value):
                    continue
                changed[key], plan.old[key] = value, current
            owner = plan.values.get("owner")  # an empty owner cell changes nothing
            if owner is not None and owner != record.owner_id:
                changed["owner_id"], plan.old["owner_id"] = owner, record.owner_id
            custom = dict(record.custom or {})
            for key, value in (plan.extras.get("custom") or {}).items():
                if value in (None, "", []):
                    custom.pop(key, None)
                else:
                    custom[key] = value
            if custom != (record.custom or {}):
                changed["custom"], plan.old["custom"] = custom, dict(record.custom or {})
            plan.extras["record"] = record
            if self.entity == "customers":
                if "tags" in plan.extras:
                    wanted = {self.p.tags.get(name.lower()) for name in plan.extras["tags"]}
                    if None in wanted or wanted != tags_now.get(record.id, set()):
                        plan.extras["tags_changed"] = True
                contact = plan.extras.get("contact")
                existing = contacts_now.get(record.id)
                plan.extras["existing_contact"] = existing
                if contact and (existing is None or any(
                        not _same(getattr(existing, k), v) for k, v in contact.items() if v is not None)):
                    plan.extras["contact_changed"] = True
            if self.entity == "opportunities":
                stage = plan.extras["stage"]
                if plan.extras["stage_given"] and stage is not None and stage.id != record.stage_id:
                    changed.update(stage_id=stage.id, pipeline_id=stage.pipeline_id, status=stage.kind)
                    plan.old.update(stage_id=record.stage_id)
                    plan.extras["moved_from"] = record.stage_id
            plan.columns = changed
            if not changed and not plan.extras.get("tags_changed") and not plan.extras.get("contact_changed"):
                plan.action = "unchanged"

    # --- the statements

    def write(self, plans: list[Plan]) -> None:
        self.compare(plans)
        if self.dry:
            return
        creates = [p for p in plans if p.action == "create"]
        updates = [p for p in plans if p.action == "update"]
        now = utcnow()
        if self.entity == "customers":
            self._ensure_tags([p for p in creates + updates if p.extras.get("tags")])
        if self.entity == "leads" and creates and self.p.import_source is None:
            self._ensure_import_source()
        if creates:
            rows = [getattr(self, f"_new_{self.entity}")(p, now) for p in creates]
            ids = insert_ids(self.model, rows)
            for plan, new_id in zip(creates, ids):
                plan.record_id = new_id
                self.p.index.add(new_id, **plan.keys)
        self._after_create(creates, now)
        self._update(updates, now)
        self._bookkeeping(creates, updates, now)
        if self.entity == "leads" and (creates or updates):
            # The intent score of the chunk's leads, in bulk (one query per 2,000 for tags and
            # notes, one executemany); it expires the session, so the planner's rows reload.
            scoring.recompute([p.record_id for p in creates + updates], now=now)

    def _search(self, name, phone, email, contact=None, custom=None) -> str:
        contact = contact or {}
        return search_keys(name, phone, email, contact.get("name"), contact.get("phone"),
                           contact.get("email"), *search_texts("customer", custom))

    def _new_customers(self, plan: Plan, now) -> dict:
        c = plan.columns
        row = {key: c.get(key) for key in ("industry", "region", "city", "size", "source", "phone",
                                           "email", "website", "address", "description")}
        custom = {k: v for k, v in (plan.extras.get("custom") or {}).items() if v not in (None, "", [])}
        row.update(name=c["name"], kind=c.get("kind") or "company", owner_id=plan.extras["owner"],
                   created_by_id=self.user_id, custom=custom, version=1, created_at=now,
                   updated_at=now, search_index=self._search(c["name"], c.get("phone"), c.get("email"),
                                                             plan.extras.get("contact"), custom))
        return row

    def _ensure_import_source(self) -> None:
        """The built-in lead sources (crm/leads/services.py), "import" among them."""
        ensure_lead_defaults()
        self.p.import_source = db.session.execute(select(LeadSource.id).where(
            LeadSource.key == "import")).scalar_one()

    @staticmethod
    def _lead_search(name, company, phone, mobile, email, wechat) -> str:
        """Lead.rebuild_search_index's keys, for a row."""
        return search_keys(name, company, phone, mobile, email, wechat)

    def _new_leads(self, plan: Plan, now) -> dict:
        c = plan.columns
        row = {key: c.get(key) for key in ("company", "title", "phone", "mobile", "email", "wechat",
                                           "region", "address")}
        custom = {k: v for k, v in (plan.extras.get("custom") or {}).items() if v not in (None, "", [])}
        row.update(name=c["name"], status=c.get("status") or "new",
                   source_id=c.get("source_id") or self.p.import_source,
                   owner_id=plan.extras["owner"], created_by_id=self.user_id, custom=custom,
                   bant={}, score=0, score_parts=[], version=1, created_at=now, updated_at=now,
                   search_index=self._lead_search(c["name"], c.get("company"), c.get("phone"),
                                                  c.get("mobile"), c.get("email"), c.get("wechat")))
        return row

    def _new_contacts(self, plan: Plan, now) -> dict:
        c = plan.columns
        custom = {k: v for k, v in (plan.extras.get("custom") or {}).items() if v not in (None, "", [])}
        return {"customer_id": c["customer_id"], "name": c["name"], "title": c.get("title"),
                "phone": c.get("phone"), "email": c.get("email"), "is_primary": False,
                "custom": custom, "created_at": now, "version": 1}

    def _new_opportunities(self, plan: Plan, now) -> dict:
        c, x = plan.columns, plan.extras
        stage = x["stage"]
        closed = stage.kind in ("won", "lost")
        opened = _utc_day(x.get("opened_on")) or now
        closed_at = (_utc_day(x.get("closed_on")) or now) if closed else None
        entered = closed_at if closed else opened
        custom = {k: v for k, v in (x.get("custom") or {}).items() if v not in (None, "", [])}
        return {"title": c["title"], "customer_id": c["customer_id"], "contact_id": None,
                "pipeline_id": stage.pipeline_id, "stage_id": stage.id,
                "amount": c.get("amount") or Decimal("0"), "currency": c.get("currency") or "CNY",
                "expected_close": c.get("expected_close"),
                "probability_override": c.get("probability_override"), "owner_id": x["owner"],
                "source": c.get("source"), "needs": c.get("needs"), "budget": c.get("budget"),
                "description": c.get("description"), "custom": custom, "status": stage.kind,
                "closed_at": closed_at, "lost_reason_id": x["lost_reason_id"] if stage.kind == "lost" else None,
                "lost_note": c.get("lost_note"), "stage_entered_at": entered,
                "last_activity_at": closed_at or opened, "created_by_id": self.user_id,
                "created_at": opened, "updated_at": now, "version": 1}

    def _ensure_tags(self, plans: list[Plan]) -> None:
        """Tags named by the rows that do not exist yet go into the group "导入 Imported"."""
        missing = []
        for plan in plans:
            for name in plan.extras["tags"]:
                if name.lower() not in self.p.tags and name.lower() not in {m.lower() for m in missing}:
                    missing.append(name)
        if not missing:
            return
        group_id = db.session.execute(select(TagGroup.id).where(
            TagGroup.name == IMPORTED_TAG_GROUP)).scalar_one_or_none()
        if group_id is None:
            group_id = db.session.execute(insert(TagGroup).returning(TagGroup.id),
                                          [{"name": IMPORTED_TAG_GROUP, "multiple": True,
                                            "position": 999}]).scalar_one()
        ids = insert_ids(Tag, [{"group_id": group_id, "name": name, "color": "#64748b"}
                               for name in missing])
        for name, tag_id in zip(missing, ids):
            self.p.tags[name.lower()] = tag_id

    def _after_create(self, creates: list[Plan], now) -> None:
        if not creates:
            return
        if self.entity == "customers":
            tag_rows = [{"customer_id": p.record_id, "tag_id": self.p.tags[name.lower()]}
                        for p in creates for name in p.extras.get("tags") or ()]
            if tag_rows:
                insert_rows(customer_tags, tag_rows)
            contacts = [{"customer_id": p.record_id, "is_primary": True, "custom": {},
                         "created_at": now, "version": 1, "title": None, **p.extras["contact"]}
                        for p in creates if p.extras.get("contact")]
            if contacts:
                insert_rows(Contact.__table__, contacts)
        elif self.entity == "contacts":
            self._contacts_changed({p.columns["customer_id"] for p in creates})
        elif self.entity == "opportunities":
            changes = []
            for plan in creates:
                stage, x = plan.extras["stage"], plan.extras
                opened = _utc_day(x.get("opened_on")) or now
                if stage.kind in ("won", "lost") and x.get("opened_on"):
                    before = self._last_open_stage(stage.pipeline_id)
                    if before is not None:
                        changes.append(self._stage_change(plan.record_id, None, before, opened))
                        changes.append(self._stage_change(plan.record_id, before, stage,
                                                          _utc_day(x.get("closed_on")) or now))
                        continue
                changes.append(self._stage_change(plan.record_id, None, stage,
                                                  _utc_day(x.get("closed_on")) if stage.kind != "open"
                                                  and x.get("closed_on") else opened))
            insert_rows(StageChange.__table__, changes)

    def _last_open_stage(self, pipeline_id):
        stages = [s for s in self.p.stage_rows.values() if s.pipeline_id == pipeline_id and s.kind == "open"]
        return max(stages, key=lambda s: s.position) if stages else None

    def _stage_change(self, opportunity_id, from_stage, to_stage, when) -> dict:
        return {"opportunity_id": opportunity_id, "from_stage_id": from_stage.id if from_stage else None,
                "to_stage_id": to_stage.id, "user_id": self.user_id, "changed_at": when,
                "from_stage_label": from_stage.display_name if from_stage else None,
                "to_stage_label": to_stage.display_name}

    def _contacts_changed(self, customer_ids: set) -> None:
        """A customer's first contact is its primary one; its search keys know its contacts."""
        customer_ids = {i for i in customer_ids if i is not None}
        if not customer_ids:
            return
        customers = db.session.execute(select(Customer).where(Customer.id.in_(customer_ids))).scalars().all()
        contacts: dict[int, list] = {}
        for contact in db.session.execute(select(Contact).where(
                Contact.customer_id.in_(customer_ids)).order_by(Contact.is_primary.desc(), Contact.id)).scalars():
            contacts.setdefault(contact.customer_id, []).append(contact)
        rows = []
        for customer in customers:
            mine = contacts.get(customer.id, [])
            if mine and not any(c.is_primary for c in mine):
                db.session.execute(update(Contact).where(Contact.id == mine[0].id).values(is_primary=True)
                                   .execution_options(synchronize_session=False))
            values = [customer.name, customer.phone, customer.email]
            for contact in mine:
                values += [contact.name, contact.phone, contact.email]
            rows.append({"id": customer.id, "search_index": search_keys(*values, *search_texts(
                "customer", customer.custom))})
        if rows:
            db.session.execute(update(Customer), rows)

    def _update(self, updates: list[Plan], now) -> None:
        if not updates:
            return
        rows = []
        for plan in updates:
            record = plan.extras["record"]
            values = dict(plan.columns)
            if values:
                values.update(id=record.id, version=(record.version or 1) + 1, updated_at=now)
                if self.entity == "customers":
                    custom = values.get("custom", record.custom)
                    values["search_index"] = self._search(values.get("name", record.name),
                                                          values.get("phone", record.phone),
                                                          values.get("email", record.email),
                                                          plan.extras.get("contact"), custom)
                if self.entity == "leads":
                    values["search_index"] = self._lead_search(*(
                        values.get(key, getattr(record, key))
                        for key in ("name", "company", "phone", "mobile", "email", "wechat")))
                if self.entity == "opportunities" and "stage_id" in values:
                    stage = plan.extras["stage"]
                    values["stage_entered_at"] = now
                    values["closed_at"] = (_utc_day(plan.extras.get("closed_on")) or now) \
                        if stage.kind != "open" else None
                rows.append(values)
        for group in _by_keys(rows):
            db.session.execute(update(self.model).execution_options(synchronize_session=False), group)
        if self.entity == "customers":
            tagged = [p for p in updates if p.extras.get("tags_changed")]
            if tagged:
                db.session.execute(delete(customer_tags).where(customer_tags.c.customer_id.in_(
                    [p.record_id for p in tagged])))
                tag_rows = [{"customer_id": p.record_id, "tag_id": self.p.tags[name.lower()]}
                            for p in tagged for name in p.extras["tags"]]
                if tag_rows:
                    insert_rows(customer_tags, tag_rows)
            new_contacts, contact_rows = [], []
            for plan in updates:
                if not plan.extras.get("contact_changed"):
                    continue
                contact, existing = plan.extras["contact"], plan.extras.get("existing_contact")
                if existing is None:
                    new_contacts.append({"customer_id": plan.record_id, "is_primary": True, "custom": {},
                                         "created_at": now, "version": 1, "title": None, **contact})
                else:
                    contact_rows.append({"id": existing.id, "version": (existing.version or 1) + 1,
                                         **{k: v for k, v in contact.items() if v is not None}})
            if new_contacts:
                insert_rows(Contact.__table__, new_contacts)
            for group in _by_keys(contact_rows):
                db.session.execute(update(Contact).execution_options(synchronize_session=False), group)
        if self.entity == "contacts":
            self._contacts_changed({p.extras["record"].customer_id for p in updates})
        if self.entity == "opportunities":
            moves = [self._stage_change(p.record_id, self.p.stage_rows.get(p.extras["moved_from"]),
                                        p.extras["stage"], now)
                     for p in updates if p.extras.get("moved_from")]
            if moves:
                insert_rows(StageChange.__table__, moves)

    def _bookkeeping(self, creates, updates, now) -> None:
        """The import's records, the external ids, and the audit trail (one INSERT each)."""
        imp = self.imp
        records = [{"import_id": imp.id, "entity": self.entity, "record_id": p.record_id,
                    "action": p.action, "row": p.row} for p in creates + updates]
        if records:
            insert_rows(ImportRecord.__table__, records)
        keys = [{"entity": self.entity, "key": p.values["external_id"], "record_id": p.record_id}
                for p in creates + updates
                if p.values.get("external_id") and (p.action == "create" or p.matched_on != "external")]
        if keys:
            known = set(db.session.execute(select(ExternalKey.key).where(
                ExternalKey.entity == self.entity, ExternalKey.key.in_([k["key"] for k in keys]))).scalars())
            keys = [k for k in keys if k["key"] not in known]
            if keys:
                insert_rows(ExternalKey.__table__, keys)
        label_key = "title" if self.entity == "opportunities" else "name"
        changes = [{"entity_id": p.record_id, "action": "create", "field": AUDIT_FIELD,
                    "new": imp.batch, "label": p.columns.get(label_key)} for p in creates]
        for plan in updates:
            record = plan.extras["record"]
            label = getattr(record, label_key)
            changes.append({"entity_id": plan.record_id, "action": "update", "field": AUDIT_FIELD,
                            "new": imp.batch, "label": label})
            for key, new in plan.columns.items():
                if key in ("status", "pipeline_id") and self.entity == "opportunities":
                    continue  # the stage's move says it
                old = plan.old.get(key)
                if key == "custom":
                    for name, old_text, new_text in audit_changes(self.entity, old, new):
                        changes.append({"entity_id": plan.record_id, "field": name, "old": old_text,
                                        "new": new_text, "label": label})
                    continue
                if key == "owner_id":
                    old, new = self.p.user_names.get(old), self.p.user_names.get(new)
                elif key == "source_id":
                    old, new = self.p.source_names.get(old), self.p.source_names.get(new)
                elif key == "stage_id":
                    old = self.p.stage_rows[old].display_name if old in self.p.stage_rows else None
                    new = self.p.stage_rows[new].display_name
                changes.append({"entity_id": plan.record_id, "field": key, "old": as_text(old),
                                "new": as_text(new), "label": label})
        if changes:
            record_many(self.entity, changes, user=self.user,
                        insert=lambda rows: insert_rows(AuditEntry.__table__, rows))


def _same(current, value) -> bool:
    if isinstance(current, Decimal) or isinstance(value, Decimal):
        try:
            return Decimal(str(current or 0)) == Decimal(str(value or 0)) and (current is None) == (value is None)
        except Exception:
            return False
    return (current or None) == (value or None)


def _by_keys(rows: list[dict]) -> list[list[dict]]:
    groups: dict[tuple, list] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return list(groups.values())

