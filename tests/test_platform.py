"""The platform: configuration, database settings, migrations, health check, formatting."""
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import text

from crm import create_app
from crm.config import normalise_database_url
from crm.extensions import db


def test_database_url_normalisation():
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_runs_with_wal_busy_timeout_and_foreign_keys(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}",
                      "TESTING": True})
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        db.engine.dispose()


def test_secret_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    import crm.config as config
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path)
    first = config.Config.load()["SECRET_KEY"]
    second = config.Config.load()["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").exists()


def test_migrations_build_the_schema_the_models_describe(database_url, tmp_path):
    """`flask db upgrade` on an empty database gives exactly the models' schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from flask_migrate import upgrade

    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        drop = None
    else:
        from tests.conftest import _postgres_database
        url, drop = _postgres_database(database_url)
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                from crm.search import include_object
                diff = compare_metadata(MigrationContext.configure(
                    conn, opts={"include_object": include_object}), db.metadata)
            db.engine.dispose()
        assert diff == [], f"models and migrations differ: {diff}"
    finally:
        if drop:
            drop()


def test_healthz_is_503_without_database(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none",
                      "TESTING": True})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "error"


def test_money_and_times_follow_locale_and_zone(app):
    from flask_babel import force_locale

    from crm.l10n import dt, money
    with app.test_request_context():
        moment = datetime(2026, 1, 31, 17, 30, tzinfo=timezone.utc)
        with force_locale("zh_CN"):
            assert money(Decimal("1234567.5"), "CNY") == "¥1,234,567.50"
        with force_locale("en"):
            assert money(Decimal("99.99"), "USD") == "$99.99"
        app.config["BABEL_DEFAULT_TIMEZONE"] = "Asia/Shanghai"
        from flask_babel import refresh
        refresh()
        try:
            with force_locale("en"):
                # 17:30 UTC is 01:30 the next day in Shanghai
                assert "Feb 1, 2026" in dt(moment)
        finally:
            app.config["BABEL_DEFAULT_TIMEZONE"] = "UTC"
            refresh()


def test_utc_datetimes_round_trip_aware(db, make_user):
    from crm.models import User
    user = make_user("sales")
    fetched = db.session.get(User, user.id)
    assert fetched.created_at.tzinfo is not None
    assert fetched.created_at.utcoffset().total_seconds() == 0


def test_requests_are_logged_as_json_lines(client, caplog):
    import json
    import logging

    from crm.logs import JSONFormatter
    with caplog.at_level(logging.INFO, logger="crm.request"):
        client.get("/healthz")
    record = next(r for r in caplog.records if r.name == "crm.request")
    line = json.loads(JSONFormatter().format(record))
    assert line["path"] == "/healthz" and line["status"] == 200 and line["level"] == "info"
    assert isinstance(line["ms"], float)
