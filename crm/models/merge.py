"""Merges (合并): which records were merged into which, and exactly what moved, so that the
merge can be undone within the trash's retention (crm/duplicates/services.py)."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow


class Merge(db.Model):
    __tablename__ = "merges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(20))             # "customer", "contact"
    survivor_id: Mapped[int] = mapped_column(Integer, index=True)
    merged_ids: Mapped[list] = mapped_column(JSON)               # the records now in the trash
    batches: Mapped[list] = mapped_column(JSON)                  # their trash batches
    moved: Mapped[dict] = mapped_column(JSON)                    # child kind -> [[id, from_id]]
    before: Mapped[dict] = mapped_column(JSON)                   # the survivor's old values
    label: Mapped[str] = mapped_column(String(200), default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User")


class DuplicatePair(db.Model):
    """A likely duplicate pair, precomputed by the refresh job (crm.duplicates.services.refresh):
    the duplicates page reads these instead of comparing records on each request."""
    __tablename__ = "duplicate_pairs"
    __table_args__ = (db.Index("ix_duplicate_pairs_entity_score", "entity", "score"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(20))
    low_id: Mapped[int] = mapped_column(Integer)
    high_id: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[str] = mapped_column(String(40), default="")   # "email,name,phone"
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
