"""Custom fields (自定义字段): the fields an admin adds to a record type, and the options of
the choice types. The values live in the records' own `custom` JSON column (see crm/fields)."""
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow

RECORD_TYPES = ("customer", "contact", "opportunity", "lead")
FIELD_TYPES = ("text", "long_text", "integer", "decimal", "money", "date", "datetime", "boolean",
               "choice", "multi_choice", "url", "email", "phone", "user")

# The column type of the records' `custom` column: JSON, JSONB on PostgreSQL (GIN-indexable).
CustomJSON = JSON().with_variant(JSONB(), "postgresql")


class Labelled:
    """Labels and help in Chinese and English, each falling back to the other."""

    def label(self, locale: str = "en") -> str:
        """The label in `locale` ("zh..." or "en"), falling back to the other one."""
        first, second = (self.label_zh, self.label_en) if str(locale).startswith("zh") else (
            self.label_en, self.label_zh)
        return first or second or self.key

    def group(self, locale: str = "en") -> str:
        """The heading the field is shown under ("" for none), falling back like the label."""
        first, second = (self.group_zh, self.group_en) if str(locale).startswith("zh") else (
            self.group_en, self.group_zh)
        return first or second or ""

    @property
    def group_key(self) -> str:
        """What makes fields one group: the English heading (case aside), else the Chinese."""
        return (self.group_en or "").strip().casefold() or (self.group_zh or "").strip()

    def help(self, locale: str = "en") -> str:
        first, second = (self.help_zh, self.help_en) if str(locale).startswith("zh") else (
            self.help_en, self.help_zh)
        return first or second or ""

    @property
    def input_name(self) -> str:
        return f"cf_{self.key}"


class CustomField(Labelled, db.Model):
    """One field an admin added to a record type: its key (the JSON key and the form input
    `cf_<key>`), labels, type and how lists use it."""

    __tablename__ = "custom_fields"
    __table_args__ = (db.UniqueConstraint("record_type", "key", name="uq_custom_fields_record_type_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(20), index=True)
    key: Mapped[str] = mapped_column(String(40))
    label_zh: Mapped[str] = mapped_column(String(100), default="")
    label_en: Mapped[str] = mapped_column(String(100), default="")
    type: Mapped[str] = mapped_column(String(20))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    help_zh: Mapped[str] = mapped_column(String(300), default="")
    help_en: Mapped[str] = mapped_column(String(300), default="")
    # The heading forms and pages show the field under (fields of one group stay together,
    # where the group's first field is in the admin's order); empty: no heading.
    group_zh: Mapped[str] = mapped_column(String(100), default="", server_default="")
    group_en: Mapped[str] = mapped_column(String(100), default="", server_default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    show_in_list: Mapped[bool] = mapped_column(Boolean, default=False)
    filterable: Mapped[bool] = mapped_column(Boolean, default=False)
    # Visible to managers and admins only (crm.permissions.can_see_field).
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # In the trash when set (restorable for 30 days; purging drops the values and the index).
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    options: Mapped[list["CustomFieldOption"]] = relationship(
        back_populates="field", order_by="(CustomFieldOption.position, CustomFieldOption.id)",
        cascade="all, delete-orphan")



class CustomFieldOption(Labelled, db.Model):
    """An option of a choice or multiple-choice field; stored values are option keys. An option
    in use is retired (no longer offered), never deleted."""

    __tablename__ = "custom_field_options"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    field_id: Mapped[int] = mapped_column(ForeignKey("custom_fields.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    label_zh: Mapped[str] = mapped_column(String(100), default="")
    label_en: Mapped[str] = mapped_column(String(100), default="")
    colour: Mapped[str] = mapped_column(String(7), default="#64748b")
    position: Mapped[int] = mapped_column(Integer, default=0)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)

    field: Mapped[CustomField] = relationship(back_populates="options")
