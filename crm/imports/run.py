"""Running an import: the preview's scan (every row planned, nothing written) and the job
"import" (`run_import`, registered in create_app's JOB_KINDS), the only code of the import
that commits.

Mode "valid" commits each chunk with the import's `last_row` in the same transaction, so
that a crash leaves whole chunks only and a resumed run starts after `last_row`; mode "all"
writes everything in one transaction and rolls it all back when any row is rejected (or on a
crash)."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import delete, update

from crm.extensions import db
from crm.imports.bulk import insert_rows
from crm.imports.kinds import KINDS
from crm.imports.planning import Plan, Planner
from crm.imports.readers import FileRefused, data_rows
from crm.imports.services import ImportError_, file_path, layout_of
from crm.imports.writing import Writer
from crm.models import ImportBatch, ImportReject, utcnow

CHUNK = 1000
PREVIEW_ROWS = 20

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

