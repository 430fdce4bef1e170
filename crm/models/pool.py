"""The public pool (公海): pools of unowned customers or leads that members claim (领取),
the rules that return records to them, customer levels (客户级别), who may claim and how
much, and the owner history (who owned a record, how it changed hands)."""
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.base import UTCDateTime, utcnow
from crm.models.custom_field import CustomJSON

POOL_KINDS = ("customer", "lead")
# The three reclaim rules (回收规则), each on or off per pool.
RULES = ("no_followup", "no_open_opportunity", "not_won")
# How a record changed hands (the owner history).
HOWS = ("assigned", "claimed", "transferred", "returned", "released")
DEFAULT_LEVELS = ("a", "b", "c")
DEFAULT_LEVEL_NAMES = {"a": _l("A · key"), "b": _l("B · normal"), "c": _l("C · low priority")}


class CustomerLevel(db.Model):
    """客户级别: built-in A/B/C (a key, shown translated until an admin renames it); admins
    rename, add and reorder. A level in use cannot be deleted."""
    __tablename__ = "customer_levels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str | None] = mapped_column(String(40), unique=True)
    name: Mapped[str | None] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return str(DEFAULT_LEVEL_NAMES.get(self.key, self.key or f"#{self.id}"))


class Pool(db.Model):
    """One public pool of customers or of leads, with who may claim from it, the limits and
    the rules that return records to it. `level_days`: {rule: {level_id (str): days}}, a
    level's own days; the rule's `*_days` for the levels not listed."""
    __tablename__ = "pools"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), default="customer", index=True)
    name_zh: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(80))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    mask_contacts: Mapped[bool] = mapped_column(Boolean, default=False)
    # Limits: None = no limit.
    own_cap: Mapped[int | None] = mapped_column(Integer)       # records a person may own
    lock_cap: Mapped[int | None] = mapped_column(Integer)      # customers a person may lock
    daily_claims: Mapped[int | None] = mapped_column(Integer)  # claims per person per day
    cooldown_days: Mapped[int] = mapped_column(Integer, default=0)
    won_count_towards_cap: Mapped[bool] = mapped_column(Boolean, default=True)
    # Reclaim rules.
    no_followup_on: Mapped[bool] = mapped_column(Boolean, default=False)
    no_followup_days: Mapped[int] = mapped_column(Integer, default=30)
    no_open_opportunity_on: Mapped[bool] = mapped_column(Boolean, default=False)
    no_open_opportunity_days: Mapped[int] = mapped_column(Integer, default=60)
    not_won_on: Mapped[bool] = mapped_column(Boolean, default=False)
    not_won_days: Mapped[int] = mapped_column(Integer, default=90)
    level_days: Mapped[dict] = mapped_column(CustomJSON, default=dict, server_default="{}")
    exempt_won: Mapped[bool] = mapped_column(Boolean, default=True)
    exempt_open_opportunity: Mapped[bool] = mapped_column(Boolean, default=False)
    warn_days: Mapped[int] = mapped_column(Integer, default=3)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    members: Mapped[list["PoolMember"]] = relationship(
        back_populates="pool", cascade="all, delete-orphan", order_by="PoolMember.id")
    limits: Mapped[list["PoolLimit"]] = relationship(
        back_populates="pool", cascade="all, delete-orphan", order_by="PoolLimit.id")

    def name_in(self, locale: str | None) -> str:
        return self.name_zh if (locale or "").startswith("zh") else self.name_en

    def rule_on(self, rule: str) -> bool:
        return bool(getattr(self, f"{rule}_on"))

    def rule_days(self, rule: str) -> int:
        return int(getattr(self, f"{rule}_days"))

    def days_for(self, rule: str, level_id: int | None) -> int:
        own = (self.level_days or {}).get(rule, {})
        return int(own.get(str(level_id), self.rule_days(rule))) if level_id else self.rule_days(rule)


class PoolMember(db.Model):
    """Who may claim from a pool: a user, or everyone of a role."""
    __tablename__ = "pool_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str | None] = mapped_column(String(20))

    pool = relationship(Pool, back_populates="members")
    user = relationship("User")


class PoolLimit(db.Model):
    """A role's or a user's own ownership and lock caps in a pool (a user's row wins over
    their role's, which wins over the pool's own caps). None: the next one applies."""
    __tablename__ = "pool_limits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str | None] = mapped_column(String(20))
    own_cap: Mapped[int | None] = mapped_column(Integer)
    lock_cap: Mapped[int | None] = mapped_column(Integer)

    pool = relationship(Pool, back_populates="limits")
    user = relationship("User")


class OwnerChange(db.Model):
    """One change of a customer's or lead's owner: from whom to whom, how (assigned, claimed,
    transferred, returned by a rule, released), why, by whom, when. Written only by
    crm.pools.services.record_owner_change (and the sweep's set-based copy of it)."""
    __tablename__ = "owner_changes"
    __table_args__ = (
        db.Index("ix_owner_changes_record", "record_kind", "record_id", "at"),
        db.Index("ix_owner_changes_from", "from_user_id", "record_kind", "at"),
        db.Index("ix_owner_changes_to", "to_user_id", "how", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_kind: Mapped[str] = mapped_column(String(10))
    record_id: Mapped[int] = mapped_column(Integer)
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    how: Mapped[str] = mapped_column(String(12))
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id", ondelete="SET NULL"))
    rule: Mapped[str | None] = mapped_column(String(30))
    days: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    from_user = relationship("User", foreign_keys=[from_user_id])
    to_user = relationship("User", foreign_keys=[to_user_id])
    by_user = relationship("User", foreign_keys=[by_user_id])
    pool = relationship(Pool)
