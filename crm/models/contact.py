"""Contacts (联系人): the people of a customer."""
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow
from crm.models.custom_field import CustomJSON
from crm.models.customer import Customer


class Contact(db.Model):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    title: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(50))
    email: Mapped[str | None] = mapped_column(String(254))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    # Custom field values by key (crm/fields): {} when none; never mutated in place.
    custom: Mapped[dict] = mapped_column(CustomJSON, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    deleted_batch: Mapped[str | None] = mapped_column(String(32), index=True)

    customer: Mapped[Customer] = relationship(back_populates="contacts")
