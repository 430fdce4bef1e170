from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from crm.admin import routes  # noqa: E402,F401
from crm.admin import settings  # noqa: E402,F401
