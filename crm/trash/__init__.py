"""The trash (回收站): deleted records wait here for 30 days, restorable, then go for good.

create_app installs the global filter that hides trashed rows from every ORM query
(crm.trash.filters.install) and adds `flask crm purge-trash` (crm.trash.cli) to the commands.
"""
