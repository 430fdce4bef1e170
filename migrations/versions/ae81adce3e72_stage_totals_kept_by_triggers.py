"""stage totals kept by triggers (see crm/stage_totals.py), counted from the opportunities

Revision ID: ae81adce3e72
Revises: 7f3a9c2e41b8
Create Date: 2026-11-22 20:20:55.070994

The triggers and functions below are what crm/stage_totals.py generated when this migration
was written (commit a6dfe8f), copied here so that this migration keeps doing what it did
then, whatever that module says later. 231884c51180 installs stage_totals' again, in its own
version, beside closed_totals'.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ae81adce3e72'
down_revision = '7f3a9c2e41b8'
branch_labels = None
depends_on = None

# SQLite: one trigger per kind of write on opportunities; each adds the old row's share out
# and the new row's in (amounts in whole cents).
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
)

SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS stage_totals_ai",
    "DROP TRIGGER IF EXISTS stage_totals_ad",
    "DROP TRIGGER IF EXISTS stage_totals_au",
)

# PostgreSQL: stage_totals_share adds one row's share; stage_totals_apply, the trigger
# function, touches the two stage_totals rows of an update in a fixed order.
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
)

PG_DROP = (
    "DROP TRIGGER IF EXISTS stage_totals_trg ON opportunities",
    "DROP FUNCTION IF EXISTS stage_totals_apply()",
    "DROP FUNCTION IF EXISTS stage_totals_share(integer, text, numeric, integer, boolean, "
    "integer)",
)


def upgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table('stage_totals',
    sa.Column('stage_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('count', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('amount_cents', sa.Numeric(precision=30, scale=0), server_default='0', nullable=False),
    sa.Column('floating_cents', sa.Numeric(precision=30, scale=0), server_default='0', nullable=False),
    sa.Column('fixed_weighted', sa.Numeric(precision=32, scale=0), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('stage_id', 'currency', name=op.f('pk_stage_totals'))
    )
    # ### end Alembic commands ###
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
    bind = op.get_bind()
    for statement in {"sqlite": SQLITE_DROP, "postgresql": PG_DROP}.get(bind.dialect.name, ()):
        bind.exec_driver_sql(statement)
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_table('stage_totals')
    # ### end Alembic commands ###
