"""The board's reads, each read one statement whatever the number of opportunities:

- what the board shows (BoardFilters), and when a card is rotting (is_rotting, idle_days);
- column totals (count, amount, weighted amount per currency) in one grouped query, made of
  opportunity_sums / table_sums: the one way opportunities are added up, which the
  opportunity list's totals use as well (crm.opportunities.queries);
- the first cards of every column in one query: a UNION ALL of one keyset-ordered,
  LIMITed select per column. Each branch reads its first 50 rows straight from the index
  (stage_id, expected_close, id), so the board costs the same at 100 or 100,000 open
  opportunities. (A ROW_NUMBER() OVER (PARTITION BY stage_id ...) <= 50 query gives the same
  rows but has to number every opportunity of the pipeline first: 0.3 s at 100,000 rows on
  PostgreSQL 15 against 1 ms for this.)
- the overdue-task marks of the shown cards in one query.

Won and lost columns only show what closed in the last RECENT_DAYS days; open columns show
everything that matches the filters. The cards as the page prints them (rows, page contexts)
are built in crm.board.cards.
"""
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qs, urlencode

from sqlalchemy import and_, func, or_, select, union_all
from sqlalchemy.orm import joinedload

from crm.extensions import db
from crm.models import (ClosedTotal, Customer, Opportunity, Pipeline, Stage, StageTotal, Task, User,
                        utcnow)
from crm.permissions import sees_everything, visible_opportunities_clause
from crm.stage_totals import (amount_from_cents, cents_of, stage_probability, weighted_from_units,
                               weighted_units)

CARDS_PER_COLUMN = 50
RECENT_DAYS = 30


@dataclass
class BoardFilters:
    """What the board shows: whose opportunities and which expected close dates.

    `owner` is "" (everyone), "me", or a user id; dates are inclusive.
    """

    owner: str = ""
    close_from: date | None = None
    close_to: date | None = None
    invalid: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args) -> "BoardFilters":
        """Read the filters from a query string (a MultiDict or a parse_qs dict)."""
        def first(name):
            value = args.get(name, "")
            if isinstance(value, list):
                value = value[0] if value else ""
            return (value or "").strip()

        filters = cls()
        owner = first("owner")
        if owner == "me" or (owner.isdigit() and int(owner) > 0):
            filters.owner = owner
        elif owner:
            filters.invalid.append("owner")
        for name, attr in (("from", "close_from"), ("to", "close_to")):
            value = first(name)
            if not value:
                continue
            try:
                setattr(filters, attr, date.fromisoformat(value))
            except ValueError:
                filters.invalid.append(name)
        return filters

    @classmethod
    def from_url(cls, url: str | None) -> "BoardFilters":
        """The filters of a board URL (the page an htmx request came from)."""
        if not url or "?" not in url:
            return cls()
        return cls.from_args(parse_qs(url.split("?", 1)[1]))

    def owner_id(self, user) -> int | None:
        if self.owner == "me":
            return user.id
        return int(self.owner) if self.owner else None

    @property
    def active(self) -> bool:
        return bool(self.owner or self.close_from or self.close_to)

    def args(self) -> dict[str, str]:
        """The filters as query-string arguments (only those set)."""
        args = {}
        if self.owner:
            args["owner"] = self.owner
        if self.close_from:
            args["from"] = self.close_from.isoformat()
        if self.close_to:
            args["to"] = self.close_to.isoformat()
        return args

    def query_string(self) -> str:
        return urlencode(self.args())

    def conditions(self, user) -> list:
        # Only the cards the user may see: in the columns, their totals and "Load more".
        conditions = [visible_opportunities_clause(user)]
        owner_id = self.owner_id(user)
        if owner_id is not None:
            conditions.append(Opportunity.owner_id == owner_id)
        if self.close_from:
            conditions.append(Opportunity.expected_close >= self.close_from)
        if self.close_to:
            conditions.append(Opportunity.expected_close <= self.close_to)
        return conditions


def recent_cutoff(now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(days=RECENT_DAYS)


def _closed_recently(now: datetime | None = None):
    """Closed in the last RECENT_DAYS days. A won or lost opportunity always has closed_at (the
    migration that added closed_totals filled in any that lacked it), so this equals
    closed_at >= cutoff; the coalesce keeps the condition from matching
    ix_opportunities_closed_at, so a closed column's first cards are read in board order from
    ix_opportunities_stage_close instead of sorting every recent close."""
    return func.coalesce(Opportunity.closed_at, Opportunity.stage_entered_at) >= recent_cutoff(now)


def _visible(stages: list[Stage], now: datetime | None = None):
    """Open stages show every card; won and lost stages only the recently closed ones.
    Written with the stage ids (known already) so no query needs to join the stages."""
    open_ids = [s.id for s in stages if s.kind == "open"]
    closed_ids = [s.id for s in stages if s.kind != "open"]
    conditions = []
    if open_ids:
        conditions.append(Opportunity.stage_id.in_(open_ids))
    if closed_ids:
        conditions.append(and_(Opportunity.stage_id.in_(closed_ids), _closed_recently(now)))
    return or_(*conditions)


def _card_order():
    return (Opportunity.expected_close.asc().nulls_last(), Opportunity.id.asc())


# --- pipelines and stages -------------------------------------------------------------

def pipelines() -> list[Pipeline]:
    return list(db.session.execute(
        select(Pipeline).order_by(Pipeline.position, Pipeline.id)).scalars())


def stages_of(pipeline_id: int) -> list[Stage]:
    return list(db.session.execute(
        select(Stage).where(Stage.pipeline_id == pipeline_id).order_by(Stage.position, Stage.id)
    ).scalars())


def owners() -> list[User]:
    """The people one can filter the board by: active users."""
    return list(db.session.execute(
        select(User).where(User.active.is_(True)).order_by(User.name, User.id)).scalars())


# --- column totals --------------------------------------------------------------------

@dataclass
class CurrencyTotal:
    """How many opportunities in one currency, their amount and their weighted amount."""

    currency: str | None
    count: int
    amount: Decimal
    weighted: Decimal

    @classmethod
    def of(cls, currency, count, cents, units) -> "CurrencyTotal":
        """From the three sums of opportunity_sums / table_sums."""
        return cls(currency, count, amount_from_cents(cents), weighted_from_units(units))


def opportunity_sums(probabilities: dict[int, int | None]) -> tuple:
    """The sums every total of opportunities is made of, as SQL aggregates over the rows a
    query selects: how many, their amount in whole cents, and their weighted amount in cents ×
    percent (the probability override, else the stage's default from `probabilities`, known
    already, so no join with the stages). Integer cents, so the figures are exact and round
    alike everywhere (CurrencyTotal.of; crm.stage_totals.weighted_from_units)."""
    cents = _cents(Opportunity.amount)
    probability = func.coalesce(Opportunity.probability_override,
                                stage_probability(probabilities, Opportunity.stage_id))
    return func.count(), func.sum(cents), func.sum(cents * probability)


def table_sums(probabilities: dict[int, int | None], table=StageTotal) -> tuple:
    """The same three sums from the rows of stage_totals (or closed_totals), which the
    triggers keep (crm/stage_totals.py)."""
    return (func.sum(table.count), func.sum(table.amount_cents),
            func.sum(weighted_units(probabilities, table)))


@dataclass
class ColumnSummary:
    """A column's header: how many cards and how much money, per currency."""

    stage: Stage
    count: int = 0
    by_currency: dict[str, CurrencyTotal] = field(default_factory=dict)

    def lines(self, main_currency: str) -> list[CurrencyTotal]:
        """Totals per currency, the main currency first; amounts are never converted."""
        return sorted(self.by_currency.values(),
                      key=lambda t: (t.currency != main_currency, t.currency))


def column_summaries(stages: list[Stage], filters: BoardFilters, user,
                     now: datetime | None = None) -> dict[int, ColumnSummary]:
    """Count, amount and weighted amount of every column, in one statement.

    weighted = amount * coalesce(probability_override, stage.probability) / 100, computed in
    whole cents × percent and divided here in Decimal, so SQLite's integer division cannot
    truncate it.

    An unfiltered board seen by someone who sees everything reads the tables the triggers
    keep (crm/stage_totals.py, _table_parts): a few rows instead of adding up every open deal
    and every recent close. Otherwise the cards the user may see are added up.
    """
    summaries = {stage.id: ColumnSummary(stage) for stage in stages}
    if not stages:
        return summaries
    probabilities = {stage.id: stage.probability for stage in stages}
    use_table = not filters.active and sees_everything(user)
    parts = []
    if use_table:
        parts.extend(_table_parts(stages, probabilities, now))
    else:
        parts.append(
            select(Opportunity.stage_id, Opportunity.currency, *opportunity_sums(probabilities))
            .where(_visible(stages, now), *filters.conditions(user))
            .group_by(Opportunity.stage_id, Opportunity.currency))
    statement = parts[0] if len(parts) == 1 else union_all(*parts)
    for stage_id, currency, count, amount_cents, units in db.session.execute(statement).all():
        summary = summaries[stage_id]
        count = int(count)  # a sum of counts is a NUMERIC on PostgreSQL
        line = CurrencyTotal.of(currency or "CNY", count, amount_cents, units)
        total = summary.by_currency.get(line.currency)
        if total is None:
            summary.by_currency[line.currency] = line
        else:  # the same currency spelt differently would land here; add, do not overwrite
            total.count += line.count
            total.amount += line.amount
            total.weighted += line.weighted
        summary.count += count
    return summaries


def _table_parts(stages: list[Stage], probabilities: dict[int, int | None],
                 now: datetime | None = None) -> list:
    """The column totals of an unfiltered board seen by someone who sees everything, from the
    tables the triggers keep (crm/stage_totals.py): the open columns from stage_totals; the won
    and lost ones from closed_totals' whole UTC days inside the window, plus the opportunities
    closed on the window's first day after the cutoff (a day of rows, read through
    ix_opportunities_closed_at)."""
    open_ids = [s.id for s in stages if s.kind == "open"]
    closed_ids = [s.id for s in stages if s.kind != "open"]
    parts = []
    if open_ids:
        parts.append(
            select(StageTotal.stage_id, StageTotal.currency, *table_sums(probabilities))
            .where(StageTotal.stage_id.in_(open_ids))
            .group_by(StageTotal.stage_id, StageTotal.currency)
            .having(func.sum(StageTotal.count) != 0))
    if closed_ids:
        cutoff = recent_cutoff(now)
        next_midnight = datetime.combine(cutoff.date() + timedelta(days=1), time(), tzinfo=timezone.utc)
        parts.append(
            select(ClosedTotal.stage_id, ClosedTotal.currency, *table_sums(probabilities, ClosedTotal))
            .where(ClosedTotal.stage_id.in_(closed_ids), ClosedTotal.day >= next_midnight.date())
            .group_by(ClosedTotal.stage_id, ClosedTotal.currency))
        parts.append(
            select(Opportunity.stage_id, Opportunity.currency, *opportunity_sums(probabilities))
            # stage_id + 0: not an index column, so that SQLite reads the day's range from
            # ix_opportunities_closed_at instead of every close of these stages.
            .where((Opportunity.stage_id + 0).in_(closed_ids), Opportunity.closed_at >= cutoff,
                   Opportunity.closed_at < next_midnight, Opportunity.deleted_at.is_(None))
            .group_by(Opportunity.stage_id, Opportunity.currency))
    return parts


def _cents(amount):
    """An amount in whole cents, as the database computes it (crm.stage_totals.cents_of)."""
    return cents_of(amount, db.session.get_bind().dialect.name)


def board_totals(summaries: dict[int, ColumnSummary], main_currency: str) -> dict[str, list]:
    """The open pipeline (open stages) and what was won recently, per currency."""
    result: dict[str, dict[str, CurrencyTotal]] = {"open": {}, "won": {}}
    for summary in summaries.values():
        bucket = result.get(summary.stage.kind)
        if bucket is None:
            continue
        for line in summary.by_currency.values():
            total = bucket.setdefault(line.currency,
                                      CurrencyTotal(line.currency, 0, Decimal("0.00"), Decimal("0.00")))
            total.count += line.count
            total.amount += line.amount
            total.weighted += line.weighted
    return {kind: sorted(bucket.values(), key=lambda t: (t.currency != main_currency, t.currency))
            for kind, bucket in result.items()}


# --- cards ----------------------------------------------------------------------------

def _card_options():
    return (joinedload(Opportunity.customer), joinedload(Opportunity.owner))


class Named:
    """A card's customer or owner: its id and name."""
    __slots__ = ("id", "name")

    def __init__(self, id: int, name: str):
        self.id, self.name = id, name


class Card:
    """What a card shows and its checks read (crm.board.cards.CardView, board/_macros.html),
    read as plain rows: a board loads hundreds of cards, and mapping each to an ORM object
    with its customer and owner cost more than rendering it. The attribute names are the
    Opportunity's, so a card renders the same from either (after a move it is the ORM one)."""
    # Only what a card shows or its checks read (owner_id and created_by_id: may the user move
    # it; last_activity_at: is it rotting): every datetime column costs a conversion per card.
    COLUMNS = ("id", "title", "customer_id", "owner_id", "created_by_id", "stage_id",
               "amount", "currency", "probability_override", "expected_close", "status", "version",
               "last_activity_at")
    __slots__ = COLUMNS + ("customer", "owner")

    def __init__(self, row):
        for name, value in zip(self.COLUMNS, row):
            setattr(self, name, value)
        customer_name, owner_name = row[-2], row[-1]
        self.customer = Named(self.customer_id, customer_name) if self.customer_id is not None else None
        self.owner = Named(self.owner_id, owner_name) if self.owner_id is not None else None


def _card_select():
    return (
        select(*(getattr(Opportunity, name) for name in Card.COLUMNS), Customer.name, User.name)
        .outerjoin(Customer, Customer.id == Opportunity.customer_id)
        .outerjoin(User, User.id == Opportunity.owner_id)
    )


def first_cards(stages: list[Stage], filters: BoardFilters, user, limit: int = CARDS_PER_COLUMN,
                now: datetime | None = None) -> dict[int, list[Opportunity]]:
    """The first `limit` cards of every column (by expected close date, undated last, then id)
    in one query: a UNION ALL of one LIMITed select per column, joined to the cards with
    their customer and owner."""
    columns: dict[int, list[Opportunity]] = {stage.id: [] for stage in stages}
    if not stages:
        return columns
    branches = []
    for stage in stages:
        condition = Opportunity.stage_id == stage.id
        if stage.kind != "open":
            condition = and_(condition, _closed_recently(now))
        branches.append(
            select(Opportunity.id).where(condition, *filters.conditions(user))
            .order_by(*_card_order()).limit(limit).subquery().select()
        )
    first = union_all(*branches).subquery("first_cards") if len(branches) > 1 else branches[0].subquery("first_cards")
    rows = db.session.execute(
        _card_select()
        .join(first, first.c.id == Opportunity.id)
        .order_by(Opportunity.stage_id, *_card_order())
    )
    for row in rows:
        card = Card(row)
        columns[card.stage_id].append(card)
    return columns


def cards_after(stage: Stage, filters: BoardFilters, user, after_close: date | None,
                after_id: int | None, limit: int = CARDS_PER_COLUMN,
                now: datetime | None = None) -> tuple[list[Opportunity], bool]:
    """The next `limit` cards of a column after the card (after_close, after_id) in board order
    (keyset pagination: stays fast deep into a long column); and whether more follow."""
    conditions = [Opportunity.stage_id == stage.id, *filters.conditions(user)]
    if stage.kind != "open":
        conditions.append(_closed_recently(now))
    if after_id is not None:
        if after_close is None:
            # Undated cards come last, ordered by id.
            conditions.append(and_(Opportunity.expected_close.is_(None), Opportunity.id > after_id))
        else:
            conditions.append(or_(
                Opportunity.expected_close > after_close,
                and_(Opportunity.expected_close == after_close, Opportunity.id > after_id),
                Opportunity.expected_close.is_(None),
            ))
    rows = [Card(row) for row in db.session.execute(
        _card_select()
        .where(*conditions)
        .order_by(*_card_order())
        .limit(limit + 1)
    )]
    return rows[:limit], len(rows) > limit


def card(opportunity_id: int) -> Opportunity | None:
    """One card with its customer and owner."""
    return db.session.execute(
        select(Opportunity).where(Opportunity.id == opportunity_id).options(*_card_options())
    ).unique().scalar_one_or_none()


def overdue_opportunity_ids(opportunity_ids, now: datetime | None = None) -> set[int]:
    """Which of these opportunities have an open task past its due time (one query)."""
    ids = list(opportunity_ids)
    if not ids:
        return set()
    return set(db.session.execute(
        select(Task.opportunity_id).where(
            Task.opportunity_id.in_(ids), Task.done.is_(False), Task.due_at < (now or utcnow())
        ).distinct()
    ).scalars())


def is_rotting(opportunity: Opportunity, stage: Stage | None, now: datetime | None = None) -> bool:
    """An open opportunity whose last activity is older than its stage's rotting days."""
    if stage is None or stage.kind != "open" or not stage.rotting_days:
        return False
    last = opportunity.last_activity_at
    if last is None:
        return False
    return last < (now or utcnow()) - timedelta(days=stage.rotting_days)


def idle_days(opportunity: Opportunity, now: datetime | None = None) -> int:
    if opportunity.last_activity_at is None:
        return 0
    return max(0, ((now or utcnow()) - opportunity.last_activity_at).days)
