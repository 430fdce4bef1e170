"""The audit trail (操作日志): who changed which field of which record, when, old → new.

create_app installs the session listener that records changes (crm.audit.listeners.install);
services.py records what bulk statements change (record, record_many, record_select, tag
snapshots; paused for made-up data); queries.py reads the trail and says how entries read;
the blueprint (routes.py) serves each record's history (a fragment of the customer and
opportunity pages) and the admins' global log at /admin/audit.
"""
