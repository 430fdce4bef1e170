"""The board's running totals per stage (stage_totals) and per stage and day of closing
(closed_totals), kept by database triggers on opportunities (crm/stage_totals.py)."""
from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, Date, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import db


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
