"""Reads of jobs: one job after its permission check, and what its page shows."""
from datetime import timedelta
from pathlib import Path

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crm.extensions import db
from crm.jobs.services import STOPPED, reap_stale
from crm.models import Job, utcnow
from crm.permissions import can_download_job_file, can_see_job, checked

STATUS_LABELS = {"queued": _l("Waiting"), "running": _l("Running"), "done": _l("Done"),
                 "failed": _l("Failed")}
# A job queued this long without starting: the page says a worker may not be running.
WAITING_HINT_AFTER = timedelta(seconds=30)


def job_or_404(job_id: int) -> Job:
    """The job, after the check every page, fragment and download makes (404 missing, 403
    not the owner's nor an admin's). A running job whose heartbeat stopped is failed first
    ("stopped unexpectedly"), so that it is never shown running forever."""
    job = checked(db.session.get(Job, job_id), can_see_job)
    if job.status == "running" and reap_stale(job_id=job.id):
        db.session.refresh(job)
    return job


def job_file_path(job: Job) -> Path | None:
    """Where the job's file is, inside the instance folder (None: no file, or a path that
    would leave the instance folder)."""
    info = job.file
    if not info or not info.get("path"):
        return None
    instance = Path(current_app.instance_path).resolve()
    path = (instance / info["path"]).resolve()
    return path if instance in path.parents else None


def _file_exists(job: Job) -> bool:
    path = job_file_path(job)
    return path is not None and path.is_file()


def page_context(job: Job) -> dict:
    """The job page and its polled status block."""
    kind = current_app.extensions["crm_jobs"].kinds.get(job.kind)
    percent = None
    if job.total:
        percent = min(100, round(100 * (job.done or 0) / job.total))
    elif job.status == "done":
        percent = 100
    return {
        "job": job,
        "title": kind.title(job) if kind is not None else job.kind,
        "status_label": STATUS_LABELS.get(job.status, job.status),
        "percent": percent,
        "stopped": job.status == "failed" and job.error == STOPPED,
        "waiting_long": job.status == "queued" and job.created_at is not None
        and utcnow() - job.created_at > WAITING_HINT_AFTER,
        "file_gone": job.status == "done" and job.file is not None and not _file_exists(job),
        "download_url": (url_for("jobs.download", job_id=job.id)
                         if job.status == "done" and job.file and _file_exists(job)
                         and can_download_job_file(current_user, job) else None),
        "back_url": (job.params or {}).get("back"),
    }
