"""Pipelines (销售管道), stages (销售阶段), opportunities (商机), their history, tasks (任务)."""
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Boolean, Column, Date, ForeignKey, Integer, Numeric, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship

from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow

STAGE_KINDS = ("open", "won", "lost")
STATUSES = STAGE_KINDS

# Names of the built-in stages and lost reasons, shown in the user's language until an
# admin renames them (then the stored name wins).
DEFAULT_STAGE_NAMES = {
    "discover": _l("Discover"),
    "confirm": _l("Confirm"),
    "needs_analysis": _l("Needs analysis"),
    "proposal": _l("Proposal"),
    "negotiation": _l("Negotiation"),
    "signed": _l("Signed"),
    "delivered": _l("Delivered"),
    "lost": _l("Lost to competitor"),
}
DEFAULT_LOST_REASON_NAMES = {
    "price": _l("Price"),
    "competitor": _l("Competitor"),
    "no_budget": _l("No budget"),
    "no_decision": _l("No decision"),
    "timing": _l("Timing"),
    "product_fit": _l("Product fit"),
    "unresponsive": _l("Unresponsive"),
    "other": _l("Other"),
}

opportunity_shares = Table(
    "opportunity_shares",
    db.metadata,
    Column("opportunity_id", ForeignKey("opportunities.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)

opportunity_links = Table(
    "opportunity_links",
    db.metadata,
    Column("opportunity_id", ForeignKey("opportunities.id", ondelete="CASCADE"), primary_key=True),
    Column("related_id", ForeignKey("opportunities.id", ondelete="CASCADE"), primary_key=True),
)


class Pipeline(db.Model):
    __tablename__ = "pipelines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    stages: Mapped[list["Stage"]] = relationship(
        back_populates="pipeline", order_by="Stage.position", cascade="all, delete-orphan"
    )

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        return str(_l("Sales pipeline")) if self.key == "default" else ""


class Stage(db.Model):
    """A milestone of a pipeline; its kind says whether an opportunity in it is open, won or lost."""

    __tablename__ = "stages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), index=True)
    key: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    probability: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(10), default="open")
    color: Mapped[str] = mapped_column(String(7), default="#3b82f6")
    rotting_days: Mapped[int | None] = mapped_column(Integer)
    # The playbook: one task per line, created for the owner on entering the stage.
    playbook: Mapped[str | None] = mapped_column(Text)

    pipeline: Mapped[Pipeline] = relationship(back_populates="stages")

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        label = DEFAULT_STAGE_NAMES.get(self.key or "")
        return str(label) if label is not None else ""

    @property
    def playbook_items(self) -> list[tuple[str, int]]:
        """The playbook's tasks as (title, due in days). A line is "Title" or "Title | N"."""
        items = []
        for line in (self.playbook or "").splitlines():
            title, _, days = line.partition("|")
            title = title.strip()
            if not title:
                continue
            try:
                due_days = max(0, int(days.strip())) if days.strip() else 1
            except ValueError:
                due_days = 1
            items.append((title[:200], due_days))
        return items


class LostReason(db.Model):
    __tablename__ = "lost_reasons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        label = DEFAULT_LOST_REASON_NAMES.get(self.key or "")
        return str(label) if label is not None else ""


class Opportunity(db.Model):
    __tablename__ = "opportunities"
    __table_args__ = (
        db.Index("ix_opportunities_stage_close", "stage_id", "expected_close", "id"),
        # The part of the won and lost columns' first day that closed_totals cannot answer.
        # closed_at first: an index led by stage_id would compete with ix_opportunities_stage_close
        # for the cards (SQLite, without statistics, took it and sorted every recent close).
        db.Index("ix_opportunities_closed_at", "closed_at", "stage_id"),
        db.Index("ix_opportunities_status_owner", "status", "owner_id"),
        # The board's column totals read only this index (every column they use, in the order
        # of their WHERE: stage, then the closed columns' date, then the trash).
        db.Index("ix_opportunities_board_totals", "stage_id", "currency", "amount",
                 "probability_override", "closed_at", "stage_entered_at", "deleted_at"),
        # The opportunity list's totals per currency (index-only when unfiltered).
        db.Index("ix_opportunities_currency_stage", "currency", "stage_id", "amount",
                 "probability_override", "deleted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id"), index=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    expected_close: Mapped[date | None] = mapped_column(Date)
    # None: the stage's default probability applies; a number: the user's override.
    probability_override: Mapped[int | None] = mapped_column(Integer)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    source: Mapped[str | None] = mapped_column(String(100))
    needs: Mapped[str | None] = mapped_column(Text)
    budget: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lost_reason_id: Mapped[int | None] = mapped_column(ForeignKey("lost_reasons.id"))
    lost_note: Mapped[str | None] = mapped_column(Text)
    stage_entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    deleted_batch: Mapped[str | None] = mapped_column(String(32), index=True)

    customer = relationship("Customer")
    contact = relationship("Contact")
    pipeline: Mapped[Pipeline] = relationship()
    stage: Mapped[Stage] = relationship()
    owner = relationship("User", foreign_keys=[owner_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    lost_reason: Mapped[LostReason | None] = relationship()
    shared_with = relationship("User", secondary=opportunity_shares)
    competitors: Mapped[list["Competitor"]] = relationship(
        back_populates="opportunity", cascade="all, delete-orphan", order_by="Competitor.id"
    )
    related: Mapped[list["Opportunity"]] = relationship(
        secondary=opportunity_links,
        primaryjoin=lambda: Opportunity.id == opportunity_links.c.opportunity_id,
        secondaryjoin=lambda: Opportunity.id == opportunity_links.c.related_id,
    )
    # Whether the signed-in user may see this opportunity, when a query asks for it with
    # with_expression (the opportunity page's related deals); None when not asked.
    visible_to_viewer: Mapped[bool | None] = query_expression()

    @property
    def probability(self) -> int:
        """The user's override if set, else the stage's default."""
        if self.probability_override is not None:
            return self.probability_override
        return self.stage.probability if self.stage else 0

    @property
    def probability_is_override(self) -> bool:
        return self.probability_override is not None

    @property
    def weighted_amount(self) -> Decimal:
        """amount × probability, rounded to the cent half up like every weighted total
        (crm.stage_totals.weighted_from_units)."""
        from crm.stage_totals import weighted_from_units
        cents = (Decimal(self.amount or 0) * 100).quantize(Decimal(1), ROUND_HALF_UP)
        return weighted_from_units(cents * self.probability)


# The opportunity list's default sort, "expected close, no date last, then id", written as
# (expected_close IS NULL), expected_close, id so that SQLite and PostgreSQL both read it in
# index order.
db.Index("ix_opportunities_close", Opportunity.expected_close.is_(None), Opportunity.expected_close,
         Opportunity.id)


class StageTotal(db.Model):
    """Per stage and currency: how many opportunities (outside the trash) and their amounts in
    cents, kept by database triggers on opportunities (crm/stage_totals.py), so that the
    board's open columns read a few rows instead of adding up every card."""
    __tablename__ = "stage_totals"

    stage_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)  # '' for none
    count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    amount_cents: Mapped[Decimal] = mapped_column(Numeric(30, 0), default=0, server_default="0")
    # Amounts of those without a probability override (weighted with the stage's probability
    # when read, so a changed stage probability needs no recount) ...
    floating_cents: Mapped[Decimal] = mapped_column(Numeric(30, 0), default=0, server_default="0")
    # ... and cents × override percent of those with one.
    fixed_weighted: Mapped[Decimal] = mapped_column(Numeric(32, 0), default=0, server_default="0")


class ClosedTotal(db.Model):
    """Per stage, currency and UTC day of closed_at: the closed opportunities (outside the
    trash) and their amounts in cents, kept by database triggers like stage_totals, so the
    board's won and lost columns ("closed in the last 30 days") add up 30 days of rows
    instead of every recent close."""
    __tablename__ = "closed_totals"

    stage_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)  # '' for none
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    amount_cents: Mapped[Decimal] = mapped_column(Numeric(30, 0), default=0, server_default="0")
    floating_cents: Mapped[Decimal] = mapped_column(Numeric(30, 0), default=0, server_default="0")
    fixed_weighted: Mapped[Decimal] = mapped_column(Numeric(32, 0), default=0, server_default="0")


class Competitor(db.Model):
    __tablename__ = "competitors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)

    opportunity: Mapped[Opportunity] = relationship(back_populates="competitors")


class StageChange(db.Model):
    """One move of an opportunity from a stage to another (from is empty at creation)."""

    __tablename__ = "stage_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    from_stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"))
    to_stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # The stages' names when the move happened, shown once a stage has been removed.
    from_stage_label: Mapped[str | None] = mapped_column(String(120))
    to_stage_label: Mapped[str | None] = mapped_column(String(120))

    opportunity = relationship("Opportunity")
    from_stage = relationship("Stage", foreign_keys=[from_stage_id])
    to_stage = relationship("Stage", foreign_keys=[to_stage_id])
    user = relationship("User")

    @property
    def from_name(self) -> str:
        """The stage it left: its current name, or the name kept when it was removed."""
        return self.from_stage.display_name if self.from_stage else (self.from_stage_label or "")

    @property
    def to_name(self) -> str:
        return self.to_stage.display_name if self.to_stage else (self.to_stage_label or "")

    @property
    def is_creation(self) -> bool:
        return self.from_stage_id is None and not self.from_stage_label


class Task(db.Model):
    __tablename__ = "tasks"
    __table_args__ = (
        # /tasks: each open section and the overdue badge read a range of this index, and the
        # section counts only this index (deleted_at and done_at ride along).
        db.Index("ix_tasks_assignee_done_due", "assignee_id", "done", "due_at", "deleted_at", "done_at"),
        # /tasks' Done section: the last 30 days, newest first, straight from the index.
        db.Index("ix_tasks_assignee_done_done_at", "assignee_id", "done", "done_at"),
        # /tasks for everyone (managers): each section read in its order across all assignees.
        db.Index("ix_tasks_done_due", "done", "due_at", "id", "deleted_at"),
        db.Index("ix_tasks_done_done_at", "done", "done_at", "id", "deleted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    # Set when the task came from a stage's playbook.
    stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"))
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    deleted_batch: Mapped[str | None] = mapped_column(String(32), index=True)

    assignee = relationship("User", foreign_keys=[assignee_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    opportunity = relationship("Opportunity")
    customer = relationship("Customer")

    def is_overdue(self, now: datetime | None = None) -> bool:
        return bool(not self.done and self.due_at and self.due_at < (now or utcnow()))
