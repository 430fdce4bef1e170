"""the public pool (公海): pools, their members and limits, customer levels, the owner history; pool_id, owner_since, level_id on customers and leads, locked_at on customers

Revision ID: 92d7d7fb63bd
Revises: a7e3c5d9f1b2
Create Date: 2026-12-04 02:43:02.783494

"""
from alembic import op
import sqlalchemy as sa
from datetime import datetime, timezone
from sqlalchemy.dialects import postgresql
from sqlalchemy import Text

# revision identifiers, used by Alembic.
revision = '92d7d7fb63bd'
down_revision = 'a7e3c5d9f1b2'
branch_labels = None
depends_on = None

# SQLite copies the customers table to add its foreign keys, and the copy loses the triggers
# that keep the customer search index (migration 7f3a9c2e41b8): they are made again, as of
# that migration, and the index rebuilt.
SQLITE_SEARCH_TRIGGERS = (
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


def _search_triggers_again():
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if not bind.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'customer_search'").first():
        return
    for statement in SQLITE_SEARCH_TRIGGERS:
        bind.exec_driver_sql(statement)
    bind.exec_driver_sql("INSERT INTO customer_search(customer_search) VALUES ('rebuild')")


def upgrade():
    op.create_table('customer_levels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=True),
    sa.Column('name', sa.String(length=80), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_levels')),
    sa.UniqueConstraint('key', name=op.f('uq_customer_levels_key'))
    )
    op.create_table('pools',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('name_zh', sa.String(length=80), nullable=False),
    sa.Column('name_en', sa.String(length=80), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('mask_contacts', sa.Boolean(), nullable=False),
    sa.Column('own_cap', sa.Integer(), nullable=True),
    sa.Column('lock_cap', sa.Integer(), nullable=True),
    sa.Column('daily_claims', sa.Integer(), nullable=True),
    sa.Column('cooldown_days', sa.Integer(), nullable=False),
    sa.Column('won_count_towards_cap', sa.Boolean(), nullable=False),
    sa.Column('no_followup_on', sa.Boolean(), nullable=False),
    sa.Column('no_followup_days', sa.Integer(), nullable=False),
    sa.Column('no_open_opportunity_on', sa.Boolean(), nullable=False),
    sa.Column('no_open_opportunity_days', sa.Integer(), nullable=False),
    sa.Column('not_won_on', sa.Boolean(), nullable=False),
    sa.Column('not_won_days', sa.Integer(), nullable=False),
    sa.Column('level_days', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), server_default='{}', nullable=False),
    sa.Column('exempt_won', sa.Boolean(), nullable=False),
    sa.Column('exempt_open_opportunity', sa.Boolean(), nullable=False),
    sa.Column('warn_days', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pools'))
    )
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pools_kind'), ['kind'], unique=False)

    op.create_table('owner_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_kind', sa.String(length=10), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('from_user_id', sa.Integer(), nullable=True),
    sa.Column('to_user_id', sa.Integer(), nullable=True),
    sa.Column('how', sa.String(length=12), nullable=False),
    sa.Column('pool_id', sa.Integer(), nullable=True),
    sa.Column('rule', sa.String(length=30), nullable=True),
    sa.Column('days', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('by_user_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['by_user_id'], ['users.id'], name=op.f('fk_owner_changes_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['from_user_id'], ['users.id'], name=op.f('fk_owner_changes_from_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pool_id'], ['pools.id'], name=op.f('fk_owner_changes_pool_id_pools'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['to_user_id'], ['users.id'], name=op.f('fk_owner_changes_to_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_owner_changes'))
    )
    with op.batch_alter_table('owner_changes', schema=None) as batch_op:
        batch_op.create_index('ix_owner_changes_from', ['from_user_id', 'record_kind', 'at'], unique=False)
        batch_op.create_index('ix_owner_changes_record', ['record_kind', 'record_id', 'at'], unique=False)
        batch_op.create_index('ix_owner_changes_to', ['to_user_id', 'how', 'at'], unique=False)

    op.create_table('pool_limits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pool_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=True),
    sa.Column('own_cap', sa.Integer(), nullable=True),
    sa.Column('lock_cap', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['pool_id'], ['pools.id'], name=op.f('fk_pool_limits_pool_id_pools'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_pool_limits_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pool_limits'))
    )
    with op.batch_alter_table('pool_limits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pool_limits_pool_id'), ['pool_id'], unique=False)

    op.create_table('pool_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pool_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['pool_id'], ['pools.id'], name=op.f('fk_pool_members_pool_id_pools'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_pool_members_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pool_members'))
    )
    with op.batch_alter_table('pool_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pool_members_pool_id'), ['pool_id'], unique=False)

    # resolve_fks=False: the copy reflects this table alone, not those it refers to.
    with op.batch_alter_table('customers', schema=None, reflect_kwargs={'resolve_fks': False}) as batch_op:
        batch_op.add_column(sa.Column('pool_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('owner_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('level_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_customers_level_id'), ['level_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_pool_id'), ['pool_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_customers_level_id_customer_levels'), 'customer_levels', ['level_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_customers_pool_id_pools'), 'pools', ['pool_id'], ['id'], ondelete='SET NULL')
    _search_triggers_again()

    # resolve_fks=False: the copy reflects this table alone, not those it refers to.
    with op.batch_alter_table('leads', schema=None, reflect_kwargs={'resolve_fks': False}) as batch_op:
        batch_op.add_column(sa.Column('pool_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('owner_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('level_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_leads_level_id'), ['level_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_pool_id'), ['pool_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_leads_level_id_customer_levels'), 'customer_levels', ['level_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_leads_pool_id_pools'), 'pools', ['pool_id'], ['id'], ondelete='SET NULL')


    # The built-in levels (A key, B normal, C low; shown translated until renamed) and one
    # enabled pool of each kind, so that every unowned record is in a pool.
    levels = sa.table('customer_levels', sa.column('key', sa.String), sa.column('position', sa.Integer))
    op.bulk_insert(levels, [{'key': key, 'position': i} for i, key in enumerate(('a', 'b', 'c'))])
    pools = sa.table('pools', sa.column('kind', sa.String), sa.column('name_zh', sa.String),
                     sa.column('name_en', sa.String), sa.column('enabled', sa.Boolean),
                     sa.column('position', sa.Integer), sa.column('mask_contacts', sa.Boolean),
                     sa.column('cooldown_days', sa.Integer), sa.column('won_count_towards_cap', sa.Boolean),
                     sa.column('no_followup_on', sa.Boolean), sa.column('no_followup_days', sa.Integer),
                     sa.column('no_open_opportunity_on', sa.Boolean), sa.column('no_open_opportunity_days', sa.Integer),
                     sa.column('not_won_on', sa.Boolean), sa.column('not_won_days', sa.Integer),
                     sa.column('exempt_won', sa.Boolean), sa.column('exempt_open_opportunity', sa.Boolean),
                     sa.column('warn_days', sa.Integer), sa.column('created_at', sa.DateTime(timezone=True)))
    common = {'enabled': True, 'position': 0, 'mask_contacts': False, 'cooldown_days': 0,
              'won_count_towards_cap': True, 'no_followup_on': False, 'no_followup_days': 30,
              'no_open_opportunity_on': False, 'no_open_opportunity_days': 60, 'not_won_on': False,
              'not_won_days': 90, 'exempt_won': True, 'exempt_open_opportunity': False,
              'warn_days': 3, 'created_at': datetime.now(timezone.utc)}
    op.bulk_insert(pools, [{**common, 'kind': 'customer', 'name_zh': '客户公海', 'name_en': 'Customer pool'},
                           {**common, 'kind': 'lead', 'name_zh': '线索公海', 'name_en': 'Lead pool'}])


def downgrade():
    # resolve_fks=False: the copy reflects this table alone, not those it refers to.
    with op.batch_alter_table('leads', schema=None, reflect_kwargs={'resolve_fks': False}) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_leads_pool_id_pools'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_leads_level_id_customer_levels'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_leads_pool_id'))
        batch_op.drop_index(batch_op.f('ix_leads_level_id'))
        batch_op.drop_column('level_id')
        batch_op.drop_column('owner_since')
        batch_op.drop_column('pool_id')

    # resolve_fks=False: the copy reflects this table alone, not those it refers to.
    with op.batch_alter_table('customers', schema=None, reflect_kwargs={'resolve_fks': False}) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_customers_pool_id_pools'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_customers_level_id_customer_levels'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_customers_pool_id'))
        batch_op.drop_index(batch_op.f('ix_customers_level_id'))
        batch_op.drop_column('locked_at')
        batch_op.drop_column('level_id')
        batch_op.drop_column('owner_since')
        batch_op.drop_column('pool_id')
    _search_triggers_again()

    with op.batch_alter_table('pool_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pool_members_pool_id'))

    op.drop_table('pool_members')
    with op.batch_alter_table('pool_limits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pool_limits_pool_id'))

    op.drop_table('pool_limits')
    with op.batch_alter_table('owner_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_owner_changes_to')
        batch_op.drop_index('ix_owner_changes_record')
        batch_op.drop_index('ix_owner_changes_from')

    op.drop_table('owner_changes')
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pools_kind'))

    op.drop_table('pools')
    op.drop_table('customer_levels')
