"""custom fields: definitions, options, and a `custom` JSON column on customers, contacts and
opportunities (issue 10)

Revision ID: b5c1f0a7d9e3
Revises: 3e1a55a44a9e
Create Date: 2026-12-03 19:30:00

The expression indexes of fields marked filterable (ix_cf_*) are made at run time by
crm/fields/sql.py, not here.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = 'b5c1f0a7d9e3'
down_revision = '3e1a55a44a9e'
branch_labels = None
depends_on = None

CUSTOM_JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade():
    op.create_table('custom_fields',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_type', sa.String(length=20), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('label_zh', sa.String(length=100), nullable=False),
    sa.Column('label_en', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('help_zh', sa.String(length=300), nullable=False),
    sa.Column('help_en', sa.String(length=300), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('show_in_list', sa.Boolean(), nullable=False),
    sa.Column('filterable', sa.Boolean(), nullable=False),
    sa.Column('restricted', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_fields')),
    sa.UniqueConstraint('record_type', 'key', name='uq_custom_fields_record_type_key')
    )
    with op.batch_alter_table('custom_fields', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_custom_fields_deleted_at'), ['deleted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_custom_fields_record_type'), ['record_type'], unique=False)

    op.create_table('custom_field_options',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('field_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('label_zh', sa.String(length=100), nullable=False),
    sa.Column('label_en', sa.String(length=100), nullable=False),
    sa.Column('colour', sa.String(length=7), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('retired', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['field_id'], ['custom_fields.id'], name=op.f('fk_custom_field_options_field_id_custom_fields'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_field_options'))
    )
    with op.batch_alter_table('custom_field_options', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_custom_field_options_field_id'), ['field_id'], unique=False)

    for table in ('customers', 'contacts', 'opportunities'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('custom', CUSTOM_JSON, server_default='{}', nullable=False))


def downgrade():
    for table in ('opportunities', 'contacts', 'customers'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('custom')
    with op.batch_alter_table('custom_field_options', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_custom_field_options_field_id'))
    op.drop_table('custom_field_options')
    with op.batch_alter_table('custom_fields', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_custom_fields_record_type'))
        batch_op.drop_index(batch_op.f('ix_custom_fields_deleted_at'))
    op.drop_table('custom_fields')
