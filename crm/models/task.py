"""Tasks (任务): follow-ups for a user, on an opportunity or a customer, with a due time."""
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow


class Task(db.Model):
    __tablename__ = "tasks"
    __table_args__ = (
        # /tasks: each open section and the overdue badge read a range of this index, and the
        # section counts only this index (deleted_at and done_at ride along).
        db.Index("ix_tasks_assignee_done_due", "assignee_id", "done", "due_at", "deleted_at", "done_at"),
        # /tasks' Done section: the last 30 days, newest first, straight from the index.
        db.Index("ix_tasks_assignee_done_done_at", "assignee_id", "done", "done_at"),
        # /tasks for everyone (managers): each section read in its order across all assignees.
        db.Index("ix_tasks_done_due", "done", "due_at", "id", "deleted_at"),
        db.Index("ix_tasks_done_done_at", "done", "done_at", "id", "deleted_at"),
        # A lead's task panel and timeline (issue 11). Partial: most tasks have no lead, and
        # SQLite's statistics of a full index on a mostly-NULL column make it look useless
        # (it then read the tasks by done through ix_tasks_done_done_at: 300 ms at 200,000).
        db.Index("ix_tasks_lead_done", "lead_id", "done", "due_at",
                 sqlite_where=db.text("lead_id IS NOT NULL"),
                 postgresql_where=db.text("lead_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    # A task on a lead (issue 11); it moves to the customer when the lead is converted.
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), index=True
    )
    # Set when the task came from a stage's playbook.
    stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"))
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    deleted_batch: Mapped[str | None] = mapped_column(String(32), index=True)

    assignee = relationship("User", foreign_keys=[assignee_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    opportunity = relationship("Opportunity")
    customer = relationship("Customer")
    lead = relationship("Lead")

    def is_overdue(self, now: datetime | None = None) -> bool:
        return bool(not self.done and self.due_at and self.due_at < (now or utcnow()))
