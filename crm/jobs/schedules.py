"""Periodic tasks: what runs by itself at set times. The consumer's scheduler enqueues each
at its times (huey periodic tasks, registered by crm.jobs.runner.init_jobs); `flask --app app
crm run-schedules` runs every one of them once, now.

A schedule is a name, a huey crontab and a function that does the work in the application
context it is given and returns a one-line summary (the runner commits). Add yours to
SCHEDULES (the customer pool's rules, silence in intent scores...)."""
from dataclasses import dataclass
from typing import Callable

from huey import crontab

from crm.duplicates.refresh import refresh_all
from crm.exports.services import purge_old_files
from crm.jobs.services import reap_stale
from crm.leads.scoring import rescore_silent_leads
from crm.pools.sweep import run_sweep as sweep_pools
from crm.trash.queries import RETENTION_DAYS
from crm.trash.services import purge_expired


@dataclass(frozen=True)
class Schedule:
    name: str
    when: Callable          # a huey crontab(...)
    run: Callable[[], str]  # does the work, returns a summary
    description: str = ""


def purge_trash() -> str:
    """Delete for good what has been in the trash longer than 30 days."""
    batches, rows = purge_expired()
    return f"purged {batches} batch(es) older than {RETENTION_DAYS} days ({rows} rows)"


def fail_stopped_jobs() -> str:
    """Fail the running jobs whose worker stopped (no heartbeat for JOB_STALE_SECONDS)."""
    return f"{reap_stale()} stopped job(s) marked failed"


SCHEDULES = (
    Schedule("purge-trash", crontab(minute="15", hour="3"), purge_trash,
             "Daily at 03:15 UTC: the trash purge (as `crm purge-trash`)."),
    Schedule("purge-exports", crontab(minute="45", hour="3"), purge_old_files,
             "Daily at 03:45 UTC: export files older than EXPORT_KEEP_DAYS (7) are deleted."),
    Schedule("fail-stopped-jobs", crontab(minute="*/5"), fail_stopped_jobs,
             "Every 5 minutes: running jobs without a heartbeat are failed."),
    Schedule("rescore-silent-leads", crontab(minute="30", hour="2"), rescore_silent_leads,
             "Daily at 02:30 UTC: intent scores lose points for silence (once per period)."),
    Schedule("refresh-duplicates", crontab(minute="0", hour="3"), refresh_all,
             "Daily at 03:00 UTC: the likely duplicate pairs of customers and contacts."),
    Schedule("pool-sweep", crontab(minute="10", hour="2"), sweep_pools,
             "Daily at 02:10 UTC: the pools' reclaim rules return records and warn owners "
             "(crm/pools/sweep.py)."),
)
