"""Background jobs (后台任务): one row per piece of long work run outside the request (an
export of a big list, later imports and recomputes), with its progress and result, so that
a reload, another worker or a restart shows the same state (crm/jobs/)."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow

JOB_STATUSES = ("queued", "running", "done", "failed")


class Job(db.Model):
    __tablename__ = "jobs"
    # "My jobs" and the reaper of stopped jobs read these.
    __table_args__ = (db.Index("ix_jobs_user_created", "user_id", "created_at"),
                      db.Index("ix_jobs_status_heartbeat", "status", "heartbeat_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))            # "export", later "import"...
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    total: Mapped[int | None] = mapped_column(Integer)        # rows to do, when known
    done: Mapped[int] = mapped_column(Integer, default=0)     # rows done so far
    params: Mapped[dict | None] = mapped_column(JSON)         # what the job was asked to do
    result: Mapped[dict | None] = mapped_column(JSON)         # what it made (a file, counts)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User")

    @property
    def active(self) -> bool:
        """Queued or running: the page keeps polling."""
        return self.status in ("queued", "running")

    @property
    def file(self) -> dict | None:
        """The file the job made ({"path", "filename", "mimetype"}), or None."""
        return (self.result or {}).get("file")
