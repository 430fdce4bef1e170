"""leads.next_contact_at: a lead's next contact (下次联系时间), planned from its follow-up form;
ix_tasks_lead_done, a partial index of the tasks on leads (their panel and timeline)

Revision ID: a7e3c5d9f1b2
Revises: af2b418523ff
Create Date: 2026-12-04 02:55:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'a7e3c5d9f1b2'
down_revision = 'af2b418523ff'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_contact_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_leads_owner_next_contact', ['owner_id', 'next_contact_at'],
                              unique=False)
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_lead_done', ['lead_id', 'done', 'due_at'], unique=False,
                              sqlite_where=sa.text('lead_id IS NOT NULL'),
                              postgresql_where=sa.text('lead_id IS NOT NULL'))


def downgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_lead_done')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index('ix_leads_owner_next_contact')
        batch_op.drop_column('next_contact_at')
