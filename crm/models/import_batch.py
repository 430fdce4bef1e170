"""Imports (导入): one row per uploaded file being imported (its layout, mapping, options,
progress and counts), the records each import created or changed (what undo moves to the
trash), its rejected rows (downloaded in the file's own layout with a reason), the external
ids imported records carry (how a re-import finds them), and the mappings remembered per file
layout (crm/imports/)."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow

IMPORT_STATUSES = ("draft", "running", "done", "failed", "undone")


class ImportBatch(db.Model):
    __tablename__ = "imports"
    __table_args__ = (db.Index("ix_imports_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(20))                # customers, contacts, ...
    filename: Mapped[str] = mapped_column(String(255))           # as uploaded
    path: Mapped[str] = mapped_column(String(255))               # under instance/, the copy
    fmt: Mapped[str] = mapped_column(String(10))                 # csv or xlsx
    size: Mapped[int] = mapped_column(Integer, default=0)
    encoding: Mapped[str | None] = mapped_column(String(20))     # csv: as detected or chosen
    detected_encoding: Mapped[str | None] = mapped_column(String(20))
    delimiter: Mapped[str | None] = mapped_column(String(4))
    sheet: Mapped[str | None] = mapped_column(String(100))       # xlsx: the sheet read
    header: Mapped[list | None] = mapped_column(JSON)            # the header row as read
    header_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    mapping: Mapped[dict | None] = mapped_column(JSON)           # column index -> field key
    on_match: Mapped[str] = mapped_column(String(10), default="update")   # update/skip/create
    mode: Mapped[str] = mapped_column(String(10), default="valid")        # valid/all
    status: Mapped[str] = mapped_column(String(10), default="draft")
    # Rows are numbered from 1 (the first row after the header); the last one whose chunk is
    # committed (mode "valid"): a restart resumes after it.
    last_row: Mapped[int] = mapped_column(Integer, default=0)
    total_rows: Mapped[int | None] = mapped_column(Integer)
    counts: Mapped[dict | None] = mapped_column(JSON)            # created, updated, skipped...
    report: Mapped[list | None] = mapped_column(JSON)            # what was fixed on the way
    batch: Mapped[str] = mapped_column(String(32), index=True)  # audit and trash batch id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User")
    job = relationship("Job")


class ImportRecord(db.Model):
    """A record an import created or updated (entity is the table name)."""

    __tablename__ = "import_records"
    __table_args__ = (db.Index("ix_import_records_import", "import_id", "entity", "action"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(10))   # create, update
    row: Mapped[int] = mapped_column(Integer)


class ImportReject(db.Model):
    """A row an import could not take: its cells as read and why."""

    __tablename__ = "import_rejects"
    __table_args__ = (db.Index("ix_import_rejects_import_row", "import_id", "row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column(Integer)
    cells: Mapped[list] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)


class ExternalKey(db.Model):
    """The id a record has in the system it was imported from (an external id column, the
    Maven opportunity_id): a re-import matches on it first."""

    __tablename__ = "external_keys"
    __table_args__ = (db.UniqueConstraint("entity", "key", name="uq_external_keys_entity_key"),
                      db.Index("ix_external_keys_record", "entity", "record_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200))
    record_id: Mapped[int] = mapped_column(Integer)


class ImportMapping(db.Model):
    """The mapping last used for a file layout (the hash of its header row) and row kind."""

    __tablename__ = "import_mappings"
    __table_args__ = (db.UniqueConstraint("kind", "header_hash",
                                          name="uq_import_mappings_kind_header_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    header_hash: Mapped[str] = mapped_column(String(64))
    mapping: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
