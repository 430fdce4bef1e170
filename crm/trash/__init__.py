"""The trash (回收站): deleted records wait here for 30 days, restorable, then go for good.

Importing this package installs the global filter that hides trashed rows from every ORM
query (crm.trash.filters) and adds `flask crm purge-trash` to the app's command group.
"""
from flask import Blueprint

from crm.trash.filters import install as _install_filter

bp = Blueprint("trash", __name__, url_prefix="/trash")

_install_filter()

from crm.trash import cli, routes  # noqa: E402,F401  (the views and the command)
