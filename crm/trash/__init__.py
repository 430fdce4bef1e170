"""The trash (回收站): deleted records wait here for 30 days, restorable, then go for good.

routes.py (the trash page, restore, purge), services.py (trash, restore, purge: the writes),
queries.py (batches, previews, expiry: the reads). Who sees, restores and purges a batch:
crm.permissions. create_app installs the global filter that hides trashed rows from every
ORM query (crm.trash.filters.install) and adds `flask crm purge-trash` (crm.trash.cli) to the
commands. The Undo offered right after a deletion is in crm.responses.
"""
