"""Opportunities (商机): deals with a customer, in a stage of a pipeline; who they are shared
with and which other deals they relate to."""
from datetime import date, datetime
from typing import TYPE_CHECKING
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Column, Date, ForeignKey, Integer, Numeric, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship

from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow
from crm.models.custom_field import CustomJSON
from crm.models.lost_reason import LostReason
from crm.models.pipeline import Pipeline
from crm.models.stage import STAGE_KINDS, Stage
from crm.stage_totals import weighted_from_units

if TYPE_CHECKING:  # Competitor's module imports this one
    from crm.models.competitor import Competitor

STATUSES = STAGE_KINDS

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


class Opportunity(db.Model):
    __tablename__ = "opportunities"
    __table_args__ = (
        db.Index("ix_opportunities_stage_close", "stage_id", "expected_close", "id"),
        # The part of the won and lost columns' first day that closed_totals cannot answer.
        # closed_at first: an index led by stage_id would compete with ix_opportunities_stage_close
        # for the cards (SQLite, without statistics, took it and sorted every recent close).
        db.Index("ix_opportunities_closed_at", "closed_at", "stage_id"),
        db.Index("ix_opportunities_status_owner", "status", "owner_id"),
        # "To contact today" and the badge: an owner's next contacts in time order.
        db.Index("ix_opportunities_owner_next_contact", "owner_id", "next_contact_at"),
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
    # Custom field values by key (crm/fields): {} when none; never mutated in place.
    custom: Mapped[dict] = mapped_column(CustomJSON, default=dict, server_default="{}")
    status: Mapped[str] = mapped_column(String(10), default="open")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lost_reason_id: Mapped[int | None] = mapped_column(ForeignKey("lost_reasons.id"))
    lost_note: Mapped[str | None] = mapped_column(Text)
    stage_entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # 下次联系时间: when the owner means to follow the deal up next (UTC), set from a note.
    next_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
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
        cents = (Decimal(self.amount or 0) * 100).quantize(Decimal(1), ROUND_HALF_UP)
        return weighted_from_units(cents * self.probability)


# The opportunity list's default sort, "expected close, no date last, then id", written as
# (expected_close IS NULL), expected_close, id so that SQLite and PostgreSQL both read it in
# index order.
db.Index("ix_opportunities_close", Opportunity.expected_close.is_(None), Opportunity.expected_close,
         Opportunity.id)
