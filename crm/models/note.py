"""Follow-up notes (跟进记录): what was said or done with a customer, when, by whom."""
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow

NOTE_KINDS = ("call", "visit", "email", "meeting", "note", "other")


class Note(db.Model):
    """A note hangs on a customer, and optionally on one of its contacts or opportunities.

    A note on an opportunity or a contact also carries the customer, so the customer's
    timeline shows everything done for it in one indexed query. Who may see and change one:
    crm.permissions (can_see_note, can_edit_note).
    """

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="call")
    body: Mapped[str] = mapped_column(Text)
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    # A note on a lead (issue 11) carries no customer until the lead is converted.
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    deleted_batch: Mapped[str | None] = mapped_column(String(32), index=True)

    author = relationship("User")
    customer = relationship("Customer")
    contact = relationship("Contact")
    opportunity = relationship("Opportunity")
    lead = relationship("Lead")
