"""The stage_totals table (crm.models.StageTotal), kept by database triggers on
opportunities: every insert, update (stage, currency, amount, probability override, trash)
and delete of an opportunity adds its old row's share out and its new row's share in.

Triggers rather than ORM events because the writes that move many opportunities at once
(a removed stage's bulk move, trash and restore of a batch, purge, imports) are plain SQL
statements: the database sees every one of them.

Amounts are kept in whole cents (amounts have two decimals), so adding and taking away never
drifts. Weighted amounts are read as floating_cents × the stage's probability +
fixed_weighted (cents × override percent), divided by 10,000: a stage whose default
probability changes needs no recount.

On PostgreSQL an update takes the two rows it touches in a fixed order (by stage, then
currency), so two moves in opposite directions between the same stages cannot deadlock.

closed_totals (crm.models.ClosedTotal) is the same per stage, currency and UTC day of
closed_at, for the won and lost columns, which show what closed in the last 30 days: a
moving window that no single running total can follow. The whole days of the window are
summed from it, and the part of its first day after the cutoff is counted from the
opportunities themselves (a day's worth of rows, through ix_opportunities_closed_at).
Its triggers are separate from stage_totals' and watch closed_at as well.

Here also live the pieces every total is computed with (cents_of, stage_probability,
weighted_units, amount_from_cents, weighted_from_units); the sums the board's columns and
the opportunity list's totals read are built from them in crm.board.queries
(opportunity_sums, table_sums).

tests/test_stage_totals.py checks that both tables equal a fresh count after every kind of
write, on both databases.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Integer, case, cast, event, func, literal

CENT = Decimal("0.01")

_SUMS = "count, amount_cents, floating_cents, fixed_weighted"
_COLUMNS = f"stage_id, currency, {_SUMS}"
_CLOSED_COLUMNS = f"stage_id, currency, day, {_SUMS}"
_WATCHED = "stage_id, currency, amount, probability_override, deleted_at"
_CLOSED_WATCHED = f"{_WATCHED}, closed_at"


def _sqlite_share(row: str, sign: str, *, by_day: bool = False) -> str:
    """The SELECT of one row's share (sign '' or '-'), when it is not in the trash (and, by
    day, when it is closed)."""
    cents = f"CAST(ROUND(COALESCE({row}.amount, 0) * 100) AS INTEGER)"
    day = f"date({row}.closed_at), " if by_day else ""
    closed = f" AND {row}.closed_at IS NOT NULL" if by_day else ""
    return (f"SELECT {row}.stage_id, COALESCE({row}.currency, ''), {day}{sign}1, {sign}{cents}, "
            f"CASE WHEN {row}.probability_override IS NULL THEN {sign}{cents} ELSE 0 END, "
            f"CASE WHEN {row}.probability_override IS NULL THEN 0 "
            f"ELSE {sign}{cents} * {row}.probability_override END "
            f"WHERE {row}.deleted_at IS NULL{closed}")


def _upsert_tail(key: str) -> str:
    return (f" ON CONFLICT ({key}) DO UPDATE SET count = count + excluded.count, "
            "amount_cents = amount_cents + excluded.amount_cents, "
            "floating_cents = floating_cents + excluded.floating_cents, "
            "fixed_weighted = fixed_weighted + excluded.fixed_weighted")


def _sqlite_apply(row: str, sign: str) -> str:
    return (f"INSERT INTO stage_totals ({_COLUMNS}) {_sqlite_share(row, sign)}"
            f"{_upsert_tail('stage_id, currency')};")


def _sqlite_closed_apply(row: str, sign: str) -> str:
    return (f"INSERT INTO closed_totals ({_CLOSED_COLUMNS}) {_sqlite_share(row, sign, by_day=True)}"
            f"{_upsert_tail('stage_id, currency, day')};")


_SQLITE_DDL = (
    "CREATE TRIGGER IF NOT EXISTS stage_totals_ai AFTER INSERT ON opportunities BEGIN "
    f"{_sqlite_apply('new', '')} END",
    "CREATE TRIGGER IF NOT EXISTS stage_totals_ad AFTER DELETE ON opportunities BEGIN "
    f"{_sqlite_apply('old', '-')} END",
    f"CREATE TRIGGER IF NOT EXISTS stage_totals_au AFTER UPDATE OF {_WATCHED} ON opportunities BEGIN "
    f"{_sqlite_apply('old', '-')} {_sqlite_apply('new', '')} END",
)

_SQLITE_CLOSED_DDL = (
    "CREATE TRIGGER IF NOT EXISTS closed_totals_ai AFTER INSERT ON opportunities BEGIN "
    f"{_sqlite_closed_apply('new', '')} END",
    "CREATE TRIGGER IF NOT EXISTS closed_totals_ad AFTER DELETE ON opportunities BEGIN "
    f"{_sqlite_closed_apply('old', '-')} END",
    f"CREATE TRIGGER IF NOT EXISTS closed_totals_au AFTER UPDATE OF {_CLOSED_WATCHED} ON opportunities "
    f"BEGIN {_sqlite_closed_apply('old', '-')} {_sqlite_closed_apply('new', '')} END",
)

def _pg_functions(table: str, *, by_day: bool) -> str:
    """The PL/pgSQL of one table: `<table>_share` adds one row's share (sign 1 or -1) unless it
    is in the trash (or, by day, not closed); `<table>_apply`, the trigger function, takes
    the old row's share out and the new one's in, touching the two table rows in a fixed
    order (stage, currency[, day]) so that opposite moves cannot deadlock."""
    day_param = "p_closed timestamptz, " if by_day else ""
    skip = "p_trashed OR p_closed IS NULL" if by_day else "p_trashed"
    key = "stage_id, currency, day" if by_day else "stage_id, currency"
    day_value = "(p_closed AT TIME ZONE 'UTC')::date, " if by_day else ""
    columns = _CLOSED_COLUMNS if by_day else _COLUMNS

    def share(row: str, sign: str) -> str:
        closed = f"{row}.closed_at, " if by_day else ""
        return (f"PERFORM {table}_share({row}.stage_id, {row}.currency, {row}.amount, "
                f"{row}.probability_override, {closed}{row}.deleted_at IS NOT NULL, {sign});")

    def order(row: str) -> str:
        day = f", ({row}.closed_at AT TIME ZONE 'UTC')::date" if by_day else ""
        return f"({row}.stage_id, coalesce({row}.currency, ''){day})"

    # A NULL day (a reopened deal) compares as unknown: take the old share out first then.
    old_first = f"{order('OLD')} <= {order('NEW')}" + (" OR NEW.closed_at IS NULL" if by_day else "")
    return f"""
CREATE OR REPLACE FUNCTION {table}_share(p_stage integer, p_currency text, p_amount numeric,
    p_override integer, {day_param}p_trashed boolean, sign integer)
RETURNS void AS $$
DECLARE
  cents numeric := round(coalesce(p_amount, 0) * 100);
BEGIN
  IF {skip} THEN
    RETURN;
  END IF;
  INSERT INTO {table} AS t ({columns})
  VALUES (p_stage, coalesce(p_currency, ''), {day_value}sign, sign * cents,
          CASE WHEN p_override IS NULL THEN sign * cents ELSE 0 END,
          CASE WHEN p_override IS NULL THEN 0 ELSE sign * cents * p_override END)
  ON CONFLICT ({key}) DO UPDATE SET count = t.count + excluded.count,
    amount_cents = t.amount_cents + excluded.amount_cents,
    floating_cents = t.floating_cents + excluded.floating_cents,
    fixed_weighted = t.fixed_weighted + excluded.fixed_weighted;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION {table}_apply() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {share('NEW', '1')}
  ELSIF TG_OP = 'DELETE' THEN
    {share('OLD', '-1')}
  ELSIF {old_first} THEN
    {share('OLD', '-1')}
    {share('NEW', '1')}
  ELSE
    {share('NEW', '1')}
    {share('OLD', '-1')}
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
"""


_PG_FUNCTION = _pg_functions("stage_totals", by_day=False)
_PG_TRIGGER = (
    f"CREATE TRIGGER stage_totals_trg AFTER INSERT OR DELETE OR UPDATE OF {_WATCHED} "
    "ON opportunities FOR EACH ROW EXECUTE FUNCTION stage_totals_apply()"
)

# closed_totals' triggers: PostgreSQL fires a table's triggers in the order of their names,
# so every transaction takes its closed_totals rows before its stage_totals rows.
_PG_CLOSED_FUNCTION = _pg_functions("closed_totals", by_day=True)
_PG_CLOSED_TRIGGER = (
    f"CREATE TRIGGER closed_totals_trg AFTER INSERT OR DELETE OR UPDATE OF {_CLOSED_WATCHED} "
    "ON opportunities FOR EACH ROW EXECUTE FUNCTION closed_totals_apply()"
)


def stage_probability(probabilities: dict[int, int | None], stage_column):
    """The stages' default probabilities in SQL: a CASE over the stage ids (known already,
    so no query needs to join the stages); 0 for any other stage."""
    if not probabilities:
        return literal(0)
    return case({stage_id: literal(p or 0) for stage_id, p in probabilities.items()},
                value=stage_column, else_=literal(0))


def weighted_units(probabilities: dict[int, int | None], table):
    """A row's weighted amount in cents × percent (divide by 10,000), `table` being
    crm.models.StageTotal or ClosedTotal (passed in: crm.models imports this module)."""
    return (table.floating_cents * stage_probability(probabilities, table.stage_id)
            + table.fixed_weighted)


def _sums(cents: str) -> str:
    return (f"count(*), sum({cents}), "
            f"sum(CASE WHEN probability_override IS NULL THEN {cents} ELSE 0 END), "
            f"sum(CASE WHEN probability_override IS NULL THEN 0 ELSE {cents} * probability_override END)")


def cents_of(amount, dialect_name: str):
    """An amount in whole cents, as the triggers compute it: SQL integers, so adding them up
    never goes through floating point (SQLite would multiply a NUMERIC by 0.35 in floats)."""
    if dialect_name == "sqlite":
        return cast(func.round(func.coalesce(amount, 0) * 100), Integer)
    return func.round(func.coalesce(amount, 0) * 100)


def amount_from_cents(cents) -> Decimal:
    return (Decimal(cents or 0) / 100).quantize(CENT)


def weighted_from_units(units) -> Decimal:
    """A weighted amount from cents × percent, rounded to the cent half up (四舍五入), the one
    rounding every weighted figure of the app uses: the board, the list's totals, each row."""
    return (Decimal(units or 0) / 10000).quantize(CENT, ROUND_HALF_UP)


def rebuild(connection, *, closed: bool = True) -> None:
    """Count stage_totals (and closed_totals) afresh from the opportunities."""
    if connection.dialect.name == "sqlite":
        cents = "CAST(ROUND(COALESCE(amount, 0) * 100) AS INTEGER)"
        day = "date(closed_at)"
    else:
        cents = "round(coalesce(amount, 0) * 100)"
        day = "(closed_at AT TIME ZONE 'UTC')::date"
    connection.exec_driver_sql("DELETE FROM stage_totals")
    connection.exec_driver_sql(
        f"INSERT INTO stage_totals ({_COLUMNS}) "
        f"SELECT stage_id, COALESCE(currency, ''), {_sums(cents)} "
        "FROM opportunities WHERE deleted_at IS NULL GROUP BY stage_id, COALESCE(currency, '')")
    if closed:
        connection.exec_driver_sql("DELETE FROM closed_totals")
        connection.exec_driver_sql(
            f"INSERT INTO closed_totals ({_CLOSED_COLUMNS}) "
            f"SELECT stage_id, COALESCE(currency, ''), {day}, {_sums(cents)} "
            "FROM opportunities WHERE deleted_at IS NULL AND closed_at IS NOT NULL "
            f"GROUP BY stage_id, COALESCE(currency, ''), {day}")


def install(connection, *, populate: bool = True, closed: bool = True) -> None:
    """Create the triggers (idempotent); `populate`: count what is there already.
    `closed`: closed_totals' too (False only for the migration that predates that table)."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_DDL + (_SQLITE_CLOSED_DDL if closed else ()):
            connection.exec_driver_sql(statement)
    elif dialect == "postgresql":
        connection.exec_driver_sql(_PG_FUNCTION)
        connection.exec_driver_sql("DROP TRIGGER IF EXISTS stage_totals_trg ON opportunities")
        connection.exec_driver_sql(_PG_TRIGGER)
        if closed:
            connection.exec_driver_sql(_PG_CLOSED_FUNCTION)
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS closed_totals_trg ON opportunities")
            connection.exec_driver_sql(_PG_CLOSED_TRIGGER)
    else:  # pragma: no cover - the app runs on SQLite and PostgreSQL only
        raise RuntimeError(f"stage totals: no triggers for {dialect}")
    if populate:
        rebuild(connection, closed=closed)


def uninstall(connection, *, stage: bool = True, closed: bool = True) -> None:
    """Drop the triggers of stage_totals (`stage`) and of closed_totals (`closed`)."""
    if connection.dialect.name == "sqlite":
        for suffix in ("ai", "ad", "au"):
            if stage:
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS stage_totals_{suffix}")
            if closed:
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS closed_totals_{suffix}")
    elif connection.dialect.name == "postgresql":
        if stage:
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS stage_totals_trg ON opportunities")
            connection.exec_driver_sql("DROP FUNCTION IF EXISTS stage_totals_apply()")
            connection.exec_driver_sql(
                "DROP FUNCTION IF EXISTS stage_totals_share(integer, text, numeric, integer, boolean, integer)")
        if closed:
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS closed_totals_trg ON opportunities")
            connection.exec_driver_sql("DROP FUNCTION IF EXISTS closed_totals_apply()")
            connection.exec_driver_sql(
                "DROP FUNCTION IF EXISTS closed_totals_share(integer, text, numeric, integer, "
                "timestamptz, boolean, integer)")


def register(metadata) -> None:
    """Install the triggers whenever create_all builds the schema (the tests, the demo)."""
    def after_create(target, connection, tables=None, **kw):
        names = {table.name for table in tables} if tables is not None else None
        if names is None or {"opportunities", "stage_totals", "closed_totals"} & names:
            install(connection, populate=True)

    event.listen(metadata, "after_create", after_create)
    event.listen(metadata, "before_drop", lambda target, connection, **kw: uninstall(connection))
