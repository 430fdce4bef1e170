"""The app as it runs in production: `gunicorn -c gunicorn.conf.py app:app` with three workers
on a database of its own (a new SQLite file, or a new PostgreSQL database when DATABASE_URL
names a server), users made by `flask --app app crm create-user`, a real HTTP client.

Pages answer from several workers; 403 and 404 pages come in English and in Chinese; every
line on stderr is a JSON object. The 500 page is checked through the test client (the app has
no route that fails on purpose), in both languages, with the exception in the JSON log.
"""
import io
import json
import logging
import os
import sys
import threading

import pytest
from flask_babel import force_locale, gettext

from bench.load import Client, Server, fresh_database
from crm import create_app
from crm.logs import JSONFormatter
from tests.conftest import session_user_id

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads gunicorn's workers from /proc"),
    # Under xdist, on one worker with the other gunicorn tests: the module's server is started
    # once, and two sets of gunicorn workers never compete for the CPU.
    pytest.mark.xdist_group("gunicorn"),
]

PASSWORD = "Gunicorn-Horse-Battery-9"
ADMIN = "boss@example.com"
SALES_ZH = "xiaowang@example.com"
SALES_EN = "sam@example.com"
PAGES = ["/customers", "/opportunities", "/pipeline", "/tasks", "/account", "/admin/users"]


@pytest.fixture(scope="module")
def server():
    url, drop = fresh_database(os.environ.get("DATABASE_URL"), prefix="crm_test_gunicorn")
    # The login throttle as shipped: this file logs in a handful of times, rightly.
    gunicorn = Server(url, workers=3, env={})
    try:
        gunicorn.wait_ready()
        created = gunicorn.flask("crm", "create-user", "--email", ADMIN, "--name", "Boss",
                                 "--password", PASSWORD, "--role", "admin", "--language", "en")
        assert created.returncode == 0, created.stderr
        assert f"Created admin {ADMIN}" in created.stdout
        admin = Client(gunicorn.port)
        admin.log_in(ADMIN, PASSWORD)
        for email, name, language in ((SALES_ZH, "小王", "zh_CN"), (SALES_EN, "Sam", "en")):
            status, html, headers = admin.request("POST", "/admin/users/new", {
                "name": name, "email": email, "role": "sales", "language": language,
                "timezone": "Asia/Shanghai", "password": PASSWORD, "csrf_token": admin.csrf_token})
            assert status == 303, html[:500]
        gunicorn.admin = admin
        yield gunicorn
    finally:
        gunicorn.stop()
        drop()


def _client(server, email):
    client = Client(server.port)
    client.log_in(email, PASSWORD)
    return client


def _request_lines(server):
    lines = [json.loads(line) for line in server.log_lines() if line.strip()]
    return [line for line in lines if line.get("logger") == "crm.request"]


def _text(app, message: str, locale: str) -> str:
    """`message` as the catalog has it in `locale`."""
    with app.test_request_context(), force_locale(locale):
        return gettext(message)


def test_pages_answer_200_from_several_workers(server):
    cookies = dict(server.admin.cookies)
    statuses, lock = [], threading.Lock()

    def browse(offset):
        client = Client(server.port)
        client.cookies.update(cookies)
        for i in range(len(PAGES)):
            path = PAGES[(offset + i) % len(PAGES)]
            status, html, _ = client.request("GET", path)
            with lock:
                statuses.append((path, status, "<html" in html))
        client.close()

    threads = [threading.Thread(target=browse, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(statuses) == 4 * len(PAGES)
    assert all(status == 200 and page for _, status, page in statuses), statuses

    answered = {line["pid"] for line in _request_lines(server)
                if line["path"] in PAGES and line["status"] == 200}
    workers = set(server.worker_pids())
    assert answered <= workers, "request lines carry the worker's pid"
    assert len(answered) >= 2, f"4 clients at once were all served by {answered}"


def test_unknown_page_is_a_404_page_in_english_and_in_chinese(server):
    english = _client(server, SALES_EN)
    status, html, _ = english.request("GET", "/no-such-page")
    assert status == 404
    assert "This page does not exist." in html and '<html lang="en">' in html

    chinese = _client(server, SALES_ZH)
    status, html, _ = chinese.request("GET", "/customers/999999")
    assert status == 404
    assert "页面不存在" in html and '<html lang="zh-CN">' in html
    assert "This page does not exist." not in html

    # Before logging in, Accept-Language decides (a missing static file is public).
    anonymous = Client(server.port)
    status, html, _ = anonymous.request("GET", "/static/css/missing.css",
                                        headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert status == 404 and "页面不存在" in html
    status, html, _ = anonymous.request("GET", "/static/css/missing.css",
                                        headers={"Accept-Language": "en-US,en;q=0.9"})
    assert status == 404 and "This page does not exist." in html


def test_forbidden_page_is_a_403_page_in_both_languages(server, app):
    english = _client(server, SALES_EN)
    status, html, _ = english.request("GET", "/admin/users")
    assert status == 403
    assert "You do not have permission to see this." in html

    chinese = _client(server, SALES_ZH)
    status, html, _ = chinese.request("GET", "/admin/users")
    assert status == 403
    translated = _text(app, "You do not have permission to see this.", "zh_CN")
    assert translated != "You do not have permission to see this.", "not translated"
    assert translated in html and '<html lang="zh-CN">' in html


def test_expired_form_is_a_400_page_in_the_browser_language(server, app):
    anonymous = Client(server.port)
    status, html, _ = anonymous.request("POST", "/login", {"email": ADMIN, "password": PASSWORD},
                                        headers={"Accept-Language": "zh-CN"})
    assert status == 400
    assert _text(app, "Your form expired. Go back, reload the page and submit it again.", "zh_CN") in html


def test_every_stderr_line_is_a_json_object(server):
    assert server.admin.request("GET", "/customers?q=%E5%AE%A2%E6%88%B7")[0] == 200
    assert server.admin.request("GET", "/no-such-page")[0] == 404
    lines = [line for line in server.log_lines() if line.strip()]
    assert lines
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line on stderr: {line!r}")
    for entry in entries:
        assert {"time", "level", "logger", "message", "pid"} <= set(entry), entry
        assert entry["time"].endswith("Z")
    loggers = {entry["logger"] for entry in entries}
    assert {"gunicorn.error", "crm.request"} <= loggers  # gunicorn's own lines are JSON too
    assert any(e["logger"].startswith("alembic") for e in entries), "the migrations, in the master"
    requests = [e for e in entries if e["logger"] == "crm.request"]
    for entry in requests:
        assert {"method", "path", "status", "ms", "user", "htmx"} <= set(entry)
    assert any(e["status"] == 404 and e["path"] == "/no-such-page" and e["user"] for e in requests)
    assert any(e["path"] == "/customers" and e["user"] for e in requests)
    # One line per request: no plain-text access log beside the JSON one.
    assert server.stdout_path.read_text().strip() == ""


# The 500 page, through the test client ----------------------------------------------------

@pytest.fixture
def failing_app(database_url):
    """The app with one more route, which fails (only for this test)."""
    from crm.extensions import db
    from crm.models import Customer

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "500-test",
                      "SERVER_NAME": None, "LOGIN_THROTTLE_ENABLED": False, "TESTING": False,
                      "PROPAGATE_EXCEPTIONS": False})

    @app.route("/boom")
    def boom():
        db.session.add(Customer(name="half-written, never committed"))
        db.session.flush()
        raise RuntimeError("the disk caught fire")

    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_a_failing_request_shows_the_500_page_logs_it_and_keeps_nothing(failing_app, make_user,
                                                                        language):
    from crm.extensions import db
    from crm.models import Customer

    user = make_user("admin", language=language)
    client = failing_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_user_id(failing_app, user.id)
        session["_fresh"] = True
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logging.getLogger().addHandler(handler)
    try:
        response = client.get("/boom")
    finally:
        logging.getLogger().removeHandler(handler)

    assert response.status_code == 500
    html = response.get_data(as_text=True)
    message = "Something went wrong on our side. Nothing you entered was lost; please try again."
    expected = _text(failing_app, message, language)
    if language == "zh_CN":
        assert expected != message, "the 500 message is not translated"
        assert '<html lang="zh-CN">' in html
    assert expected in html
    assert "the disk caught fire" not in html  # no traceback for the user

    entries = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    failure = [e for e in entries if "exception" in e]
    assert failure and "RuntimeError: the disk caught fire" in failure[0]["exception"]
    assert any(e.get("logger") == "crm.request" and e.get("status") == 500 for e in entries)
    with failing_app.app_context():
        assert db.session.query(Customer).filter_by(name="half-written, never committed").count() == 0
