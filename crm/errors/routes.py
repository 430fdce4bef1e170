"""Error pages in the user's language; a 500 rolls the session back."""
from flask import Blueprint, current_app, render_template
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError

from crm.extensions import db

bp = Blueprint("errors", __name__)


def _page(status: int):
    return render_template("errors/error.html", status=status), status


@bp.app_errorhandler(400)
def bad_request(error):
    return _page(400)


@bp.app_errorhandler(CSRFError)
def csrf_error(error):
    return render_template("errors/error.html", status=400, csrf=True), 400


@bp.app_errorhandler(OverflowError)
@bp.app_errorhandler(DataError)
def value_out_of_range(error):
    """A number too large for the database (or a value it refuses) came from the request."""
    db.session.rollback()
    current_app.logger.warning("value refused by the database: %s", str(error).splitlines()[0][:200])
    return _page(400)


@bp.app_errorhandler(403)
def forbidden(error):
    return _page(403)


@bp.app_errorhandler(404)
def not_found(error):
    return _page(404)


@bp.app_errorhandler(405)
def method_not_allowed(error):
    return _page(405)


@bp.app_errorhandler(413)
def too_large(error):
    return _page(413)


@bp.app_errorhandler(429)
def too_many_requests(error):
    return _page(429)


@bp.app_errorhandler(500)
def server_error(error):
    db.session.rollback()
    return _page(500)
