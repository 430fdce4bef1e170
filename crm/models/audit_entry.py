"""The audit trail: one row per changed field of an audited record."""
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow


class AuditEntry(db.Model):
    """One change of one field of one record (create, update, delete, restore), by whom, when."""

    __tablename__ = "audit_log"
    __table_args__ = (db.Index("ix_audit_log_entity", "entity", "entity_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(10))  # create, update, delete, restore, purge
    entity: Mapped[str] = mapped_column(String(40))  # the table name, e.g. "customers"
    entity_id: Mapped[int] = mapped_column(Integer)
    field: Mapped[str | None] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    # A readable name of the record at the time (customer name, opportunity title...).
    label: Mapped[str | None] = mapped_column(String(200))

    user = relationship("User")
