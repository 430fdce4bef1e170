"""Stages (销售阶段) of a pipeline, and the names of the built-in ones."""
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.base import shown_name
from crm.models.pipeline import Pipeline

STAGE_KINDS = ("open", "won", "lost")

# Names of the built-in stages, shown in the user's language until an admin renames them
# (then the stored name wins).
DEFAULT_STAGE_NAMES = {
    "discover": _l("Discover"),
    "confirm": _l("Confirm"),
    "needs_analysis": _l("Needs analysis"),
    "proposal": _l("Proposal"),
    "negotiation": _l("Negotiation"),
    "signed": _l("Signed"),
    "delivered": _l("Delivered"),
    "lost": _l("Lost to competitor"),
}


class Stage(db.Model):
    """A milestone of a pipeline; its kind says whether an opportunity in it is open, won or lost."""

    __tablename__ = "stages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), index=True)
    key: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    probability: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(10), default="open")
    color: Mapped[str] = mapped_column(String(7), default="#3b82f6")
    rotting_days: Mapped[int | None] = mapped_column(Integer)
    # The playbook: one task per line, created for the owner on entering the stage.
    playbook: Mapped[str | None] = mapped_column(Text)

    pipeline: Mapped[Pipeline] = relationship(back_populates="stages")

    @property
    def display_name(self) -> str:
        return shown_name(self.name, self.key, DEFAULT_STAGE_NAMES)

    @property
    def playbook_items(self) -> list[tuple[str, int]]:
        """The playbook's tasks as (title, due in days). A line is "Title" or "Title | N"."""
        items = []
        for line in (self.playbook or "").splitlines():
            title, _, days = line.partition("|")
            title = title.strip()
            if not title:
                continue
            try:
                due_days = max(0, int(days.strip())) if days.strip() else 1
            except ValueError:
                due_days = 1
            items.append((title[:200], due_days))
        return items
