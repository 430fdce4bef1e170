"""merges and duplicate_pairs: records merged into one (what moved, for undo), and the precomputed likely pairs

Revision ID: e4c1d2b3a5f6
Revises: 5f1f3f050fcd
Create Date: 2026-12-04 00:56:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'e4c1d2b3a5f6'
down_revision = '5f1f3f050fcd'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('merges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity', sa.String(length=20), nullable=False),
    sa.Column('survivor_id', sa.Integer(), nullable=False),
    sa.Column('merged_ids', sa.JSON(), nullable=False),
    sa.Column('batches', sa.JSON(), nullable=False),
    sa.Column('moved', sa.JSON(), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_merges_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merges'))
    )
    with op.batch_alter_table('merges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_merges_survivor_id'), ['survivor_id'], unique=False)
    op.create_table('duplicate_pairs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity', sa.String(length=20), nullable=False),
    sa.Column('low_id', sa.Integer(), nullable=False),
    sa.Column('high_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('reasons', sa.String(length=40), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duplicate_pairs'))
    )
    with op.batch_alter_table('duplicate_pairs', schema=None) as batch_op:
        batch_op.create_index('ix_duplicate_pairs_entity_score', ['entity', 'score'], unique=False)


def downgrade():
    with op.batch_alter_table('duplicate_pairs', schema=None) as batch_op:
        batch_op.drop_index('ix_duplicate_pairs_entity_score')
    op.drop_table('duplicate_pairs')
    with op.batch_alter_table('merges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_merges_survivor_id'))
    op.drop_table('merges')
