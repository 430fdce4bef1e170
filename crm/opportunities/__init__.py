"""Opportunities (商机): list, form, page, and the stage-change route everyone uses."""
from flask import Blueprint

bp = Blueprint("opportunities", __name__, url_prefix="/opportunities")

from crm.opportunities import routes  # noqa: E402,F401
from crm import sharing  # noqa: E402

sharing.register(bp, "opportunity")
