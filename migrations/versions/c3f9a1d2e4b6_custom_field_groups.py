"""custom field groups: a heading (Chinese and English) under which forms and pages show a field

Revision ID: c3f9a1d2e4b6
Revises: a98bbe223ebb
Create Date: 2026-12-04 00:55:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3f9a1d2e4b6'
down_revision = 'a98bbe223ebb'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('custom_fields', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_zh', sa.String(length=100), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('group_en', sa.String(length=100), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('custom_fields', schema=None) as batch_op:
        batch_op.drop_column('group_en')
        batch_op.drop_column('group_zh')
