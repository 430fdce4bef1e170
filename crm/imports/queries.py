"""Reads of the import: one import after its permission check, the user's recent imports,
what its pages show, and its rejected rows as a file in the original layout."""
import csv
import io
from datetime import date
from decimal import Decimal

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from crm.extensions import db
from crm.fields.queries import context_for, locale_id
from crm.fields.types import type_of
from crm.imports.kinds import KINDS
from crm.imports.readers import ENCODING_LABELS
from crm.jobs.services import reap_stale
from crm.models import ImportBatch, ImportRecord, ImportReject, Job
from crm.permissions import can_see_import, can_undo_import, checked

RECENT = 10
ACTION_LABELS = {"create": _l("New"), "update": _l("Update"), "unchanged": _l("Unchanged"),
                 "skip": _l("Duplicate"), "duplicate": _l("Duplicate"), "reject": _l("Rejected")}
STATUS_LABELS = {"draft": _l("Not started"), "queued": _l("Waiting"), "running": _l("Running"),
                 "done": _l("Done"), "failed": _l("Stopped"), "undone": _l("Undone")}


def import_or_404(import_id: int) -> ImportBatch:
    """The import (404 missing, 403 another user's unless admin). When its job stopped (a
    crash, a kill, a restart) the import says so: failed, resumable or rolled back."""
    imp = checked(db.session.get(ImportBatch, import_id), can_see_import)
    if imp.status in ("queued", "running") and imp.job_id is not None:
        job = db.session.get(Job, imp.job_id)
        if job is not None and job.status == "running":
            reap_stale(job_id=job.id)
            db.session.refresh(job)
        if job is None or job.status == "failed":
            imp.status = "failed"
            db.session.commit()
        elif job.status == "done" and imp.status != "done":
            db.session.refresh(imp)
    return imp


def recent_imports(user) -> list[ImportBatch]:
    return db.session.execute(select(ImportBatch).where(ImportBatch.user_id == user.id)
                              .order_by(ImportBatch.id.desc()).limit(RECENT)).scalars().all()


def status_label(imp: ImportBatch) -> str:
    return str(STATUS_LABELS.get(imp.status, imp.status))


def reject_count(imp: ImportBatch) -> int:
    return db.session.execute(select(func.count(ImportReject.id)).where(
        ImportReject.import_id == imp.id)).scalar_one()


def created_count(imp: ImportBatch) -> int:
    return db.session.execute(select(func.count(ImportRecord.id)).where(
        ImportRecord.import_id == imp.id, ImportRecord.action == "create")).scalar_one()


def page_context(imp: ImportBatch, user) -> dict:
    """The import's page and its polled status block."""
    job = db.session.get(Job, imp.job_id) if imp.job_id else None
    percent = None
    if job is not None and job.total:
        percent = min(100, round(100 * (job.done or 0) / job.total))
    counts = imp.counts or {}
    stopped = imp.status == "failed"
    rolled_back = stopped and imp.mode == "all"
    return {
        "imp": imp, "job": job, "kind": KINDS[imp.kind], "percent": percent,
        "active": imp.status in ("queued", "running"),
        "status_label": status_label(imp), "counts": counts,
        "skipped": counts.get("skipped", 0) + counts.get("duplicates", 0) + counts.get("unchanged", 0),
        "rejects": reject_count(imp) if imp.status not in ("draft", "queued", "running") else 0,
        "created": created_count(imp) if imp.status in ("done", "failed") else 0,
        "stopped": stopped, "rolled_back": rolled_back,
        "resumable": stopped and imp.mode == "valid" and job is not None and job.status == "failed",
        "can_undo": can_undo_import(user, imp) and imp.undone_at is None
        and imp.status in ("done", "failed"),
        "encoding_label": ENCODING_LABELS.get(imp.encoding or "", imp.encoding),
        "job_error": job.error if job is not None and job.status == "failed" else None,
    }


def reject_filename(imp: ImportBatch) -> str:
    stem = imp.filename.rsplit(".", 1)[0] or "import"
    return f"{stem}-rejected.csv"


def rejects_csv(imp: ImportBatch):
    """The rejected rows as CSV in the file's own layout (its header and columns), a reason
    column last; GB18030 when the file was, else UTF-8 with a BOM (Excel reads both)."""
    codec = "gb18030" if imp.encoding == "gb18030" else "utf-8"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if codec == "utf-8":
        buffer.write("\ufeff")
    header = list(imp.header or [])
    writer.writerow(header + [_("Reason rejected")])
    yield buffer.getvalue().encode(codec, errors="replace")
    rows = db.session.execute(select(ImportReject.cells, ImportReject.reason).where(
        ImportReject.import_id == imp.id).order_by(ImportReject.row).execution_options(yield_per=1000))
    for chunk in rows.partitions(1000):
        buffer.seek(0)
        buffer.truncate()
        for cells, reason in chunk:
            cells = list(cells) + [""] * (len(header) - len(cells))
            writer.writerow(cells[: max(len(header), len(cells))] + [reason])
        yield buffer.getvalue().encode(codec, errors="replace")


def shown_value(value, target, user_names: dict) -> str:
    """A planned value as the preview shows it."""
    if value is None or value == "" or value == []:
        return ""
    if target.parse == "owner":
        return user_names.get(value, str(value))
    if target.parse == "choice":
        labels = target.choices.get(value)
        return labels[1] if labels and len(labels) > 1 else str(value)
    if target.custom is not None:
        return type_of(target.custom.type).format(value, locale_id(), context_for(target.custom))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def back_url(imp: ImportBatch) -> str:
    return url_for("imports.show", import_id=imp.id)
