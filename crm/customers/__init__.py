from flask import Blueprint

bp = Blueprint("customers", __name__, url_prefix="/customers")

from crm.customers import routes  # noqa: E402,F401
from crm import sharing  # noqa: E402

sharing.register(bp, "customer")
