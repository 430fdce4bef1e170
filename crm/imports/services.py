"""The import's rules and writes around a run: the mapping of an import's columns (per file
layout, remembered), the undo of an import, and the import's names and paths. Nothing here
commits. The run itself is split by job (docs/import.md):

- crm/imports/planning.py: a row becomes a `Plan` (values, problems, action), `Planner`;
- crm/imports/writing.py: a chunk of plans written with bulk statements, `Writer`;
- crm/imports/bulk.py: the bulk INSERTs (COPY on PostgreSQL, executemany on SQLite);
- crm/imports/run.py: the preview scan and the job "import" (`run_import`), the only code
  that commits (a chunk at a time in mode "valid").

Rules of who: everyone signed in may import (crm.permissions.can_import); a salesperson's
rows are theirs (an owner column naming someone else is a problem of the row), and they
update only records they may edit. The audit trail holds every created and changed record
under the import's batch id (field "import"), and `undo` moves the records it created to the
trash as one batch."""
from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from crm.audit.services import record_many
from crm.extensions import db
from crm.imports.kinds import KINDS
from crm.imports.readers import Layout, read_header
from crm.models import (Contact, Customer, ImportBatch, ImportMapping, ImportRecord, Lead, Opportunity,
                        utcnow)
from crm.rules import RuleError
from crm.trash.filters import INCLUDE_DELETED

ON_MATCH = ("update", "skip", "create")
MODES = ("valid", "all")
IMPORTS_DIR = "imports"

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
    kinds = {"customers": Customer, "contacts": Contact, "opportunities": Opportunity, "leads": Lead}
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
