"""Pipelines (销售管道): the ordered stages an opportunity goes through."""
from datetime import datetime
from typing import TYPE_CHECKING

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.base import UTCDateTime, shown_name, utcnow

if TYPE_CHECKING:  # Stage's module imports this one
    from crm.models.stage import Stage

# The built-in pipeline's name, in the user's language until an admin renames it.
DEFAULT_PIPELINE_NAMES = {"default": _l("Sales pipeline")}


class Pipeline(db.Model):
    __tablename__ = "pipelines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    stages: Mapped[list["Stage"]] = relationship(
        back_populates="pipeline", order_by="Stage.position", cascade="all, delete-orphan"
    )

    @property
    def display_name(self) -> str:
        return shown_name(self.name, self.key, DEFAULT_PIPELINE_NAMES)
