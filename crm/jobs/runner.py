"""huey, wired by create_app from the configuration (nothing is built at import time): the
queue, the tasks that run each kind of job, the periodic tasks, and the consumers.

- `SqliteHuey` in instance/huey.sqlite3 by default; `RedisHuey` when REDIS_URL is set.
  `JOBS_IMMEDIATE` (tests) runs a job inside the call that enqueues it.
- A kind of job is a function `work(job, report)` registered under its kind (create_app's
  JOB_KINDS): it runs in an application context of its own, as the job's user (current_user,
  their language and time zone, as in the request that asked for it), calls
  `report(done, total)` as it goes and returns the job's result (a dict). An exception fails
  the job with its message; a heartbeat thread keeps the job alive meanwhile.
- A periodic task is a crm.jobs.schedules.Schedule; the consumer's scheduler enqueues it
  at its times, `crm run-schedules` runs them all once.
- Consumers: `flask --app app crm worker` (its own process, production) and, for the SQLite
  default, a thread beside `python3 app.py`'s server (start_consumer_thread).
"""
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from flask import current_app, g
from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

from crm.extensions import db
from crm.jobs import services
from crm.models import Job, User

log = logging.getLogger("crm.jobs")

EXTENSION = "crm_jobs"


@dataclass(frozen=True)
class JobKind:
    """A kind of job: `work(job, report) -> result dict`, and `title(job)`, the job page's
    heading in the current language."""
    work: Callable
    title: Callable


@dataclass
class Jobs:
    """What init_jobs built: the huey instance, the kinds and one huey task per kind, the
    schedules."""
    huey: Huey
    kinds: dict = field(default_factory=dict)
    tasks: dict = field(default_factory=dict)
    schedules: tuple = ()


def build_huey(config, instance_path: str) -> Huey:
    """The huey instance the configuration asks for."""
    immediate = bool(config.get("JOBS_IMMEDIATE"))
    if config.get("REDIS_URL"):
        return RedisHuey("crm", url=config["REDIS_URL"], immediate=immediate)
    if immediate:  # huey keeps an immediate queue in memory: no file
        return SqliteHuey("crm", immediate=True)
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    return SqliteHuey("crm", filename=str(Path(instance_path) / "huey.sqlite3"))


def init_jobs(app, kinds: dict, schedules=()) -> Jobs:
    """Build huey for `app` and register a task per kind of job and per schedule."""
    jobs = Jobs(build_huey(app.config, app.instance_path), kinds=dict(kinds),
                schedules=tuple(schedules))
    for name, kind in jobs.kinds.items():
        jobs.tasks[name] = jobs.huey.task(name=f"job_{name}")(_job_task(app, kind.work))
    for schedule in jobs.schedules:
        jobs.huey.periodic_task(schedule.when, name=f"schedule_{schedule.name.replace('-', '_')}")(
            _schedule_task(app, schedule))
    app.extensions[EXTENSION] = jobs
    return jobs


def jobs_of(app=None) -> Jobs:
    return (app or current_app).extensions[EXTENSION]


def enqueue(job: Job) -> None:
    """Send a committed job to the queue (in immediate mode: run it now)."""
    jobs_of().tasks[job.kind](job.id)


# --- running a job ---------------------------------------------------------------------------

@contextmanager
def acting_as(app, user):
    """A request context of `app` in which `user` is the signed-in user: the list queries'
    visibility rules, the language and the time zone are theirs, as in their own request."""
    with app.test_request_context("/"):
        # Flask-Login's current_user reads g._login_user first (no session, no cookie).
        g._login_user = user if user is not None else app.login_manager.anonymous_user()
        yield


class _Heartbeat(threading.Thread):
    """Writes the job's heartbeat every JOB_HEARTBEAT_SECONDS while its task runs, so that a
    slow step (a long first query) is not taken for a dead worker."""

    def __init__(self, app, job_id: int):
        super().__init__(name=f"job-{job_id}-heartbeat", daemon=True)
        self.app, self.job_id = app, job_id
        self.every = app.config["JOB_HEARTBEAT_SECONDS"]
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(self.every):
            try:
                with self.app.app_context():
                    if not services.heartbeat(self.job_id):
                        return
            except Exception:  # a busy database: the next beat tries again
                log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)


def run_job(app, work, job_id: int) -> None:
    """Run one job: running, `work`, then done or failed, each written as it happens."""
    with app.app_context():
        if not services.start(job_id):
            log.info("job %s is not queued any more; not run", job_id)
            return
        job = db.session.get(Job, job_id)
        user = db.session.get(User, job.user_id) if job.user_id is not None else None
        beat = _Heartbeat(app, job_id)
        beat.start()
        try:
            with acting_as(app, user):
                result = work(job, lambda done, total=None: services.progress(job_id, done, total))
                db.session.rollback()  # end the job's reads before the result is written
            services.finish(job_id, result)
        except services.JobStopped:
            log.warning("job %s was stopped while running", job_id)
        except Exception as exc:  # the job fails with its message; the worker goes on
            log.exception("job %s failed", job_id)
            db.session.rollback()
            services.fail(job_id, str(exc) or exc.__class__.__name__)
        finally:
            beat.stopped.set()
            db.session.remove()


def _job_task(app, work):
    def job_task(job_id: int):
        run_job(app, work, job_id)
    job_task.__doc__ = work.__doc__
    return job_task


def _schedule_task(app, schedule):
    def schedule_task():
        run_schedule(app, schedule)
    schedule_task.__doc__ = schedule.__doc__
    return schedule_task


def run_schedule(app, schedule) -> str:
    """Run one periodic task now, in an application context of its own; its summary."""
    with app.app_context():
        try:
            summary = schedule.run()
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("periodic task %s failed", schedule.name)
            raise
        finally:
            db.session.remove()
    log.info("periodic task %s: %s", schedule.name, summary)
    return summary


# --- consumers -------------------------------------------------------------------------------

class _ThreadConsumer(Consumer):
    """A consumer that runs beside a server in the same process: it leaves the signals (Ctrl-C)
    to the server."""

    def _set_signal_handlers(self):
        pass


def start_consumer_thread(app, workers: int | None = None):
    """`python3 app.py`: a consumer (worker threads and the periodic scheduler) in this process,
    for the SQLite default. None with REDIS_URL (production runs `crm worker`) or in
    immediate mode."""
    jobs = jobs_of(app)
    if app.config.get("REDIS_URL") or jobs.huey.immediate:
        return None
    consumer = _ThreadConsumer(jobs.huey, workers=workers or app.config["JOB_WORKERS"],
                               worker_type="thread", periodic=True)
    consumer.start()
    return consumer


def create_consumer(app, workers: int | None = None, worker_type: str = "thread") -> Consumer:
    """The consumer of `crm worker` (its own process; it handles SIGINT/SIGTERM)."""
    return jobs_of(app).huey.create_consumer(
        workers=workers or app.config["JOB_WORKERS"], worker_type=worker_type, periodic=True)
