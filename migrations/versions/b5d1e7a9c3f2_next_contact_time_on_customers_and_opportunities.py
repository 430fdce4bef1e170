"""next contact time (下次联系时间) on customers and opportunities

Revision ID: b5d1e7a9c3f2
Revises: b5c1f0a7d9e3
Create Date: 2026-12-03 19:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b5d1e7a9c3f2'
down_revision = 'b5c1f0a7d9e3'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('customers', 'opportunities'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('next_contact_at', sa.DateTime(timezone=True), nullable=True))
            batch_op.create_index(f'ix_{table}_owner_next_contact', ['owner_id', 'next_contact_at'],
                                  unique=False)


def downgrade():
    for table in ('customers', 'opportunities'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f'ix_{table}_owner_next_contact')
            batch_op.drop_column('next_contact_at')
