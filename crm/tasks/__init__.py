"""Tasks (任务): my list at /tasks, and the task panel of customer and opportunity pages."""
from flask import Blueprint

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

from crm.tasks import routes  # noqa: E402,F401
