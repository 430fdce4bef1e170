"""Tags (标签) in groups (分类), put on customers."""
from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db


class TagGroup(db.Model):
    """A category of tags. Single-choice groups allow one of their tags per customer."""

    __tablename__ = "tag_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    multiple: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # "profile" groups tag customers; "behaviour" groups tag leads (issue 11).
    kind: Mapped[str] = mapped_column(String(20), default="profile", server_default="profile")

    tags: Mapped[list["Tag"]] = relationship(
        back_populates="group", order_by="Tag.name", cascade="all, delete-orphan"
    )


class Tag(db.Model):
    __tablename__ = "tags"
    __table_args__ = (db.UniqueConstraint("group_id", "name", name="uq_tags_group_id_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("tag_groups.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    color: Mapped[str] = mapped_column(String(7), default="#64748b")

    group: Mapped[TagGroup] = relationship(back_populates="tags")
