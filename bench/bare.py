"""The ceiling: a bare Flask app doing one indexed query per request, against the same
database as the CRM, served by the same gunicorn settings:

    DATABASE_URL=... gunicorn -c gunicorn.conf.py bench.bare:app

GET /customer/<id> selects one customer by primary key and answers a few bytes of text.
Whatever the CRM's pages cost beyond this is the app's own work (session, user load,
permission checks, more queries, templates).
"""
import os

from flask import Flask, abort
from sqlalchemy import create_engine, event, text

from crm.config import Config, normalise_database_url

_url = normalise_database_url(os.environ.get("DATABASE_URL") or Config.load()["SQLALCHEMY_DATABASE_URI"])
engine = create_engine(_url, pool_pre_ping=_url.startswith("postgresql"))

if _url.startswith("sqlite"):
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        # The same pragmas as the CRM's engine (crm/extensions.py).
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "busy_timeout=10000", "foreign_keys=ON", "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

app = Flask(__name__)
SELECT = text("SELECT id, name, phone FROM customers WHERE id = :id")


@app.route("/customer/<int:customer_id>")
def customer(customer_id: int):
    with engine.connect() as conn:
        row = conn.execute(SELECT, {"id": customer_id}).first()
    if row is None:
        abort(404)
    return f"{row.id} {row.name} {row.phone}\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.route("/healthz")
def healthz():
    return "ok\n"
