"""The stage history of an opportunity: one row per move."""
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow


class StageChange(db.Model):
    """One move of an opportunity from a stage to another (from is empty at creation)."""

    __tablename__ = "stage_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    from_stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"))
    to_stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # The stages' names when the move happened, shown once a stage has been removed.
    from_stage_label: Mapped[str | None] = mapped_column(String(120))
    to_stage_label: Mapped[str | None] = mapped_column(String(120))

    opportunity = relationship("Opportunity")
    from_stage = relationship("Stage", foreign_keys=[from_stage_id])
    to_stage = relationship("Stage", foreign_keys=[to_stage_id])
    user = relationship("User")

    @property
    def from_name(self) -> str:
        """The stage it left: its current name, or the name kept when it was removed."""
        return self.from_stage.display_name if self.from_stage else (self.from_stage_label or "")

    @property
    def to_name(self) -> str:
        return self.to_stage.display_name if self.to_stage else (self.to_stage_label or "")

    @property
    def is_creation(self) -> bool:
        return self.from_stage_id is None and not self.from_stage_label
