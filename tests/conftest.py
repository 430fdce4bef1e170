"""Test fixtures: a throw-away database per run (SQLite file or a fresh PostgreSQL
database), emptied after every test; the app, a client, users and logins.

The suite runs in parallel with pytest-xdist (pytest.ini): every worker process has its own
instance directory, database (SQLite file or PostgreSQL database), live server and browser."""
import functools
import os
import re
import secrets
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

# An instance directory of this process's own (each xdist worker's, not the one the controlling
# process made and the workers inherited); one given from outside is kept.
if os.environ.get("CRM_INSTANCE_DIR", "") == os.environ.get("CRM_TEST_INSTANCE_DIR", ""):
    os.environ["CRM_INSTANCE_DIR"] = os.environ["CRM_TEST_INSTANCE_DIR"] = tempfile.mkdtemp(
        prefix="crm-test-instance-")

from crm import create_app  # noqa: E402
from crm.config import normalise_database_url  # noqa: E402
from crm.extensions import db as _db  # noqa: E402

TEST_PASSWORD = "correct-horse-9"


def _hash_each_password_once():
    """scrypt takes ~0.1 s a call on purpose, and the suite makes a thousand users with the same
    password: each distinct password is hashed once (a real scrypt hash, checked for real), and
    a check of the same password against the same hash is answered from the first one. Servers
    the tests start in other processes (gunicorn) hash as shipped."""
    from werkzeug.security import check_password_hash, generate_password_hash

    from crm.models import user as user_module

    hash_once = functools.lru_cache(maxsize=None)(generate_password_hash)
    check_once = functools.lru_cache(maxsize=4096)(check_password_hash)

    def generate(password, *args, **kwargs):
        return generate_password_hash(password, *args, **kwargs) if args or kwargs \
            else hash_once(password)

    def check(pwhash, password):
        return check_once(pwhash, password)

    user_module.generate_password_hash = generate
    user_module.check_password_hash = check


_hash_each_password_once()


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pytest.ini): one worker per CPU this process may use, at most 4 (each worker
    runs its own browser and server); the physical-core count xdist would take from psutil can
    be 1 on a 2-vCPU machine."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else (os.cpu_count() or 1)))


def _postgres_database(base_url: str):
    """Create a uniquely named database beside the given one; return its URL and a dropper."""
    url = make_url(base_url)
    name = f"crm_test_{uuid.uuid4().hex[:12]}"
    admin_engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin_engine.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin_engine.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session")
def database_url():
    """The database this run uses, created for it and dropped afterwards."""
    configured = os.environ.get("DATABASE_URL")
    if configured and not configured.startswith("sqlite"):
        url, drop = _postgres_database(normalise_database_url(configured))
        yield url
        drop()
    else:
        directory = tempfile.mkdtemp(prefix="crm-test-db-")
        yield f"sqlite:///{Path(directory) / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def app(database_url):
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": secrets.token_hex(16),
        "WTF_CSRF_ENABLED": True,
        "SERVER_NAME": None,
        "LOGIN_THROTTLE_ENABLED": False,
        "JOBS_IMMEDIATE": True,  # a job runs inside the request that asks for it
    })
    with app.app_context():
        _db.create_all()
    yield app
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()


_SEQUENCES: dict[str, list[str]] = {}


def _empty_all_tables():
    """Delete every row, children first; on PostgreSQL also restart the sequences, as
    TRUNCATE ... RESTART IDENTITY would (ids start at 1 again in every test). A TRUNCATE of
    every table took ~65 ms a test, the DELETEs of the few rows a test leaves ~2 ms."""
    _db.session.rollback()
    _drop_custom_field_indexes()
    tables = list(reversed(_db.metadata.sorted_tables))
    if _db.engine.dialect.name == "postgresql":
        _db.session.execute(text("; ".join(f'DELETE FROM "{t.name}"' for t in tables)))
        key = str(_db.engine.url)
        if key not in _SEQUENCES:
            _SEQUENCES[key] = list(_db.session.execute(text(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) "
                "FROM pg_sequences WHERE schemaname = current_schema()")).scalars())
        if _SEQUENCES[key]:
            _db.session.execute(text("SELECT setval(CAST(name AS regclass), 1, false) "
                                     "FROM unnest(CAST(:names AS text[])) AS name"),
                                {"names": _SEQUENCES[key]})
    else:
        for table in tables:
            _db.session.execute(table.delete())
    _db.session.commit()


def _drop_custom_field_indexes():
    """The expression indexes custom fields create at run time (ix_cf_*, crm.fields.services)
    are not in the metadata: drop them, or a later test's field of the same key but another
    type meets an index that casts its values (a text "40%" under a NUMERIC cast on
    PostgreSQL)."""
    if _db.engine.dialect.name == "postgresql":
        names = _db.session.execute(text(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND indexname LIKE 'ix\\_cf\\_%'")).scalars().all()
    else:
        names = _db.session.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_cf_%'")).scalars().all()
    for name in names:
        _db.session.execute(text(f'DROP INDEX IF EXISTS "{name}"'))


@pytest.fixture(autouse=True)
def _clean_database(request, app):
    """Every test starts from an empty database and leaves nothing behind."""
    yield
    with app.app_context():
        _db.session.remove()
        _empty_all_tables()
        _db.session.remove()
    app.extensions.setdefault("crm_state", {})["has_users"] = False


@pytest.fixture
def app_ctx(app):
    """An application context for one test (never one for the whole run)."""
    with app.test_request_context():
        yield app
        _db.session.remove()


@pytest.fixture
def db(app_ctx):
    return _db


@pytest.fixture
def client(app):
    """A test client with CSRF checks off (a dedicated test covers CSRF)."""
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        yield app.test_client()
    finally:
        app.config["WTF_CSRF_ENABLED"] = True


@pytest.fixture
def make_user(app):
    """Create a user and commit it: make_user(role="sales", email=..., name=...), with the
    password TEST_PASSWORD; the default pipeline and lost reasons come with the first one."""
    from crm.leads.services import ensure_defaults as ensure_lead_defaults
    from crm.pipelines.services import ensure_defaults
    from tests import factories

    def _make(role="sales", email=None, name=None, password=TEST_PASSWORD, language="en",
              timezone="Asia/Shanghai", active=True):
        with app.app_context():
            user = factories.user(role, email=email, name=name, password=password,
                                  language=language, timezone=timezone, active=active,
                                  commit=False)
            ensure_defaults()
            ensure_lead_defaults()
            _db.session.commit()
            user_id = user.id
            _db.session.remove()
        with app.app_context():
            from crm.models import User
            user = _db.session.get(User, user_id)
            _db.session.expunge(user)
        return user

    return _make


@pytest.fixture
def build(app):
    """The factories of tests/factories.py for a test that holds no application context:
    build.customer(seller) makes the customer in an application context of its own and answers
    its id (see factories.InApp)."""
    from tests.factories import InApp
    return InApp(app)


@pytest.fixture
def admin(make_user):
    return make_user("admin", email="admin@example.com", name="Ada Admin")


@pytest.fixture
def seller(make_user):
    """A salesperson, Sam Seller (seller@example.com), in Shanghai."""
    return make_user("sales", email="seller@example.com", name="Sam Seller")


def session_user_id(app, user) -> str:
    """What Flask-Login keeps in the session for `user` (or a user id) logged in on a new
    browser: the id and the token of a login session opened for it (crm.auth.sessions).
    Written on a connection of its own, so that no session a test holds is touched."""
    from datetime import timedelta

    from crm.auth.sessions import hash_token
    from crm.models import LoginSession, utcnow
    user_id = user if isinstance(user, int) else user.id
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with app.app_context(), _db.engine.begin() as connection:
        connection.execute(LoginSession.__table__.insert().values(
            user_id=user_id, token_hash=hash_token(token), remember=False, created_at=now,
            expires_at=now + timedelta(days=1), user_agent="", address=""))
    return f"{user_id}:{token}"


@pytest.fixture
def login(client, app):
    """Log the test client in as `user` (through the session, as Flask-Login does)."""
    def _login(user):
        cookie_id = session_user_id(app, user)
        with client.session_transaction() as session:
            session["_user_id"] = cookie_id
            session["_fresh"] = True
        return client
    return _login


@pytest.fixture
def admin_client(admin, login):
    return login(admin)


HX = {"HX-Request": "true"}


def hx(target: str | None = None) -> dict:
    """Headers of an htmx request aimed at `target`."""
    headers = dict(HX)
    if target:
        headers["HX-Target"] = target
    return headers


@contextmanager
def count_queries(engine):
    """Count the SQL statements run inside the block: `with count_queries(db.engine) as q:`."""
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)
