"""The import's rules and writes (nothing here commits except the job's own chunks, see
`run_import`).

A row becomes a plan (`Planner.plan`): its cells through the mapping and the transforms
(crm/imports/transforms.py), the references it names resolved (owner, customer, pipeline,
stage, lost reason, custom field options), its problems listed, then matched (crm/imports/
matching.py) and given an action:

- create: no match (or the user chose "create" on a match);
- update: a match, the user chose "update", and a mapped value differs;
- unchanged: a match whose mapped values are all the same already (counted as skipped);
- skip: a match and the user chose "skip" (a duplicate);
- duplicate: the row repeats an earlier row of the same file;
- reject: a problem (required value missing, a value that does not parse, a reference not
  found, a match the user may not change).

Rules of who: everyone signed in may import (crm.permissions.can_import); a salesperson's
rows are theirs (an owner column naming someone else is a problem of the row), and they
update only records they may edit. Records go in with bulk statements, a chunk (CHUNK rows)
at a time: one INSERT ... RETURNING per table, one UPDATE per set of changed columns, one
audit INSERT; never a statement per row.

Run: mode "valid" commits each chunk with the import's `last_row` in the same transaction, so
that a crash leaves whole chunks only and a resumed run starts after `last_row`; mode "all"
writes everything in one transaction and rolls it all back when any row is rejected (or on a
crash). The audit trail holds every created and changed record under the import's batch id
(field "import"), and `undo` moves the records it created to the trash as one batch."""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from decimal import Decimal
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, insert, select, text, update

from crm.audit.services import as_text, record_many
from crm.extensions import db
from crm.fields.queries import audit_changes, context_for, search_texts
from crm.fields.types import type_of
from crm.imports import matching, transforms
from crm.imports.kinds import KINDS, RowKind, Target
from crm.imports.readers import FileRefused, Layout, data_rows, read_header
from crm.models import (AuditEntry, Contact, Customer, ExternalKey, ImportBatch, ImportMapping, ImportRecord,
                        ImportReject, LostReason, Opportunity, Pipeline, Stage, StageChange, Tag,
                        TagGroup, User, customer_tags, utcnow)
from crm.permissions import (can_import_owner, editable_customers_clause,
                             editable_opportunities_clause, visible_customers_clause)
from crm.rules import RuleError
from crm.search import search_keys
from crm.trash.filters import INCLUDE_DELETED

CHUNK = 1000
PREVIEW_ROWS = 20
ON_MATCH = ("update", "skip", "create")
MODES = ("valid", "all")
IMPORTS_DIR = "imports"
IMPORTED_TAG_GROUP = "导入 Imported"
AUDIT_FIELD = "import"


class ImportError_(RuleError):
    """An import the rules refuse; the message is for the user."""


REASON_HEADERS = ("reason rejected", "拒绝原因")


def header_hash(header: list[str]) -> str:
    """The layout of a file: its header names. A rejects file (the same columns and a reason
    column last) has the layout of the file it came from, so its mapping is remembered too."""
    header = list(header)
    if header and header[-1].strip().lower() in REASON_HEADERS:
        header = header[:-1]
    return hashlib.sha256("\x1f".join(h.strip().lower() for h in header).encode()).hexdigest()


def layout_of(imp: ImportBatch) -> Layout:
    return Layout(imp.fmt, encoding=imp.encoding, delimiter=imp.delimiter, sheet=imp.sheet)


def file_path(imp: ImportBatch) -> Path:
    return Path(current_app.instance_path) / imp.path


# --- the mapping ------------------------------------------------------------------------------

def remembered_mapping(kind: str, digest: str) -> dict | None:
    row = db.session.execute(select(ImportMapping.mapping).where(
        ImportMapping.kind == kind, ImportMapping.header_hash == digest)).scalar_one_or_none()
    return dict(row) if row else None


def save_mapping(imp: ImportBatch, mapping: dict, *, encoding=None, delimiter=None, sheet=None,
                 on_match="update", mode="valid") -> None:
    """Set the import's mapping and options, and remember the mapping for its file layout.
    Rules: a field maps from one column at most; the kind's required fields are mapped;
    on_match and mode are among ON_MATCH and MODES."""
    kind = KINDS[imp.kind]
    keys = [key for key in mapping.values() if key]
    duplicates = {key for key in keys if keys.count(key) > 1}
    if duplicates:
        labels = {t.key: str(t.label) for t in kind.targets()}
        raise ImportError_(_("Each field can come from one column only: %(fields)s.",
                             fields=", ".join(labels.get(k, k) for k in sorted(duplicates))),
                           field="mapping")
    missing = [t for t in kind.targets() if t.required and t.key not in keys
               and not (t.key == "customer" and "customer_external_id" in keys)]
    if missing:
        raise ImportError_(_("Map a column to %(fields)s.",
                             fields=", ".join(str(t.label) for t in missing)), field="mapping")
    if on_match not in ON_MATCH or mode not in MODES:
        raise ImportError_(_("Choose what to do on a match."), field="on_match")
    imp.mapping = {k: v for k, v in mapping.items() if v}
    imp.on_match, imp.mode = on_match, mode
    if encoding:
        imp.encoding = encoding
    if delimiter:
        imp.delimiter = delimiter
    if sheet:
        imp.sheet = sheet
    stored = db.session.execute(select(ImportMapping).where(
        ImportMapping.kind == imp.kind, ImportMapping.header_hash == imp.header_hash)).scalar_one_or_none()
    if stored is None:
        db.session.add(ImportMapping(kind=imp.kind, header_hash=imp.header_hash, mapping=imp.mapping))
    else:
        stored.mapping = imp.mapping


def reread_header(imp: ImportBatch) -> None:
    """Read the header again (the encoding, delimiter or sheet changed). FileRefused."""
    imp.header = read_header(file_path(imp), layout_of(imp))
    imp.header_hash = header_hash(imp.header)


# --- planning rows ----------------------------------------------------------------------------

@dataclass
class Plan:
    row: int
    cells: list
    values: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)
    action: str = "create"
    record_id: int | None = None
    matched_on: str | None = None
    columns: dict = field(default_factory=dict)   # model columns to write
    extras: dict = field(default_factory=dict)    # tags, contact, history...

    @property
    def rejected(self) -> bool:
        return self.action == "reject"


def _lower(text) -> str:
    return transforms.text(str(text or "")).lower()


class Planner:
    """Everything a run needs to plan rows, loaded once (a fixed number of queries): users,
    tags, pipelines and stages, lost reasons, the match index of the kind and, for contacts
    and opportunities, the customers'; what the user may change."""

    def __init__(self, imp: ImportBatch, user):
        self.imp, self.user = imp, user
        self.kind: RowKind = KINDS[imp.kind]
        self.targets = {t.key: t for t in self.kind.targets(user)}
        self.columns = {int(i): self.targets[k] for i, k in (imp.mapping or {}).items()
                        if k in self.targets}
        self.mapped = {t.key for t in self.columns.values()}
        # The labels in the user's language, once (a lazy string costs a lookup each time).
        self.labels = {key: str(t.label) for key, t in self.targets.items()}
        self.required = [t for t in self.targets.values() if t.required and t.key in self.mapped]
        self.on_match = imp.on_match
        self.manager = user is None or bool(getattr(user, "is_manager", False))
        users = db.session.execute(select(User.id, User.name, User.email)).all()
        self.users = {}
        for user_id, name, email in users:
            self.users.setdefault(_lower(name), user_id)
            self.users.setdefault(_lower(email), user_id)
        self.user_names = {user_id: name for user_id, name, _email in users}
        self.tags = {}
        for tag_id, name in db.session.execute(select(Tag.id, Tag.name).order_by(Tag.id)):
            self.tags.setdefault(_lower(name), tag_id)
        self.new_tags: dict[str, str] = {}
        self.index = matching.MatchIndex.load(self.kind.entity)
        self.ctx = {t.key: context_for(t.custom) for t in self.targets.values() if t.custom}
        if self.kind.name in ("contacts", "opportunities"):
            self.customers = matching.MatchIndex.load("customers")
            self.customer_names = dict(db.session.execute(select(Customer.id, Customer.name)).all()) \
                if self.kind.name == "opportunities" and "title" not in self.mapped else {}
        self.editable = None
        if not self.manager and user is not None:
            model_clause = {"customers": (Customer, editable_customers_clause),
                            "contacts": (Customer, editable_customers_clause),
                            "opportunities": (Opportunity, editable_opportunities_clause)}
            model, clause = model_clause[self.kind.name]
            self.editable = set(db.session.execute(select(model.id).where(clause(user))).scalars())
            if self.kind.name == "opportunities":
                self.visible_customers = set(db.session.execute(
                    select(Customer.id).where(visible_customers_clause(user))).scalars())
        if self.kind.name == "opportunities":
            self._load_pipelines()

    def _load_pipelines(self):
        self.pipelines, self.stages, self.first_stage = {}, {}, {}
        self.stage_rows = {}
        for pipeline in db.session.execute(select(Pipeline).order_by(Pipeline.position, Pipeline.id)).scalars():
            self.pipelines.setdefault(_lower(pipeline.display_name), pipeline.id)
            if pipeline.key:
                self.pipelines.setdefault(_lower(pipeline.key), pipeline.id)
        self.default_pipeline = next(iter(self.pipelines.values()), None)
        for stage in db.session.execute(select(Stage).order_by(Stage.pipeline_id, Stage.position)).scalars():
            self.stage_rows[stage.id] = stage
            self.first_stage.setdefault(stage.pipeline_id, stage.id)
            for name in (stage.display_name, stage.key, stage.name):
                if name:
                    self.stages.setdefault((stage.pipeline_id, _lower(name)), stage.id)
        self.lost_reasons = {}
        for reason in db.session.execute(select(LostReason).where(LostReason.active.is_(True))).scalars():
            self.lost_reasons.setdefault(_lower(reason.display_name), reason.id)
            if reason.key:
                self.lost_reasons.setdefault(_lower(reason.key), reason.id)

    # --- values

    def _parse(self, target: Target, raw: str, plan: Plan):
        try:
            return self._value(target, raw)
        except ValueError as error:
            plan.problems.append(f"{self.labels[target.key]}: {error}")
            return None

    def _value(self, target: Target, raw: str):
        kind = target.parse
        if kind == "custom":
            return self._custom(target, raw)
        value = transforms.text(raw) if kind != "long" else (raw or "").strip()
        if kind == "day":
            return transforms.day(value)
        if kind == "amount":
            return transforms.amount(value)
        if kind == "whole":
            number = transforms.whole(value)
            if number is not None and not 0 <= number <= 100:
                raise ValueError(_l("Enter a number from 0 to 100."))
            return number
        if kind == "tags":
            return transforms.tags(value)
        if not value:
            return None
        if len(value) > target.length:
            raise ValueError(_l("At most %(n)s characters.", n=target.length))
        if kind == "email":
            value = value.lower()
            if "@" not in value or " " in value or value.startswith("@") or value.endswith("@"):
                raise ValueError(_l("Not an email address: %(value)s.", value=value))
        elif kind == "phone":
            if not matching.phone_key(value) and len(value) > 0 and not any(c.isdigit() for c in value):
                raise ValueError(_l("Not a phone number: %(value)s.", value=value))
        elif kind == "url" and not value.lower().startswith(("http://", "https://")):
            value = "https://" + value
        elif kind == "choice":
            wanted = value.lower()
            for key, labels in target.choices.items():
                if wanted in (label.lower() for label in labels):
                    return key
            raise ValueError(_l("Not one of the choices: %(value)s.", value=value))
        elif kind == "owner":
            owner_id = self.users.get(value.lower())
            if owner_id is None:
                raise ValueError(_l("No user is called %(value)s.", value=value))
            return owner_id
        return value

    def _custom(self, target: Target, raw: str):
        custom = target.custom
        value = transforms.text(raw) if custom.type != "long_text" else (raw or "").strip()
        if not value:
            return None
        if custom.type == "date":
            value = transforms.iso_day(value)
        elif custom.type in ("money", "decimal"):
            value = str(transforms.amount(value, places=6 if custom.type == "decimal" else 2))
        elif custom.type == "integer":
            value = str(transforms.whole(value))
        elif custom.type == "datetime":
            value = transforms.moment(value)
        elif custom.type == "multi_choice":
            value = transforms.tags(value)
        elif custom.type == "user":
            user_id = self.users.get(value.lower())
            value = str(user_id) if user_id is not None else value
        return type_of(custom.type).parse(value, self.ctx[target.key])

    # --- a row

    def plan(self, number: int, cells: list) -> Plan:
        plan = Plan(number, cells)
        for index, target in self.columns.items():
            raw = cells[index] if index < len(cells) else ""
            if len(raw) > 10_000 and target.parse != "long":
                plan.problems.append(_("%(field)s: the cell is too long.", field=self.labels[target.key]))
                continue
            plan.values[target.key] = self._parse(target, raw, plan) if raw else (
                [] if target.parse == "tags" else None)
        for target in self.required:
            if not plan.values.get(target.key) \
                    and not (target.key == "customer" and plan.values.get("customer_external_id")):
                plan.problems.append(_("%(field)s is required.", field=self.labels[target.key]))
        getattr(self, f"_build_{self.kind.name}")(plan)
        if plan.problems:
            plan.action = "reject"
            return plan
        self._match(plan)
        return plan

    def _owner(self, plan: Plan, existing_owner=None):
        if "owner" not in self.mapped or plan.values.get("owner") is None:
            return None if existing_owner is not None else getattr(self.user, "id", None)
        owner_id = plan.values["owner"]
        if not can_import_owner(self.user, owner_id):
            plan.problems.append(_("Only managers and admins can give records to someone else."))
        return owner_id

    def _custom_values(self, plan: Plan) -> dict:
        return {t.custom.key: plan.values.get(t.key) for t in self.columns.values() if t.custom}

    def _build_customers(self, plan: Plan) -> None:
        v = plan.values
        cols = {key: v.get(key) for key in ("name", "kind", "industry", "region", "city", "size",
                                            "source", "phone", "email", "website", "address",
                                            "description") if key in self.mapped}
        plan.columns = cols
        plan.extras = {"custom": self._custom_values(plan), "owner": self._owner(plan)}
        if "tags" in self.mapped:
            plan.extras["tags"] = v.get("tags") or []
        contact = {key: v.get(src) for key, src in (("name", "contact"), ("phone", "contact_phone"),
                                                     ("email", "contact_email")) if src in self.mapped}
        if any(contact.values()):
            if not contact.get("name"):
                plan.problems.append(_("A contact's phone or email needs the contact's name."))
            plan.extras["contact"] = contact
        plan.keys = {"external": v.get("external_id"), "email": matching.email_key(v.get("email")),
                     "phone": matching.phone_key(v.get("phone")), "name": matching.name_key(v.get("name"))}

    def _customer_of(self, plan: Plan):
        v = plan.values
        customer_id, _how = self.customers.find(external=v.get("customer_external_id"),
                                                name=matching.name_key(v.get("customer")))
        if customer_id is None:
            plan.problems.append(_("No customer is called %(name)s.",
                                   name=v.get("customer") or v.get("customer_external_id") or ""))
        return customer_id

    def _build_contacts(self, plan: Plan) -> None:
        v = plan.values
        customer_id = self._customer_of(plan)
        if customer_id is not None and self.editable is not None and customer_id not in self.editable:
            plan.problems.append(_("You may not change the customer %(name)s.", name=v.get("customer") or ""))
        plan.columns = {key: v.get(key) for key in ("name", "title", "phone", "email") if key in self.mapped}
        plan.columns["customer_id"] = customer_id
        plan.extras = {"custom": self._custom_values(plan)}
        plan.keys = {"external": v.get("external_id"),
                     "email": matching.scoped(customer_id, matching.email_key(v.get("email"))),
                     "phone": matching.scoped(customer_id, matching.phone_key(v.get("phone"))),
                     "name": matching.scoped(customer_id, matching.name_key(v.get("name")))}

    def _build_opportunities(self, plan: Plan) -> None:
        v = plan.values
        customer_id = self._customer_of(plan)
        if customer_id is not None and self.editable is not None \
                and customer_id not in self.visible_customers:
            plan.problems.append(_("No customer is called %(name)s.", name=v.get("customer") or ""))
        pipeline_id = self.default_pipeline
        if v.get("pipeline"):
            pipeline_id = self.pipelines.get(v["pipeline"].lower())
            if pipeline_id is None:
                plan.problems.append(_("No pipeline is called %(name)s.", name=v["pipeline"]))
        stage_id = self.first_stage.get(pipeline_id)
        if v.get("stage") and pipeline_id is not None:
            stage_id = self.stages.get((pipeline_id, v["stage"].lower()))
            if stage_id is None:
                plan.problems.append(_("The pipeline has no stage called %(name)s.", name=v["stage"]))
        stage = self.stage_rows.get(stage_id)
        reason_id = None
        if v.get("lost_reason"):
            reason_id = self.lost_reasons.get(v["lost_reason"].lower())
            if reason_id is None:
                plan.problems.append(_("No lost reason is called %(name)s.", name=v["lost_reason"]))
        if stage is not None and stage.kind == "lost" and reason_id is None:
            reason_id = self.lost_reasons.get("other")  # history without a reason: "Other"
        title = v.get("title")
        if not title and customer_id is not None:
            title = self.customer_names.get(customer_id)
        if not title:
            plan.problems.append(_("%(field)s is required.", field=_("Title")))
        plan.columns = {key: v.get(key) for key in ("amount", "currency", "expected_close", "source",
                                                    "budget", "needs", "description", "lost_note")
                        if key in self.mapped}
        if "currency" in plan.columns:
            plan.columns["currency"] = (plan.columns["currency"] or "CNY").upper()[:3]
        if "probability" in self.mapped:
            plan.columns["probability_override"] = v.get("probability")
        plan.columns.update(title=title, customer_id=customer_id)
        plan.extras = {"custom": self._custom_values(plan), "owner": self._owner(plan),
                       "stage": stage, "pipeline_id": pipeline_id, "lost_reason_id": reason_id,
                       "opened_on": v.get("opened_on"), "closed_on": v.get("closed_on"),
                       "stage_given": bool(v.get("stage") or v.get("pipeline"))}
        plan.keys = {"external": v.get("external_id"),
                     "name": matching.scoped(customer_id, matching.name_key(title))
                     if "external_id" not in self.mapped else ""}

    def _match(self, plan: Plan) -> None:
        keys = plan.keys
        if self.on_match == "create":
            found, how = None, None
        else:
            found, how = self.index.find(**keys)
        if found is None:
            plan.action = "create"
            self.index.add(("row", plan.row), **keys)
            return
        if isinstance(found, tuple):
            plan.action, plan.matched_on = "duplicate", how
            return
        plan.record_id, plan.matched_on = found, how
        if self.on_match == "skip":
            plan.action = "skip"
        elif self.editable is not None and found not in self.editable:
            plan.action = "reject"
            plan.problems.append(_("This record exists and belongs to someone else: you may not "
                                   "change it."))
        else:
            plan.action = "update"  # `Writer.compare` turns it into "unchanged" when nothing differs


# --- writing a chunk --------------------------------------------------------------------------

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
        if creates:
            rows = [getattr(self, f"_new_{self.entity}")(p, now) for p in creates]
            ids = insert_ids(self.model, rows)
            for plan, new_id in zip(creates, ids):
                plan.record_id = new_id
                self.p.index.add(new_id, **plan.keys)
        self._after_create(creates, now)
        self._update(updates, now)
        self._bookkeeping(creates, updates, now)

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
                if key in ("status", "pipeline_id"):
                    continue
                old = plan.old.get(key)
                if key == "custom":
                    for name, old_text, new_text in audit_changes(self.entity, old, new):
                        changes.append({"entity_id": plan.record_id, "field": name, "old": old_text,
                                        "new": new_text, "label": label})
                    continue
                if key == "owner_id":
                    old, new = self.p.user_names.get(old), self.p.user_names.get(new)
                elif key == "stage_id":
                    old = self.p.stage_rows[old].display_name if old in self.p.stage_rows else None
                    new = self.p.stage_rows[new].display_name
                changes.append({"entity_id": plan.record_id, "field": key, "old": as_text(old),
                                "new": as_text(new), "label": label})
        if changes:
            record_many(self.entity, changes, user=self.user,
                        insert=lambda rows: insert_rows(AuditEntry.__table__, rows))


def insert_ids(model, rows: list[dict]) -> list[int]:
    """INSERT the rows and answer their ids in the rows' order.

    PostgreSQL: the ids are taken from the table's sequence first (one SELECT nextval() over
    generate_series), then the rows go in with COPY (`copy_rows`). SQLite would run an
    INSERT ... RETURNING a row at a time; there the rows go in one executemany and get the
    next rowids in order (one writer: the transaction holds the database's write lock from
    its first write), so the new ids are the last len(rows) ones."""
    if not rows:
        return []
    if db.session.get_bind().dialect.name == "postgresql":
        table = model.__table__
        ids = sorted(db.session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
            {"table": table.name, "n": len(rows)}).scalars())
        copy_rows(table, [{**row, "id": new_id} for row, new_id in zip(rows, ids)])
        return ids
    db.session.execute(insert(model), rows)
    ids = db.session.execute(select(model.id).order_by(model.id.desc()).limit(len(rows))
                             .execution_options(**{INCLUDE_DELETED: True})).scalars().all()
    return ids[::-1]


def insert_rows(table, rows: list[dict]) -> None:
    """INSERT the rows (dicts of column keys) in one statement: COPY on PostgreSQL, an
    executemany elsewhere."""
    if not rows:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        copy_rows(table, rows)
    else:
        db.session.execute(insert(table), rows)


def copy_rows(table, rows: list[dict]) -> None:
    """PostgreSQL: the rows into `table` with one COPY ... FROM STDIN on the session's
    connection (inside its transaction), as the INSERT would write them: a column a row does
    not name gets the column's Python default (utcnow, dict...) or, with none, the server's
    (or NULL); each value goes through the column type's bind processing (UTC times, JSON).
    A multi-row INSERT of 1,000 rows of 20 columns costs the client more than the server:
    psycopg parses the 20,000-parameter statement each time, SQLAlchemy builds it."""
    connection = db.session.connection()
    dialect = connection.dialect
    given = set().union(*(row.keys() for row in rows))
    columns, fill = [], []
    for column in table.columns:
        if column.key in given:
            columns.append(column)
            fill.append(None)
        elif column.default is not None and not column.default.is_sequence \
                and not column.default.is_clause_element:
            default = column.default
            columns.append(column)
            fill.append((lambda d=default: d.arg(None)) if default.is_callable
                        else (lambda d=default: d.arg))
    processors = [column.type._cached_bind_processor(dialect) for column in columns]
    names = ", ".join(dialect.identifier_preparer.quote(column.name) for column in columns)
    statement = f"COPY {dialect.identifier_preparer.format_table(table)} ({names}) FROM STDIN"
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(statement) as copy:
        for row in rows:
            values = []
            for column, make, process in zip(columns, fill, processors):
                value = row.get(column.key) if make is None else make()
                values.append(process(value) if process is not None else value)
            copy.write_row(values)


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


# --- scanning and running ---------------------------------------------------------------------

COUNT_KEYS = ("created", "updated", "unchanged", "skipped", "duplicates", "rejected")


def _tally(counts: dict, plans: list[Plan]) -> None:
    for plan in plans:
        key = {"create": "created", "update": "updated", "unchanged": "unchanged", "skip": "skipped",
               "duplicate": "duplicates", "reject": "rejected"}[plan.action]
        counts[key] = counts.get(key, 0) + 1


def _chunks(imp: ImportBatch, start_after: int = 0):
    chunk = []
    for number, cells in data_rows(file_path(imp), layout_of(imp)):
        if number <= start_after:
            continue
        chunk.append((number, cells))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def scan(imp: ImportBatch, user, preview: int = PREVIEW_ROWS) -> dict:
    """The preview: the first `preview` rows as they will be saved with their problems, and
    the counts for the whole file, computed by planning every row without writing anything.
    FileRefused when the file cannot be read to its end."""
    planner = Planner(imp, user)
    writer = Writer(planner, imp, user, dry=True)
    counts = dict.fromkeys(COUNT_KEYS, 0)
    first, total = [], 0
    for chunk in _chunks(imp):
        plans = [planner.plan(number, cells) for number, cells in chunk]
        writer.write(plans)
        _tally(counts, plans)
        total += len(plans)
        if len(first) < preview:
            first += plans[: preview - len(first)]
    db.session.rollback()  # nothing was written; let the read go
    return {"rows": first, "counts": counts, "total": total,
            "targets": [planner.targets[k] for k in _ordered_keys(planner)],
            "user_names": planner.user_names}


def _ordered_keys(planner: Planner) -> list[str]:
    return [t.key for _i, t in sorted(planner.columns.items())]


def _store_rejects(imp: ImportBatch, plans: list[Plan]) -> None:
    rows = [{"import_id": imp.id, "row": p.row, "cells": p.cells, "reason": "; ".join(p.problems)}
            for p in plans if p.rejected]
    if rows:
        insert_rows(ImportReject.__table__, rows)


def _set_import(imp_id: int, **values) -> None:
    db.session.execute(update(ImportBatch).where(ImportBatch.id == imp_id).values(**values)
                       .execution_options(synchronize_session=False))


def run_import(job, report) -> dict:
    """The job "import" (crm.jobs.runner runs it as its user): the rows of the import named by
    the job's params, a chunk at a time, from after its last committed row."""
    imp = db.session.get(ImportBatch, job.params["import_id"])
    if imp is None:
        raise ValueError("no such import")
    imp_id, user = imp.id, job.user
    total = imp.total_rows
    counts = dict.fromkeys(COUNT_KEYS, 0)
    if imp.mode == "valid" and imp.last_row:
        counts.update(imp.counts or {})
    _set_import(imp_id, status="running", job_id=job.id)
    db.session.commit()
    report(imp.last_row if imp.mode == "valid" else 0, total)
    planner = Planner(imp, user)
    writer = Writer(planner, imp, user)
    start = imp.last_row if imp.mode == "valid" else 0
    done = start
    # SQLite has one writer: while the all-or-nothing transaction holds it, the job's progress
    # (written on a connection of its own) would wait for it; PostgreSQL shows it as it goes.
    shows_progress_inside = db.session.get_bind().dialect.name != "sqlite"
    try:
        for chunk in _chunks(imp, start_after=start):
            plans = [planner.plan(number, cells) for number, cells in chunk]
            writer.write(plans)
            _store_rejects(imp, plans)
            _tally(counts, plans)
            done = chunk[-1][0]
            if imp.mode == "valid":
                _set_import(imp_id, last_row=done, counts=dict(counts))
                db.session.commit()  # the chunk and the row it reached, together
                report(done, total)
            else:
                db.session.flush()
                if shows_progress_inside:
                    report(done, total)
    except FileRefused as refused:
        db.session.rollback()
        _set_import(imp_id, status="failed", counts=dict(counts))
        db.session.commit()
        raise ValueError(str(refused)) from None
    if imp.mode == "all" and counts["rejected"]:
        db.session.rollback()  # all or nothing: nothing
        rejected = counts["rejected"]
        _reject_only(imp_id, user)
        counts = dict.fromkeys(COUNT_KEYS, 0)
        counts["rejected"] = rejected
        _set_import(imp_id, status="failed", counts=counts, finished_at=utcnow())
        db.session.commit()
        return {"import_id": imp_id, "counts": counts, "rolled_back": True}
    _set_import(imp_id, status="done", counts=counts, last_row=done, finished_at=utcnow())
    db.session.commit()
    return {"import_id": imp_id, "counts": counts}


def _reject_only(imp_id: int, user) -> None:
    """All or nothing refused the file: store its rejected rows (nothing else) to download."""
    imp = db.session.get(ImportBatch, imp_id)
    db.session.execute(delete(ImportReject).where(ImportReject.import_id == imp_id))
    planner = Planner(imp, user)
    for chunk in _chunks(imp):
        _store_rejects(imp, [p for p in (planner.plan(n, c) for n, c in chunk) if p.rejected])


def import_job_title(job) -> str:
    kind = KINDS.get((job.params or {}).get("kind", ""))
    return _("Import: %(kind)s", kind=str(kind.label) if kind else "")


def prepare_run(imp: ImportBatch, user, total: int) -> None:
    """Before a (re)start: a new run of mode "all", or of an import not started, starts from
    the first row with no rejects; a resumed "valid" run keeps what it committed."""
    if imp.status in ("done", "undone", "running"):
        raise ImportError_(_("This import has run already."))
    if imp.mode == "all" or not imp.last_row:
        db.session.execute(delete(ImportReject).where(ImportReject.import_id == imp.id))
        imp.last_row, imp.counts = 0, None
    imp.total_rows = total
    imp.status = "queued"


def mark_stopped(imp: ImportBatch) -> None:
    """The import's job stopped (a crash, a kill, a restart): the import is failed, resumable
    after its last committed row (mode "valid") or rolled back (mode "all")."""
    if imp.status in ("running", "queued"):
        imp.status = "failed"


# --- undo -------------------------------------------------------------------------------------

def undo(imp: ImportBatch, user) -> int:
    """Move every record the import created to the trash, as one batch (the import's batch
    id, so the trash restores them together). Rules: once; records it only updated keep their
    new values (the audit trail holds the old ones). Returns how many records moved."""
    if imp.undone_at is not None:
        raise ImportError_(_("This import was undone already."))
    if imp.status not in ("done", "failed"):
        raise ImportError_(_("Wait for the import to finish."))
    now = utcnow()
    moved = 0
    kinds = {"customers": Customer, "contacts": Contact, "opportunities": Opportunity}
    created = {entity: select(ImportRecord.record_id).where(
        ImportRecord.import_id == imp.id, ImportRecord.entity == entity,
        ImportRecord.action == "create") for entity in kinds}
    for entity, model in kinds.items():
        ids = created[entity]
        where = model.id.in_(ids)
        if entity == "contacts":
            where = (Contact.id.in_(ids)) | Contact.customer_id.in_(created["customers"])
        if entity == "opportunities":
            where = (Opportunity.id.in_(ids)) | Opportunity.customer_id.in_(created["customers"])
        result = db.session.execute(update(model).where(where, model.deleted_at.is_(None))
                                    .values(deleted_at=now, deleted_batch=imp.batch)
                                    .execution_options(synchronize_session=False, **{INCLUDE_DELETED: True}))
        moved += result.rowcount or 0
    if moved:
        for entity, model in kinds.items():
            name = Opportunity.title if model is Opportunity else model.name
            rows = db.session.execute(select(model.id, name).where(model.deleted_batch == imp.batch)
                                      .execution_options(**{INCLUDE_DELETED: True})).all()
            record_many(entity, [{"entity_id": i, "label": label, "action": "delete",
                                  "field": "deleted_batch", "new": imp.batch} for i, label in rows],
                        user=user)
    imp.undone_at = now
    imp.status = "undone"
    db.session.flush()
    db.session.expire_all()  # the session's records still hold the old values
    return moved


def new_batch() -> str:
    return uuid.uuid4().hex
