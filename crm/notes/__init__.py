from flask import Blueprint

bp = Blueprint("notes", __name__, url_prefix="/notes")

from crm.notes import routes  # noqa: E402,F401
