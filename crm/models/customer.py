"""Customers (客户): companies or people, with their tags and who they are shared with."""
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm import search as search_index
from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow
from crm.models.custom_field import CustomJSON
from crm.models.tag import Tag
from crm.search import search_keys

if TYPE_CHECKING:  # Contact's module imports this one
    from crm.models.contact import Contact

CUSTOMER_KINDS = ("company", "individual")
CUSTOMER_SIZES = ("1-10", "11-50", "51-200", "201-1000", "1000+")

customer_shares = Table(
    "customer_shares",
    db.metadata,
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)

customer_tags = Table(
    "customer_tags",
    db.metadata,
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Customer(db.Model):
    __tablename__ = "customers"
    # The list's default sort (updated_at DESC, id DESC) reads the first page from this index.
    __table_args__ = (
        db.Index("ix_customers_updated_at_id", "updated_at", "id"),
        # "To contact today" and the badge: an owner's next contacts in time order.
        db.Index("ix_customers_owner_next_contact", "owner_id", "next_contact_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="company")
    name: Mapped[str] = mapped_column(String(200), index=True)
    industry: Mapped[str | None] = mapped_column(String(100), index=True)
    region: Mapped[str | None] = mapped_column(String(100), index=True)
    city: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(50), index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    website: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # 下次联系时间: when the owner means to contact the customer next (UTC), set from a
    # follow-up note (crm.notes.services.add_note).
    next_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The public pool (crm/pools): the pool the record is in when nobody owns it (None: the
    # first enabled customer pool), since when its owner has it, its level, and the owner's
    # lock that keeps the pool's rules off it.
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id", ondelete="SET NULL"), index=True)
    owner_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    level_id: Mapped[int | None] = mapped_column(ForeignKey("customer_levels.id"), index=True)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Lower-cased name, pinyin, initials, contact names, phones and emails (see crm/search.py).
    search_index: Mapped[str] = mapped_column(Text, default="")
    # Custom field values by key (crm/fields): {} when none; never mutated in place.
    custom: Mapped[dict] = mapped_column(CustomJSON, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # In the trash when set; rows deleted together share a batch and are restored together.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    deleted_batch: Mapped[str | None] = mapped_column(String(32), index=True)

    owner = relationship("User", foreign_keys=[owner_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    level = relationship("CustomerLevel")
    contacts: Mapped[list["Contact"]] = relationship(
        back_populates="customer",
        cascade="all, delete-orphan",
        order_by="(Contact.is_primary.desc(), Contact.id)",
    )
    tags: Mapped[list[Tag]] = relationship(secondary=customer_tags, order_by="Tag.name")
    shared_with = relationship("User", secondary=customer_shares)

    def rebuild_search_index(self) -> None:
        """Refresh the search keys from the customer and its contacts (custom text fields too)."""
        values = [self.name, self.phone, self.email]
        for contact in self.contacts:
            values += [contact.name, contact.phone, contact.email]
        # cycle: crm.fields reads its definitions through crm.models. Text custom fields
        # (not restricted ones) are found by search as you type too.
        from crm.fields.queries import search_texts
        values += search_texts("customer", self.custom)
        for contact in self.contacts:
            values += search_texts("contact", contact.custom)
        self.search_index = search_keys(*values)

    @property
    def primary_contact(self):
        return self.contacts[0] if self.contacts else None


# The trigram index over Customer.search_index (crm/search.py) comes and goes with the table.
search_index.register(Customer.__table__)
