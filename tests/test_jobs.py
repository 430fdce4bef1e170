"""Background jobs (crm/jobs/): a job's life (queued → running → done, with its progress
visible while it runs; failed with its error; a stopped worker's job failed as "stopped
unexpectedly"), the job page and its polled status block (the owner's and admins' only), the
consumers (an in-test consumer thread on SQLite, and on Redis), and the periodic tasks."""
import os
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm import create_app
from crm.extensions import db as _db
from crm.jobs import runner, services
from crm.jobs.runner import build_huey, enqueue, jobs_of, run_job, start_consumer_thread
from crm.models import Customer, Job, User, utcnow
from crm.trash.services import trash
from tests.conftest import hx


def _job(app, user_id, kind="export", **fields):
    with app.app_context():
        job = Job(kind=kind, user_id=user_id, status=fields.pop("status", "queued"),
                  params=fields.pop("params", {"list": "customers", "format": "csv"}), **fields)
        _db.session.add(job)
        _db.session.commit()
        return job.id


def _state(app, job_id):
    """The job as another process sees it: read on a connection of its own."""
    with app.app_context(), _db.engine.connect() as connection:
        return connection.execute(select(Job.__table__).where(Job.__table__.c.id == job_id)).one()


# --- the lifecycle ----------------------------------------------------------------------------

def test_a_job_runs_with_its_progress_seen_from_outside(app, seller):
    job_id = _job(app, seller.id)
    seen = []

    def work(job, report):
        seen.append(_state(app, job_id))
        report(0, 3)
        seen.append(_state(app, job_id))
        report(2)
        seen.append(_state(app, job_id))
        return {"rows": 3}

    assert _state(app, job_id).status == "queued"
    run_job(app, work, job_id)
    assert [(s.status, s.done, s.total) for s in seen] == [
        ("running", 0, None), ("running", 0, 3), ("running", 2, 3)]
    assert seen[0].started_at is not None and seen[0].heartbeat_at is not None
    final = _state(app, job_id)
    assert final.status == "done" and final.result == {"rows": 3}
    assert final.finished_at is not None and final.error is None


def test_a_job_runs_as_its_user(app, seller):
    job_id = _job(app, seller.id)
    who = {}

    def work(job, report):
        from flask_login import current_user
        from crm.l10n import current_locale
        who.update(id=current_user.id, locale=current_locale())
        return {}

    run_job(app, work, job_id)
    assert who == {"id": seller.id, "locale": "en"}


def test_a_failing_job_is_failed_with_its_error_and_what_it_did(app, seller):
    job_id = _job(app, seller.id)

    def work(job, report):
        report(4, 10)
        raise ValueError("the disk is full")

    run_job(app, work, job_id)
    state = _state(app, job_id)
    assert state.status == "failed" and state.error == "the disk is full"
    assert (state.done, state.total) == (4, 10) and state.finished_at is not None


def test_a_job_is_run_once(app, seller):
    job_id = _job(app, seller.id)
    calls = []
    run_job(app, lambda job, report: calls.append(1) or {}, job_id)
    run_job(app, lambda job, report: calls.append(2) or {}, job_id)  # a duplicate delivery
    assert calls == [1] and _state(app, job_id).status == "done"


def test_a_job_whose_heartbeat_stopped_is_failed_and_says_what_it_did(app, client, login, seller):
    old = utcnow() - timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 5)
    stale = _job(app, seller.id, status="running", started_at=old, heartbeat_at=old, done=120,
                 total=500)
    fresh = _job(app, seller.id, status="running", started_at=old, heartbeat_at=utcnow(), done=7,
                 total=500)
    login(seller)
    html = client.get(f"/jobs/{stale}").get_data(as_text=True)
    assert "stopped unexpectedly" in html and "120" in html and "every 1s" not in html
    state = _state(app, stale)
    assert state.status == "failed" and state.error == services.STOPPED and state.done == 120
    html = client.get(f"/jobs/{fresh}").get_data(as_text=True)
    assert _state(app, fresh).status == "running" and 'hx-trigger="every 1s"' in html


def test_a_stopped_job_stays_failed_when_its_task_comes_back(app, seller):
    job_id = _job(app, seller.id)

    def work(job, report):
        with app.app_context():  # meanwhile the reaper fails it (its heartbeat was too old)
            services.reap_stale(now=utcnow() + timedelta(hours=1))
        report(1)  # the task learns it here (JobStopped) and stops
        raise AssertionError("not reached")

    run_job(app, work, job_id)
    state = _state(app, job_id)
    assert state.status == "failed" and state.error == services.STOPPED


def test_the_periodic_reaper_fails_only_stale_running_jobs(app, seller):
    old = utcnow() - timedelta(minutes=10)
    stale = _job(app, seller.id, status="running", started_at=old, heartbeat_at=old)
    queued = _job(app, seller.id)
    done = _job(app, seller.id, status="done", started_at=old, heartbeat_at=old)
    result = app.test_cli_runner().invoke(args=["crm", "run-schedules", "--only", "fail-stopped-jobs"])
    assert result.exit_code == 0, result.output
    assert "1 stopped job(s)" in result.output
    assert [_state(app, i).status for i in (stale, queued, done)] == ["failed", "queued", "done"]


# --- the job page -------------------------------------------------------------------------------

def test_the_job_page_polls_while_running_and_stops_when_done(app, client, login, seller):
    job_id = _job(app, seller.id, status="running", started_at=utcnow(), heartbeat_at=utcnow(),
                  done=30, total=120)
    login(seller)
    page = client.get(f"/jobs/{job_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html
    assert 'hx-trigger="every 1s"' in html and '<progress' in html and 'value="25"' in html
    assert "30 of 120 rows" in html
    fragment = client.get(f"/jobs/{job_id}", headers=hx("job-status"))
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and body.strip().startswith("<section")
    with app.app_context():
        services.finish(job_id, {"rows": 120}, done=120)
    body = client.get(f"/jobs/{job_id}", headers=hx("job-status")).get_data(as_text=True)
    assert "every 1s" not in body and "120 of 120 rows" in body and 'value="100"' in body


def test_the_job_page_in_chinese(app, client, login, make_user):
    chinese = make_user("sales", email="zh@example.com", name="张三", language="zh_CN")
    job_id = _job(app, chinese.id, status="failed", error="磁盘已满", done=3, total=9)
    login(chinese)
    html = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "导出：客户（CSV）" in html and "失败" in html and "磁盘已满" in html


def test_only_the_owner_and_admins_see_a_job(app, client, login, seller, make_user, admin):
    other = make_user("sales", email="other@example.com", name="Other")
    manager = make_user("manager", email="boss@example.com", name="Boss")
    job_id = _job(app, seller.id, status="done", result={"rows": 1})
    for user, status in ((other, 403), (manager, 403), (admin, 200), (seller, 200)):
        login(user)
        assert client.get(f"/jobs/{job_id}").status_code == status, user.email
        assert client.get(f"/jobs/{job_id}", headers=hx("job-status")).status_code == status
    assert client.get("/jobs/999999").status_code == 404


# --- consumers ----------------------------------------------------------------------------------

def test_huey_is_built_from_the_configuration(app, tmp_path):
    huey = build_huey({}, str(tmp_path))
    assert type(huey).__name__ == "SqliteHuey" and not huey.immediate
    assert (tmp_path / "huey.sqlite3").exists()
    huey = build_huey({"REDIS_URL": "redis://127.0.0.1:6379/15"}, str(tmp_path))
    assert type(huey).__name__ == "RedisHuey"
    assert jobs_of(app).huey.immediate  # the tests' app (JOBS_IMMEDIATE)
    periodic = {task.__name__ for task in jobs_of(app).huey._registry._periodic_tasks}
    assert {"schedule_purge_trash", "schedule_fail_stopped_jobs"} <= periodic


def _consumer_app(database_url, **config):
    """A second app on the tests' database whose jobs go through a real queue."""
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                       "JOBS_IMMEDIATE": False, "LOGIN_THROTTLE_ENABLED": False, **config})


def _export_through_a_consumer(app, consumer_app, seller, consumer):
    """Queue an export job in `consumer_app`, let `consumer` (started here) run it."""
    with app.app_context():
        for name in ("Alpha", "Beta"):
            _db.session.add(Customer(name=name, owner_id=seller.id, search_index=name.lower()))
        _db.session.commit()
    with consumer_app.test_request_context():
        job = services.create_job("export", _db.session.get(User, seller.id),
                                  params={"list": "customers", "format": "csv", "query": "",
                                          "encoding": "utf-8", "headers": "labels"})
        _db.session.commit()
        job_id = job.id
        enqueue(job)
    assert _state(app, job_id).status == "queued"  # nothing runs it until a consumer does
    consumer.start()
    try:
        deadline = time.monotonic() + 30
        while _state(app, job_id).status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        consumer.stop(graceful=True)
    state = _state(app, job_id)
    assert state.status == "done", state.error
    assert state.result["rows"] == 2 and state.done == 2
    path = os.path.join(consumer_app.instance_path, state.result["file"]["path"])
    with open(path, encoding="utf-8-sig") as exported:
        text = exported.read()
    assert "Alpha" in text and "Beta" in text


class _NoStart:
    """start_consumer_thread's consumer, started by the test once the job is queued."""

    def __init__(self, consumer):
        self.consumer = consumer

    def start(self):
        self.consumer.start()

    def stop(self, graceful):
        self.consumer.stop(graceful=graceful)


def test_a_consumer_thread_runs_queued_jobs_from_the_sqlite_queue(app, database_url, seller):
    """python3 app.py's consumer thread, on the SQLite queue in instance/."""
    consumer_app = _consumer_app(database_url)
    huey = jobs_of(consumer_app).huey
    assert type(huey).__name__ == "SqliteHuey"
    assert huey.storage.filename == os.path.join(consumer_app.instance_path, "huey.sqlite3")
    huey.flush()
    consumer = runner._ThreadConsumer(huey, workers=1, worker_type="thread")
    _export_through_a_consumer(app, consumer_app, seller, _NoStart(consumer))


def _redis_up() -> bool:
    try:
        import redis
        return bool(redis.Redis.from_url(REDIS_TEST_URL).ping())
    except Exception:
        return False


REDIS_TEST_URL = "redis://127.0.0.1:6379/15"


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_a_worker_runs_queued_jobs_from_redis(app, database_url, seller):
    consumer_app = _consumer_app(database_url, REDIS_URL=REDIS_TEST_URL)
    huey = jobs_of(consumer_app).huey
    assert type(huey).__name__ == "RedisHuey"
    huey.flush()
    # python3 app.py starts no consumer with Redis: production runs `crm worker`, whose
    # consumer (create_consumer) the test runs in a thread.
    assert start_consumer_thread(consumer_app) is None
    consumer = runner.create_consumer(consumer_app, workers=1)
    consumer._set_signal_handlers = lambda: None  # not the main thread's signals
    try:
        _export_through_a_consumer(app, consumer_app, seller, _NoStart(consumer))
    finally:
        huey.flush()


# --- periodic tasks -----------------------------------------------------------------------------

def test_run_schedules_runs_the_trash_purge(app, seller):
    with app.app_context():
        old = Customer(name="Old Co", owner_id=seller.id)
        recent = Customer(name="Recent Co", owner_id=seller.id)
        _db.session.add_all([old, recent])
        _db.session.commit()
        trash(old, None, now=utcnow() - timedelta(days=31))
        trash(recent, None)
        _db.session.commit()
        old_id, recent_id = old.id, recent.id
    result = app.test_cli_runner().invoke(args=["crm", "run-schedules"])
    assert result.exit_code == 0, result.output
    assert "purge-trash: purged 1 batch(es)" in result.output
    assert "fail-stopped-jobs:" in result.output
    with app.app_context():
        ids = set(_db.session.execute(
            select(Customer.__table__.c.id)).scalars())
        assert old_id not in ids and recent_id in ids


def test_run_schedules_refuses_an_unknown_name(app):
    result = app.test_cli_runner().invoke(args=["crm", "run-schedules", "--only", "nope"])
    assert result.exit_code != 0 and "purge-trash" in result.output


def test_the_worker_command_is_registered(app):
    result = app.test_cli_runner().invoke(args=["crm", "worker", "--help"])
    assert result.exit_code == 0 and "--workers" in result.output
    result = app.test_cli_runner().invoke(args=["crm", "worker"])  # immediate mode: refused
    assert result.exit_code != 0 and "JOBS_IMMEDIATE" in result.output
