"""The intent score (意向度评分) of a lead, explained line by line.

score = base + Σ behaviour-tag rules + Σ (one per note of a scored kind) − silence, capped to
0..100. Silence: for every full `days` days since the last contact (the last follow-up note,
else the lead's creation) the rule's points once; the score therefore depends on the time
(`now`, injected by tests and the scheduled job), not on how often it was computed, so a
period's penalty is applied once however often the job runs."""
from __future__ import annotations

import json
from collections import defaultdict, namedtuple
from datetime import datetime

from sqlalchemy.orm import joinedload

from crm.extensions import db
from crm.models import Lead, Note, ScoringRule, lead_tags, utcnow


def rules() -> list[ScoringRule]:
    """The rules with their tags (one query)."""
    return list(db.session.execute(db.select(ScoringRule).options(joinedload(ScoringRule.tag))
                                   .order_by(ScoringRule.id)).scalars())


def score_lead(lead: Lead, *, now: datetime | None = None, notes_changed: bool = False) -> None:
    """One lead's score with the breakdown, set on the lead (written by its own UPDATE at the
    next flush): the rules, its tags and its notes in three queries, whatever their number.
    `notes_changed`: its last contact becomes its latest note's time (none left: none)
    first. A converted lead keeps its score (read-only)."""
    now = now or utcnow()
    db.session.flush()
    notes = db.session.execute(db.select(Note.id, Note.kind, Note.happened_at)
                               .where(Note.lead_id == lead.id).order_by(Note.id)).all()
    if notes_changed:
        lead.last_contact_at = max((n.happened_at for n in notes), default=None)
    if lead.status == "converted":
        return
    all_rules = rules()
    tag_ids = set(db.session.execute(db.select(lead_tags.c.tag_id)
                                     .where(lead_tags.c.lead_id == lead.id)).scalars())
    tag_names = {rule.tag_id: rule.tag.name for rule in all_rules if rule.tag is not None}
    lead.score, lead.score_parts = compute(lead.created_at, lead.last_contact_at, tag_ids,
                                           [(n.id, n.kind) for n in notes], all_rules,
                                           tag_names, now)


# A rule as compute() reads it: plain values, read once for a whole recompute (an ORM
# attribute costs a descriptor call each time, 200,000 leads times every rule).
Rule = namedtuple("Rule", "kind points tag_id note_kind days")


def plain(all_rules) -> list[Rule]:
    return [Rule(r.kind, r.points, r.tag_id, r.note_kind, r.days) for r in all_rules]


def compute(lead_created_at, last_contact_at, tag_ids, notes, all_rules, tag_names,
            now: datetime) -> tuple[int, list[dict]]:
    """(score, parts) from the lead's facts: `tag_ids`, `notes` [(id, kind)]; `all_rules`
    ScoringRule rows or their plain() Rules."""
    parts: list[dict] = []
    total = 0
    for rule in all_rules:
        if rule.kind == "base":
            parts.append({"kind": "base", "points": rule.points, "label": "base", "ref": None})
        elif rule.kind == "tag" and rule.tag_id in tag_ids:
            parts.append({"kind": "tag", "points": rule.points,
                          "label": tag_names.get(rule.tag_id, ""), "ref": rule.tag_id})
        elif rule.kind == "note_kind":
            for note_id, kind in notes:
                if kind == rule.note_kind:
                    parts.append({"kind": "note", "points": rule.points, "label": kind,
                                  "ref": note_id})
        elif rule.kind == "silence" and rule.days:
            since = last_contact_at or lead_created_at or now
            periods = max(0, (now - since).days // rule.days)
            if periods:
                parts.append({"kind": "silence", "points": -abs(rule.points) * periods,
                              "label": f"{rule.days}", "ref": periods})
    total = sum(part["points"] for part in parts)
    return max(0, min(100, total)), parts


def recompute(lead_ids: list[int] | None = None, now: datetime | None = None,
              progress=None, chunk: int = 2000) -> int:
    """Recompute the scores of `lead_ids` (None: every open lead) with one query per chunk for
    tags and one for notes (never one per lead); the caller commits. Returns how many.

    Every lead: a chunk is a range of ids (lead_id BETWEEN first AND last, read from the
    indexes on lead_tags and notes.lead_id), not a list of 2,000 bound ids."""
    now = now or utcnow()
    orm_rules = rules()
    tag_names = {rule.tag_id: rule.tag.name for rule in orm_rules if rule.tag is not None}
    all_rules = plain(orm_rules)
    stmt = db.select(Lead.id, Lead.created_at, Lead.last_contact_at).where(
        Lead.status != "converted")
    if lead_ids is not None:
        stmt = stmt.where(Lead.id.in_(lead_ids))
    rows = db.session.execute(stmt.order_by(Lead.id)).all()
    notes_table = Note.__table__
    done = 0
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        if lead_ids is None:
            tag_of = lead_tags.c.lead_id.between(part[0].id, part[-1].id)
            note_of = notes_table.c.lead_id.between(part[0].id, part[-1].id)
        else:
            ids = [row.id for row in part]
            tag_of, note_of = lead_tags.c.lead_id.in_(ids), notes_table.c.lead_id.in_(ids)
        tags = defaultdict(set)
        for lead_id, tag_id in db.session.execute(
                db.select(lead_tags.c.lead_id, lead_tags.c.tag_id).where(tag_of)):
            tags[lead_id].add(tag_id)
        notes = defaultdict(list)
        for note_id, lead_id, kind in db.session.execute(
                db.select(notes_table.c.id, notes_table.c.lead_id, notes_table.c.kind)
                .where(note_of, notes_table.c.deleted_at.is_(None))
                .order_by(notes_table.c.id)):
            notes[lead_id].append((note_id, kind))
        values = []
        for row in part:
            score, parts = compute(row.created_at, row.last_contact_at, tags[row.id],
                                   notes[row.id], all_rules, tag_names, now)
            values.append((score, json.dumps(parts, separators=(",", ":")), row.id))
        if values:
            _write_scores(values)
        done += len(part)
        if progress is not None:
            progress(done, len(rows))
    db.session.expire_all()
    return done


def _write_scores(values: list[tuple[int, str, int]]) -> None:
    """(score, parts as JSON text, lead id) rows, written by one executemany UPDATE through
    the driver: SQLAlchemy's per-row parameter processing (type processors, JSON encoding,
    the updated_at default) cost more than the UPDATE itself at 200,000 rows. A rescore is
    not an edit: updated_at and version stay."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        sql = "UPDATE leads SET score = %s, score_parts = %s::jsonb WHERE id = %s"
    else:
        sql = "UPDATE leads SET score = ?, score_parts = ? WHERE id = ?"
    connection.exec_driver_sql(sql, values)


def run_rescore_job(job, report) -> dict:
    """The background job after a rule change: every open lead rescored, by chunks, with its
    progress (crm/jobs); committed chunk by chunk so the page shows the progress."""
    def progress(done, total):
        db.session.commit()
        report(done, total)
    count = recompute(progress=progress)
    db.session.commit()
    return {"leads": count}


def rescore_job_title(job) -> str:
    from flask_babel import gettext as _
    return _("Rescoring every lead")


def rescore_silent_leads() -> str:
    """The scheduled job: silence lowers scores as days pass (once per period, see above)."""
    count = recompute()
    return f"rescored {count} lead(s)"
