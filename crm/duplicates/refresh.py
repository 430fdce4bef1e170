"""The refresh of the precomputed likely pairs (duplicate_pairs): over every record of a type
(visibility applies when the page reads them, not here), in one pass of blocking and scoring
(crm.duplicates.blocking). A background job ("duplicates", the refresh button) and a nightly
periodic task (`refresh-duplicates`) run it; the caller commits."""
from __future__ import annotations

from sqlalchemy import delete, insert, select

from crm.duplicates.blocking import entry, find_pairs
from crm.extensions import db
from crm.models import Contact, Customer, DuplicatePair, Lead, utcnow

CHUNK = 5000


ENTITIES = ("customer", "contact", "lead")


def _entries(entity: str) -> list:
    """What is compared of every record of `entity`. A lead: the person's name with their
    company (two 王伟 at two companies are not alike), its phone and mobile, its email;
    converted leads are left out (read-only, never merged)."""
    if entity == "lead":
        rows = db.session.execute(select(Lead.id, Lead.name, Lead.company, Lead.phone,
                                         Lead.mobile, Lead.email)
                                  .where(Lead.status != "converted")).all()
        return [entry(i, f"{name or ''} {company or ''}", [phone, mobile], [email])
                for i, name, company, phone, mobile, email in rows]
    model = Customer if entity == "customer" else Contact
    rows = db.session.execute(select(model.id, model.name, model.phone, model.email)).all()
    return [entry(i, name, [phone], [email]) for i, name, phone, email in rows]


def refresh(entity: str, report=None) -> int:
    """Recompute the pairs of `entity` ("customer", "contact", "lead"): returns how many."""
    entries = _entries(entity)
    if report:
        report(0, len(entries))
    pairs = find_pairs(entries)
    if report:  # before writing: on SQLite the progress is written on a connection of its own
        report(len(entries), len(entries))
    now = utcnow()
    db.session.execute(delete(DuplicatePair).where(DuplicatePair.entity == entity))
    for start in range(0, len(pairs), CHUNK):
        db.session.execute(insert(DuplicatePair), [
            {"entity": entity, "low_id": p.low_id, "high_id": p.high_id, "score": p.score,
             "reasons": ",".join(sorted(p.reasons)), "computed_at": now}
            for p in pairs[start:start + CHUNK]])
    return len(pairs)


def run_refresh_job(job, report) -> dict:
    """The "duplicates" job's work: refresh the pairs of job.params["entity"]."""
    entity = (job.params or {}).get("entity", "customer")
    count = refresh(entity, report)
    db.session.commit()  # the runner rolls back what the work left open
    return {"pairs": count}


def refresh_job_title(job) -> str:
    """The job page's title."""
    from flask_babel import gettext as _
    entity = (job.params or {}).get("entity")
    if entity == "contact":
        return _("Find duplicate contacts")
    if entity == "lead":
        return _("Find duplicate leads")
    return _("Find duplicate customers")


def refresh_all() -> str:
    """The nightly periodic task: every record type's pairs."""
    counts = {entity: refresh(entity) for entity in ENTITIES}
    db.session.commit()
    return ", ".join(f"{n} {entity} pair(s)" for entity, n in counts.items())
