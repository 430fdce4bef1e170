"""The import's bulk INSERTs: a chunk's rows into a table in one statement, COPY ... FROM
STDIN on PostgreSQL (`copy_rows`), an executemany on SQLite; `insert_ids` answers the new
rows' ids in order (docs/import.md, "Writing, jobs and crashes"; the figures behind the COPY
are in docs/benchmarks.md, round 12)."""
from __future__ import annotations

from sqlalchemy import insert, select, text

from crm.extensions import db
from crm.trash.filters import INCLUDE_DELETED


def insert_ids(model, rows: list[dict]) -> list[int]:
    """INSERT the rows and answer their ids in the rows' order.

    PostgreSQL: the ids are taken from the table's sequence first (one SELECT nextval() over
    generate_series), then the rows go in with COPY (`copy_rows`). SQLite would run an
    INSERT ... RETURNING a row at a time; there the rows go in one executemany and get the
    next rowids in order (one writer: the transaction holds the database's write lock from
    its first write), so the new ids are the last len(rows) ones."""
    if not rows:
        return []
    if db.session.get_bind().dialect.name == "postgresql":
        table = model.__table__
        ids = sorted(db.session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
            {"table": table.name, "n": len(rows)}).scalars())
        copy_rows(table, [{**row, "id": new_id} for row, new_id in zip(rows, ids)])
        return ids
    db.session.execute(insert(model), rows)
    ids = db.session.execute(select(model.id).order_by(model.id.desc()).limit(len(rows))
                             .execution_options(**{INCLUDE_DELETED: True})).scalars().all()
    return ids[::-1]


def insert_rows(table, rows: list[dict]) -> None:
    """INSERT the rows (dicts of column keys) in one statement: COPY on PostgreSQL, an
    executemany elsewhere."""
    if not rows:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        copy_rows(table, rows)
    else:
        db.session.execute(insert(table), rows)


def copy_rows(table, rows: list[dict]) -> None:
    """PostgreSQL: the rows into `table` with one COPY ... FROM STDIN on the session's
    connection (inside its transaction), as the INSERT would write them: a column a row does
    not name gets the column's Python default (utcnow, dict...) or, with none, the server's
    (or NULL); each value goes through the column type's bind processing (UTC times, JSON).
    A multi-row INSERT of 1,000 rows of 20 columns costs the client more than the server:
    psycopg parses the 20,000-parameter statement each time, SQLAlchemy builds it."""
    connection = db.session.connection()
    dialect = connection.dialect
    given = set().union(*(row.keys() for row in rows))
    columns, fill = [], []
    for column in table.columns:
        if column.key in given:
            columns.append(column)
            fill.append(None)
        elif column.default is not None and not column.default.is_sequence \
                and not column.default.is_clause_element:
            default = column.default
            columns.append(column)
            fill.append((lambda d=default: d.arg(None)) if default.is_callable
                        else (lambda d=default: d.arg))
    processors = [column.type._cached_bind_processor(dialect) for column in columns]
    names = ", ".join(dialect.identifier_preparer.quote(column.name) for column in columns)
    statement = f"COPY {dialect.identifier_preparer.format_table(table)} ({names}) FROM STDIN"
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(statement) as copy:
        for row in rows:
            values = []
            for column, make, process in zip(columns, fill, processors):
                value = row.get(column.key) if make is None else make()
                values.append(process(value) if process is not None else value)
            copy.write_row(values)

