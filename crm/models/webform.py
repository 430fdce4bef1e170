"""Capture (issue 11 part 3 and the assignment half of part 4): the rules that give a new lead
its owner (分配规则: a fixed owner, round-robin among chosen users, or nobody: the pool), and
the public web-to-lead forms (/f/<key>) that create leads."""
from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow
from crm.models.custom_field import CustomJSON

ASSIGNMENT_MODES = ("owner", "round_robin", "pool")
# The lead fields a public form may ask for (`name` always; `message` becomes a note).
WEBFORM_FIELDS = ("name", "company", "title", "phone", "mobile", "email", "wechat", "region",
                  "address", "message")

assignment_rule_members = Table(
    "assignment_rule_members",
    db.metadata,
    Column("rule_id", ForeignKey("assignment_rules.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class AssignmentRule(db.Model):
    """Who gets a new lead (crm/leads/assignment.py): `mode` owner (always `owner`),
    round_robin (the members in turn, by user id; `turn` counts the leads handed out) or pool
    (nobody). The new owner gets a task "contact within `contact_hours` hours"."""
    __tablename__ = "assignment_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    mode: Mapped[str] = mapped_column(String(20), default="owner")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    contact_hours: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    # Round-robin's cursor: advanced by one atomic UPDATE per lead (never read-then-written).
    turn: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    owner = relationship("User", foreign_keys=[owner_id])
    members = relationship("User", secondary=assignment_rule_members, order_by="User.id")


class WebForm(db.Model):
    """A public web-to-lead form (网页表单), answered at /f/<key>."""
    __tablename__ = "web_forms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(10), default="zh_CN")
    # The inputs in order: built-in names (WEBFORM_FIELDS) and "cf_<key>" for custom fields.
    fields: Mapped[list] = mapped_column(CustomJSON, default=list, server_default="[]")
    thank_you: Mapped[str | None] = mapped_column(Text)
    redirect_url: Mapped[str | None] = mapped_column(String(500))
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("assignment_rules.id", ondelete="SET NULL"))
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("lead_sources.id", ondelete="SET NULL"))
    campaign: Mapped[str | None] = mapped_column(String(200))
    # Origins allowed to frame the form (CSP frame-ancestors), one per line.
    frame_origins: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    rule = relationship(AssignmentRule)
    source = relationship("LeadSource")

    @property
    def origins(self) -> list[str]:
        return [o for o in (self.frame_origins or "").split() if o]
