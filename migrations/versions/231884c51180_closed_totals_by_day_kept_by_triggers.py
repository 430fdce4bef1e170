"""closed totals by day kept by triggers (see crm/stage_totals.py), for the board's won and
lost columns; closed_at filled in where a closed opportunity lacked it

Revision ID: 231884c51180
Revises: ae81adce3e72
Create Date: 2026-11-22 22:52:20.557567

The triggers and functions below are what crm/stage_totals.py generated when this migration
was written (commit ea029a4), copied here so that this migration keeps doing what it did
then, whatever that module says later: closed_totals' triggers, and stage_totals' again
(on SQLite they are there already and stay as they are; on PostgreSQL the functions are
replaced and the trigger made anew), then both tables counted afresh.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '231884c51180'
down_revision = 'ae81adce3e72'
branch_labels = None
depends_on = None

# SQLite: one trigger per kind of write on opportunities and per table; each adds the old
# row's share out and the new row's in (amounts in whole cents; closed_totals by UTC day
# of closed_at, for closed opportunities).
SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS stage_totals_ai AFTER INSERT ON opportunities "
    "BEGIN "
    "INSERT INTO stage_totals (stage_id, currency, count, amount_cents, floating_cents, "
    "fixed_weighted) "
    "SELECT new.stage_id, COALESCE(new.currency, ''), 1, CAST(ROUND(COALESCE(new.amount, 0) * "
    "100) AS INTEGER), "
    "CASE WHEN new.probability_override IS NULL THEN CAST(ROUND(COALESCE(new.amount, 0) * 100) "
    "AS INTEGER) ELSE 0 END, "
    "CASE WHEN new.probability_override IS NULL THEN 0 ELSE CAST(ROUND(COALESCE(new.amount, 0) "
    "* 100) AS INTEGER) * new.probability_override END "
    "WHERE new.deleted_at IS NULL "
    "ON CONFLICT (stage_id, currency) "
    "DO UPDATE SET count = count + excluded.count, amount_cents = amount_cents + "
    "excluded.amount_cents, floating_cents = floating_cents + excluded.floating_cents, "
    "fixed_weighted = fixed_weighted + excluded.fixed_weighted; "
    "END",
    "CREATE TRIGGER IF NOT EXISTS stage_totals_ad AFTER DELETE ON opportunities "
    "BEGIN "
    "INSERT INTO stage_totals (stage_id, currency, count, amount_cents, floating_cents, "
    "fixed_weighted) "
    "SELECT old.stage_id, COALESCE(old.currency, ''), -1, -CAST(ROUND(COALESCE(old.amount, 0) "
    "* 100) AS INTEGER), "
    "CASE WHEN old.probability_override IS NULL THEN -CAST(ROUND(COALESCE(old.amount, 0) * "
    "100) AS INTEGER) ELSE 0 END, "
    "CASE WHEN old.probability_override IS NULL THEN 0 ELSE -CAST(ROUND(COALESCE(old.amount, "
    "0) * 100) AS INTEGER) * old.probability_override END "
    "WHERE old.deleted_at IS NULL "
    "ON CONFLICT (stage_id, currency) "
    "DO UPDATE SET count = count + excluded.count, amount_cents = amount_cents + "
    "excluded.amount_cents, floating_cents = floating_cents + excluded.floating_cents, "
    "fixed_weighted = fixed_weighted + excluded.fixed_weighted; "
    "END",
    "CREATE TRIGGER IF NOT EXISTS stage_totals_au AFTER UPDATE OF stage_id, currency, amount, "
    "probability_override, deleted_at ON opportunities "
    "BEGIN "
    "INSERT INTO stage_totals (stage_id, currency, count, amount_cents, floating_cents, "
    "fixed_weighted) "
    "SELECT old.stage_id, COALESCE(old.currency, ''), -1, -CAST(ROUND(COALESCE(old.amount, 0) "
    "* 100) AS INTEGER), "
    "CASE WHEN old.probability_override IS NULL THEN -CAST(ROUND(COALESCE(old.amount, 0) * "
    "100) AS INTEGER) ELSE 0 END, "
    "CASE WHEN old.probability_override IS NULL THEN 0 ELSE -CAST(ROUND(COALESCE(old.amount, "
    "0) * 100) AS INTEGER) * old.probability_override END "
    "WHERE old.deleted_at IS NULL "
    "ON CONFLICT (stage_id, currency) "
    "DO UPDATE SET count = count + excluded.count, amount_cents = amount_cents + "
    "excluded.amount_cents, floating_cents = floating_cents + excluded.floating_cents, "
    "fixed_weighted = fixed_weighted + excluded.fixed_weighted; "
    "INSERT INTO stage_totals (stage_id, currency, count, amount_cents, floating_cents, "
    "fixed_weighted) "
    "SELECT new.stage_id, COALESCE(new.currency, ''), 1, CAST(ROUND(COALESCE(new.amount, 0) * "
    "100) AS INTEGER), "
    "CASE WHEN new.probability_override IS NULL THEN CAST(ROUND(COALESCE(new.amount, 0) * 100) "
    "AS INTEGER) ELSE 0 END, "
    "CASE WHEN new.probability_override IS NULL THEN 0 ELSE CAST(ROUND(COALESCE(new.amount, 0) "
    "* 100) AS INTEGER) * new.probability_override END "
    "WHERE new.deleted_at IS NULL "
    "ON CONFLICT (stage_id, currency) "
    "DO UPDATE SET count = count + excluded.count, amount_cents = amount_cents + "
    "excluded.amount_cents, floating_cents = floating_cents + excluded.floating_cents, "
    "fixed_weighted = fixed_weighted + excluded.fixed_weighted; "
    "END",
    "CREATE TRIGGER IF NOT EXISTS closed_totals_ai AFTER INSERT ON opportunities "
    "BEGIN "
    "INSERT INTO closed_totals (stage_id, currency, day, count, amount_cents, floating_cents, "
    "fixed_weighted) "
    "SELECT new.stage_id, COALESCE(new.currency, ''), date(new.closed_at), 1, "
    "CAST(ROUND(COALESCE(new.amount, 0) * 100) AS INTEGER), "
    "CASE WHEN new.probability_override IS NULL THEN CAST(ROUND(COALESCE(new.amount, 0) * 100) "
    "AS INTEGER) ELSE 0 END, "
    "CASE WHEN new.probability_override IS NULL THEN 0 ELSE CAST(ROUND(COALESCE(new.amount, 0) "
    "* 100) AS INTEGER) * new.probability_override END "
    "WHERE new.deleted_at IS NULL AND new.closed_at IS NOT NULL "
    "ON CONFLICT (stage_id, currency, day) "
    "DO UPDATE SET count = count + excluded.count, amount_cents = amount_cents + "
    "excluded.amount_cents, floating_cents = floating_cents + excluded.floating_cents, "
    "fixed_weighted = fixed_weighted + excluded.fixed_weighted; "
    "END",
    "CREATE TRIGGER IF NOT EXISTS closed_totals_ad AFTER DELETE ON opportunities "
    "BEGIN "
    "INSERT INTO closed_totals (stage_id, currency, day, count, amount_cents, floating_cents, "
    "fixed_weighted) "
    "SELECT old.stage_id, COALESCE(old.currency, ''), date(old.closed_at), -1, "
    "-CAST(ROUND(COALESCE(old.amount, 0) * 100) AS INTEGER), "
    "CASE WHEN old.probability_override IS NULL THEN -CAST(ROUND(COALESCE(old.amount, 0) * "
    "100) AS INTEGER) ELSE 0 END, "
    "CASE WHEN old.probability_override IS NULL THEN 0 ELSE -CAST(ROUND(COALESCE(old.amount, "
    "0) * 100) AS INTEGER) * old.probability_override END "
    "WHERE old.deleted_at IS NULL AND old.closed_at IS NOT NULL "
    "ON CONFLICT (stage_id, currency, day) "
    "DO UPDATE SET count = count + excluded.count, amount_cents = amount_cents + "
    "excluded.amount_cents, floating_cents = floating_cents + excluded.floating_cents, "
    "fixed_weighted = fixed_weighted + excluded.fixed_weighted; "
    "END",
    "CREATE TRIGGER IF NOT EXISTS closed_totals_au AFTER UPDATE OF stage_id, currency, amount, "
    "probability_override, deleted_at, closed_at ON opportunities "
    "BEGIN "
    "INSERT INTO closed_totals (stage_id, currency, day, count, amount_cents, floating_cents, "
    "fixed_weighted) "
    "SELECT old.stage_id, COALESCE(old.currency, ''), date(old.closed_at), -1, "
    "-CAST(ROUND(COALESCE(old.amount, 0) * 100) AS INTEGER), "
    "CASE WHEN old.probability_override IS NULL THEN -CAST(ROUND(COALESCE(old.amount, 0) * "
    "100) AS INTEGER) ELSE 0 END, "
    "CASE WHEN old.probability_override IS NULL THEN 0 ELSE -CAST(ROUND(COALESCE(old.amount, "
    "0) * 100) AS INTEGER) * old.probability_override END "
    "WHERE old.deleted_at IS NULL AND old.closed_at IS NOT NULL "
    "ON CONFLICT (stage_id, currency, day) "
    "DO UPDATE SET count = count + excluded.count, amount_cents = amount_cents + "
    "excluded.amount_cents, floating_cents = floating_cents + excluded.floating_cents, "
    "fixed_weighted = fixed_weighted + excluded.fixed_weighted; "
    "INSERT INTO closed_totals (stage_id, currency, day, count, amount_cents, floating_cents, "
    "fixed_weighted) "
    "SELECT new.stage_id, COALESCE(new.currency, ''), date(new.closed_at), 1, "
    "CAST(ROUND(COALESCE(new.amount, 0) * 100) AS INTEGER), "
    "CASE WHEN new.probability_override IS NULL THEN CAST(ROUND(COALESCE(new.amount, 0) * 100) "
    "AS INTEGER) ELSE 0 END, "
    "CASE WHEN new.probability_override IS NULL THEN 0 ELSE CAST(ROUND(COALESCE(new.amount, 0) "
    "* 100) AS INTEGER) * new.probability_override END "
    "WHERE new.deleted_at IS NULL AND new.closed_at IS NOT NULL "
    "ON CONFLICT (stage_id, currency, day) "
    "DO UPDATE SET count = count + excluded.count, amount_cents = amount_cents + "
    "excluded.amount_cents, floating_cents = floating_cents + excluded.floating_cents, "
    "fixed_weighted = fixed_weighted + excluded.fixed_weighted; "
    "END",
)

SQLITE_COUNT = (
    "DELETE FROM stage_totals",
    "INSERT INTO stage_totals (stage_id, currency, count, amount_cents, floating_cents, "
    "fixed_weighted) "
    "SELECT stage_id, COALESCE(currency, ''), count(*), sum(CAST(ROUND(COALESCE(amount, 0) * "
    "100) AS INTEGER)), sum(CASE WHEN probability_override IS NULL THEN "
    "CAST(ROUND(COALESCE(amount, 0) * 100) AS INTEGER) ELSE 0 END), sum(CASE WHEN "
    "probability_override IS NULL THEN 0 ELSE CAST(ROUND(COALESCE(amount, 0) * 100) AS "
    "INTEGER) * probability_override END) "
    "FROM opportunities "
    "WHERE deleted_at IS NULL "
    "GROUP BY stage_id, COALESCE(currency, '')",
    "DELETE FROM closed_totals",
    "INSERT INTO closed_totals (stage_id, currency, day, count, amount_cents, floating_cents, "
    "fixed_weighted) "
    "SELECT stage_id, COALESCE(currency, ''), date(closed_at), count(*), "
    "sum(CAST(ROUND(COALESCE(amount, 0) * 100) AS INTEGER)), sum(CASE WHEN "
    "probability_override IS NULL THEN CAST(ROUND(COALESCE(amount, 0) * 100) AS INTEGER) ELSE "
    "0 END), sum(CASE WHEN probability_override IS NULL THEN 0 ELSE "
    "CAST(ROUND(COALESCE(amount, 0) * 100) AS INTEGER) * probability_override END) "
    "FROM opportunities "
    "WHERE deleted_at IS NULL AND closed_at IS NOT NULL "
    "GROUP BY stage_id, COALESCE(currency, ''), date(closed_at)",
)

SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS closed_totals_ai",
    "DROP TRIGGER IF EXISTS closed_totals_ad",
    "DROP TRIGGER IF EXISTS closed_totals_au",
)

# PostgreSQL: <table>_share adds one row's share; <table>_apply, the trigger function,
# touches the table rows of an update in a fixed order. A table's triggers fire in the
# order of their names: closed_totals' rows are taken before stage_totals'.
PG_TRIGGERS = (
    """
CREATE OR REPLACE FUNCTION stage_totals_share(p_stage integer, p_currency text, p_amount numeric,
                                              p_override integer, p_trashed boolean, sign integer)
RETURNS void AS $$
DECLARE
  cents numeric := round(coalesce(p_amount, 0) * 100);
BEGIN
  IF p_trashed THEN
    RETURN;
  END IF;
  INSERT INTO stage_totals AS t (stage_id, currency, count, amount_cents, floating_cents, fixed_weighted)
  VALUES (p_stage, coalesce(p_currency, ''), sign, sign * cents,
          CASE WHEN p_override IS NULL THEN sign * cents ELSE 0 END,
          CASE WHEN p_override IS NULL THEN 0 ELSE sign * cents * p_override END)
  ON CONFLICT (stage_id, currency) DO UPDATE SET count = t.count + excluded.count,
    amount_cents = t.amount_cents + excluded.amount_cents,
    floating_cents = t.floating_cents + excluded.floating_cents,
    fixed_weighted = t.fixed_weighted + excluded.fixed_weighted;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION stage_totals_apply() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM stage_totals_share(NEW.stage_id, NEW.currency, NEW.amount, NEW.probability_override,
                               NEW.deleted_at IS NOT NULL, 1);
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM stage_totals_share(OLD.stage_id, OLD.currency, OLD.amount, OLD.probability_override,
                               OLD.deleted_at IS NOT NULL, -1);
  ELSIF (OLD.stage_id, coalesce(OLD.currency, '')) <= (NEW.stage_id, coalesce(NEW.currency, '')) THEN
    PERFORM stage_totals_share(OLD.stage_id, OLD.currency, OLD.amount, OLD.probability_override,
                               OLD.deleted_at IS NOT NULL, -1);
    PERFORM stage_totals_share(NEW.stage_id, NEW.currency, NEW.amount, NEW.probability_override,
                               NEW.deleted_at IS NOT NULL, 1);
  ELSE
    PERFORM stage_totals_share(NEW.stage_id, NEW.currency, NEW.amount, NEW.probability_override,
                               NEW.deleted_at IS NOT NULL, 1);
    PERFORM stage_totals_share(OLD.stage_id, OLD.currency, OLD.amount, OLD.probability_override,
                               OLD.deleted_at IS NOT NULL, -1);
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
""",
    "DROP TRIGGER IF EXISTS stage_totals_trg ON opportunities",
    "CREATE TRIGGER stage_totals_trg AFTER INSERT OR DELETE OR UPDATE OF stage_id, currency, "
    "amount, probability_override, deleted_at ON opportunities "
    "FOR EACH ROW EXECUTE FUNCTION stage_totals_apply()",
    """
CREATE OR REPLACE FUNCTION closed_totals_share(p_stage integer, p_currency text, p_amount numeric,
                                               p_override integer, p_closed timestamptz,
                                               p_trashed boolean, sign integer)
RETURNS void AS $$
DECLARE
  cents numeric := round(coalesce(p_amount, 0) * 100);
BEGIN
  IF p_trashed OR p_closed IS NULL THEN
    RETURN;
  END IF;
  INSERT INTO closed_totals AS t (stage_id, currency, day, count, amount_cents, floating_cents, fixed_weighted)
  VALUES (p_stage, coalesce(p_currency, ''), (p_closed AT TIME ZONE 'UTC')::date, sign, sign * cents,
          CASE WHEN p_override IS NULL THEN sign * cents ELSE 0 END,
          CASE WHEN p_override IS NULL THEN 0 ELSE sign * cents * p_override END)
  ON CONFLICT (stage_id, currency, day) DO UPDATE SET count = t.count + excluded.count,
    amount_cents = t.amount_cents + excluded.amount_cents,
    floating_cents = t.floating_cents + excluded.floating_cents,
    fixed_weighted = t.fixed_weighted + excluded.fixed_weighted;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION closed_totals_apply() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM closed_totals_share(NEW.stage_id, NEW.currency, NEW.amount, NEW.probability_override,
                                NEW.closed_at, NEW.deleted_at IS NOT NULL, 1);
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM closed_totals_share(OLD.stage_id, OLD.currency, OLD.amount, OLD.probability_override,
                                OLD.closed_at, OLD.deleted_at IS NOT NULL, -1);
  ELSIF (OLD.stage_id, coalesce(OLD.currency, ''), (OLD.closed_at AT TIME ZONE 'UTC')::date)
        <= (NEW.stage_id, coalesce(NEW.currency, ''), (NEW.closed_at AT TIME ZONE 'UTC')::date)
        OR NEW.closed_at IS NULL THEN
    PERFORM closed_totals_share(OLD.stage_id, OLD.currency, OLD.amount, OLD.probability_override,
                                OLD.closed_at, OLD.deleted_at IS NOT NULL, -1);
    PERFORM closed_totals_share(NEW.stage_id, NEW.currency, NEW.amount, NEW.probability_override,
                                NEW.closed_at, NEW.deleted_at IS NOT NULL, 1);
  ELSE
    PERFORM closed_totals_share(NEW.stage_id, NEW.currency, NEW.amount, NEW.probability_override,
                                NEW.closed_at, NEW.deleted_at IS NOT NULL, 1);
    PERFORM closed_totals_share(OLD.stage_id, OLD.currency, OLD.amount, OLD.probability_override,
                                OLD.closed_at, OLD.deleted_at IS NOT NULL, -1);
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
""",
    "DROP TRIGGER IF EXISTS closed_totals_trg ON opportunities",
    "CREATE TRIGGER closed_totals_trg AFTER INSERT OR DELETE OR UPDATE OF stage_id, currency, "
    "amount, probability_override, deleted_at, closed_at ON opportunities "
    "FOR EACH ROW EXECUTE FUNCTION closed_totals_apply()",
)

PG_COUNT = (
    "DELETE FROM stage_totals",
    "INSERT INTO stage_totals (stage_id, currency, count, amount_cents, floating_cents, "
    "fixed_weighted) "
    "SELECT stage_id, COALESCE(currency, ''), count(*), sum(round(coalesce(amount, 0) * 100)), "
    "sum(CASE WHEN probability_override IS NULL THEN round(coalesce(amount, 0) * 100) ELSE 0 "
    "END), sum(CASE WHEN probability_override IS NULL THEN 0 ELSE round(coalesce(amount, 0) * "
    "100) * probability_override END) "
    "FROM opportunities "
    "WHERE deleted_at IS NULL "
    "GROUP BY stage_id, COALESCE(currency, '')",
    "DELETE FROM closed_totals",
    "INSERT INTO closed_totals (stage_id, currency, day, count, amount_cents, floating_cents, "
    "fixed_weighted) "
    "SELECT stage_id, COALESCE(currency, ''), (closed_at AT TIME ZONE 'UTC')::date, count(*), "
    "sum(round(coalesce(amount, 0) * 100)), sum(CASE WHEN probability_override IS NULL THEN "
    "round(coalesce(amount, 0) * 100) ELSE 0 END), sum(CASE WHEN probability_override IS NULL "
    "THEN 0 ELSE round(coalesce(amount, 0) * 100) * probability_override END) "
    "FROM opportunities "
    "WHERE deleted_at IS NULL AND closed_at IS NOT NULL "
    "GROUP BY stage_id, COALESCE(currency, ''), (closed_at AT TIME ZONE 'UTC')::date",
)

PG_DROP = (
    "DROP TRIGGER IF EXISTS closed_totals_trg ON opportunities",
    "DROP FUNCTION IF EXISTS closed_totals_apply()",
    "DROP FUNCTION IF EXISTS closed_totals_share(integer, text, numeric, integer, timestamptz, "
    "boolean, integer)",
)


def upgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table('closed_totals',
    sa.Column('stage_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('count', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('amount_cents', sa.Numeric(precision=30, scale=0), server_default='0', nullable=False),
    sa.Column('floating_cents', sa.Numeric(precision=30, scale=0), server_default='0', nullable=False),
    sa.Column('fixed_weighted', sa.Numeric(precision=32, scale=0), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('stage_id', 'currency', 'day', name=op.f('pk_closed_totals'))
    )
    # Not through batch_alter_table: on SQLite a batch may copy the table, which would lose the
    # triggers on it.
    op.create_index('ix_opportunities_closed_at', 'opportunities', ['closed_at', 'stage_id'],
                    unique=False)
    # ### end Alembic commands ###
    # The won and lost columns count by closed_at: a won or lost opportunity always has one
    # (crm.opportunities.services sets it), but fill it from stage_entered_at where it was not.
    op.execute("UPDATE opportunities SET closed_at = stage_entered_at "
               "WHERE status <> 'open' AND closed_at IS NULL AND stage_entered_at IS NOT NULL")
    # The triggers, then the totals of the opportunities already there.
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        statements = SQLITE_TRIGGERS + SQLITE_COUNT
    elif bind.dialect.name == "postgresql":
        statements = PG_TRIGGERS + PG_COUNT
    else:  # pragma: no cover - the app runs on SQLite and PostgreSQL only
        raise RuntimeError(f"stage totals: no triggers for {bind.dialect.name}")
    for statement in statements:
        bind.exec_driver_sql(statement)


def downgrade():
    # closed_totals' triggers only: stage_totals' stay, as ae81adce3e72 made them.
    bind = op.get_bind()
    for statement in {"sqlite": SQLITE_DROP, "postgresql": PG_DROP}.get(bind.dialect.name, ()):
        bind.exec_driver_sql(statement)
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_index('ix_opportunities_closed_at', table_name='opportunities')

    op.drop_table('closed_totals')
    # ### end Alembic commands ###
