"""Custom fields (自定义字段): fields an admin adds to customers, contacts and opportunities
(and to each record type that joins the registry, crm.models.RECORD_TYPES), used on their
forms, pages, lists, filters, segments, search and audit trail like built-in ones.

Storage: a JSON column `custom` on each record's own table (JSONB on PostgreSQL), keyed by
the field's key, beside definitions in `custom_fields` / `custom_field_options`.

Why a JSON column rather than typed value tables (EAV, one row per record and field):
- a list page reads its records' values with the rows themselves: no join, no query per
  row, and the statement budget of the plain list holds for any number of fields;
- a filter or sort on a field is one expression on the row (crm/fields/sql.py), which an
  expression index makes indexable on both databases; the index is created when the admin
  marks the field filterable or shows it in the list, and dropped when the field goes;
- trash and restore of a record keep its values (they are in the row), and the audit
  trail sees them as one column changing (crm/audit/listeners.py expands it per field).
Trade-offs: values are typed by the application, not the database (crm/fields/types.py
parses every write and stores values in a form SQL compares correctly: numbers, canonical
decimal strings under a numeric CAST, ISO dates, UTC datetimes, arrays of option keys);
a type change rewrites the stored values (only when every one converts); a multiple choice
filter on SQLite reads json_each row by row (PostgreSQL uses a GIN index); purging a field
rewrites every record holding it. EAV would give per-value types and foreign keys at the
cost of a join (or pivot) per shown field and per filter, which the list's budget forbids.
"""
