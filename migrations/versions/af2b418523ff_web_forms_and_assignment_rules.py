"""web forms and assignment rules: public web-to-lead forms (/f/<key>), the rules that give
new leads an owner (fixed, round-robin with its turn, or the pool), and leads.campaign

Revision ID: af2b418523ff
Revises: e4c1d2b3a5f6
Create Date: 2026-12-04 02:46:34.475487

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'af2b418523ff'
down_revision = 'e4c1d2b3a5f6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('assignment_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('contact_hours', sa.Integer(), server_default='24', nullable=False),
    sa.Column('turn', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_assignment_rules_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignment_rules'))
    )
    op.create_table('assignment_rule_members',
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['assignment_rules.id'], name=op.f('fk_assignment_rule_members_rule_id_assignment_rules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_assignment_rule_members_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('rule_id', 'user_id', name=op.f('pk_assignment_rule_members'))
    )
    with op.batch_alter_table('assignment_rule_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignment_rule_members_user_id'), ['user_id'], unique=False)

    op.create_table('web_forms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('language', sa.String(length=10), nullable=False),
    sa.Column('fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), server_default='[]', nullable=False),
    sa.Column('thank_you', sa.Text(), nullable=True),
    sa.Column('redirect_url', sa.String(length=500), nullable=True),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('campaign', sa.String(length=200), nullable=True),
    sa.Column('frame_origins', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['assignment_rules.id'], name=op.f('fk_web_forms_rule_id_assignment_rules'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_id'], ['lead_sources.id'], name=op.f('fk_web_forms_source_id_lead_sources'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_forms')),
    sa.UniqueConstraint('key', name=op.f('uq_web_forms_key'))
    )
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('campaign', sa.String(length=200), nullable=True))



def downgrade():
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_column('campaign')

    op.drop_table('web_forms')
    with op.batch_alter_table('assignment_rule_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignment_rule_members_user_id'))

    op.drop_table('assignment_rule_members')
    op.drop_table('assignment_rules')
