"""Tasks (任务): my list at /tasks, and the task panel of customer and opportunity pages.

routes.py (HTTP), forms.py (the task form), services.py (writes and their rules),
queries.py (reads: the sections of /tasks and their rows, the task panel, the overdue badge).
Who may edit a task: crm.permissions.can_edit_task."""
