"""Import (导入): CSV and Excel files of customers, contacts and opportunities mapped to fields,
previewed, and run as a background job in chunks; rejected rows download in the file's own
layout, and an import is undone as one batch (docs/import.md)."""
