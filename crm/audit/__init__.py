"""The audit trail (操作日志): who changed which field of which record, when, old → new.

Importing the package installs the session listener that records changes (crm.audit.listeners);
the blueprint serves each record's history (a fragment of the customer and opportunity pages)
and the admins' global log at /admin/audit.
"""
from flask import Blueprint

from crm.audit.listeners import AUDITED_MODELS, install
from crm.audit.services import (
    customer_tags_snapshot,
    paused,
    record,
    record_customer_tag_changes,
    record_many,
    record_select,
)

bp = Blueprint("audit", __name__)

install()

from crm.audit import routes  # noqa: E402,F401

__all__ = ["AUDITED_MODELS", "bp", "customer_tags_snapshot", "paused", "record",
           "record_customer_tag_changes", "record_many", "record_select"]
