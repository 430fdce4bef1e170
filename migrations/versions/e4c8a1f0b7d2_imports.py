"""imports: uploaded files, their records, rejects, external keys and remembered mappings

Revision ID: e4c8a1f0b7d2
Revises: c3f9a1d2e4b6
Create Date: 2026-12-03 23:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'e4c8a1f0b7d2'
down_revision = 'c3f9a1d2e4b6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('fmt', sa.String(length=10), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('encoding', sa.String(length=20), nullable=True),
    sa.Column('detected_encoding', sa.String(length=20), nullable=True),
    sa.Column('delimiter', sa.String(length=4), nullable=True),
    sa.Column('sheet', sa.String(length=100), nullable=True),
    sa.Column('header', sa.JSON(), nullable=True),
    sa.Column('header_hash', sa.String(length=64), nullable=True),
    sa.Column('mapping', sa.JSON(), nullable=True),
    sa.Column('on_match', sa.String(length=10), nullable=False),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('last_row', sa.Integer(), nullable=False),
    sa.Column('total_rows', sa.Integer(), nullable=True),
    sa.Column('counts', sa.JSON(), nullable=True),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.Column('batch', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_imports_job_id_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_imports_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imports'))
    )
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imports_batch'), ['batch'], unique=False)
        batch_op.create_index(batch_op.f('ix_imports_header_hash'), ['header_hash'], unique=False)
        batch_op.create_index('ix_imports_user_created', ['user_id', 'created_at'], unique=False)

    op.create_table('import_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['imports.id'], name=op.f('fk_import_records_import_id_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_records'))
    )
    with op.batch_alter_table('import_records', schema=None) as batch_op:
        batch_op.create_index('ix_import_records_import', ['import_id', 'entity', 'action'], unique=False)

    op.create_table('import_rejects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('cells', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['imports.id'], name=op.f('fk_import_rejects_import_id_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_rejects'))
    )
    with op.batch_alter_table('import_rejects', schema=None) as batch_op:
        batch_op.create_index('ix_import_rejects_import_row', ['import_id', 'row'], unique=False)

    op.create_table('external_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_external_keys')),
    sa.UniqueConstraint('entity', 'key', name='uq_external_keys_entity_key')
    )
    with op.batch_alter_table('external_keys', schema=None) as batch_op:
        batch_op.create_index('ix_external_keys_record', ['entity', 'record_id'], unique=False)

    op.create_table('import_mappings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('header_hash', sa.String(length=64), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_mappings')),
    sa.UniqueConstraint('kind', 'header_hash', name='uq_import_mappings_kind_header_hash')
    )


def downgrade():
    op.drop_table('import_mappings')
    with op.batch_alter_table('external_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_external_keys_record')
    op.drop_table('external_keys')
    with op.batch_alter_table('import_rejects', schema=None) as batch_op:
        batch_op.drop_index('ix_import_rejects_import_row')
    op.drop_table('import_rejects')
    with op.batch_alter_table('import_records', schema=None) as batch_op:
        batch_op.drop_index('ix_import_records_import')
    op.drop_table('import_records')
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.drop_index('ix_imports_user_created')
        batch_op.drop_index(batch_op.f('ix_imports_header_hash'))
        batch_op.drop_index(batch_op.f('ix_imports_batch'))
    op.drop_table('imports')
