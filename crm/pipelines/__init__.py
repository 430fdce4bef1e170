"""Admin: pipelines, their stages, and lost reasons (at /admin/pipelines)."""
from flask import Blueprint

bp = Blueprint("pipelines", __name__, url_prefix="/admin/pipelines")

from crm.pipelines import routes  # noqa: E402,F401
