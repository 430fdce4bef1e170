"""Capture (线索获取): public web-to-lead forms at /f/<key> (网页表单), built by admins at
/admin/forms, and the assignment rules new leads follow (/admin/assignment;
crm/leads/assignment.py applies them)."""
