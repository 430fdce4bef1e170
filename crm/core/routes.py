"""The home page and the health check."""
from flask import Blueprint, jsonify, redirect, url_for
from sqlalchemy import text

from crm.extensions import db

bp = Blueprint("core", __name__)


@bp.route("/")
def index():
    """Home: the customer list is where the day starts."""
    return redirect(url_for("customers.index"))


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
