"""Export (导出) of every list as CSV or Excel: exactly the rows of the list's current filter
that the user may see, in the columns they may see. A list joins by giving an ExportSource
(its columns, beside its queries: crm/<area>/exports.py) to create_app's EXPORT_SOURCES."""
