"""Planning rows: a row becomes a plan (`Planner.plan`): its cells through the mapping and
the transforms (crm/imports/transforms.py), the references it names resolved (owner,
customer, pipeline, stage, lost reason, lead source, custom field options), its problems
listed, then matched (crm/imports/matching.py) and given an action:

- create: no match (or the user chose "create" on a match);
- update: a match, the user chose "update", and a mapped value differs;
- unchanged: a match whose mapped values are all the same already (counted as skipped);
- skip: a match and the user chose "skip" (a duplicate);
- duplicate: the row repeats an earlier row of the same file;
- reject: a problem (required value missing, a value that does not parse, a reference not
  found, a match the user may not change).

Planning writes nothing; the preview and the run plan every row the same way."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm.extensions import db
from crm.fields.queries import context_for
from crm.fields.types import type_of
from crm.imports import matching, transforms
from crm.imports.kinds import KINDS, RowKind, Target
from crm.leads.queries import SOURCE_NAMES
from crm.models import (Customer, ImportBatch, Lead, LeadSource, LostReason, Opportunity, Pipeline,
                        Stage, Tag, User)
from crm.permissions import (can_import_owner, editable_customers_clause, editable_leads_clause,
                             editable_opportunities_clause, visible_customers_clause)


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
                            "opportunities": (Opportunity, editable_opportunities_clause),
                            "leads": (Lead, editable_leads_clause)}
            model, clause = model_clause[self.kind.name]
            self.editable = set(db.session.execute(select(model.id).where(clause(user))).scalars())
            if self.kind.name == "opportunities":
                self.visible_customers = set(db.session.execute(
                    select(Customer.id).where(visible_customers_clause(user))).scalars())
        if self.kind.name == "opportunities":
            self._load_pipelines()
        if self.kind.name == "leads":
            self._load_lead_sources()

    def _load_lead_sources(self):
        """Lead sources by name, key, and a built-in one's label in either language; the
        source "import" for rows without one; converted leads (read-only: a match skips)."""
        self.sources, self.source_names = {}, {}
        self.import_source = None
        for source in db.session.execute(select(LeadSource).order_by(LeadSource.position,
                                                                     LeadSource.id)).scalars():
            names = [source.name, source.key]
            for locale in ("en", "zh_CN"):
                with force_locale(locale):
                    if source.key in SOURCE_NAMES:
                        names.append(str(SOURCE_NAMES[source.key]))
            for name in names:
                if name:
                    self.sources.setdefault(_lower(name), source.id)
            self.source_names[source.id] = source.name or str(SOURCE_NAMES.get(source.key, source.key))
            if source.key == "import":
                self.import_source = source.id
        self.read_only = set(db.session.execute(
            select(Lead.id).where(Lead.status == "converted")).scalars())

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

    def _build_leads(self, plan: Plan) -> None:
        v = plan.values
        plan.columns = {key: v.get(key) for key in ("name", "company", "title", "phone", "mobile",
                                                    "email", "wechat", "region", "address")
                        if key in self.mapped}
        if v.get("status"):
            plan.columns["status"] = v["status"]
        source_id = None
        if v.get("source"):
            source_id = self.sources.get(v["source"].lower())
            if source_id is None:
                plan.problems.append(_("No lead source is called %(name)s.", name=v["source"]))
            plan.columns["source_id"] = source_id
        plan.extras = {"custom": self._custom_values(plan), "owner": self._owner(plan)}
        plan.keys = {"external": v.get("external_id"), "email": matching.email_key(v.get("email")),
                     "phone": matching.phone_key(v.get("phone")) or matching.phone_key(v.get("mobile")),
                     "name": matching.lead_name_key(v.get("name"), v.get("company"))}

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
        if self.on_match == "skip" or found in getattr(self, "read_only", ()):
            plan.action = "skip"  # a converted lead is read-only: a match on it skips
        elif self.editable is not None and found not in self.editable:
            plan.action = "reject"
            plan.problems.append(_("This record exists and belongs to someone else: you may not "
                                   "change it."))
        else:
            plan.action = "update"  # `Writer.compare` turns it into "unchanged" when nothing differs

