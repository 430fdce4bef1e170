"""Leads' rules and writes (no commit inside; the route commits or rolls back)."""
from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l

from crm.extensions import db
from crm.leads import scoring
from crm.models import (BANT_ANSWERS, BANT_KEYS, DEFAULT_DISQUALIFY_REASONS,
                        DEFAULT_LEAD_SOURCES, OPEN_STATUSES, DisqualifyReason, Lead, LeadSource,
                        Note, Tag, User, utcnow)
from crm.permissions import can_edit_lead
from crm.pools.services import check_level
from crm.rules import RuleError

LEAD_FIELDS = ("name", "company", "title", "phone", "mobile", "email", "wechat", "region",
               "address", "source_id", "owner_id")
# The lead form's: LEAD_FIELDS and the level (客户级别), which merges leave alone.
FORM_FIELDS = LEAD_FIELDS + ("level_id",)


def ensure_defaults() -> None:
    """The built-in lead sources and disqualify reasons, once (renamed rows keep their key)."""
    for model, keys in ((LeadSource, DEFAULT_LEAD_SOURCES),
                        (DisqualifyReason, DEFAULT_DISQUALIFY_REASONS)):
        have = set(db.session.execute(db.select(model.key)).scalars())
        for position, key in enumerate(keys):
            if key not in have:
                db.session.add(model(key=key, position=position))
    db.session.flush()


def check_editable(user, lead: Lead) -> None:
    """RuleError unless `user` may change the lead now (a converted lead is read-only)."""
    if lead.status == "converted":
        raise RuleError(_l("A converted lead is read-only."))
    if not can_edit_lead(user, lead):
        raise RuleError(_l("You may not edit this lead."))


def save_lead(user, lead: Lead | None, fields: dict, *, now: datetime | None = None) -> Lead:
    """Create (lead None: `user` is its creator and, unless one is chosen, its owner) or
    change a lead. Rules: a converted lead is read-only; a name is required; the search keys
    follow the names, phones and email; the score is recomputed in the same transaction."""
    if lead is None:
        lead = Lead(created_by=user, status="new", bant={}, custom={})
        if "owner_id" not in fields:
            fields = {**fields, "owner_id": user.id}
        db.session.add(lead)
    else:
        check_editable(user, lead)
    if not (fields.get("name") or lead.name or "").strip():
        raise RuleError(_l("Enter the person's name."), field="name")
    for key in LEAD_FIELDS:
        if key in fields:
            value = fields[key]
            setattr(lead, key, value.strip() if isinstance(value, str) else value)
    if "level_id" in fields:
        check_level(fields["level_id"])
        lead.level_id = fields["level_id"]
    lead.rebuild_search_index()
    db.session.flush()
    rescore(lead, now=now)
    return lead


def set_status(user, lead: Lead, status: str) -> None:
    """Move an open lead between the open statuses (disqualify and convert have their own)."""
    check_editable(user, lead)
    if status not in OPEN_STATUSES:
        raise RuleError(_l("Choose a status."), field="status")
    if lead.status == "disqualified":
        raise RuleError(_l("Reopen the lead first."), field="status")
    lead.status = status


def set_bant(user, lead: Lead, values: dict) -> None:
    """BANT: each of budget, authority, need, timeline yes / no / unknown with a note."""
    check_editable(user, lead)
    bant = {}
    for key in BANT_KEYS:
        answer = values.get(key) or "unknown"
        if answer not in BANT_ANSWERS:
            raise RuleError(_l("Choose yes, no or unknown."), field=key)
        bant[key] = answer
        bant[f"{key}_note"] = (values.get(f"{key}_note") or "").strip()[:500]
    lead.bant = bant
    if all(bant[key] == "yes" for key in BANT_KEYS) and lead.status in ("new", "contacted",
                                                                         "nurturing"):
        lead.status = "qualified"


def set_tags(user, lead: Lead, tags: list[Tag], *, now: datetime | None = None) -> None:
    """The lead's behaviour tags (only tags of behaviour groups); rescored."""
    check_editable(user, lead)
    if any(tag.group.kind != "behaviour" for tag in tags):
        raise RuleError(_l("Leads take behaviour tags only."), field="tag_ids")
    lead.tags = list(tags)
    db.session.flush()
    rescore(lead, now=now)


def add_note(user, lead: Lead, *, kind: str, body: str, now: datetime | None = None) -> Note:
    """A follow-up note on the lead, now (the lead page adds them through crm.notes.services,
    with a time and a next contact; this is for code that records one, e.g. a web form)."""
    check_editable(user, lead)
    if not (body or "").strip():
        raise RuleError(_l("Write what happened."), field="body")
    now = now or utcnow()
    note = Note(kind=kind, body=body.strip(), happened_at=now, author=user, lead=lead)
    db.session.add(note)
    note_changed(lead, now=now)
    return note


def note_changed(lead: Lead, *, now: datetime | None = None) -> None:
    """A note of the lead was added, changed or moved to the trash: the last contact is its
    latest note's time (none left: none), a new lead becomes contacted when it has a note,
    and the lead is rescored, all in this transaction (scoring.score_lead)."""
    scoring.score_lead(lead, now=now, notes_changed=True)
    if lead.last_contact_at is not None and lead.status == "new":
        lead.status = "contacted"


def rescore(lead: Lead, *, now: datetime | None = None) -> None:
    """The lead's score and its breakdown, recomputed (crm/leads/scoring.py)."""
    scoring.score_lead(lead, now=now)


def disqualify(user, lead: Lead, reason: DisqualifyReason | None, note: str | None = None) -> None:
    """Disqualify (无效): a reason is required; nothing is deleted."""
    check_editable(user, lead)
    if reason is None:
        raise RuleError(_l("Choose why the lead is disqualified."), field="reason_id")
    lead.status = "disqualified"
    lead.disqualify_reason = reason
    lead.disqualify_note = (note or "").strip() or None


def reopen(user, lead: Lead) -> None:
    """A disqualified lead goes back to nurturing; its reason is kept in the audit trail."""
    check_editable(user, lead)
    if lead.status != "disqualified":
        raise RuleError(_l("Only a disqualified lead can be reopened."))
    lead.status = "nurturing"
    lead.disqualify_reason = None
    lead.disqualify_note = None


def assign(user, lead: Lead, owner: User | None) -> None:
    """A manager (or the owner handing it on) gives the lead to `owner`."""
    check_editable(user, lead)
    lead.owner = owner
