"""The home page and the health check."""
from flask import jsonify, redirect, url_for
from sqlalchemy import text

from crm.core import bp
from crm.extensions import db


@bp.route("/")
def index():
    """Home: the customer list is where the day starts."""
    from flask import current_app
    if "customers.index" in current_app.view_functions:
        return redirect(url_for("customers.index"))
    return redirect(url_for("auth.account"))


@bp.route("/healthz")
def healthz():
    """200 with the database reachable, 503 without it."""
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:  # noqa: BLE001 - any failure means the database is unusable
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database=database)
