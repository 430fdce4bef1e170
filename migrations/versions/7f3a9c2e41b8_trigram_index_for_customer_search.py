"""trigram index for customer search (SQLite FTS5 trigram table, PostgreSQL pg_trgm GIN)

Revision ID: 7f3a9c2e41b8
Revises: 6382bd641715
Create Date: 2026-11-22 20:30:00

The index is filled from the customers already there. The SQL below is what
crm/search_index.py generated when this migration was written (commit 70770d5), copied
here so that this migration keeps doing what it did then, whatever that module says later.
"""
import logging

from alembic import op

# revision identifiers, used by Alembic.
revision = '7f3a9c2e41b8'
down_revision = '6382bd641715'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# SQLite: an FTS5 table with the trigram tokenizer over customers.search_index (external
# content: it stores only the index), kept in step by triggers.
SQLITE_INDEX = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS customer_search USING fts5(search_index, "
    "content='customers', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS customer_search_ai AFTER INSERT ON customers "
    "BEGIN "
    "INSERT INTO customer_search(rowid, search_index) VALUES (new.id, new.search_index); "
    "END",
    "CREATE TRIGGER IF NOT EXISTS customer_search_ad AFTER DELETE ON customers "
    "BEGIN "
    "INSERT INTO customer_search(customer_search, rowid, search_index) VALUES ('delete', "
    "old.id, old.search_index); "
    "END",
    "CREATE TRIGGER IF NOT EXISTS customer_search_au AFTER UPDATE OF search_index ON customers "
    "BEGIN "
    "INSERT INTO customer_search(customer_search, rowid, search_index) VALUES ('delete', "
    "old.id, old.search_index); "
    "INSERT INTO customer_search(rowid, search_index) VALUES (new.id, new.search_index); "
    "END",
)

SQLITE_FILL = "INSERT INTO customer_search(customer_search) VALUES ('rebuild')"

SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS customer_search_ai",
    "DROP TRIGGER IF EXISTS customer_search_ad",
    "DROP TRIGGER IF EXISTS customer_search_au",
    "DROP TABLE IF EXISTS customer_search",
)

PG_EXTENSION = "CREATE EXTENSION IF NOT EXISTS pg_trgm"

PG_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_customers_search_trgm ON customers USING gin (search_index "
    "gin_trgm_ops)"
)

PG_DROP = (
    "DROP INDEX IF EXISTS ix_customers_search_trgm",
)


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_INDEX:
            bind.exec_driver_sql(statement)
        bind.exec_driver_sql(SQLITE_FILL)
    elif bind.dialect.name == "postgresql":
        # pg_trgm is trusted (PostgreSQL 13+), so a database owner may create it; where it
        # cannot be created, search runs without the index.
        try:
            with bind.begin_nested():
                bind.exec_driver_sql(PG_EXTENSION)
        except Exception as error:  # noqa: BLE001 - any refusal leaves search unindexed, not broken
            log.warning("pg_trgm is not available (%s): customer search runs without its index",
                        str(error).splitlines()[0])
            return
        bind.exec_driver_sql(PG_INDEX)


def downgrade():
    # The index only: pg_trgm stays (it may have been there before, or be used elsewhere).
    bind = op.get_bind()
    statements = {"sqlite": SQLITE_DROP, "postgresql": PG_DROP}.get(bind.dialect.name, ())
    for statement in statements:
        bind.exec_driver_sql(statement)
