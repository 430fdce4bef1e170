"""The writes of a job's life: queued → running → done or failed, and the reaper that fails a
running job whose heartbeat stopped (its worker was killed), keeping what it had done.

Progress, heartbeats and the end of a job are each written in a short transaction of their
own on a connection of their own (never the job's session, which may be reading a long list),
so that the job page, polling from another process, sees them as they happen. Every write to a
running job is conditional on it still running: a job the reaper failed stays failed, and its
task learns it (JobStopped) at its next progress write."""
from datetime import timedelta

from flask import current_app
from sqlalchemy import update

from crm.extensions import db
from crm.models import Job, utcnow

# The error of a job whose worker stopped (shown translated by the job page).
STOPPED = "stopped unexpectedly"


class JobStopped(Exception):
    """The job is no longer running (the reaper failed it): its task stops."""


def create_job(kind: str, user, params: dict | None = None, total: int | None = None) -> Job:
    """A queued job of `user` (the caller commits, then enqueues: crm.jobs.runner.enqueue)."""
    job = Job(kind=kind, user_id=user.id if user is not None else None, status="queued",
              params=params or {}, total=total, done=0)
    db.session.add(job)
    db.session.flush()
    return job


def _write(job_id: int, *conditions, **values) -> bool:
    """UPDATE the job in a transaction of its own; True when a row matched."""
    with db.engine.begin() as connection:
        result = connection.execute(
            update(Job.__table__).where(Job.__table__.c.id == job_id, *conditions).values(**values))
    return result.rowcount > 0


def start(job_id: int) -> bool:
    """Mark a queued job running (False: it is not queued any more, e.g. run twice)."""
    now = utcnow()
    return _write(job_id, Job.__table__.c.status == "queued", status="running", started_at=now,
                  heartbeat_at=now)


def progress(job_id: int, done: int, total: int | None = None) -> None:
    """Rows done so far (and the total when it becomes known); a heartbeat too."""
    values = {"done": done, "heartbeat_at": utcnow()}
    if total is not None:
        values["total"] = total
    if not _write(job_id, Job.__table__.c.status == "running", **values):
        raise JobStopped(job_id)


def heartbeat(job_id: int) -> bool:
    """The job is alive (written by the runner's heartbeat thread)."""
    return _write(job_id, Job.__table__.c.status == "running", heartbeat_at=utcnow())


def finish(job_id: int, result: dict | None = None, done: int | None = None) -> bool:
    """The job is done, with its result."""
    now = utcnow()
    values = {"status": "done", "result": result or {}, "finished_at": now, "heartbeat_at": now}
    if done is not None:
        values["done"] = done
    return _write(job_id, Job.__table__.c.status == "running", **values)


def fail(job_id: int, error: str) -> bool:
    """The job failed with `error` (what it did so far stays in done / total)."""
    now = utcnow()
    return _write(job_id, Job.__table__.c.status.in_(("queued", "running")), status="failed",
                  error=error[:2000], finished_at=now)


def reap_stale(now=None, job_id: int | None = None) -> int:
    """Fail every running job (or only `job_id`) whose heartbeat is older than
    JOB_STALE_SECONDS: its worker stopped (killed, a restart) and it will never finish. It is
    shown as failed, "stopped unexpectedly", with the rows it had done. How many it failed."""
    now = now or utcnow()
    table = Job.__table__
    cutoff = now - timedelta(seconds=current_app.config["JOB_STALE_SECONDS"])
    conditions = [table.c.status == "running", db.or_(
        table.c.heartbeat_at < cutoff,
        db.and_(table.c.heartbeat_at.is_(None), table.c.started_at < cutoff))]
    if job_id is not None:
        conditions.append(table.c.id == job_id)
    with db.engine.begin() as connection:
        result = connection.execute(update(table).where(*conditions).values(
            status="failed", error=STOPPED, finished_at=now))
    return result.rowcount
