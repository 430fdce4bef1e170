"""Leads (线索): a person and company not yet a customer, nurtured with behaviour tags and
follow-up notes, scored (意向度), qualified by BANT and converted into a customer, a contact
and optionally an opportunity. Sources, disqualify reasons and scoring rules are admin lists."""
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow
from crm.models.custom_field import CustomJSON
from crm.models.tag import Tag
from crm.search import search_keys

LEAD_STATUSES = ("new", "contacted", "nurturing", "qualified", "disqualified", "converted")
# Statuses a user may set by hand (the others come from disqualify and convert).
OPEN_STATUSES = ("new", "contacted", "nurturing", "qualified")
BANT_KEYS = ("budget", "authority", "need", "timeline")
BANT_ANSWERS = ("unknown", "yes", "no")
DEFAULT_LEAD_SOURCES = ("web_form", "search_ad", "email", "phone", "trade_show", "referral",
                        "import", "other")
DEFAULT_DISQUALIFY_REASONS = ("no_budget", "no_need", "unreachable", "competitor", "other")
RULE_KINDS = ("tag", "note_kind", "silence", "base")

lead_tags = Table(
    "lead_tags",
    db.metadata,
    Column("lead_id", ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class LeadSource(db.Model):
    """Where a lead came from (线索来源); built-in rows have a key, admins add and rename."""
    __tablename__ = "lead_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str | None] = mapped_column(String(40), unique=True)
    name: Mapped[str | None] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer, default=0)


class DisqualifyReason(db.Model):
    """Why a lead was disqualified (无效原因); an admin-edited list like lead sources."""
    __tablename__ = "disqualify_reasons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str | None] = mapped_column(String(40), unique=True)
    name: Mapped[str | None] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer, default=0)


class ScoringRule(db.Model):
    """One rule of the intent score (crm/leads/scoring.py): `kind` tag (a behaviour tag adds
    `points`), note_kind (each follow-up of `note_kind` adds), silence (every `days` days
    without contact subtract), base (every lead starts with)."""
    __tablename__ = "scoring_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"))
    note_kind: Mapped[str | None] = mapped_column(String(20))
    days: Mapped[int | None] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer, default=0)

    tag = relationship("Tag")


class Lead(db.Model):
    __tablename__ = "leads"
    __table_args__ = (
        # The list's default sort: intent score, highest first.
        db.Index("ix_leads_score_id", "score", "id"),
        db.Index("ix_leads_owner_status", "owner_id", "status"),
        db.Index("ix_leads_owner_next_contact", "owner_id", "next_contact_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    company: Mapped[str | None] = mapped_column(String(200), index=True)
    title: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(50), index=True)
    mobile: Mapped[str | None] = mapped_column(String(50), index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    wechat: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(500))
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("lead_sources.id", ondelete="SET NULL"), index=True)
    # The campaign a lead answered (free text until campaigns exist; set by web forms).
    campaign: Mapped[str | None] = mapped_column(String(200))
    # None: nobody's yet (the public pool, issue 11 part 4).
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The public pool (crm/pools), as on customers: its pool when unowned, since when its
    # owner has it, its level (客户级别).
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id", ondelete="SET NULL"), index=True)
    owner_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    level_id: Mapped[int | None] = mapped_column(ForeignKey("customer_levels.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="new", server_default="new",
                                        index=True)
    score: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The score's lines [{"label", "points", "kind", "ref"}], written with the score.
    score_parts: Mapped[list] = mapped_column(CustomJSON, default=list, server_default="[]")
    # BANT: {"budget": "yes"|"no"|"unknown", "budget_note": "...", ...}
    bant: Mapped[dict] = mapped_column(CustomJSON, default=dict, server_default="{}")
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # 下次联系时间, planned from the follow-up form (crm.notes.services.set_next_contact).
    next_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disqualify_reason_id: Mapped[int | None] = mapped_column(
        ForeignKey("disqualify_reasons.id", ondelete="SET NULL"))
    disqualify_note: Mapped[str | None] = mapped_column(Text)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("opportunities.id", ondelete="SET NULL"))
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    search_index: Mapped[str] = mapped_column(Text, default="")
    custom: Mapped[dict] = mapped_column(CustomJSON, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    deleted_batch: Mapped[str | None] = mapped_column(String(32), index=True)

    owner = relationship("User", foreign_keys=[owner_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    source = relationship(LeadSource)
    level = relationship("CustomerLevel")
    disqualify_reason = relationship(DisqualifyReason)
    customer = relationship("Customer")
    contact = relationship("Contact")
    opportunity = relationship("Opportunity")
    tags: Mapped[list[Tag]] = relationship(secondary=lead_tags, order_by="Tag.name")

    def rebuild_search_index(self) -> None:
        """Search keys: names (pinyin and initials, crm/search.py), phones, email."""
        self.search_index = search_keys(self.name, self.company, self.phone, self.mobile,
                                        self.email, self.wechat)

    @property
    def read_only(self) -> bool:
        return self.status == "converted"
