"""An import through a real queue (issue 12, section 1): with REDIS_URL set, the run is a job
on RedisHuey that `crm worker`'s consumer (create_consumer, run here in a thread) picks up;
the import page then shows what it did. Skipped without Redis on 127.0.0.1:6379."""
import time

import pytest
from sqlalchemy import func, select

from crm import create_app
from crm.extensions import db as _db
from crm.jobs import runner
from crm.jobs.runner import jobs_of, start_consumer_thread
from crm.models import Customer, ImportBatch, Job
from tests.conftest import session_user_id
from tests.import_helpers import csv_bytes, import_id_of, map_columns, upload

REDIS_TEST_URL = "redis://127.0.0.1:6379/15"


def _redis_up() -> bool:
    try:
        import redis
        return bool(redis.Redis.from_url(REDIS_TEST_URL).ping())
    except Exception:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_an_import_runs_as_a_job_on_redis_huey(database_url, seller):
    worker_app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                             "JOBS_IMMEDIATE": False, "LOGIN_THROTTLE_ENABLED": False,
                             "WTF_CSRF_ENABLED": False, "REDIS_URL": REDIS_TEST_URL})
    huey = jobs_of(worker_app).huey
    assert type(huey).__name__ == "RedisHuey"
    huey.flush()
    assert start_consumer_thread(worker_app) is None  # production runs `crm worker`
    client = worker_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_user_id(worker_app, seller)
        session["_fresh"] = True
    data = csv_bytes([["客户名称", "联系电话"], ["北京星辰科技有限公司", "010-1"], ["上海云帆", "021-2"],
                      ["", "no name"]], encoding="gbk")
    import_id = import_id_of(upload(client, data, name="客户.csv"))
    assert map_columns(client, import_id, {0: "name", 1: "phone"}).status_code in (302, 303)
    assert client.get(f"/import/{import_id}/preview").status_code == 200
    assert client.post(f"/import/{import_id}/run").status_code in (302, 303)
    with worker_app.app_context():
        job_id = _db.session.get(ImportBatch, import_id).job_id
        assert _db.session.get(Job, job_id).status == "queued"  # nothing ran it yet
        assert _db.session.execute(select(func.count(Customer.id))).scalar_one() == 0
    consumer = runner.create_consumer(worker_app, workers=1)
    consumer._set_signal_handlers = lambda: None  # not the main thread's signals
    consumer.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with worker_app.app_context():
                if _db.session.get(Job, job_id).status not in ("queued", "running"):
                    break
            time.sleep(0.2)
    finally:
        consumer.stop(graceful=True)
        huey.flush()
    with worker_app.app_context():
        job = _db.session.get(Job, job_id)
        imp = _db.session.get(ImportBatch, import_id)
        assert job.status == "done", job.error
        assert imp.status == "done" and imp.counts["created"] == 2 and imp.counts["rejected"] == 1
        assert _db.session.execute(select(func.count(Customer.id))).scalar_one() == 2
    page = client.get(f"/import/{import_id}").get_data(as_text=True)
    assert f"/import/{import_id}/rejected.csv" in page  # the result, with the rejects to fix
