"""Tag groups (分类) and tags (标签): managed by admins and managers at /tags."""
from flask import Blueprint

bp = Blueprint("tags", __name__, url_prefix="/tags")

from crm.tags import routes  # noqa: E402,F401
