"""trigram index for customer search (SQLite FTS5 trigram table, PostgreSQL pg_trgm GIN)

Revision ID: 7f3a9c2e41b8
Revises: 6382bd641715
Create Date: 2026-11-22 20:30:00

See crm/search_index.py. The index is filled from the customers already there.
"""
from alembic import op

from crm import search as search_index

# revision identifiers, used by Alembic.
revision = '7f3a9c2e41b8'
down_revision = '6382bd641715'
branch_labels = None
depends_on = None


def upgrade():
    search_index.install(op.get_bind(), populate=True)


def downgrade():
    search_index.uninstall(op.get_bind())
