"""Workspace-wide settings, one key and value a row."""
from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import db


class Setting(db.Model):
    """A workspace setting, e.g. team_sees_everything = "1"."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
