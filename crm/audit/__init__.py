"""The audit trail (操作日志): who changed which field of which record, when, old → new.

create_app installs the session listener that records changes (crm.audit.listeners.install);
the blueprint serves each record's history (a fragment of the customer and opportunity pages)
and the admins' global log at /admin/audit.
"""
